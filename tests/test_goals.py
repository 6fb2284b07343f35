"""Goals and the holdout in the engine (SPEC §1.7), played through the real cookie codec."""

from __future__ import annotations

import hashlib

import pytest
from engine_helpers import Visitor, rules_from
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.engine import Engine, RequestInfo
from smartseg_dsl.measure.buckets import bucket, in_holdout
from smartseg_dsl.state import replace_state

RULES = """
group Industry {
    segment Legal {
        explicit tag "lawyer"
        implicit category "law" weight 3
    }
    segment Retail {
        implicit category "shop" weight 3
    }
}

audience Reader = pageviews >= 2

goal Trial "Started a free trial" = event "trial_started"
goal Demo "Booked a demo" = page "/demo/thanks"
goal Engaged = pageviews >= 3 and session_time > 3m
goal Revenue "Order value" = event "purchase" value attribute("order_total")
goal Read = Reader and certain(Industry.Legal)

holdout 10%

when likely(Industry.Legal) replace slot headline with "For law firms"
when confidence(Industry.Legal) > 20% show survey "Are you a lawyer?"
"""


def visitor(visitor_id: str) -> Visitor:
    v = Visitor(rules_from(RULES))
    state = v.engine.new_state(v.now)
    v.state = replace_state(state, visitor_id=visitor_id)
    v.cookie = v.codec.dumps(v.state)
    return v


def first(outcome) -> list[str]:
    return sorted(h.goal for h in outcome.goals if h.first)


# Two ids whose holdout bucket is known (checked against an independent computation below).
IN_HOLDOUT = "held-out-11"
NOT_IN_HOLDOUT = "simulated"


# ------------------------------------------------------------------------- bucket


def _reference_bucket(key: str, visitor_id: str) -> float:
    # an independent spelling of SPEC §1.7: hex digits of the first 8 bytes, base 16
    hexdigest = hashlib.sha256((key + ":" + visitor_id).encode("utf-8")).hexdigest()
    return int(hexdigest[:16], 16) / 18446744073709551616


@pytest.mark.parametrize(
    ("key", "visitor_id", "expected"),
    [
        # `printf 'holdout:simulated' | sha256sum` → 5cc489d17e3f61bc…
        ("holdout", "simulated", 0x5CC489D17E3F61BC / 2**64),
        # `printf 'holdout:held-out-11' | sha256sum`: in a 10 % holdout
        ("holdout", "held-out-11", int(
            hashlib.sha256(b"holdout:held-out-11").hexdigest()[:16], 16) / 2**64),
    ],
)  # fmt: skip
def test_bucket_fixed_vectors(key: str, visitor_id: str, expected: float) -> None:
    assert bucket(key, visitor_id) == expected


@pytest.mark.parametrize(
    ("key", "visitor_id"),
    [("holdout", "simulated"), ("LegalHeadline", "abcDEF123_-xyz00"), ("holdout", "é")],
)
def test_bucket_matches_the_spec(key: str, visitor_id: str) -> None:
    assert bucket(key, visitor_id) == _reference_bucket(key, visitor_id)
    assert 0 <= bucket(key, visitor_id) < 1


def test_bucket_fixed_vector() -> None:
    digest = hashlib.sha256(b"holdout:simulated").digest()
    assert bucket("holdout", "simulated") == int.from_bytes(digest[:8], "big") / 2**64
    assert in_holdout(0.1, IN_HOLDOUT) and not in_holdout(0.1, NOT_IN_HOLDOUT)
    assert bucket("holdout", IN_HOLDOUT) < 0.1 <= bucket("holdout", NOT_IN_HOLDOUT)
    assert not in_holdout(None, IN_HOLDOUT)


