"""Surveys end to end (SPEC §1.5, §3.5): the widget, ``POST /smartseg/answer`` and
``/smartseg/dismiss``, the JSON variant, bad input, the answer bank, and the app API
(``track``, ``tag``, ``set_attribute``, ``identify``, e-mail links)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import (
    SECRET,
    client,
    csrf_of,
    history,
    make_app,
    slot_html,
    write_rules,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import smartseg_dsl
from smartseg_dsl.answers import InvalidEmailError, StoreUnavailableError
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.links import make_link
from smartseg_dsl.loader import load_ruleset


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "answers.db")


def visitor_id(rules: Path, c: Any) -> str:
    codec = CookieCodec(load_ruleset(rules), SECRET, max_age=365 * 86400)
    state, reason = codec.loads(c.cookies["smartseg"], time.time())
    assert state is not None, reason
    return str(state.visitor_id)


def answer(c: Any, path: str = "/smartseg/answer", **fields: str) -> Any:
    return c.post(path, data=fields, follow_redirects=False)


# --------------------------------------------------------------------------- answer


def test_yes_answer_makes_the_visitor_certain(rules: Path, db: str) -> None:
    c = client(make_app(rules, store=db))
    html = c.get("/article/law").text
    token = csrf_of(html)
    response = answer(c, about="Industry.Legal", answer="yes", csrf=token, next="/article/law")
    assert response.status_code == 303
    assert response.headers["location"] == "/article/law"
    assert "smartseg=" in response.headers["set-cookie"]
    assert response.headers["cache-control"] == "no-store"
    after = c.get("/article/law/2").text
    assert "café" in after  # certain(Industry.Legal): the headline rule fires
    assert "<form" not in slot_html(after, "survey")  # known(Industry): never asked again
    assert c.get("/state").json()["certain"] is True
    assert ("answer", "Industry.Legal", "yes") in history(db, visitor_id(rules, c))


def test_no_answer_excludes_the_segment(rules: Path) -> None:
    c = client(make_app(rules))
    token = csrf_of(c.get("/article/law").text)
    assert answer(c, about="Industry.Legal", answer="no", csrf=token).status_code == 303
    html = c.get("/article/law/2").text
    assert "<form" not in slot_html(html, "survey")
    assert c.get("/state").json()["legal"] == 0.0


def test_choice_answer_and_other(rules: Path) -> None:
    c = client(make_app(rules))
    token = csrf_of(c.get("/article/property").text)
    assert answer(c, about="Industry", answer="RealEstate", csrf=token).status_code == 303
    state = c.get("/state").json()
    assert state["known"] is True and state["most_likely"] in ("RealEstate", "Industry.RealEstate")

    c2 = client(make_app(rules))
    token = csrf_of(c2.get("/article/property").text)
    assert answer(c2, about="Industry", answer="other", csrf=token).status_code == 303
    state = c2.get("/state").json()
    assert state == {"legal": 0.0, "certain": False, "most_likely": None, "known": True}


def test_each_visitor_gets_their_own_token_in_the_same_widget(rules: Path) -> None:
    """The packaged widget is rendered once per survey and filled in per request."""
    app = make_app(rules)
    alice, bob = client(app), client(app)
    page_a = alice.get("/article/law?from=a&x=%22").text
    page_b = bob.get("/article/law").text
    token_a, token_b = csrf_of(page_a), csrf_of(page_b)
    assert token_a != token_b
    assert 'name="next" value="/article/law?from=a&amp;x=%22"' in page_a
    assert 'name="next" value="/article/law"' in page_b
    assert answer(alice, about="Industry.Legal", answer="yes", csrf=token_a).status_code == 303
    assert answer(bob, about="Industry.Legal", answer="yes", csrf=token_a).status_code == 403
    assert answer(bob, about="Industry.Legal", answer="no", csrf=token_b).status_code == 303


def test_mounted_under_a_root_path(rules: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    c = client(Starlette(routes=[Mount("/app", app=make_app(rules))]))
    html = c.get("/app/article/law").text
    assert 'action="/app/smartseg/answer"' in html
    assert 'formaction="/app/smartseg/dismiss"' in html
    assert 'name="next" value="/app/article/law"' in html
    response = answer(
        c,
        "/app/smartseg/answer",
        about="Industry.Legal",
        answer="yes",
        csrf=csrf_of(html),
        next="//x",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/app/"
    assert "café" in c.get("/app/article/x").text


def test_json_variant(rules: Path) -> None:
    c = client(make_app(rules))
    token = csrf_of(c.get("/article/law").text)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token, "next": "/x"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "about": "Industry.Legal", "answer": "yes", "next": "/x"}
    assert "smartseg=" in response.headers["set-cookie"]
    # a JSON request body works too
    c2 = client(make_app(rules))
    token = csrf_of(c2.get("/article/law").text)
    response = c2.post(
        "/smartseg/answer",
        json={"about": "Industry.Legal", "answer": "no", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.json()["ok"] is True


def test_dismiss_hides_the_survey(rules: Path, db: str) -> None:
    c = client(make_app(rules, store=db))
    token = csrf_of(c.get("/article/law").text)
    response = c.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token, "next": "/article/law"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/article/law"
    for n in range(3):
        assert "<form" not in slot_html(c.get(f"/article/law/{n}").text, "survey")
    assert ("dismissal", "Industry.Legal", None) in history(db, visitor_id(rules, c))
    # JSON variant
    c2 = client(make_app(rules))
    token = csrf_of(c2.get("/article/law").text)
    response = c2.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.json() == {"ok": True, "dismissed": "Industry.Legal", "next": "/"}


# --------------------------------------------------------------------------- bad input


BAD_ANSWERS = [
    ({"answer": "yes"}, "missing field 'about'"),
    ({"about": "Industry.Legal"}, "missing field 'answer'"),
    ({"about": "Industry.Legal", "answer": "maybe"}, "yes"),
    ({"about": "Industry", "answer": "yes"}, "Industry"),
    ({"about": "Nope.Legal", "answer": "yes"}, "Nope"),
    ({"about": "Industry.Nope", "answer": "yes"}, "Nope"),
    ({"about": "Industry.Legal", "answer": "y" * 80}, "too long"),
    ({"about": "Industry.Legal\x00", "answer": "yes"}, "control characters"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_ANSWERS)
def test_bad_answers_are_400_and_record_nothing(
    rules: Path, db: str, fields: dict[str, str], message: str
) -> None:
    c = client(make_app(rules, store=db))
    token = csrf_of(c.get("/article/law").text)
    response = c.post(
        "/smartseg/answer",
        data={**fields, "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and message in body["error"]
    assert "set-cookie" not in response.headers
    assert history(db, visitor_id(rules, c)) == []
    # the HTML variant says the same, escaped, with a way back
    html = c.post("/smartseg/answer", data={**fields, "csrf": token})
    assert html.status_code == 400
    assert html.headers["content-type"].startswith("text/html")
    assert "Go back" in html.text


def test_duplicate_fields_and_malformed_bodies(rules: Path) -> None:
    c = client(make_app(rules))
    token = csrf_of(c.get("/article/law").text)
    json_accept = {"accept": "application/json"}
    dup = c.post(
        "/smartseg/answer",
        content=f"about=Industry.Legal&answer=yes&answer=no&csrf={token}",
        headers={"content-type": "application/x-www-form-urlencoded", **json_accept},
    )
    assert dup.status_code == 400 and "more than once" in dup.json()["error"]
    bad_json = c.post(
        "/smartseg/answer",
        content=b"{not json",
        headers={"content-type": "application/json", **json_accept},
    )
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    multipart = c.post(
        "/smartseg/answer",
        files={"about": ("a", b"Industry.Legal")},
        headers=json_accept,
    )
    assert multipart.status_code == 415
    huge = c.post(
        "/smartseg/answer",
        content=b"about=" + b"x" * 20000,
        headers={"content-type": "application/x-www-form-urlencoded", **json_accept},
    )
    assert huge.status_code == 413
    non_string = c.post(
        "/smartseg/answer",
        json={"about": ["Industry.Legal"], "answer": "yes", "csrf": token},
        headers=json_accept,
    )
    assert non_string.status_code == 400 and "string" in non_string.json()["error"]


def test_endpoints_only_accept_post(rules: Path) -> None:
    c = client(make_app(rules))
    for name in ("answer", "dismiss", "forget"):
        response = c.get(f"/smartseg/{name}")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
    # other paths under /smartseg/ are the app's
    assert c.get("/smartseg/other").status_code == 404


def test_store_down_refuses_answers_and_records_nothing(
    rules: Path, tmp_path: Path, caplog: Any
) -> None:
    """docs/answer-bank.md: an answer the bank cannot keep is refused with a 503."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    c = client(make_app(rules, store=str(blocker / "answers.db")))
    token = csrf_of(c.get("/article/law").text)
    response = answer(c, about="Industry.Legal", answer="yes", csrf=token)
    assert response.status_code == 503
    assert "could not be saved" in response.text
    assert "set-cookie" not in response.headers  # nothing recorded in the cookie either
    assert c.get("/state").json()["certain"] is False
    dismissed = c.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token, "next": "/"},
        headers={"accept": "application/json"},
    )
    assert dismissed.status_code == 503
    assert "could not be saved" in dismissed.json()["error"]
    assert "answer bank" in caplog.text


