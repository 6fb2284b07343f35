"""Shared helpers for the middleware tests (``tests/test_middleware_*.py``).

A small rule set written into ``tmp_path``, a Starlette app serving pages that carry
every kind of slot, and a few ASGI-level tools (a recording ``send``, a raw call) for
tests that must watch messages as they are produced.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is used from the checkout
    sys.path.insert(0, str(ROOT))

import smartseg_dsl  # noqa: E402
from smartseg_dsl.answers import open_store  # noqa: E402
from smartseg_dsl.measure.events import Event  # noqa: E402
from smartseg_dsl.middleware import SmartSegMiddleware  # noqa: E402
from smartseg_dsl.state import replace_state  # noqa: E402

SECRET = "test-secret-key"

RULES = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        explicit query seg "legal"
        implicit category "law" weight 3 max 12
        implicit page "/legal/**" weight 4
        implicit event "legal_webinar" weight 6
    }
    segment RealEstate "Real estate" {
        explicit tag "realtor"
        implicit category "property" weight 3
    }
    segment Hospitality "Hospitality" {
        explicit tag "hotelier"
        implicit category "hotels" weight 3
    }
}

audience Returning = pageviews >= 3

when certain(Industry.Legal)
    replace slot headline with "Billing for <law> firms & \\"partners\\" café"
when certain(Industry.Legal) show slot legal_case_study
when tagged("vip") hide slot newsletter
when attribute("plan") == "pro" replace slot hero with template "partials/pro_hero.html"
when confidence(Industry.Legal) > 0.2 show survey "Are you a <lawyer>?" in slot survey
when confidence(Industry.RealEstate) > 0.2
    show survey "Which industry are you in?" about Industry in slot survey
when Returning show slot returning
order slot testimonials by Industry
"""

#: A page with every kind of slot; whitespace, attribute quoting and entity spelling
#: are deliberately irregular so that byte preservation is visible.
PAGE = """<!DOCTYPE html>
<html lang=en>
<head>
  <meta charset="utf-8">
  <title>Ledgerly &mdash; test page</title>
  <meta name="smartseg:category" content="{categories}">
</head>
<body class='home'   data-x=1>
  <h1 data-seg-slot="headline" class=hero-title>Billing for professional firms</h1>
  <section data-seg-slot="hero"><p>Default hero</p></section>
  <div data-seg-slot="legal_case_study" hidden>
    <h2>How Smith &amp; Jones cut debtor days</h2>
  </div>
  <aside data-seg-slot=newsletter>Subscribe&nbsp;now</aside>
  <ul data-seg-slot="testimonials">
    <li data-seg-segment="Industry.Hospitality">Hotel quote</li>
    <li class="static">Static quote</li>
    <li data-seg-segment="Industry.RealEstate">Realtor quote</li>
    <li data-seg-segment="Industry.Legal">Lawyer quote</li>
  </ul>
  <div data-seg-slot="survey" hidden></div>
  <p data-seg-slot="returning" hidden>Welcome back</p>
  <p>Plain   text &copy; 2026</p>
</body>
</html>
"""

PRO_HERO = """<p>Pro plan for {{ visitor.most_likely("Industry") or "everyone" }} \
({{ "%.2f" | format(visitor.confidence("Industry.Legal")) }})</p>"""


#: RULES without its `with template` rule: for apps without the templates it names.
RULES_WITHOUT_TEMPLATES = RULES.replace(
    'when attribute("plan") == "pro" replace slot hero with template "partials/pro_hero.html"\n',
    "",
)
assert RULES_WITHOUT_TEMPLATES != RULES


def write_rules(directory: Path, text: str = RULES, name: str = "site.seg") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def template_env(extra: dict[str, str] | None = None) -> jinja2.Environment:
    templates = {"partials/pro_hero.html": PRO_HERO, **(extra or {})}
    return jinja2.Environment(loader=jinja2.DictLoader(templates), autoescape=True)


def page(categories: str = "") -> str:
    return PAGE.replace("{categories}", categories)


