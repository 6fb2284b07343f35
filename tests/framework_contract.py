"""What every framework's example app must do behind SmartSegMiddleware (issue 18).

``tests/test_frameworks_<name>.py`` subclass :class:`FrameworkContract` with the
framework's real app (``examples/<name>_app``), run through the middleware with its
lifespan (Starlette's ``TestClient`` as a context manager), and add what is particular
to the framework. The examples share one rule set (``examples/rules/site.seg``):

* a law article (category ``law``, 3 points against a prior of 10: 23 %) shows the
  survey "Are you a lawyer?" (over 20 %); "Yes" makes the visitor certain, which
  replaces the headline and renders the ``legal_hero`` partial into the hero;
* ``POST /webinar`` tracks ``legal_webinar`` (6 points: 6/16 = 37.5 %);
* ``POST /signup`` tags ``lawyer`` (certain), tracks the ``Signup`` goal and
  identifies the e-mail address in the answer bank.

The frameworks are the optional ``frameworks`` extra (installed with ``test``): outside
CI a missing one skips its file with the reason; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from middleware_helpers import Recorder, exported_events, history, http_scope, slot_html
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # examples/ is used from the checkout
    sys.path.insert(0, str(ROOT))

from examples.common import PLANS, RULES, SECRET_KEY, export_rows  # noqa: E402
from smartseg_dsl.cookie import CookieCodec  # noqa: E402
from smartseg_dsl.loader import load_ruleset  # noqa: E402
from smartseg_dsl.middleware import SmartSegMiddleware  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

HEADLINE = "Billing software for professional firms"
LEGAL_HEADLINE = "Billing built for law firms"
QUESTION = "Are you a lawyer?"


def import_framework(module: str) -> ModuleType:
    """The framework, or a skip with the reason (a failure in CI, which must run it)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = (
            f"{module} is not installed ({exc}); "
            "pip install -e '.[frameworks]' (the `test` extra includes it)"
        )
        if IN_CI:
            raise ImportError(f"{reason} — in CI the framework tests must run") from exc
        pytest.skip(reason, allow_module_level=True)
        raise  # unreachable: pytest.skip raises


def find_middleware(app: Any) -> SmartSegMiddleware:
    """The SmartSegMiddleware inside ``app`` (FastAPI builds its stack on startup)."""
    seen: set[int] = set()
    todo = [app]
    while todo:
        node = todo.pop()
        if isinstance(node, SmartSegMiddleware):
            return node
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        todo += [getattr(node, name, None) for name in ("middleware_stack", "asgi_app", "app")]
    raise AssertionError(f"no SmartSegMiddleware in {app!r}")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with smartseg's CSRF token in the page"
    return found.group(1)


def vary(response: Any) -> list[str]:
    return [v.strip().lower() for v in ",".join(response.headers.get_list("vary")).split(",")]


def cache_control(response: Any) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("cache-control", "").split(",")}


def smartseg_cookies(response: Any) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("smartseg=")]


def measurement_events(db: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in exported_events(db)]


