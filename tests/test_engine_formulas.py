"""Hand-computed checks of every formula of SPEC §1.2, and of the rules around them.

Each expected value is worked out in the comment next to it from the SPEC's
definitions; the visitor goes through the real cookie codec between requests.
"""

from __future__ import annotations

import math

import pytest
from engine_helpers import T0, Visitor, rules_from

from smartseg_dsl.engine import Answer, Engine, RequestInfo

DAY = 86400.0

FORMULAS = """
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit category "law" weight 3
    }
    segment RealEstate "Real estate" {
        explicit tag "realtor"
        implicit category "realestate" weight 3 max 6
    }
    segment Hospitality "Hospitality" {
        implicit category "hotels" weight 2
    }
}

group Topic {
    decay 7d
    segment A { implicit event "a" weight 4 }
    segment B { implicit event "b" weight 2 max 5 }
}

when confidence(Industry.Legal) > 0.2 show slot legal_box
"""


@pytest.fixture
def v() -> Visitor:
    return Visitor(rules_from(FORMULAS))


# ------------------------------------------------------------------ confidence


def test_one_law_article_is_3_of_13(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    # score(Legal) = 3; denominator = 3 + 0 + 0 + prior 10
    assert v.conf("Industry.Legal") == pytest.approx(3 / 13)
    assert v.last is not None and v.last.view.score("Industry.Legal") == 3


def test_two_law_articles_are_6_of_16(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).page("/b", categories=["law"])
    assert v.conf("Industry.Legal") == pytest.approx(6 / 16)


def test_segments_share_one_denominator(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).page("/b", categories=["hotels"])
    # 3 / (3 + 2 + 10) and 2 / 15: they compete
    assert v.conf("Industry.Legal") == pytest.approx(3 / 15)
    assert v.conf("Industry.Hospitality") == pytest.approx(2 / 15)
    assert v.conf("Industry.RealEstate") == 0


def test_implicit_evidence_alone_never_reaches_1(v: Visitor) -> None:
    for i in range(200):
        v.wait(60).page(f"/p{i}", categories=["law"])
    # 600 / 610
    assert v.conf("Industry.Legal") == pytest.approx(600 / 610)
    assert v.conf("Industry.Legal") < 1
    assert v.last is not None and not v.last.view.certain("Industry.Legal")


def test_a_no_answer_excludes_the_segment_from_the_denominator(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).page("/b", categories=["realestate"])
    assert v.conf("Industry.RealEstate") == pytest.approx(3 / 16)
    v.wait(60).answer("Industry.Legal", "no")
    # Legal excluded: 0; RealEstate: 3 / (3 + prior 10) — Legal's 3 points are gone
    assert v.conf("Industry.Legal") == 0
    assert v.conf("Industry.RealEstate") == pytest.approx(3 / 13)
    assert v.last is not None
    assert v.last.view.most_likely("Industry") == "RealEstate"
    assert v.last.groups["Industry"].excluded == ("Legal",)
    assert not v.last.view.known("Industry")
    # more law reading does not bring Legal back
    v.wait(60).page("/c", categories=["law"])
    assert v.conf("Industry.Legal") == 0


def test_a_yes_after_a_no_makes_the_segment_certain_again(v: Visitor) -> None:
    v.answer("Industry.Legal", "no")
    v.wait(60).answer("Industry.Legal", "yes")
    assert v.conf("Industry.Legal") == 1
    assert v.last is not None and v.last.view.certain("Industry.Legal")


def test_other_zeroes_the_group_until_a_later_positive_fact(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).answer("Industry", "other")
    assert v.last is not None
    g = v.last.groups["Industry"]
    assert all(x == 0 for x in g.confidences.values())
    assert g.most_likely is None and g.certain is None
    assert g.known and g.other
    v.wait(60).page("/b", categories=["law"])  # implicit evidence does not undo "other"
    assert v.conf("Industry.Legal") == 0
    v.wait(60).tag("lawyer")  # a positive fact later than `other`
    assert v.conf("Industry.Legal") == 1
    assert v.last.view.known("Industry")


def test_a_tag_makes_certain_and_a_later_answer_for_another_segment_wins(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).tag("lawyer")
    assert v.conf("Industry.Legal") == 1
    assert v.conf("Industry.Hospitality") == 0
    v.wait(60).answer("Industry", "RealEstate")
    # RealEstate now holds the group's latest positive fact
    assert v.conf("Industry.RealEstate") == 1
    assert v.conf("Industry.Legal") == 0
    assert v.last is not None and v.last.view.most_likely("Industry") == "RealEstate"


def test_a_tag_then_a_no_for_that_segment_leaves_nobody_certain(v: Visitor) -> None:
    v.page("/a", categories=["law"])
    v.wait(60).page("/b", categories=["hotels"])
    v.wait(60).tag("lawyer")
    v.wait(60).answer("Industry.Legal", "no")
    assert v.last is not None
    g = v.last.groups["Industry"]
    assert g.certain is None and not g.known
    # Legal excluded (its latest negative is later than its positive); Hospitality 2 / 12
    assert g.confidences["Legal"] == 0
    assert g.confidences["Hospitality"] == pytest.approx(2 / 12)


def test_an_answer_in_the_same_request_as_a_tag_is_the_later_fact(v: Visitor) -> None:
    v.request(tags=("lawyer",), answers=(Answer("Industry.Legal", "no"),))
    assert v.conf("Industry.Legal") == 0
    assert v.last is not None and not v.last.view.known("Industry")


def test_ties_go_to_the_segment_declared_first(v: Visitor) -> None:
    v.page("/a", categories=["realestate"])
    v.wait(60).page("/b", categories=["law"])
    # both 3 points: Legal is declared before RealEstate
    assert v.last is not None and v.last.view.most_likely("Industry") == "Legal"


def test_no_evidence_means_no_most_likely(v: Visitor) -> None:
    v.page("/nothing")
    assert v.last is not None and v.last.view.most_likely("Industry") is None


# -------------------------------------------------------------- decay and caps


def test_decay_after_one_half_life_halves_the_points(v: Visitor) -> None:
    v.event("a")
    assert v.conf("Topic.A") == pytest.approx(4 / 14)
    v.wait(7 * DAY).request()
    # 4 · 0.5^(7d/7d) = 2; 2 / (2 + 10)
    assert v.last is not None and v.last.view.score("Topic.A") == pytest.approx(2)
    assert v.conf("Topic.A") == pytest.approx(2 / 12)


def test_decay_is_continuous_and_applies_per_firing(v: Visitor) -> None:
    v.event("a")
    v.wait(3.5 * DAY).event("a")
    v.wait(3.5 * DAY).request()
    # 4·0.5^1 + 4·0.5^0.5
    expected = 4 * 0.5 + 4 * 0.5**0.5
    assert v.last is not None
    assert v.last.view.score("Topic.A") == pytest.approx(expected, abs=2e-3)


def test_a_cap_limits_a_signal_total(v: Visitor) -> None:
    for i in range(3):
        v.wait(60).page(f"/re{i}", categories=["realestate"])
    # 3 × 3 = 9, capped at max 6: 6 / 16
    assert v.last is not None and v.last.view.score("Industry.RealEstate") == 6
    assert v.conf("Industry.RealEstate") == pytest.approx(6 / 16)


def test_the_cap_applies_to_the_decayed_sum(v: Visitor) -> None:
    v.event("b", "b", "b", "b")
    # 4 × 2 = 8 → capped at 5
    assert v.last is not None and v.last.view.score("Topic.B") == 5
    v.wait(7 * DAY).request()
    # decayed sum 8 · 0.5 = 4, under the cap: 4 (a saturating counter would say 2.5)
    assert v.last.view.score("Topic.B") == pytest.approx(4)


# ----------------------------------------------------------------- page views


RELOADS = """
group G {
    segment S {
        implicit page "/x" weight 1
        implicit event "e" weight 10
        implicit category "c" weight 100
    }
}
audience Three = pageviews >= 3
audience TwoVisits = visits >= 2
audience XTwice = count(page "/x") >= 2
audience ETwice = count(event "e") >= 2
audience LongSession = session_time >= 20m
when Three or TwoVisits or XTwice or ETwice or LongSession show slot s
"""


def test_a_reload_fires_no_page_signal_and_counts_in_no_counter() -> None:
    v = Visitor(rules_from(RELOADS))
    v.page("/x", categories=["c"])
    v.wait(5).page("/x", categories=["c"])  # reload: path unchanged
    assert v.last is not None
    assert v.last.view.score("G.S") == 101  # one page view's worth
    assert v.last.view.pageviews == 1
    assert "XTwice" not in v.last.audiences
    v.wait(5).page("/y")
    v.wait(5).page("/x", categories=["c"])  # not a reload: /y came between
    assert v.last.view.score("G.S") == 202
    assert set(v.last.audiences) >= {"Three", "XTwice"}


def test_a_reload_still_applies_events_and_keeps_the_session_alive() -> None:
    v = Visitor(rules_from(RELOADS))
    v.page("/x")
    for _ in range(3):
        v.wait(25 * 60).page("/x", events=("e",))  # reloads, 25 min apart
    assert v.last is not None
    assert v.last.view.score("G.S") == 1 + 30
    assert "ETwice" in v.last.audiences
    assert v.last.view.visits == 1  # never 30 min without a page view
    assert "LongSession" in v.last.audiences  # 75 min into the session


def test_sessions_start_after_more_than_30_minutes() -> None:
    v = Visitor(rules_from(RELOADS))
    v.page("/a")
    v.wait(30 * 60).page("/b")  # exactly 30 min: same session
    assert v.last is not None and v.last.view.visits == 1
    v.wait(30 * 60 + 1).page("/c")  # more than 30 min: a new session
    assert v.last.view.visits == 2
    assert "TwoVisits" in v.last.audiences
    # API calls do not keep the session alive
    v.wait(20 * 60).event("x")
    v.wait(20 * 60).page("/d")
    assert v.last.view.visits == 3


def test_a_non_page_request_is_not_a_page_view_but_its_events_count() -> None:
    v = Visitor(rules_from(RELOADS))
    v.page("/a")
    v.wait(1).request(events=("e", "e"))
    assert v.last is not None
    assert v.last.view.pageviews == 1
    assert v.last.view.score("G.S") == 20
    assert "ETwice" in v.last.audiences


# ---------------------------------------------------------------- first touch

FIRST_TOUCH = """
group G {
    segment Law {
        implicit referrer "abajournal.com" weight 5
        implicit landing "/legal/**" weight 4
    }
    segment Uk {
        implicit referrer "*.lawsociety.org.uk" weight 7
    }
}
"""


def test_landing_fires_once_on_the_first_page_view() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.page("/legal/contracts")
    v.wait(60).page("/legal/other")
    assert v.last is not None and v.last.view.score("G.Law") == 4


def test_landing_is_the_first_page_only() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.page("/home")
    v.wait(60).page("/legal/contracts")
    assert v.last is not None and v.last.view.score("G.Law") == 0


def test_referrer_is_the_first_external_one_and_matches_subdomains() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.page("/a", referrer="http://localhost/", host="localhost")  # internal: not recorded
    v.wait(60).page("/b", referrer="https://WWW.AbaJournal.com/news", host="localhost")
    v.wait(60).page("/c", referrer="https://abajournal.com/again", host="localhost")
    assert v.last is not None and v.last.view.score("G.Law") == 5


def test_the_first_external_referrer_decides_even_if_it_matches_nothing() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.page("/a", referrer="https://google.com/")
    v.wait(60).page("/b", referrer="https://abajournal.com/")
    assert v.last is not None and v.last.view.score("G.Law") == 0


def test_star_dot_host_matches_subdomains_only() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.page("/a", referrer="https://lawsociety.org.uk/")
    assert v.last is not None and v.last.view.score("G.Uk") == 0
    w = Visitor(rules_from(FIRST_TOUCH))
    w.page("/a", referrer="https://www.lawsociety.org.uk/")
    assert w.last is not None and w.last.view.score("G.Uk") == 7


# ------------------------------------------------------------------- windows

WINDOWS = """
group G { segment S { implicit event "other" weight 1 } }
audience Recent = count(event "x" within 30s) >= 1
audience Since = since(event "x") < 1m
audience Never = since(event "x") > 1m
when Recent or Since or Never show slot s
"""


def test_windows_are_half_open() -> None:
    v = Visitor(rules_from(WINDOWS))
    v.event("x")
    v.wait(29).request()
    assert v.last is not None and "Recent" in v.last.audiences
    v.wait(1).request()  # now − t = 30 s, not < 30 s
    assert "Recent" not in v.last.audiences
    assert "Since" in v.last.audiences
    v.wait(30).request()  # 60 s: since < 1m is false, > 1m too
    assert set(v.last.audiences) == set()


def test_an_ordering_comparison_with_none_is_false() -> None:
    v = Visitor(rules_from(WINDOWS))
    v.request()
    # since(event "x") is none: neither `< 1m` nor `> 1m`
    assert v.last is not None and v.last.audiences == ()


# ------------------------------------------------------------------- surveys

SURVEYS = """
group Industry {
    segment Legal { explicit tag "lawyer" implicit category "law" weight 5 }
    segment Other { implicit category "misc" weight 5 }
}
when confidence(Industry.Legal) > 0.3 show survey "Are you a lawyer?"
when confidence(Industry.Legal) > 0.3 show survey "Which industry?" about Industry
"""


def test_a_survey_names_its_subject_and_question() -> None:
    v = Visitor(rules_from(SURVEYS))
    out = v.page("/a", categories=["law"])  # 5 / 15 > 0.3
    d = out.decisions["survey"]
    assert (d.kind, d.question, d.about) == ("survey", "Are you a lawyer?", "Industry.Legal")
    assert d.action == "survey"


def test_a_yes_no_survey_is_suppressed_once_excluded_and_the_slot_goes_on() -> None:
    v = Visitor(rules_from(SURVEYS))
    v.page("/a", categories=["law"])
    v.wait(60).page("/b", categories=["law"])
    v.wait(60).answer("Industry.Legal", "no")
    out = v.wait(60).page("/c", categories=["law"])
    # Legal excluded: confidence 0, so neither rule holds any more
    assert "survey" not in out.decisions
    # a No leaves the group unknown, so a group survey could still be asked
    assert not out.view.known("Industry")


def test_a_suppressed_survey_leaves_its_slot_to_a_later_rule() -> None:
    v = Visitor(rules_from(SURVEYS))
    v.page("/a", categories=["law"])
    out = v.wait(60).dismiss("Industry.Legal")
    assert out.decisions["survey"].about == "Industry"
    assert out.trace.rules[0].suppressed == ("survey",)


def test_surveys_stop_once_the_group_is_known() -> None:
    v = Visitor(rules_from(SURVEYS))
    v.page("/a", categories=["law"])
    out = v.wait(60).tag("lawyer")
    assert out.view.confidence("Industry.Legal") == 1
    assert "survey" not in out.decisions


def test_a_dismissal_lasts_exactly_30_days() -> None:
    v = Visitor(rules_from(SURVEYS))
    v.page("/a", categories=["law"])
    v.request(dismissals=("Industry.Legal", "Industry"))
    out = v.wait(30 * DAY - 1).request()
    assert "survey" not in out.decisions
    out = v.wait(1).request()  # now − t = 30 d: no longer < 30 d
    # the evidence has not decayed (no decay in this group)
    assert out.decisions["survey"].about == "Industry.Legal"


def test_group_survey_offers_every_segment_with_its_label() -> None:
    rules = rules_from(SURVEYS)
    d = next(d for r in rules.rules for d in r.decisions if d.about == "Industry")
    assert d.options == (("Legal", "Legal"), ("Other", "Other"))


# ---------------------------------------------------------------- precedence

PRECEDENCE = """
group G { segment S { implicit event "e" weight 10 } }
when score(G.S) > 5 {
    replace slot a with "first"
    show slot b
}
when score(G.S) > 1 replace slot a with "second"
when score(G.S) > 1 replace slot c with "third"
hide slot a
"""


def test_the_first_rule_that_fires_wins_each_slot() -> None:
    v = Visitor(rules_from(PRECEDENCE))
    out = v.event("e")
    assert out.decisions["a"].text == "first"
    assert out.decisions["b"].kind == "show"
    assert out.decisions["c"].text == "third"
    trace = {t.index: t for t in out.trace.rules}
    assert trace[1].held and trace[1].won == () and trace[1].lost == ("a",)
    # without evidence, the bare action applies
    w = Visitor(rules_from(PRECEDENCE))
    out = w.request()
    assert out.decisions["a"].kind == "hide"
    assert set(out.decisions) == {"a"}


# ------------------------------------------------------------- explicit query

QUERY = """
group G {
    segment S {
        explicit query seg "legal"
        implicit query utm "*law*" weight 2
    }
}
audience Campaign = count(query utm "*law*") >= 2
when Campaign show slot x
"""


def test_explicit_query_applies_on_any_request_implicit_only_on_page_views() -> None:
    v = Visitor(rules_from(QUERY))
    out = v.request(query={"seg": ["legal"], "utm": ["lawfirms"]})  # an API call
    assert out.view.certain("G.S")
    assert out.view.score("G.S") == 0
    out = v.wait(1).page("/a", query={"utm": ["lawfirms"]})
    assert out.view.score("G.S") == 2
    out = v.wait(1).page("/a", query={"utm": ["lawfirms"]})  # reload
    assert out.view.score("G.S") == 2 and out.audiences == ()
    out = v.wait(1).page("/b", query={"utm": ["lawfirms"]})
    assert out.audiences == ("Campaign",)


# ---------------------------------------------------------------------- GPC


def test_gpc_records_no_behaviour_but_honours_answers() -> None:
    rules = rules_from(FORMULAS)
    engine = Engine(rules)
    out = engine.step(None, RequestInfo(T0, "/a", categories=("law",), gpc=True))
    # the current page's evidence is not stored, nor used
    assert out.view.score("Industry.Legal") == 0
    assert not out.changed  # nothing explicit: a GPC visitor gets no cookie
    out = engine.step(
        out.state,
        RequestInfo(T0 + 5, answers=(Answer("Industry.Legal", "yes"),), gpc=True),
    )
    assert out.changed and out.view.certain("Industry.Legal")
    assert out.state.evidence == {}


def test_first_touch_comes_from_the_first_tracked_page_view() -> None:
    v = Visitor(rules_from(FIRST_TOUCH))
    v.tag("x")  # gives the visitor a cookie without a page view
    v.wait(1).page("/home", gpc=True, referrer="https://google.com/")
    v.wait(1).page("/legal/a", referrer="https://abajournal.com/")
    assert v.last is not None and v.last.view.score("G.Law") == 9


# ------------------------------------------------------------------- preview


def test_preview_evaluates_as_certain_and_stores_nothing() -> None:
    rules = rules_from(FORMULAS)
    engine = Engine(rules)
    state = engine.new_state(T0)
    out = engine.step(state, RequestInfo(T0, "/a", preview_as="Industry.Hospitality"))
    assert out.view.certain("Industry.Hospitality")
    assert out.groups["Industry"].confidences["Hospitality"] == 1
    assert out.state is state and not out.changed


def test_step_never_mutates_its_input() -> None:
    rules = rules_from(RELOADS)
    engine = Engine(rules)
    first = engine.step(None, RequestInfo(T0, "/x", events=("e",), categories=("c",))).state
    snapshot = (first.evidence.copy(), first.counts.copy(), first.facts, first.pageviews)
    engine.step(first, RequestInfo(T0 + 60, "/y", events=("e", "e"), tags=("t",)))
    assert (first.evidence, first.counts, first.facts, first.pageviews) == snapshot


# ---------------------------------------------------------------- attributes

ATTRS = """
group G { segment S { implicit event "e" weight 1 } }
audience High = attribute("score") >= 70
audience Flag = attribute("vip") == 1
audience Named = attribute("plan") == "pro"
when High or Flag or Named show slot x
"""


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"score": 70}, {"High"}),
        ({"score": 69.5}, set()),
        ({"score": "90"}, set()),  # a string is not a number: ordering is false
        ({"score": None}, set()),
        ({"vip": 1}, {"Flag"}),
        ({"vip": True}, set()),  # a boolean never equals a number (True == 1 in Python)
        ({"plan": "pro"}, {"Named"}),
        ({}, set()),
    ],
)
def test_attribute_comparisons_are_typed(attributes: dict, expected: set[str]) -> None:
    v = Visitor(rules_from(ATTRS))
    out = v.request(attributes=attributes)
    assert set(out.audiences) == expected


