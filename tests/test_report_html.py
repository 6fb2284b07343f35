"""The text and HTML renderings of the report (SPEC §6), and the HTML in Chromium.

* syrupy snapshots of the text and the HTML for the small fixed data set, with
  an experiment (read from `report_fixtures.SPEC`, not from rules);
* the HTML is one self-contained file: no script, no external asset, and every
  name or label from the rules is escaped;
* Chromium (Playwright, as in test_browser.py) renders the share bars, the
  reference lines and the interval whiskers, shows the SRM warning, and the
  page is saved to docs/img/report.png for the README.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from report_fixtures import DAY, SPEC, START, population, small_events, sqlite_db

from smartseg_dsl.measure.aggregate import aggregate
from smartseg_dsl.measure.events import Event
from smartseg_dsl.measure.render_html import render_html
from smartseg_dsl.measure.render_text import render_text
from smartseg_dsl.measure.report import build_report
from smartseg_dsl.measure.sources import open_database
from smartseg_dsl.measure.spec import GoalSpec, ReportSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
LO, HI = START, START + 30 * DAY


def make_report(path: Path, events: list[Event], spec: ReportSpec = SPEC) -> dict:
    url = str(sqlite_db(path, events))
    with open_database(url) as source:
        return build_report(spec, aggregate(source, spec, LO, HI), LO, HI)


@pytest.fixture
def small(tmp_path: Path) -> dict:
    return make_report(tmp_path / "small.db", small_events())


def test_text_snapshot_with_experiment(small: dict, snapshot: Any) -> None:
    assert render_text(small, SPEC) == snapshot


def test_html_snapshot(small: dict, snapshot: Any) -> None:
    assert render_html(small, SPEC) == snapshot


def test_html_is_self_contained(small: dict) -> None:
    page = render_html(small, SPEC)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<svg") >= 10


def test_everything_from_rules_is_escaped(tmp_path: Path) -> None:
    label = '<img src=x onerror="alert(1)">&'
    spec = dataclasses.replace(SPEC, goals=(GoalSpec("Trial", label), *SPEC.goals[1:]))
    page = render_html(make_report(tmp_path / "e.db", small_events(), spec), spec)
    assert "<img" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in page


def test_too_few_visitors_and_verdicts_are_spelled_out(small: dict) -> None:
    page = render_html(small, SPEC)
    assert "too few visitors" in page  # the Size (unknown) segment has 2 visitors
    assert "plain vs control on Trial:" in page or "plain beats control on Trial:" in page
    assert "(primary goal)" in page


def test_empty_period_html(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    sqlite_db(path, [])
    with open_database(str(path)) as source:
        empty = build_report(SPEC, aggregate(source, SPEC, LO, HI), LO, HI)
    page = render_html(empty, SPEC)
    assert "No visitors in this period" in page
    assert "<svg" not in page


# --------------------------------------------------------------------------- Chromium


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser tests)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = os.environ.get("SMARTSEG_CHROMIUM") or "/usr/bin/chromium"
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        _unavailable(f"Chromium not found at {path} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        # offline: the page must need nothing from the network
        launched = pw.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        yield launched
        launched.close()


def _open(browser: Browser, html: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, java_script_enabled=True, offline=True
    )
    page = context.new_page()
    page.set_content(html, wait_until="load")
    return page


def _boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return [b for b in (el.bounding_box() for el in page.query_selector_all(selector)) if b]


@pytest.mark.browser
def test_chromium_draws_bars_and_whiskers(browser: Browser, tmp_path: Path) -> None:
    report = make_report(tmp_path / "pop.db", population(8_000))
    page = _open(browser, render_html(report, SPEC))
    try:
        # shares: one bar per segment, widths in proportion to the shares
        bars = page.query_selector_all('section.share[data-group="Industry"] rect.bar')
        assert len(bars) == 4
        widths = [float(b.get_attribute("width") or 0) for b in bars]
        shares = [c["share"] for c in report["segments"]["Industry"].values()]
        assert all(w > 0 for w in widths)
        ratio = widths[0] / shares[0]
        assert all(abs(w / s - ratio) < 0.5 for w, s in zip(widths, shares, strict=True))
        # conversion charts: a reference line each, drawn inside the chart
        assert len(_boxes(page, "svg.rate-bars line.reference")) == 4  # 2 groups × 2 goals
        # holdout: a whisker (interval line and estimate dot) per goal, zero line
        assert len(_boxes(page, "svg.lift .whisker line.ci")) == 2
        assert len(_boxes(page, "svg.lift .whisker circle.estimate")) == 2
        assert len(_boxes(page, "svg.lift line.zero")) == 2
        # experiment: bars per variant and whiskers for the two non-baseline variants
        assert len(_boxes(page, "svg.variant-bars rect.bar")) == 6
        assert len(_boxes(page, "svg.variant-bars g.whisker line.ci")) == 4
        verdicts = page.locator("ul.verdicts li").all_inner_texts()
        assert len(verdicts) == 4 and all(" control on " in v for v in verdicts)
        assert page.locator(".srm").count() == 0
        assert page.locator("#visitors").inner_text() == "8,000"
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ROOT / "docs" / "img" / "report.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.browser
def test_chromium_shows_the_srm_warning(browser: Browser, tmp_path: Path) -> None:
    skewed = [
        Event("exposure", f"x{i}", START + i, False, {}, experiment="Headline", variant=v)
        for i, v in enumerate(["control"] * 700 + ["plain"] * 500 + ["proof"] * 1200)
    ]
    page = _open(browser, render_html(make_report(tmp_path / "e.db", skewed), SPEC))
    try:
        warning = page.locator(".srm")
        assert warning.is_visible()
        assert "Sample ratio mismatch" in warning.inner_text()
        box = warning.bounding_box()
        assert box is not None and box["height"] > 20
    finally:
        page.context.close()
