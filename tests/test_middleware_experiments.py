"""Experiments through the middleware (SPEC §1.7, §3.7, §6): the variant reaches the
page, exposure is recorded once and only when the experiment's slot is on the page,
the control leaves the slot to the next rule, and a preview can force a variant
without storing or counting anything."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import (
    RULES,
    SECRET,
    as_visitor,
    banked_middleware,
    exported_events,
    page,
    pages_routes,
    slot_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from smartseg_dsl.links import make_preview_link
from smartseg_dsl.measure.buckets import bucket
from smartseg_dsl.middleware import SmartSegMiddleware

EXPERIMENT = (
    """\
goal Trial = event "trial_started"
experiment Headline "Headline test" {
    when certain(Industry.Legal)
    variant control 1
    variant plain 1 { replace slot headline with "Plain <headline>" }
    goal Trial
}
"""
    + RULES
)


def visitor_in(variant: str) -> str:
    """A visitor id the bucket function puts in `variant` (control below 0.5)."""
    for i in range(1000):
        vid = f"exp-visitor-{i}"
        if (bucket("Headline", vid) < 0.5) == (variant == "control"):
            return vid
    raise AssertionError("unreachable")


def build(tmp_path: Path, **options: Any) -> tuple[SmartSegMiddleware, str]:
    async def bare(request: Request) -> Response:
        return HTMLResponse("<!doctype html><p>No slots on this page</p>")

    return banked_middleware(
        tmp_path, EXPERIMENT, [Route("/bare", bare), *pages_routes()], **options
    )


def exposures(url: str) -> list[tuple[str, str, str]]:
    return [
        (e.visitor, e.experiment or "", e.variant or "")
        for e in exported_events(url)
        if e.type == "exposure"
    ]


def test_variant_reaches_the_page_and_exposure_is_recorded_once(tmp_path: Path) -> None:
    mw, url = build(tmp_path)
    vid = visitor_in("plain")
    with TestClient(mw) as client:
        as_visitor(mw, client, vid)
        bare = client.get("/bare?seg=legal")  # enrolled, but no slot of it on the page
        assert bare.status_code == 200 and "No slots" in bare.text
        first = client.get("/")
        again = client.get("/")
    assert exposures(url) == [(vid, "Headline", "plain")]
    for response in (first, again):
        headline = slot_html(response.text, "headline")
        assert "Plain &lt;headline&gt;" in headline  # escaped, as every rule text
        assert "private" in response.headers["cache-control"]


def test_the_control_leaves_the_slot_to_the_next_rule(tmp_path: Path) -> None:
    mw, url = build(tmp_path)
    vid = visitor_in("control")
    with TestClient(mw) as client:
        as_visitor(mw, client, vid)
        response = client.get("/?seg=legal")
    assert "Billing for &lt;law&gt; firms" in slot_html(response.text, "headline")
    assert exposures(url) == [(vid, "Headline", "control")]


def test_not_eligible_visitors_are_not_exposed(tmp_path: Path) -> None:
    mw, url = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, visitor_in("plain"))
        response = client.get("/")  # not certain of Legal
    assert "Billing for professional firms" in slot_html(response.text, "headline")
    assert exposures(url) == []


def test_gpc_visitors_see_the_page_but_are_not_enrolled(tmp_path: Path) -> None:
    mw, url = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, visitor_in("plain"))
        response = client.get("/?seg=legal", headers={"Sec-GPC": "1"})
    assert "Billing for &lt;law&gt; firms" in slot_html(response.text, "headline")
    assert exposures(url) == []


def test_dev_preview_forces_a_variant_and_stores_nothing(tmp_path: Path) -> None:
    mw, url = build(tmp_path, dev=True)
    with TestClient(mw) as client:
        as_visitor(mw, client, visitor_in("control"))
        response = client.get("/?smartseg_variant=Headline:plain&smartseg_debug=1")
    assert "Plain &lt;headline&gt;" in slot_html(response.text, "headline")
    assert "set-cookie" not in response.headers
    assert "no-store" in response.headers["cache-control"]
    assert "variant <b>plain</b>" in response.text  # the debug overlay
    assert exposures(url) == []


def test_the_variant_parameter_needs_dev_or_a_preview_link(tmp_path: Path) -> None:
    mw, _ = build(tmp_path)
    with TestClient(mw) as client:
        as_visitor(mw, client, visitor_in("control"))
        ignored = client.get("/?smartseg_variant=Headline:plain")
        link = make_preview_link("/?smartseg_variant=Headline:plain", "Industry.Legal", SECRET, 600)
        previewed = client.get(link)
    assert "Plain" not in slot_html(ignored.text, "headline")
    assert "Plain &lt;headline&gt;" in slot_html(previewed.text, "headline")
    assert "set-cookie" not in previewed.headers


@pytest.mark.parametrize("value", ["Headline:nope", "Nope:plain", "Headline", ":"])
def test_an_unknown_variant_is_ignored_and_logged(
    tmp_path: Path, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    mw, _ = build(tmp_path, dev=True)
    with caplog.at_level(logging.WARNING, "smartseg"), TestClient(mw) as client:
        response = client.get(f"/?smartseg_variant={value}")
    assert response.status_code == 200
    assert "Billing for professional firms" in slot_html(response.text, "headline")
    assert any("smartseg_variant" in r.getMessage() for r in caplog.records)


def test_page_helper_has_the_headline_slot() -> None:
    # the tests above rely on the shared page carrying the experiment's slot
    assert 'data-seg-slot="headline"' in page()