class FrameworkContract:
    """The behaviour every framework's example app shows behind the middleware."""

    framework: str  # as the page's <title> says it
    #: the example's ``create_app(*, personalize=True, **options)`` (as a staticmethod),
    #: for the two methods below; an example without one overrides them
    create_app: Callable[..., Any]

    # ------------------------------------------------------------------ per framework

    def make_app(self, **options: Any) -> Any:
        """The example app behind SmartSegMiddleware; ``options`` go to the middleware."""
        return self.create_app(**options)

    def bare_app(self) -> Any:
        """The same app without smartseg (the reference for byte-identical passthrough)."""
        return self.create_app(personalize=False)

    def form_fields(self, client: TestClient) -> dict[str, str]:
        """Fields the framework's own forms need besides the data (Django: its CSRF token)."""
        return {}

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def db(self, tmp_path: Any) -> str:
        return str(tmp_path / "answers.db")

    @pytest.fixture
    def app(self, db: str) -> Any:
        return self.make_app(store=db)

    @pytest.fixture
    def site(self, app: Any) -> Iterator[TestClient]:
        with TestClient(app) as client:  # runs the lifespan through the framework
            yield client

    def visitor_id(self, client: TestClient) -> str:
        codec = CookieCodec(load_ruleset(RULES), SECRET_KEY, max_age=365 * 86400)
        state, reason = codec.loads(client.cookies["smartseg"], time.time())
        assert state is not None, reason
        return str(state.visitor_id)

    # ------------------------------------------------------------------ pages

    def test_a_new_visitor_gets_the_page_marked_private(self, site: TestClient) -> None:
        response = site.get("/")
        assert response.status_code == 200
        assert f"Ledgerly on {self.framework}</title>" in response.text
        assert HEADLINE in slot_html(response.text, "headline")
        assert 'hidden=""' in slot_html(response.text, "survey")  # 0 %: no survey yet
        assert "cookie" in vary(response)
        assert vary(response).count("cookie") == 1  # never twice (Django adds its own)
        assert "private" in cache_control(response)
        assert len(smartseg_cookies(response)) == 1
        assert "HttpOnly" in smartseg_cookies(response)[0]
        assert int(response.headers["content-length"]) == len(response.content)

    def test_an_article_asks_the_survey_and_stays_out_of_shared_caches(
        self, site: TestClient
    ) -> None:
        response = site.get("/law/trust-accounting")
        assert response.status_code == 200
        survey = slot_html(response.text, "survey")
        assert QUESTION in survey and "<form" in survey
        assert "hidden" not in survey.partition(">")[0]  # revealed
        # The app said `public, max-age=300`: smartseg keeps the max-age, drops public.
        assert cache_control(response) == {"private", "max-age=300"}
        assert "cookie" in vary(response)
        assert int(response.headers["content-length"]) == len(response.content)

    def test_answering_the_survey_with_its_csrf_token(self, site: TestClient) -> None:
        token = csrf_of(site.get("/law/trust-accounting").text)
        response = site.post(
            "/smartseg/answer",
            data={"about": "Industry.Legal", "answer": "yes", "csrf": token, "next": "/"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        assert smartseg_cookies(response)
        page = site.get("/").text
        assert LEGAL_HEADLINE in slot_html(page, "headline")
        assert "100 % sure you are a lawyer" in slot_html(page, "hero")  # the Jinja partial
        assert "<form" not in slot_html(page, "survey")  # known now: never asked again
        testimonials = slot_html(page, "testimonials")
        assert testimonials.index("Industry.Legal") < testimonials.index("Industry.Retail")
        assert "Our guess at your industry: Legal" in page  # the visitor view in the app
        assert site.get("/api/visitor").json() == {
            "industry": "Legal",
            "legal": 1.0,
            "certain": True,
        }

    def test_a_survey_answer_without_a_valid_token_is_refused(
        self, app: Any, site: TestClient
    ) -> None:
        token = csrf_of(site.get("/law/trust-accounting").text)
        fields = {"about": "Industry.Legal", "answer": "yes", "next": "/"}
        forged = site.post("/smartseg/answer", data={**fields, "csrf": token[:-4] + "AAAA"})
        assert forged.status_code == 403
        with TestClient(app) as stranger:  # the token without the cookie it is bound to
            response = stranger.post("/smartseg/answer", data={**fields, "csrf": token})
            assert response.status_code == 403
        assert site.get("/api/visitor").json()["certain"] is False

    # ------------------------------------------------------------------ the app API

    def test_track_with_the_framework_request(self, site: TestClient) -> None:
        site.get("/")
        response = site.post("/webinar", data=self.form_fields(site), follow_redirects=False)
        assert response.status_code == 303, response.text
        assert smartseg_cookies(response)  # the state changed: the redirect carries it
        assert "private" in cache_control(response)
        assert site.get("/api/visitor").json()["legal"] == pytest.approx(6 / 16)
        assert QUESTION in slot_html(site.get("/").text, "survey")  # 37.5 % > 20 %

    def test_tag_and_identify_with_the_framework_request(self, site: TestClient, db: str) -> None:
        site.get("/")
        fields = {"email": "Jane@Example.com", "industry": "legal", **self.form_fields(site)}
        response = site.post("/signup", data=fields, follow_redirects=False)
        assert response.status_code == 303, response.text
        assert smartseg_cookies(response)
        assert LEGAL_HEADLINE in slot_html(site.get("/").text, "headline")  # tagged: certain
        rows = history(db, self.visitor_id(site))
        assert ("tag", "lawyer", None) in rows
        assert ("identify", None, "jane@example.com") in rows
        assert "jane" not in site.cookies["smartseg"].lower()  # no PII in the cookie
        bad = {**fields, "email": "not-an-address", **self.form_fields(site)}
        assert site.post("/signup", data=bad, follow_redirects=False).status_code == 400

    # ------------------------------------------------------------------ passthrough

    def test_json_passes_through_byte_identical(self, site: TestClient) -> None:
        with TestClient(self.bare_app()) as bare:
            expected = bare.get("/api/plans")
        response = site.get("/api/plans")
        assert response.status_code == 200
        assert response.content == expected.content
        assert response.json() == PLANS
        assert response.headers["content-type"] == expected.headers["content-type"]
        assert not smartseg_cookies(response)  # nothing about the visitor changed
        assert "private" not in cache_control(response)

    def test_streaming_passes_through_byte_identical(self, site: TestClient) -> None:
        with TestClient(self.bare_app()) as bare:
            expected = bare.get("/export.csv")
        response = site.get("/export.csv")
        assert response.status_code == 200
        assert response.content == expected.content == "".join(export_rows()).encode()
        assert response.headers["content-type"].startswith("text/csv")
        assert not smartseg_cookies(response)

    def test_streaming_is_forwarded_chunk_by_chunk(self, app: Any) -> None:
        """Not buffered: the middleware passes the framework's body messages as they come."""

        def body_messages(asgi_app: Any) -> list[bytes]:
            recorder = Recorder()

            async def call() -> None:
                done = asyncio.Event()
                requested = False

                async def receive() -> dict[str, Any]:
                    nonlocal requested
                    if not requested:
                        requested = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                    await done.wait()  # streaming apps listen for the client leaving
                    return {"type": "http.disconnect"}

                async def send(message: dict[str, Any]) -> None:
                    await recorder(message)
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        done.set()

                await asyncio.wait_for(asgi_app(http_scope("/export.csv"), receive, send), 30)

            asyncio.run(call())
            assert recorder.start["status"] == 200
            return [
                m.get("body", b"")
                for m in recorder.messages
                if m["type"] == "http.response.body" and m.get("body")
            ]

        through, bare = body_messages(app), body_messages(self.bare_app())
        assert len(bare) > 1
        assert through == bare

    # ------------------------------------------------------------------ lifespan

    def test_the_lifespan_runs_the_event_writer_and_flushes_on_shutdown(
        self, app: Any, db: str
    ) -> None:
        with TestClient(app) as client:
            mw = find_middleware(app)
            assert mw.events is not None
            assert mw.events._running  # started by the lifespan, not lazily by an event
            client.get("/")
            fields = {"email": "jo@example.com", "industry": "retail", **self.form_fields(client)}
            assert client.post("/signup", data=fields, follow_redirects=False).status_code == 303
        goals = [e for e in measurement_events(db) if e["type"] == "goal"]
        assert [e["goal"] for e in goals] == ["Signup"]
        assert mw.events.stats()["queued"] == 0
