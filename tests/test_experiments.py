"""Experiments (SPEC §1.7): assignment, stickiness, exposure, and what the report sees.

Assignment is recomputed here from the visitor id with an independent SHA-256, so a
change to the bucket function or to how weights are cut fails these tests; the
variant shares over 100,000 random ids must match the weights within 1 % (absolute);
a simulated population run through the real engine (enrolment, exposure, goals)
and the real report must give an interval covering the effect it was built with.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import pytest
from engine_helpers import KEY, T0, rules_from
from hypothesis import given
from hypothesis import strategies as st
from report_fixtures import sqlite_db

from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.engine import Engine, Outcome, RequestInfo
from smartseg_dsl.measure.aggregate import aggregate
from smartseg_dsl.measure.buckets import bucket, cumulative_bounds, pick_variant
from smartseg_dsl.measure.events import Event, exposure_events, outcome_events
from smartseg_dsl.measure.report import build_report
from smartseg_dsl.measure.sources import open_database
from smartseg_dsl.measure.spec import ReportSpec
from smartseg_dsl.state import VisitorState, replace_state

GROUPS = """
group Industry {
    segment Legal { explicit tag "lawyer" }
    segment Health { explicit tag "doctor" }
}
goal Trial = event "trial"
"""

HEADLINE = (
    GROUPS
    + """