def test_device_classification() -> None:
    from smartseg_dsl.engine import classify_device

    assert classify_device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile") == (
        "mobile"
    )
    assert classify_device("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)") == "tablet"
    assert classify_device("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari") == "mobile"
    assert classify_device("Mozilla/5.0 (Linux; Android 14; SM-X910) Safari") == "tablet"
    assert classify_device("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0") == "desktop"
    assert classify_device("") == "desktop"


def test_validation_of_answers_and_dismissals() -> None:
    engine = Engine(rules_from(FORMULAS))
    assert engine.validate_answer(Answer("Industry.Legal", "yes")) is None
    assert engine.validate_answer(Answer("Industry", "RealEstate")) is None
    assert engine.validate_answer(Answer("Industry", "other")) is None
    assert "yes or no" in (engine.validate_answer(Answer("Industry.Legal", "maybe")) or "")
    assert engine.validate_answer(Answer("Industry.Nope", "yes")) is not None
    assert engine.validate_answer(Answer("Nope", "other")) is not None
    assert engine.validate_answer(Answer("Industry", "Nope")) is not None
    assert engine.validate_dismissal("Industry") is None
    assert engine.validate_dismissal("Industry.Legal") is None
    assert engine.validate_dismissal("Industry.Nope") is not None
    assert engine.validate_dismissal("Nope") is not None