def test_answers_work_without_an_answer_bank(rules: Path) -> None:
    """`store=False` means the site chose to keep answers in the cookie only."""
    c = client(make_app(rules, store=False))
    token = csrf_of(c.get("/article/law").text)
    assert answer(c, about="Industry.Legal", answer="yes", csrf=token).status_code == 303
    assert c.get("/state").json()["certain"] is True


# --------------------------------------------------------------------------- app API


def test_track_event_adds_evidence(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/hooks?event=legal_webinar")
    assert c.get("/state").json()["legal"] == pytest.approx(6 / 16)


def test_tag_is_an_explicit_signal_and_is_banked(rules: Path, db: str) -> None:
    c = client(make_app(rules, store=db))
    c.get("/hooks?tag=lawyer&kind=json")
    assert c.get("/state").json()["certain"] is True
    assert ("tag", "lawyer", None) in history(db, visitor_id(rules, c))


def test_email_link_tags(rules: Path, db: str) -> None:
    c = client(make_app(rules, store=db))
    link = make_link("/article/x", ["lawyer"], SECRET, 3600)
    assert "café" in c.get(link).text
    assert ("tag", "lawyer", None) in history(db, visitor_id(rules, c))
    # a forged link gives nothing
    c2 = client(make_app(rules))
    forged = make_link("/article/x", ["lawyer"], "another-key", 3600)
    assert "café" not in c2.get(forged).text


def test_survey_next_drops_the_email_link_token(rules: Path) -> None:
    c = client(make_app(rules))
    link = make_link("/article/law?utm=1", ["newsletter"], SECRET, 3600)
    html = c.get(link).text
    assert 'name="next" value="/article/law?utm=1"' in html


def test_set_attribute(rules: Path) -> None:
    c = client(make_app(rules))
    assert "Pro plan" in c.get("/hooks?plan=pro").text
    assert "Pro plan" not in c.get("/hooks?plan=free").text


def test_identify(rules: Path, db: str) -> None:
    results: list[Any] = []

    async def subscribe(request: Request) -> Response:
        try:
            results.append(await smartseg_dsl.identify(request, request.query_params["email"]))
        except (InvalidEmailError, StoreUnavailableError) as exc:
            results.append(exc)
        return JSONResponse({})

    routes = [Route("/subscribe", subscribe)]
    c = client(make_app(rules, routes=routes, store=db))
    response = c.get("/subscribe?email=Jane@Example.com")
    assert "smartseg=" in response.headers["set-cookie"]  # the linked id must stick
    assert isinstance(results[-1], str)
    assert ("identify", None, "jane@example.com") in history(db, visitor_id(rules, c))
    assert "jane" not in c.cookies["smartseg"].lower()
    c.get("/subscribe?email=not-an-address")
    assert isinstance(results[-1], InvalidEmailError)
    c3 = client(make_app(rules, routes=routes, store=False))
    c3.get("/subscribe?email=jane@example.com")
    assert isinstance(results[-1], StoreUnavailableError)


def test_api_validates_its_arguments(rules: Path) -> None:
    errors: list[str] = []

    async def handler(request: Request) -> Response:
        for call in (
            lambda: smartseg_dsl.track(request, ""),
            lambda: smartseg_dsl.tag(request, "x" * 200),
            lambda: smartseg_dsl.tag(request, "a\nb"),
            lambda: smartseg_dsl.set_attribute(request, "bad name", 1),
            lambda: smartseg_dsl.set_attribute(request, "ok", True),
            lambda: smartseg_dsl.set_attribute(request, "ok", [1]),
        ):
            try:
                call()
            except (ValueError, TypeError) as exc:
                errors.append(type(exc).__name__)
        return JSONResponse({})

    client(make_app(rules, routes=[Route("/", handler)])).get("/")
    assert errors == ["ValueError"] * 4 + ["TypeError"] * 2


def test_api_without_middleware_says_so() -> None:
    from starlette.requests import Request as StarletteRequest

    request = StarletteRequest({"type": "http", "headers": [], "method": "GET", "path": "/"})
    with pytest.raises(RuntimeError, match="SmartSegMiddleware is not installed"):
        smartseg_dsl.track(request, "x")


def test_import_stays_cheap() -> None:
    code = (
        "import sys, smartseg_dsl\n"
        "heavy = [m for m in ('starlette', 'jinja2', 'httpx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(smartseg_dsl.track)\n"
        "assert smartseg_dsl.SmartSegMiddleware.__name__ == 'SmartSegMiddleware'\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_sync_worker_runs_in_the_lifespan(rules: Path, db: str) -> None:
    from answers_fixtures import Receiver

    from smartseg_dsl.sync import SyncConfig

    async def subscribe(request: Request) -> Response:
        await smartseg_dsl.identify(request, "jane@example.com")
        return JSONResponse({})

    with Receiver() as receiver:
        config = SyncConfig(url=receiver.url, secret="test-webhook-secret", poll_interval=0.05)
        app = make_app(rules, routes=[Route("/subscribe", subscribe)], store=db, sync=config)
        with client(app) as c:
            c.get("/subscribe")
            deadline = time.monotonic() + 10
            while not receiver.unique and time.monotonic() < deadline:
                time.sleep(0.05)
        assert len(receiver.unique) == 1