experiment Headline {
    when certain(Industry.Legal)
    variant control 1
    variant plain 1 { replace slot headline with "Plain" }
    variant proof 2 {
        replace slot headline with "Proof"
        show slot case_study
    }
    goal Trial
}
"""
)


def independent_bucket(key: str, visitor: str) -> float:
    digest = hashlib.sha256((key + ":" + visitor).encode("utf-8")).hexdigest()
    return int(digest[:16], 16) / 2**64


def expected_variant(
    name: str, visitor: str, weights: list[tuple[str, float]], traffic: float = 1.0
) -> str | None:
    u = independent_bucket(name, visitor)
    if u >= traffic:
        return None
    x, total, running = u / traffic, sum(w for _, w in weights), 0.0
    for variant, w in weights:
        running += w
        if x < running / total:
            return variant
    return weights[-1][0]


def new_state(engine: Engine, visitor: str, now: float = T0) -> VisitorState:
    return replace_state(engine.new_state(now), visitor_id=visitor)


def page(engine: Engine, state: VisitorState | None, now: float = T0, **kwargs: object) -> Outcome:
    return engine.step(state, RequestInfo(time=now, path=kwargs.pop("path", "/"), **kwargs))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ assignment


def test_bucket_fixed_vectors() -> None:
    # from `printf 'Headline:v1' | sha256sum` etc.: the first 16 hex digits / 2**64
    assert bucket("Headline", "v1") == int("8bfa7b8ba5bf5d64", 16) / 2**64
    assert bucket("LegalHeadline", "lawyer-a") == int("e3458f9123c132c8", 16) / 2**64
    for key, visitor in [("x", "é"), ("Headline", "a" * 64)]:
        assert bucket(key, visitor) == independent_bucket(key, visitor)


def test_each_visitor_gets_the_variant_the_spec_computes() -> None:
    rules = rules_from(HEADLINE)
    engine = Engine(rules)
    weights = [("control", 1.0), ("plain", 1.0), ("proof", 2.0)]
    for i in range(300):
        visitor = f"visitor-{i}"
        out = page(engine, new_state(engine, visitor), tags=("lawyer",))
        assert out.experiments["Headline"] == expected_variant("Headline", visitor, weights)


def test_shares_match_the_weights_over_100000_visitors() -> None:
    bounds = cumulative_bounds((1.0, 1.0, 2.0))
    rng = random.Random(7)
    counts: Counter[int | None] = Counter()
    n = 100_000
    for _ in range(n):
        visitor = f"{rng.getrandbits(128):032x}"
        counts[pick_variant(bucket("Headline", visitor), 1.0, bounds)] += 1
    assert counts[None] == 0
    for index, share in enumerate((0.25, 0.25, 0.5)):
        assert abs(counts[index] / n - share) < 0.01, counts


def test_traffic_below_100_percent_leaves_the_rest_unenrolled() -> None:
    rules = rules_from(
        HEADLINE.replace("    variant control 1", "    traffic 30%\n    variant control 1")
    )
    engine = Engine(rules)
    enrolled = 0
    for i in range(2000):
        visitor = f"t-{i}"
        got = page(engine, new_state(engine, visitor), tags=("lawyer",)).experiments["Headline"]
        want = expected_variant(
            "Headline", visitor, [("control", 1), ("plain", 1), ("proof", 2)], traffic=0.3
        )
        assert got == want
        enrolled += got is not None
    assert abs(enrolled / 2000 - 0.3) < 0.04


@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=6), st.floats(0.001, 1.0))
def test_pick_variant_cuts_where_the_weights_say(weights: list[float], traffic: float) -> None:
    bounds = cumulative_bounds(tuple(weights))
    assert bounds[-1] == 1.0 and list(bounds) == sorted(bounds)
    for u in (0.0, traffic * 0.5, traffic * 0.999999, traffic, 0.9999999):
        got = pick_variant(u, traffic, bounds)
        if u >= traffic:
            assert got is None
        else:
            assert got is not None and (got == 0 or u / traffic >= bounds[got - 1] - 1e-12)


def test_not_eligible_means_not_enrolled_and_nothing_stored() -> None:
    rules = rules_from(HEADLINE)
    engine = Engine(rules)
    out = page(engine, new_state(engine, "someone"), tags=("doctor",))
    assert out.experiments == {"Headline": None}
    assert out.state.variants == {} and out.pending_exposures == ()
    assert "headline" not in out.decisions


def test_only_page_views_enrol() -> None:
    rules = rules_from(HEADLINE)
    engine = Engine(rules)
    out = engine.step(new_state(engine, "api"), RequestInfo(time=T0, tags=("lawyer",)))
    assert out.experiments == {"Headline": None} and out.state.variants == {}


# ----------------------------------------------------------------------- stickiness


def _visitor_in(engine: Engine, variant: str, prefix: str = "s") -> tuple[str, Outcome]:
    for i in range(10_000):
        visitor = f"{prefix}-{i}"
        out = page(engine, new_state(engine, visitor), tags=("lawyer",))
        if out.experiments["Headline"] == variant:
            return visitor, out
    raise AssertionError(f"no visitor lands in {variant}")


def test_assignment_is_sticky_across_a_weights_change() -> None:
    before = Engine(rules_from(HEADLINE))
    codec = CookieCodec(before.rules, KEY)
    # a visitor in `proof` whom the new weights would put elsewhere
    changed = HEADLINE.replace("variant proof 2", "variant proof 0.01").replace(
        "variant control 1", "variant control 50"
    )
    after = Engine(rules_from(changed))
    for i in range(10_000):
        visitor, out = _visitor_in(before, "proof", prefix=f"w{i}")
        fresh = page(after, new_state(after, visitor), tags=("lawyer",))
        if fresh.experiments["Headline"] != "proof":
            break
    else:  # pragma: no cover
        raise AssertionError("the new weights never move anyone")
    cookie = codec.dumps(out.state)
    state, reason = CookieCodec(after.rules, KEY).loads(cookie, T0 + 60)
    assert state is not None, reason
    kept = page(after, state, now=T0 + 60)
    assert kept.experiments["Headline"] == "proof"
    assert kept.decisions["headline"].text == "Proof"


def test_a_removed_variant_reassigns() -> None:
    engine = Engine(rules_from(HEADLINE))
    visitor, out = _visitor_in(engine, "plain")
    without = HEADLINE.replace('    variant plain 1 { replace slot headline with "Plain" }\n', "")
    after = Engine(rules_from(without))
    state, reason = CookieCodec(after.rules, KEY).loads(
        CookieCodec(engine.rules, KEY).dumps(out.state), T0 + 60
    )
    assert state is not None, reason
    again = page(after, state, now=T0 + 60)
    assert again.experiments["Headline"] == expected_variant(
        "Headline", visitor, [("control", 1), ("proof", 2)]
    )
    assert again.changed and again.state.variants


def test_holdout_visitors_are_never_enrolled() -> None:
    rules = rules_from(HEADLINE + "holdout 20%\n")
    engine = Engine(rules)
    held = 0
    for i in range(500):
        visitor = f"h-{i}"
        out = page(engine, new_state(engine, visitor), tags=("lawyer",))
        if independent_bucket("holdout", visitor) < 0.2:
            held += 1
            assert out.holdout and out.experiments["Headline"] is None
            assert out.decisions == {} and out.state.variants == {}
        else:
            assert out.experiments["Headline"] is not None
    assert held > 50


def test_gpc_visitors_are_not_newly_enrolled() -> None:
    engine = Engine(rules_from(HEADLINE))
    out = page(engine, new_state(engine, "private"), tags=("lawyer",), gpc=True)
    assert out.experiments["Headline"] is None and out.pending_exposures == ()


@pytest.mark.parametrize(
    ("dates", "now", "running"),
    [
        ("from 2026-01-01 until 2026-01-02", T0, True),
        ("from 2026-01-01 until 2026-01-02", T0 + 86_399, True),
        ("from 2026-01-01 until 2026-01-02", T0 + 86_400, False),  # until is exclusive
        ("from 2026-01-02", T0, False),
        ("until 2026-01-01", T0, False),
        ("until 2026-01-01", T0 - 1, True),
    ],
)
def test_schedules_by_date(dates: str, now: float, running: bool) -> None:
    engine = Engine(
        rules_from(HEADLINE.replace("    goal Trial\n", f"    goal Trial\n    {dates}\n"))
    )
    out = page(engine, new_state(engine, "lawyer-a", now), now=now, tags=("lawyer",))
    assert (out.experiments["Headline"] is not None) is running


# -------------------------------------------------------------------------- exposure


def test_control_takes_no_slot_and_a_later_rule_acts() -> None:
    text = HEADLINE + 'when certain(Industry.Legal) replace slot headline with "Rule"\n'
    engine = Engine(rules_from(text))
    _, out = _visitor_in(engine, "control")
    assert out.decisions["headline"].text == "Rule"
    assert out.pending_exposures[0].slots == {"headline", "case_study"}
    _, out = _visitor_in(engine, "plain")
    assert out.decisions["headline"].text == "Plain"


def test_a_page_without_the_slots_exposes_nobody() -> None:
    engine = Engine(rules_from(HEADLINE))
    _, out = _visitor_in(engine, "proof")
    assert engine.expose(out, ["survey", "cta"]) is out
    assert engine.expose(out, []) is out
    exposed = engine.expose(out, ["case_study"])
    assert exposed.exposures == (("Headline", "proof"),) and exposed.changed
    # once exposed, never again
    later = page(engine, exposed.state, now=T0 + 30)
    assert later.experiments["Headline"] == "proof" and later.pending_exposures == ()


@given(
    visitor=st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=12),
    on_page=st.sets(st.sampled_from(["headline", "case_study", "survey", "cta"])),
    lawyer=st.booleans(),
    exposed_before=st.booleans(),
)
def test_a_step_given_the_page_exposes_as_expose_does(
    visitor: str, on_page: set[str], lawyer: bool, exposed_before: bool
) -> None:
    """The middleware hands the step the page's slot names (`RequestInfo.page_slots`)
    instead of calling `expose` after it: the outcome must be the same."""
    engine = Engine(rules_from(HEADLINE))
    state = new_state(engine, visitor)
    if exposed_before:
        state = engine.expose(page(engine, state, tags=("lawyer",))).state
    tags = ("lawyer",) if lawyer else ()
    asked: list[int] = []

    def page_slots() -> set[str]:
        asked.append(1)
        return on_page

    later = T0 + 60
    before = (dict(state.variants), state.exposed, state.pageviews)
    without_page = page(engine, state, now=later, tags=tags)
    two_steps = engine.expose(without_page, on_page)
    first = without_page.state
    first_before = (dict(first.variants), first.exposed)
    one_step = page(engine, state, now=later, tags=tags, page_slots=page_slots)
    # the step completes the state it built in place: never the one it was given
    assert (dict(state.variants), state.exposed, state.pageviews) == before
    assert (dict(first.variants), first.exposed) == first_before
    assert one_step.state is not state or not one_step.changed
    assert one_step.state == two_steps.state
    assert one_step.exposures == two_steps.exposures
    assert one_step.changed == two_steps.changed
    assert one_step.experiments == two_steps.experiments
    assert one_step.decisions == two_steps.decisions
    assert one_step.pending_exposures == ()
    # the page is read only for an enrolled visitor not yet exposed, and then once
    assert len(asked) == (1 if without_page.pending_exposures else 0)


def test_an_earlier_rule_taking_the_slot_exposes_nobody() -> None:
    text = (
        GROUPS
        + 'when certain(Industry.Legal) replace slot headline with "Rule"\n'
        + HEADLINE.removeprefix(GROUPS).replace("        show slot case_study\n", "")
    )
    rules = rules_from(text)
    engine = Engine(rules)
    _, out = _visitor_in(engine, "proof")
    assert out.decisions["headline"].text == "Rule"
    assert out.pending_exposures == ()  # its only slot is taken: nothing to expose


def test_goals_before_exposure_are_not_the_experiments() -> None:
    """The goal events carry their time; the report counts from the exposure on."""
    engine = Engine(rules_from(HEADLINE))
    visitor, _ = _visitor_in(engine, "plain")
    state = new_state(engine, visitor)
    first = page(engine, state, events=("trial",))  # not yet certain: not enrolled
    assert first.experiments["Headline"] is None
    assert [e.type for e in outcome_events(first, T0)] == ["session", "goal"]
    second = engine.expose(page(engine, first.state, now=T0 + 60, tags=("lawyer",)))
    assert [(e.type, e.variant) for e in exposure_events(second, T0 + 60)] == [
        ("exposure", "plain")
    ]


def test_preview_forces_a_variant_and_stores_nothing() -> None:
    engine = Engine(rules_from(HEADLINE))
    state = new_state(engine, "anyone")
    out = engine.step(state, RequestInfo(time=T0, path="/", preview_variants={"Headline": "proof"}))
    assert out.experiments["Headline"] == "proof"
    assert out.decisions["headline"].text == "Proof"
    assert not out.changed and out.state is state and out.pending_exposures == ()
    assert engine.validate_variant("Headline", "nope") is not None
    assert engine.validate_variant("Nope", "proof") is not None
    assert engine.validate_variant("Headline", "proof") is None


def test_the_cookie_keeps_assignment_and_exposure() -> None:
    engine = Engine(rules_from(HEADLINE))
    codec = CookieCodec(engine.rules, KEY)
    _, out = _visitor_in(engine, "proof")
    exposed = engine.expose(out)
    state, reason = codec.loads(codec.dumps(exposed.state), T0 + 1)
    assert reason is None and state is not None
    assert state.variants == exposed.state.variants and state.exposed == exposed.state.exposed


def test_the_cookie_budget_counts_experiments() -> None:
    from smartseg_dsl.budget import worst_case_cookie_bytes

    small = worst_case_cookie_bytes(rules_from(GROUPS).ruleset)
    many = "".join(
        HEADLINE.removeprefix(GROUPS).replace("Headline", f"Headline{i}") for i in range(5)
    )
    bigger = worst_case_cookie_bytes(rules_from(GROUPS + many).ruleset)
    # five assignments ("key":"key") and five exposure keys, base64 grows it by 4/3
    assert bigger >= small + 5 * len('"xxx":"xxx","xxx",')


# ---------------------------------------------------- a population through the report


def test_a_known_effect_is_covered_by_the_reports_interval(tmp_path: Path) -> None:
    """Visitors enrolled by the real engine; `plain` converts 30 % more than control."""
    engine = Engine(rules_from(HEADLINE))
    rates = {"control": 0.10, "plain": 0.13, "proof": 0.10}
    rng = random.Random(11)
    events: list[Event] = []
    for i in range(24_000):
        t = T0 + i
        out = engine.expose(
            page(engine, new_state(engine, f"{rng.getrandbits(64):016x}", t), t, tags=("lawyer",))
        )
        events += outcome_events(out, t) + exposure_events(out, t)
        if rng.random() < rates[out.experiments["Headline"] or "control"]:
            later = page(engine, out.state, t + 5, events=("trial",))
            events += outcome_events(later, t + 5)
    spec = ReportSpec.from_ruleset(engine.rules)
    with open_database(str(sqlite_db(tmp_path / "e.db", events))) as source:
        report = build_report(
            spec, aggregate(source, spec, T0 - 1, T0 + 30_000), T0 - 1, T0 + 30_000
        )
    headline = report["experiments"]["Headline"]
    assert headline["srm_flag"] is False
    plain = headline["variants"]["plain"]["goals"]["Trial"]
    lo, hi = plain["ci95"]
    assert lo < 0.30 < hi, (lo, plain["lift"], hi)
    assert plain["p_value"] < 0.05 and plain["chance_to_beat"] > 0.95
    visitors = {v: headline["variants"][v]["visitors"] for v in rates}
    assert abs(visitors["proof"] / sum(visitors.values()) - 0.5) < 0.02


def test_a_duplicate_experiment_names_where_the_first_is(tmp_path: Path) -> None:
    from smartseg_dsl.loader import check_paths

    block = HEADLINE.removeprefix(GROUPS)
    (tmp_path / "a.seg").write_text(GROUPS + block, encoding="utf-8")
    (tmp_path / "b.seg").write_text(block, encoding="utf-8")
    (dup,) = [d for d in check_paths([tmp_path]).diagnostics if d.code == "SEG205"]
    assert dup.file.endswith("b.seg") and dup.line == 2
    assert dup.message.startswith("experiment `Headline` is already defined at ")
    assert dup.message.endswith("a.seg:8")