def test_time_never_runs_backwards_for_a_visitor() -> None:
    rules = rules_from(WINDOWS)
    engine = Engine(rules)
    s = engine.step(None, RequestInfo(T0 + 100, events=("x",))).state
    out = engine.step(s, RequestInfo(T0 + 50))  # an older clock on another server
    assert "Recent" in out.audiences  # evaluated at T0 + 100, not before the event
    assert not math.isnan(out.view.confidence("G.S"))


def test_view_without_a_request_applies_decay_lazily() -> None:
    rules = rules_from(FORMULAS)
    engine = Engine(rules)
    state = engine.step(None, RequestInfo(T0, events=("a",))).state
    view = engine.view(state, T0 + 7 * DAY)
    assert view.score("Topic.A") == pytest.approx(2)
    assert view.confidence("Topic.A") == pytest.approx(2 / 12)
    assert view.most_likely("Topic") == "A"
    assert not view.known("Topic")
    with pytest.raises(KeyError):
        view.confidence("Topic.Nope")


# ------------------------------------------------------------------- ranking


def test_ranking_is_each_segments_confidence_under_its_full_name() -> None:
    """`Outcome.ranking` (what an `order` action sorts by) reads the confidences
    without building the group's view: it must say exactly what the view says."""
    import random

    from engine_helpers import demo_rules

    rules = demo_rules()
    rng = random.Random(3)
    pages = ["/", "/pricing", "/legal/", "/healthcare/", "/blog/trust-accounting-basics"]
    seen = 0
    for _ in range(60):
        v = Visitor(rules, start=T0)
        for _ in range(rng.randrange(1, 6)):
            v.wait(rng.choice([5, 3600, 86400]))
            out = v.page(rng.choice(pages), categories=rng.choice([[], ["law"], ["health"]]))
            for name, group in out.groups.items():
                ranking = out.ranking(name)
                assert ranking == {f"{name}.{s}": c for s, c in group.confidences.items()}
                assert list(ranking) == [f"{name}.{s}" for s in group.confidences]
                seen += any(c not in (0.0, 1.0) for c in ranking.values())
    assert seen > 0  # some visitors were uncertain: the numbers were really compared
    assert out.ranking("NoSuchGroup") is None