@given(st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_bucket_property(key: str, visitor_id: str) -> None:
    assert bucket(key, visitor_id) == _reference_bucket(key, visitor_id)


def test_bucket_is_roughly_uniform() -> None:
    ids = [f"visitor-{i}" for i in range(20_000)]
    share = sum(in_holdout(0.1, v) for v in ids) / len(ids)
    assert 0.09 < share < 0.11


# -------------------------------------------------------------------------- goals


def test_event_goal_is_reached_once() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    assert first(v.page("/")) == []
    assert first(v.event("trial_started")) == ["Trial"]
    assert v.last.changed
    assert first(v.wait(60).event("trial_started")) == []
    assert v.last.goals == ()


def test_page_goal_fires_on_the_page_and_not_on_a_reload() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    assert first(v.page("/demo")) == []
    assert first(v.wait(5).page("/demo/thanks")) == ["Demo"]
    assert first(v.wait(5).page("/demo/thanks")) == []  # a reload
    assert first(v.wait(5).page("/")) == []
    assert first(v.wait(5).page("/demo/thanks")) == []  # once per visitor


def test_condition_goal_when_it_first_holds() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    v.page("/a")
    v.wait(60).page("/b")
    assert first(v.last) == []  # 2 page views, 1 minute
    assert first(v.wait(150).page("/c")) == ["Engaged"]  # 3 page views, 3.5 minutes
    assert first(v.wait(60).page("/d")) == []


def test_goal_using_an_audience_and_a_certainty() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    v.page("/a")
    assert first(v.wait(5).page("/b")) == []
    assert first(v.wait(5).tag("lawyer")) == ["Read"]


def test_value_goal_records_every_firing_and_its_value() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    out = v.event("purchase", "purchase", attributes={"order_total": 120})
    assert [(h.goal, h.value, h.first) for h in out.goals] == [
        ("Revenue", 120.0, True),
        ("Revenue", 120.0, False),
    ]
    out = v.wait(60).event("purchase", attributes={"order_total": 30.5})
    assert [(h.goal, h.value, h.first) for h in out.goals] == [("Revenue", 30.5, False)]
    assert sum(h.value for h in out.goals) == 30.5
    # a value that is not a number is recorded as none, the firing still counts
    out = v.wait(60).event("purchase", attributes={"order_total": "lots"})
    assert [(h.goal, h.value) for h in out.goals] == [("Revenue", None)]


def test_goals_survive_the_cookie_and_other_changes() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    v.event("trial_started")
    for i in range(5):  # each page view changes the state
        v.wait(60).page(f"/p{i}", categories=["law"])
        assert first(v.last) in ([], ["Engaged"])
    assert first(v.wait(60).event("trial_started")) == []
    assert "Trial" in {g.name for g in v.rules.goals if g.key in v.last.state.goals}


def test_no_goals_under_gpc_or_in_preview() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    assert v.event("trial_started", gpc=True).goals == ()
    assert v.event("trial_started", preview_as="Industry.Legal").goals == ()
    assert first(v.event("trial_started")) == ["Trial"]


def test_session_started_on_the_first_page_view_of_each_session() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    assert v.page("/a").session_started
    assert not v.wait(60).page("/b").session_started
    assert not v.wait(60).event("x").session_started  # not a page view
    assert v.wait(31 * 60).page("/c").session_started
    assert v.last.state.pageviews == 3 and v.last.state.visits == 2


# ------------------------------------------------------------------------ holdout


def test_holdout_visitor_gets_no_action_and_no_survey_but_reaches_goals() -> None:
    held, other = visitor(IN_HOLDOUT), visitor(NOT_IN_HOLDOUT)
    for v in (held, other):
        v.page("/law-1", categories=["law"])
        v.wait(60).page("/law-2", categories=["law"])
    assert other.last.decisions.keys() == {"headline", "survey"}
    assert not other.last.holdout
    assert held.last.holdout
    assert held.last.decisions == {}
    # scored exactly like everyone else
    assert held.conf("Industry.Legal") == other.conf("Industry.Legal")
    assert held.last.view.most_likely("Industry") == "Legal"
    # the rules' conditions still held (the trace shows why nothing acted)
    assert any(held.last.held)
    assert first(held.wait(60).event("trial_started")) == ["Trial"]


def test_preview_ignores_the_holdout() -> None:
    held = visitor(IN_HOLDOUT)
    out = held.page("/", preview_as="Industry.Legal")
    assert not out.holdout
    assert out.decisions["headline"].text == "For law firms"


def test_holdout_is_decided_by_the_visitor_id_alone() -> None:
    rules = rules_from(RULES)
    engine = Engine(rules)
    ids = [f"v{i}" for i in range(300)]
    for vid in ids:
        state = replace_state(engine.new_state(1_767_225_600), visitor_id=vid)
        out = engine.step(state, RequestInfo(time=1_767_225_600, path="/"))
        assert out.holdout == (bucket("holdout", vid) < 0.1)


def test_no_holdout_without_the_line() -> None:
    rules = rules_from(RULES.replace("holdout 10%", ""))
    v = Visitor(rules)
    assert not v.page("/").holdout
    assert rules.holdout is None and rules.measuring  # goals alone still measure
    assert not rules_from(
        RULES.replace("holdout 10%", "").split("goal Trial")[0]
        + "\nwhen likely(Industry.Legal) show slot x\n"
    ).measuring


def test_the_engine_can_ignore_the_holdout() -> None:
    rules = rules_from(RULES)
    engine = Engine(rules, holdout=False)
    state = replace_state(engine.new_state(1_767_225_600), visitor_id=IN_HOLDOUT)
    out = engine.step(state, RequestInfo(time=1_767_225_600, path="/", tags=("lawyer",)))
    assert not out.holdout
    assert out.decisions["headline"].text == "For law firms"


def test_the_segment_snapshot_matches_the_group_views() -> None:
    v = visitor(NOT_IN_HOLDOUT)
    for step in (
        lambda: v.page("/a"),
        lambda: v.wait(5).page("/b", categories=["law"]),
        lambda: v.wait(5).page("/c", categories=["shop", "shop"]),
        lambda: v.wait(5).tag("lawyer"),
        lambda: v.wait(5).answer("Industry.Legal", "no"),
    ):
        out = step()
        likely, certain = out.view.segments()
        assert likely == {name: g.most_likely for name, g in out.groups.items()}
        assert certain == tuple(f"{n}.{g.certain}" for n, g in out.groups.items() if g.certain)
