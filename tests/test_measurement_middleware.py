"""Measurement through the middleware (SPEC §1.7, §6): a scripted visit through a real
Starlette app records exactly the session and goal events it should, none under
GPC/DNT or in preview, and holdout visitors get the unpersonalized page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import (
    RULES,
    as_visitor,
    banked_middleware,
    exported_events,
    page,
    pages_routes,
    slot_html,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import smartseg_dsl
from smartseg_dsl.measure.buckets import in_holdout
from smartseg_dsl.middleware import SmartSegMiddleware

MEASURED = (
    RULES
    + """
goal Trial "Started a free trial" = event "trial_started"
goal Legal "Read the legal pages" = page "/legal/**"
goal Purchase "Order value" = event "purchase" value attribute("order_total")
holdout 10%
"""
)
IN_HOLDOUT = "held-out-11"
NOT_IN_HOLDOUT = "simulated00000"


def build(tmp_path: Path, rules: str = MEASURED, **options: Any) -> tuple[SmartSegMiddleware, str]:
    async def buy(request: Request) -> Response:
        smartseg_dsl.track(request, "purchase")
        smartseg_dsl.set_attribute(request, "order_total", float(request.query_params["total"]))
        return HTMLResponse("<p>thanks</p>")

    return banked_middleware(
        tmp_path, rules, [*routes(), Route("/buy", buy, methods=["POST"])], **options
    )


def routes() -> list[Route]:
    async def legal(request: Request) -> Response:
        return HTMLResponse(page("law"))

    return [Route("/legal/{rest:path}", legal), *pages_routes()]


def rows(url: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in exported_events(url)]


def visit(client: TestClient, headers: dict[str, str] | None = None) -> None:
    h = headers or {}
    assert client.get("/article/law", headers=h).status_code == 200
    assert client.get("/legal/billing", headers=h).status_code == 200
    assert client.get("/legal/billing", headers=h).status_code == 200  # a reload
    assert client.get("/hooks?event=trial_started&kind=json", headers=h).status_code == 200
    assert client.post("/buy?total=120", headers=h).status_code == 200
    assert client.post("/buy?total=30.5", headers=h).status_code == 200
    assert client.get("/hooks?event=trial_started", headers=h).status_code == 200


def test_a_scripted_visit_records_exact_rows(tmp_path: Path) -> None:
    mw, url = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, NOT_IN_HOLDOUT)
        visit(client)
    got = rows(url)
    for row in got:
        assert row["visitor"] == NOT_IN_HOLDOUT
        assert row["holdout"] is False
        assert row["at"].endswith("Z")
    shape = [
        (r["type"], r.get("goal"), r.get("value"), r.get("pageviews"), r["segments"], r["certain"])
        for r in got
    ]
    legal = {"Industry": "Legal"}
    assert shape == [
        ("session", None, None, 1, legal, []),
        ("goal", "Legal", None, None, legal, []),
        ("goal", "Trial", None, None, legal, []),
        ("goal", "Purchase", 120.0, None, legal, []),
        ("goal", "Purchase", 30.5, None, legal, []),
    ]


@pytest.mark.parametrize("header", ["Sec-GPC", "DNT"])
def test_nothing_is_recorded_for_gpc_or_dnt(tmp_path: Path, header: str) -> None:
    mw, url = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, NOT_IN_HOLDOUT)
        visit(client, {header: "1"})
    assert rows(url) == []
    assert mw.events is not None and mw.events.stats()["recorded"] == 0


def test_nothing_is_recorded_for_a_preview(tmp_path: Path) -> None:
    mw, url = build(tmp_path, dev=True)
    with TestClient(mw) as client:
        as_visitor(mw, client, NOT_IN_HOLDOUT)
        assert client.get("/legal/x?smartseg_as=Industry.Legal").status_code == 200
    assert rows(url) == []


def test_holdout_visitor_gets_the_plain_page_and_still_counts(tmp_path: Path) -> None:
    assert in_holdout(0.1, IN_HOLDOUT) and not in_holdout(0.1, NOT_IN_HOLDOUT)
    mw, url = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, IN_HOLDOUT)
        held = client.get("/legal/a?seg=legal")  # certain of Legal: rules would act
        as_visitor(mw, client, NOT_IN_HOLDOUT)
        other = client.get("/legal/a?seg=legal")
    assert "Billing for professional firms" in slot_html(held.text, "headline")
    assert "Billing for &lt;law&gt; firms" in slot_html(other.text, "headline")
    assert "<form" not in held.text  # no survey
    # the holdout page is the app's own page, byte for byte (no slot touched)
    plain = TestClient(Starlette(routes=routes())).get("/legal/a?seg=legal")
    assert held.content == plain.content
    by_visitor = {(r["visitor"], r["type"], r.get("goal"), r["holdout"]) for r in rows(url)}
    assert (IN_HOLDOUT, "goal", "Legal", True) in by_visitor
    assert (IN_HOLDOUT, "session", None, True) in by_visitor
    assert (NOT_IN_HOLDOUT, "goal", "Legal", False) in by_visitor


def test_pages_are_the_same_with_recording_on_off_or_broken(tmp_path: Path) -> None:
    bodies = []
    for options in ({}, {"events": False}, {"events_queue": 1}):
        mw, _ = build(tmp_path / str(len(bodies)), **options)
        with TestClient(mw) as client:
            as_visitor(mw, client, NOT_IN_HOLDOUT)
            client.get("/article/law")
            client.get("/hooks?event=trial_started&kind=json")
            bodies.append(client.get("/legal/b?seg=legal").content)
        if options.get("events_queue") == 1:
            assert mw.events is not None and mw.events.stats()["dropped_queue_full"] >= 1
    assert bodies[0] == bodies[1] == bodies[2]


def test_a_rule_set_without_goals_records_nothing(tmp_path: Path) -> None:
    mw, url = build(tmp_path, RULES)
    with TestClient(mw) as client:
        assert client.get("/article/law").status_code == 200
    assert not Path(url).exists()  # no event, no database file


def test_the_middleware_can_ignore_the_holdout(tmp_path: Path) -> None:
    mw, url = build(tmp_path, holdout=False)
    with TestClient(mw) as client:
        as_visitor(mw, client, IN_HOLDOUT)
        page_html = client.get("/legal/a?seg=legal").text
    assert "Billing for &lt;law&gt; firms" in slot_html(page_html, "headline")
    assert {r["holdout"] for r in rows(url)} == {False}
