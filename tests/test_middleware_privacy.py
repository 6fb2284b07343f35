"""Privacy (SPEC §3.6): Global Privacy Control / Do Not Track, and ``POST /smartseg/forget``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import SECRET, client, csrf_of, make_app, slot_html, write_rules

from smartseg_dsl.answers import open_store
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.loader import load_ruleset


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def state_of(rules: Path, c: Any) -> Any:
    codec = CookieCodec(load_ruleset(rules), SECRET, max_age=365 * 86400)
    state, _reason = codec.loads(c.cookies.get("smartseg"), time.time())
    return state


@pytest.mark.parametrize("header", [{"sec-gpc": "1"}, {"dnt": "1"}])
def test_gpc_and_dnt_store_no_behaviour(rules: Path, header: dict[str, str]) -> None:
    c = client(make_app(rules), headers=header)
    for n in range(4):
        html = c.get(f"/article/law/{n}").text
        assert "<form" not in slot_html(html, "survey")  # no evidence, no survey
    assert c.get("/state").json()["legal"] == 0.0
    # not even page views are counted: `Returning` (3 page views) never holds
    assert "hidden" in slot_html(c.get("/article/x").text, "returning")


def test_gpc_visitor_can_still_answer(rules: Path, tmp_path: Path) -> None:
    """Explicit answers are honoured: a GPC visitor shown an unconditional survey
    gets the cookie the form needs, and the answer sticks."""
    path = write_rules(
        tmp_path / "gpc",
        (rules.read_text() + '\nshow survey "Which industry?" about Industry in slot survey\n'),
    )
    c = client(make_app(path), headers={"sec-gpc": "1"})
    html = c.get("/").text
    token = csrf_of(html)
    assert "smartseg" in c.cookies
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry", "answer": "Legal", "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert c.get("/state").json()["certain"] is True


def test_gpc_explicit_signals_still_apply(rules: Path) -> None:
    c = client(make_app(rules), headers={"sec-gpc": "1"})
    assert "café" in c.get("/?seg=legal").text


def test_forget_clears_cookie_and_answer_bank(rules: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "answers.db")
    c = client(make_app(rules, store=db))
    token = csrf_of(c.get("/article/law").text)
    c.post("/smartseg/answer", data={"about": "Industry.Legal", "answer": "yes", "csrf": token})
    c.get("/hooks?tag=realtor")
    visitor = state_of(rules, c).visitor_id
    store = open_store(db)
    assert len(store.history(visitor)) == 2
    token = _forget_token(c)
    response = c.post(
        "/smartseg/forget", data={"csrf": token, "next": "/privacy"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/privacy"
    header = response.headers["set-cookie"].lower()
    assert header.startswith("smartseg=;") and "max-age=0" in header
    assert "smartseg" not in c.cookies
    assert store.history(visitor) == []
    store.close()
    assert c.get("/state").json()["certain"] is False


def _forget_token(c: Any) -> str:
    """A "forget me" form gets its token from ``request.state.smartseg.csrf_token()``."""
    return c.get("/token").text


@pytest.fixture(autouse=True)
def _token_route(monkeypatch: pytest.MonkeyPatch) -> None:
    import middleware_helpers
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    original = middleware_helpers.pages_routes

    async def token(request: Request) -> Response:
        return PlainTextResponse(request.state.smartseg.csrf_token())

    monkeypatch.setattr(
        middleware_helpers, "pages_routes", lambda: [*original(), Route("/token", token)]
    )


def test_forget_json_and_store_down(rules: Path, tmp_path: Path) -> None:
    c = client(make_app(rules, store=str(tmp_path / "ok.db")))
    c.get("/")
    response = c.post(
        "/smartseg/forget", data={"csrf": _forget_token(c)}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "forgotten": 0, "next": "/"}

    blocker = tmp_path / "file"
    blocker.write_text("x")
    down = client(make_app(rules, store=str(blocker / "x.db")))
    down.get("/")
    response = down.post(
        "/smartseg/forget",
        data={"csrf": _forget_token(down)},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 503
    assert "could not be deleted" in response.json()["error"]
    assert "max-age=0" in response.headers["set-cookie"].lower()  # the cookie goes anyway


def test_csrf_token_for_a_new_visitor_sets_the_cookie(rules: Path) -> None:
    c = client(make_app(rules))
    response = c.get("/token")
    assert "smartseg=" in response.headers["set-cookie"]
    forget = c.post("/smartseg/forget", data={"csrf": response.text}, follow_redirects=False)
    assert forget.status_code == 303
