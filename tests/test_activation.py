"""Activation (SPEC §7): `sync audience` membership changes and segments becoming
certain are queued as outbox webhooks for identified visitors, and delivered with the
outbox's guarantees (signed, Idempotency-Key, at least once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from answers_fixtures import SECRET as WEBHOOK_SECRET
from answers_fixtures import Receiver
from middleware_helpers import client, csrf_of, make_app, page, write_rules
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import smartseg_dsl
from smartseg_dsl.answers import open_store
from smartseg_dsl.engine import Engine, RequestInfo
from smartseg_dsl.formatter import format_source
from smartseg_dsl.loader import load_ruleset
from smartseg_dsl.sync import SyncConfig, deliver_once

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "webhook.schema.json").read_text())

RULES = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit page "/legal/**" weight 2
    }
    segment RealEstate "Real estate" {
        explicit tag "realtor"
    }
}
sync audience PricingFan = count(page "/pricing" within 1h) >= 2
sync audience Cart = count(event "add_to_cart") >= 1 and count(event "purchase") == 0
audience Reader = pageviews >= 1
when Reader show slot returning
when confidence(Industry.Legal) > 0.1 show survey "Are you a lawyer?" in slot survey
"""


async def _page(request: Request) -> Response:
    for event in request.query_params.getlist("event"):
        smartseg_dsl.track(request, event)
    return HTMLResponse(page())


async def _identify(request: Request) -> Response:
    await smartseg_dsl.identify(request, request.query_params["email"])
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/identify", _identify),
    Route("/{path:path}", _page),
]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", RULES)


def delivered(db: str, receiver: Receiver) -> list[dict[str, Any]]:
    store = open_store(db)
    try:
        deliver_once(store, SyncConfig(url=receiver.url, secret=WEBHOOK_SECRET))
    finally:
        store.close()
    bodies = [json.loads(b) for b in receiver.bodies.values()]
    return sorted(bodies, key=lambda b: (b["occurred_at"], b["type"]))


def changes(bodies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (b["type"], b.get("audience") or b.get("segment") or "")
        for b in bodies
        if b["type"] not in ("identify", "answer", "tag")
    ]


def test_a_journey_produces_exactly_the_expected_webhooks(rules: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "answers.db")
    app = make_app(rules, routes=ROUTES, store=db)
    with Receiver() as receiver, client(app) as c:
        for path in ("/pricing", "/blog", "/pricing"):
            c.get(path)  # anonymous: enters PricingFan, nothing is sent
        c.get("/identify", params={"email": "jane@example.com"})
        assert changes(delivered(db, receiver)) == []
        c.get("/blog?event=add_to_cart")  # enters Cart
        c.get("/blog")  # no change: nothing
        c.get("/blog?event=add_to_cart")  # still in Cart: nothing
        c.get("/legal/a")
        html = c.get("/legal/b").text
        answer = c.post(
            "/smartseg/answer",
            data={"about": "Industry.Legal", "answer": "yes", "csrf": csrf_of(html), "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        c.get("/checkout?event=purchase")  # leaves Cart
        bodies = delivered(db, receiver)
    assert changes(bodies) == [
        ("audience.entered", "Cart"),
        ("segment.certain", "Industry.Legal"),
        ("audience.left", "Cart"),
    ]
    assert [b["type"] for b in bodies].count("identify") == 1
    assert [b["type"] for b in bodies].count("answer") == 1
    for body in bodies:
        jsonschema.validate(body, SCHEMA)
        assert body["version"] == 2 and body["email"] == "jane@example.com"
    entered = next(b for b in bodies if b["type"] == "audience.entered")
    assert "Cart" in entered["audiences"]
    certain = next(b for b in bodies if b["type"] == "segment.certain")
    assert certain["groups"]["Industry"] == {
        "certain": True,
        "confidence": 1.0,
        "most_likely": "Legal",
    }
    assert receiver.bad_signatures == 0
    assert all(h["X-Smartseg-Event"] in {b["type"] for b in bodies} for h in receiver.headers)


def test_anonymous_visitors_send_nothing(rules: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "answers.db")
    app = make_app(rules, routes=ROUTES, store=db)
    with Receiver() as receiver, client(app) as c:
        for path in ("/pricing", "/pricing", "/x?event=add_to_cart", "/x?event=purchase"):
            c.get(path)
        assert delivered(db, receiver) == []


def test_leaving_by_time_alone_is_noticed_on_the_next_request(rules: Path) -> None:
    compiled = load_ruleset(rules)
    engine = Engine(compiled)
    now = 1_800_000_000.0
    state = engine.step(None, RequestInfo(time=now, path="/pricing", identified=True)).state
    state = engine.step(state, RequestInfo(time=now + 30, path="/blog")).state
    outcome = engine.step(state, RequestInfo(time=now + 60, path="/pricing"))
    assert outcome.activation == (("audience.entered", "PricingFan"),)
    assert outcome.state.identified
    state = engine.step(outcome.state, RequestInfo(time=now + 90, path="/blog")).state
    again = engine.step(state, RequestInfo(time=now + 120, path="/pricing"))
    assert again.activation == ()  # no repeat for a membership that did not change
    later = engine.step(again.state, RequestInfo(time=now + 7200, path="/blog"))
    assert later.activation == (("audience.left", "PricingFan"),)
    # a preview never changes membership or sends anything
    preview = engine.step(
        later.state, RequestInfo(time=now + 7300, path="/pricing", preview_as="Industry.Legal")
    )
    assert preview.activation == ()


def test_sync_audience_formats_and_is_not_unused(rules: Path) -> None:
    source = "sync   audience  Hot=pageviews>3\n"
    assert format_source(source) == "sync audience Hot = pageviews > 3\n"
    compiled = load_ruleset(rules)  # no SEG406 for a synced audience no rule uses
    assert set(compiled.layout.synced) == {"PricingFan", "Cart"}
    assert compiled.ruleset.audiences[0].synced
