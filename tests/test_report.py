"""The report's numbers (SPEC §6) against an independent count from the raw events.

A seeded population of 40,000 visitors (personalized converting at 6 %, a 10 %
holdout at 5 %, an experiment, a value goal) goes into a scratch SQLite database;
the report computed there by SQL must equal what plain Python counts from the
same events, its statistics must equal gbstats' on every cell, its 95 % interval
for the holdout must cover the true +20 %, and SQLite and PostgreSQL must give
the identical JSON document. Then the awkward inputs: an empty period, a goal
renamed since the events were recorded, a rule set without goals.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from answers_fixtures import pg_schema_url
from report_fixtures import (
    DAY,
    SPEC,
    START,
    TRUE_LIFT,
    population,
    postgres_db,
    small_events,
    sqlite_db,
)
from test_report_stats import assert_agrees

from smartseg_dsl.measure.aggregate import aggregate
from smartseg_dsl.measure.events import Event
from smartseg_dsl.measure.report import build_report
from smartseg_dsl.measure.sources import open_database
from smartseg_dsl.measure.spec import GoalSpec, ReportSpec
from smartseg_dsl.measure.stats import Cell

LO, HI = START, START + 30 * DAY


def report_from(url: str, spec: ReportSpec = SPEC, lo: float = LO, hi: float = HI) -> dict:
    with open_database(url) as source:
        return build_report(spec, aggregate(source, spec, lo, hi), lo, hi)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return population()


@pytest.fixture(scope="module")
def sqlite_url(events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(sqlite_db(tmp_path_factory.mktemp("report") / "events.db", events))


@pytest.fixture(scope="module")
def report(sqlite_url: str) -> dict:
    return report_from(sqlite_url)


# --------------------------------------------------------------------------- the oracle


@dataclass
class Tally:
    """Plain-Python counts for one cell: visitors, converters and value totals per goal."""

    visitors: set[str] = field(default_factory=set)
    reached: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    value: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def cell(self, goal: GoalSpec) -> Cell:
        n = len(self.visitors)
        if goal.has_value:
            totals = [self.value[goal.name].get(v, 0.0) for v in self.visitors]
            return Cell(n, sum(totals), sum(x * x for x in totals))
        return Cell(n, len(self.reached[goal.name] & self.visitors))


def independent(events: list[Event], spec: ReportSpec) -> dict[str, Any]:
    """Everything the report counts, from the events in Python (ids = list order)."""
    inside = [(i, e) for i, e in enumerate(events) if LO <= e.at < HI]
    latest: dict[str, tuple[float, int, Event]] = {}
    reached: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    goal_times: dict[str, list[tuple[float, str, float]]] = defaultdict(list)
    exposures: dict[tuple[str, str], tuple[float, int, str]] = {}
    for i, e in inside:
        if e.visitor not in latest or (e.at, i) > latest[e.visitor][:2]:
            latest[e.visitor] = (e.at, i, e)
        if e.type == "goal":
            reached[e.visitor][e.goal or ""] += e.value or 0.0
            goal_times[e.visitor].append((e.at, e.goal or "", e.value or 0.0))
        if e.type == "exposure":
            key = (e.visitor, e.experiment or "")
            if key not in exposures or (e.at, i) < exposures[key][:2]:
                exposures[key] = (e.at, i, e.variant or "")

    def tally(visitors: set[str]) -> Tally:
        t = Tally(set(visitors))
        for v in visitors:
            for goal, total in reached[v].items():
                t.reached[goal].add(v)
                t.value[goal][v] = total
        return t

    everyone = set(latest)
    by_segment = {
        group: {
            seg: tally({v for v, (_, _, e) in latest.items() if e.segments.get(group) == seg})
            for seg in {e.segments.get(group) for _, _, e in latest.values()}
        }
        for group in spec.groups
    }
    arms = {h: tally({v for v, (_, _, e) in latest.items() if e.holdout == h}) for h in (0, 1)}
    variants: dict[str, Tally] = defaultdict(Tally)
    for (visitor, _), (at, _, variant) in exposures.items():
        t = variants[variant]
        t.visitors.add(visitor)
        for when, goal, value in goal_times[visitor]:
            if when >= at:
                t.reached[goal].add(visitor)
                t.value[goal][visitor] = t.value[goal].get(visitor, 0.0) + value
    return {"all": tally(everyone), "segments": by_segment, "arms": arms, "variants": variants}


def _rate(cell: Cell, goal: GoalSpec) -> float:
    return cell.total / cell.n


# --------------------------------------------------------------------------- tests


def test_counts_equal_an_independent_computation(events: list[Event], report: dict) -> None:
    truth = independent(events, SPEC)
    assert report["visitors"] == len(truth["all"].visitors) == 40_000
    for group, cells in truth["segments"].items():
        shown = report["segments"][group]
        assert sum(c["visitors"] for c in shown.values()) == 40_000
        for segment, tally in cells.items():
            cell = shown["(unknown)" if segment is None else segment]
            assert cell["visitors"] == len(tally.visitors), (group, segment)
            assert math.isclose(cell["share"], len(tally.visitors) / 40_000, rel_tol=1e-9)
            for goal in SPEC.goals:
                entry = cell["goals"][goal.name]
                assert entry["conversions"] == len(tally.reached[goal.name] & tally.visitors)
                rate = entry["conversions"] / len(tally.visitors)
                assert math.isclose(entry["rate"], rate, rel_tol=1e-9)
                all_rate = len(truth["all"].reached[goal.name]) / 40_000
                assert math.isclose(entry["vs_all"], rate / all_rate, rel_tol=1e-9)
                if goal.has_value:
                    value = tally.cell(goal).total / len(tally.visitors)
                    assert math.isclose(entry["value_per_visitor"], value, rel_tol=1e-9)
    for holdout, arm in (("holdout", 1), ("personalized", 0)):
        for goal in SPEC.goals:
            shown = report["holdout"]["goals"][goal.name][holdout]
            expected = truth["arms"][arm].cell(goal)
            assert shown["visitors"] == expected.n
            if not goal.has_value:
                assert shown["conversions"] == expected.total
    for variant, tally in truth["variants"].items():
        shown = report["experiments"]["Headline"]["variants"][variant]
        assert shown["visitors"] == len(tally.visitors)
        for goal in SPEC.goals:
            expected = tally.cell(goal)
            entry = shown["goals"][goal.name]
            if goal.has_value:
                assert math.isclose(entry["value_per_visitor"], expected.total / expected.n)
            else:
                assert entry["conversions"] == expected.total, (variant, goal.name)


def test_goals_before_exposure_do_not_count(events: list[Event], report: dict) -> None:
    exposed = {e.visitor for e in events if e.type == "exposure"}
    all_trials = sum(
        1 for e in events if e.type == "goal" and e.goal == "Trial" and e.visitor in exposed
    )
    counted = sum(
        v["goals"]["Trial"]["conversions"]
        for v in report["experiments"]["Headline"]["variants"].values()
    )
    assert 0 < counted < all_trials  # the early converters are left out


def test_statistics_equal_gbstats_on_every_cell(events: list[Event], report: dict) -> None:
    truth = independent(events, SPEC)
    checked = 0
    for goal in SPEC.goals:
        entry = report["holdout"]["goals"][goal.name]
        a, b = truth["arms"][1].cell(goal), truth["arms"][0].cell(goal)
        assert_agrees(a, b)
        _same_statistics(entry, a, b)
        checked += 1
        base = truth["variants"]["control"].cell(goal)
        for variant in ("plain", "proof"):
            cell = truth["variants"][variant].cell(goal)
            assert_agrees(base, cell)
            _same_statistics(
                report["experiments"]["Headline"]["variants"][variant]["goals"][goal.name],
                base,
                cell,
            )
            checked += 1
    assert checked == 6


def _same_statistics(entry: dict, a: Cell, b: Cell) -> None:
    from smartseg_dsl.measure.stats import compare

    expected = compare(a, b)
    assert expected.lift is not None and expected.ci95 is not None
    assert math.isclose(entry["lift"], expected.lift, rel_tol=1e-9)
    assert math.isclose(entry["ci95"][0], expected.ci95[0], rel_tol=1e-9)
    assert math.isclose(entry["ci95"][1], expected.ci95[1], rel_tol=1e-9)
    assert math.isclose(entry["p_value"], expected.p_value or 0, rel_tol=1e-9)
    assert math.isclose(entry["chance_to_beat"], expected.chance_to_beat or 0, rel_tol=1e-9)


def test_the_interval_covers_the_true_lift(report: dict) -> None:
    trial = report["holdout"]["goals"]["Trial"]
    lo, hi = trial["ci95"]
    assert lo < TRUE_LIFT < hi, (lo, trial["lift"], hi)
    assert trial["holdout"]["rate"] == pytest.approx(0.05, abs=0.01)
    assert trial["personalized"]["rate"] == pytest.approx(0.06, abs=0.005)
    assert report["holdout"]["share"] == pytest.approx(0.1, abs=0.01)
    # 40,000 visitors is enough to see +20 % on a 5 % base rate
    assert trial["p_value"] < 0.05 and trial["chance_to_beat"] > 0.95
    assert report["experiments"]["Headline"]["srm_flag"] is False


def test_the_baseline_has_no_statistics(report: dict) -> None:
    control = report["experiments"]["Headline"]["variants"]["control"]["goals"]["Trial"]
    assert control["lift"] is None and control["p_value"] is None
    assert report["experiments"]["Headline"]["baseline"] == "control"


def test_sample_ratio_mismatch_is_flagged(tmp_path: Path) -> None:
    skewed = [
        Event("exposure", f"x{i}", START + i, False, {}, experiment="Headline", variant=v)
        for i, v in enumerate(["control"] * 700 + ["plain"] * 500 + ["proof"] * 1200)
    ]
    shown = report_from(str(sqlite_db(tmp_path / "e.db", skewed)))["experiments"]["Headline"]
    assert shown["srm_flag"] is True and shown["srm_p_value"] < 0.001


def test_empty_period_is_a_valid_report(sqlite_url: str) -> None:
    empty = report_from(sqlite_url, lo=START - 10 * DAY, hi=START - 5 * DAY)
    assert empty["visitors"] == 0
    assert "no visitors in this period" in empty["notes"]
    assert empty["segments"]["Industry"]["Legal"]["visitors"] == 0
    assert empty["segments"]["Industry"]["Legal"]["share"] is None
    trial = empty["holdout"]["goals"]["Trial"]
    assert trial["lift"] is None and trial["note"] == "too few visitors"
    json.dumps(empty)  # nothing in it that JSON cannot hold


def test_renamed_goal_is_listed_not_a_crash(tmp_path: Path) -> None:
    url = str(sqlite_db(tmp_path / "e.db", small_events()))
    shown = report_from(url)
    assert (
        "events for unknown goal OldSignup (1 visitor) — renamed or removed from the rules?"
        in shown["notes"]
    )
    assert "OldSignup" not in shown["goals"]


def test_rules_without_goals_or_holdout(tmp_path: Path) -> None:
    url = str(sqlite_db(tmp_path / "e.db", small_events()))
    bare = ReportSpec(groups={"Industry": ("Legal",)})
    shown = report_from(url, bare)
    assert shown["holdout"] is not None  # holdout visitors were recorded
    assert shown["goals"] == {} and shown["experiments"] == {}
    assert list(shown["segments"]["Industry"]) == ["Legal", "Healthcare", "Retail", "(unknown)"]
    # Trial and Revenue are unknown to these rules, like OldSignup
    assert [n.split(" (")[0] for n in shown["notes"]] == [
        "events for unknown goal OldSignup",
        "events for unknown goal Revenue",
        "events for unknown goal Trial",
    ]


def test_the_latest_event_decides_the_segment(tmp_path: Path) -> None:
    """Latest by time, ties broken by id: the later-inserted event wins."""
    seq = [
        Event("session", "a", START + 10, False, {"Industry": "Retail"}, pageviews=1),
        Event("session", "a", START + 20, True, {"Industry": "Healthcare"}, pageviews=2),
        Event("session", "a", START + 20, False, {"Industry": "Legal"}, pageviews=3),
        Event("session", "b", START + 5, False, {"Industry": "Legal"}, pageviews=1),
        Event("session", "b", START + 1, False, {"Industry": None}, pageviews=1),
    ]
    shown = report_from(str(sqlite_db(tmp_path / "e.db", seq)))
    cells = shown["segments"]["Industry"]
    assert cells["Legal"]["visitors"] == 2 and cells["Healthcare"]["visitors"] == 0
    assert shown["holdout"]["share"] == 0.0


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.getfixturevalue("pg_base_url")
    with pg_schema_url(base) as url:
        yield url


@pytest.mark.postgres
def test_postgres_gives_the_identical_report(
    events: list[Event], report: dict, pg_url: str
) -> None:
    postgres_db(pg_url, events)
    assert json.dumps(report_from(pg_url), sort_keys=True) == json.dumps(report, sort_keys=True)


@pytest.mark.postgres
def test_postgres_identical_on_the_small_set(tmp_path: Path, pg_url: str) -> None:
    small = small_events()
    postgres_db(pg_url, small)
    lite = report_from(str(sqlite_db(tmp_path / "e.db", small)))
    assert report_from(pg_url) == lite