def pages_routes() -> list[Route]:
    """Routes used across the tests: pages with categories, an API, app-API hooks."""

    async def home(request: Request) -> Response:
        return HTMLResponse(page(request.query_params.get("cat", "")))

    async def article(request: Request) -> Response:
        return HTMLResponse(page(request.path_params["cat"]))

    async def api(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def hooks(request: Request) -> Response:
        for event in request.query_params.getlist("event"):
            smartseg_dsl.track(request, event)
        for tag in request.query_params.getlist("tag"):
            smartseg_dsl.tag(request, tag)
        plan = request.query_params.get("plan")
        if plan is not None:
            smartseg_dsl.set_attribute(request, "plan", plan)
        kind = request.query_params.get("kind", "html")
        if kind == "json":
            return JSONResponse({"ok": True})
        return HTMLResponse(page())

    async def state_view(request: Request) -> Response:
        view = request.state.smartseg
        return JSONResponse(
            {
                "legal": view.confidence("Industry.Legal"),
                "certain": view.certain("Industry.Legal"),
                "most_likely": view.most_likely("Industry"),
                "known": view.known("Industry"),
            }
        )

    return [
        Route("/", home),
        Route("/article/{cat}", article),
        Route("/article/{cat}/{n}", article),
        Route("/legal/{rest:path}", article),
        Route("/api", api, methods=["GET", "POST"]),
        Route("/hooks", hooks, methods=["GET", "POST"]),
        Route("/state", state_view),
    ]


def make_app(
    rules: Any,
    *,
    routes: Iterable[Route] | None = None,
    templates: jinja2.Environment | None = None,
    store: Any = False,
    outer: Iterable[Middleware] = (),
    lifespan: Any = None,
    **options: Any,
) -> Starlette:
    """A Starlette app behind SmartSegMiddleware (itself behind the ``outer`` ones)."""
    return Starlette(
        routes=list(routes) if routes is not None else pages_routes(),
        lifespan=lifespan,
        middleware=[
            *outer,
            Middleware(
                SmartSegMiddleware,
                rules=rules,
                secret_key=SECRET,
                templates=templates if templates is not None else template_env(),
                store=store,
                **options,
            ),
        ],
    )


def banked_middleware(
    tmp_path: Path, rules: str, routes: Iterable[Route], **options: Any
) -> tuple[SmartSegMiddleware, str]:
    """The middleware over ``routes``, its rules written into ``tmp_path/rules`` and its
    answer bank at ``tmp_path/bank.db``: (it, the bank's URL)."""
    url = str(tmp_path / "bank.db")
    mw = SmartSegMiddleware(
        Starlette(routes=list(routes)),
        rules=write_rules(tmp_path / "rules", rules),
        secret_key=SECRET,
        templates=template_env(),
        store=url,
        **options,
    )
    return mw, url


def as_visitor(mw: SmartSegMiddleware, client: TestClient, visitor_id: str) -> None:
    """Make ``client`` a new visitor with this id (its cookie, as the server signs it)."""
    codec, engine = mw._rt.codec, mw._rt.engine
    state = replace_state(engine.new_state(1_767_225_600), visitor_id=visitor_id)
    client.cookies.clear()
    # the domain the server's own Set-Cookie gets, so that it replaces this one
    client.cookies.set("smartseg", codec.dumps(state), domain="testserver.local", path="/")


def exported_events(url: str) -> list[Event]:
    """Every measurement event of the answer bank at ``url``."""
    store = open_store(url)
    try:
        return list(store.export_events())
    finally:
        store.close()


def history(url: str, visitor_id: str) -> list[tuple[str, str | None, str | None]]:
    """(kind, subject, value) of each answer-bank event of the visitor, oldest first."""
    store = open_store(url)
    try:
        return [(e.kind, e.subject, e.value) for e in store.history(visitor_id)]
    finally:
        store.close()


def client(app: Any, **kwargs: Any) -> TestClient:
    return TestClient(app, **kwargs)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no survey form with a CSRF token in the page"
    return found.group(1)


def slot_html(html: str, slot: str) -> str:
    """The element of ``slot`` as a string (first one), for focused assertions."""
    from bs4 import BeautifulSoup

    element = BeautifulSoup(html, "html.parser").find(attrs={"data-seg-slot": slot})
    return "" if element is None else str(element)


class Recorder:
    """An ASGI ``send`` that keeps every message (and when it came)."""

    def __init__(self, on_message: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.on_message = on_message

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)

    @property
    def start(self) -> dict[str, Any]:
        return next(m for m in self.messages if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode().lower(): v.decode() for k, v in self.start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )


def http_scope(
    path: str = "/",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "extensions": {},
    }
    scope.update(extra)
    return scope


async def empty_receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}
