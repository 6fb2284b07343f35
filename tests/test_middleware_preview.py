"""Preview and debug (SPEC §3.7): off by default; ``dev=True`` or a signed preview link
turns on ``?smartseg_as=`` and the ``?smartseg_debug=1`` overlay."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from middleware_helpers import SECRET, client, make_app, slot_html, write_rules

from smartseg_dsl.links import make_preview_link


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def overlay(html: str) -> Any:
    return BeautifulSoup(html, "html.parser").find(id="smartseg-debug")


def test_preview_and_debug_are_off_by_default(rules: Path) -> None:
    c = client(make_app(rules))
    html = c.get("/?smartseg_as=Industry.Legal&smartseg_debug=1").text
    assert "café" not in html
    assert overlay(html) is None
    assert "smartseg-debug" not in html


def test_dev_preview_renders_as_a_certain_visitor_without_touching_the_cookie(rules: Path) -> None:
    c = client(make_app(rules, dev=True))
    c.get("/")
    before = c.cookies["smartseg"]
    response = c.get("/article/x?smartseg_as=Industry.Legal")
    assert "café" in response.text
    assert "set-cookie" not in response.headers  # a preview never changes the visitor
    assert "no-store" in response.headers["cache-control"]
    assert c.cookies["smartseg"] == before
    assert "café" not in c.get("/article/y").text  # the real visitor is not a lawyer
    assert overlay(response.text) is None  # no overlay unless asked


def test_debug_overlay_lists_groups_audiences_and_winning_rules(rules: Path) -> None:
    c = client(make_app(rules, dev=True))
    c.get("/article/law/1")
    c.get("/article/law/2")
    response = c.get("/article/hotels?smartseg_debug=1")
    assert "no-store" in response.headers["cache-control"]
    panel = overlay(response.text)
    assert panel is not None
    text = panel.get_text(" ", strip=True)
    for segment in ("Legal", "RealEstate", "Hospitality"):
        assert segment in text
    assert "most likely: Legal" in text
    assert "Returning" in text  # the audience holds after three page views
    bars = panel.select(".ssg-bar > span")
    assert len(bars) == 3
    widths = sorted(bar["style"] for bar in bars)
    assert widths == ["width:0%", "width:16%", "width:32%"]  # 3/19, 6/19
    rows = {
        row.th.get_text(): row.get_text(" ", strip=True) for row in panel.select("tr") if row.th
    }
    assert "survey" in rows["survey"] and "site.seg:" in rows["survey"]
    assert "order" in rows["testimonials"] and "site.seg:" in rows["testimonials"]
    # it sits at the end of <body>, fixed, out of the page's way
    assert (
        response.text.rstrip().endswith("</aside>\n</body>\n</html>") or "</aside>" in response.text
    )
    assert "position:fixed" in response.text


def test_debug_overlay_and_preview_together(rules: Path) -> None:
    c = client(make_app(rules, dev=True))
    html = c.get("/?smartseg_as=Industry.RealEstate&smartseg_debug=1").text
    panel = overlay(html)
    assert "preview as Industry.RealEstate" in panel.get_text(" ", strip=True)
    assert "certain: RealEstate" in panel.get_text(" ", strip=True)


def test_unknown_preview_segment_is_ignored(rules: Path, caplog: Any) -> None:
    c = client(make_app(rules, dev=True))
    response = c.get("/?smartseg_as=Industry.Nope")
    assert response.status_code == 200
    assert "set-cookie" in response.headers  # an ordinary page view
    assert "no such segment" in caplog.text


def test_signed_preview_link_works_without_dev(rules: Path) -> None:
    c = client(make_app(rules))
    link = make_preview_link("/article/x", "Industry.Legal", SECRET, 3600)
    response = c.get(link)
    assert "café" in response.text
    assert "set-cookie" not in response.headers
    # …and allows the overlay on that request
    assert overlay(c.get(link + "&smartseg_debug=1").text) is not None
    # but not on the next, ordinary page
    assert overlay(c.get("/?smartseg_debug=1").text) is None


def test_forged_or_expired_preview_link_is_ignored(rules: Path) -> None:
    c = client(make_app(rules))
    forged = make_preview_link("/", "Industry.Legal", "not-the-key", 3600)
    assert "café" not in c.get(forged + "&smartseg_debug=1").text
    expired = make_preview_link("/", "Industry.Legal", SECRET, 60, now=time.time() - 3600)
    html = c.get(expired + "&smartseg_debug=1").text
    assert "café" not in html and overlay(html) is None
    tampered = make_preview_link("/", "Industry.Legal", SECRET, 3600).replace(
        "smartseg_preview=", "smartseg_preview=x"
    )
    assert "café" not in c.get(tampered).text


def test_overlay_never_on_non_html_or_other_visitors(rules: Path) -> None:
    c = client(make_app(rules, dev=True))
    assert "smartseg-debug" not in c.get("/api?smartseg_debug=1").text
    assert overlay(c.get("/").text) is None
    assert "<form" in slot_html(c.get("/article/law?smartseg_debug=1").text, "survey")
