"""Properties of the engine over random journeys (hypothesis).

* confidences of a group are in [0, 1] and sum to at most 1; a certain segment
  has confidence 1 and the others 0; most-likely and known agree with them;
* adding evidence to S never lowers confidence(S);
* `count(M within D)` equals a brute-force count over the full event list,
  for every threshold up to 50;
* state → cookie → state round-trips;
* the cookie never exceeds 4,096 bytes (nor the checker's worst case), even
  after 100,000 random page views on the demo rules.
"""

from __future__ import annotations

import random

import pytest
from engine_helpers import KEY, T0, demo_rules, rules_from
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartseg_dsl.budget import COOKIE_LIMIT, worst_case_cookie_bytes
from smartseg_dsl.cookie import CookieCodec, set_cookie_header
from smartseg_dsl.engine import Answer, Engine, Outcome, RequestInfo
from smartseg_dsl.state import decode_state, encode_state

RULES = """
group Industry {
    prior 4
    decay 3d
    segment Legal {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
        implicit event "legal_ev" weight 2
    }
    segment Estate {
        explicit tag "realtor"
        implicit category "estate" weight 2
        implicit page "/estate/**" weight 1 max 5
    }
    segment Hotel {
        implicit category "hotel" weight 5
        implicit landing "/hotel/**" weight 4
        implicit referrer "hotels.com" weight 3
    }
}
group Size {
    segment Small { implicit event "small" weight 1 }
    segment Big { explicit tag "enterprise" implicit event "big" weight 1.5 max 4 }
}
audience Busy = count(event "small" within 1h) > 3
audience Back = visits >= 2 and pageviews > 4
when confidence(Industry.Legal) > 0.3 show survey "Are you a lawyer?"
when Busy or Back show slot s
order slot t by Industry
"""

GAPS = st.sampled_from([0, 1, 29, 30, 59, 60, 1799, 1800, 1801, 3600, 86400, 3 * 86400, 40 * 86400])
PATHS = st.sampled_from(["/", "/estate/a", "/estate/b/c", "/hotel/x", "/blog/1", "/blog/2"])
CATS = st.lists(st.sampled_from(["law", "estate", "hotel", "other"]), max_size=3)
EVENTS = st.lists(st.sampled_from(["legal_ev", "small", "big", "unknown"]), max_size=3)
ANSWERS = st.sampled_from(
    [
        Answer("Industry.Legal", "yes"),
        Answer("Industry.Legal", "no"),
        Answer("Industry.Estate", "no"),
        Answer("Industry", "Hotel"),
        Answer("Industry", "other"),
        Answer("Size.Big", "yes"),
        Answer("Size", "other"),
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, dict]:
    gap = draw(GAPS)
    kind = draw(st.sampled_from(["page", "page", "page", "event", "tag", "answer", "dismiss"]))
    req: dict = {"gpc": draw(st.booleans()) if draw(st.integers(0, 9)) == 0 else False}
    if kind == "page":
        req["path"] = draw(PATHS)
        req["categories"] = tuple(draw(CATS))
        req["events"] = tuple(draw(EVENTS))
        req["referrer"] = draw(
            st.sampled_from([None, "https://hotels.com/x", "https://other.org/"])
        )
    elif kind == "event":
        req["events"] = tuple(draw(EVENTS))
    elif kind == "tag":
        req["tags"] = (draw(st.sampled_from(["lawyer", "realtor", "enterprise", "nothing"])),)
    elif kind == "answer":
        req["answers"] = (draw(ANSWERS),)
    else:
        req["dismissals"] = (draw(st.sampled_from(["Industry.Legal", "Industry", "Size"])),)
    return gap, req


journeys = st.lists(requests(), min_size=1, max_size=30)


def play(rules, steps, codec: CookieCodec | None = None) -> list[Outcome]:
    engine = Engine(rules)
    codec = codec or CookieCodec(rules, KEY)
    t = float(T0)
    cookie = None
    outcomes = []
    for gap, req in steps:
        t += gap
        state = None
        if cookie is not None:
            state, reason = codec.loads(cookie, t)
            assert state is not None, reason
        out = engine.step(state, RequestInfo(time=t, **req))
        if out.changed:
            cookie = codec.dumps(out.state)
        outcomes.append(out)
    return outcomes


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(journeys)
def test_confidences_are_a_sub_probability(steps) -> None:
    rules = rules_from(RULES)
    for out in play(rules, steps):
        for name, g in out.groups.items():
            values = list(g.confidences.values())
            assert all(0.0 <= x <= 1.0 for x in values)
            assert sum(values) <= 1.0 + 1e-9
            if g.certain is not None:
                assert g.confidences[g.certain] == 1.0
                assert all(x == 0 for s, x in g.confidences.items() if s != g.certain)
                assert g.most_likely == g.certain and g.known
            if g.other:
                assert g.most_likely is None and g.known and sum(values) == 0
            if g.most_likely is not None and g.certain is None:
                top = max(g.scores[s] for s in g.confidences if s not in g.excluded)
                assert g.scores[g.most_likely] == top > 0
            assert g.known == (g.certain is not None or g.other)
            for s in g.excluded:
                assert g.confidences[s] == 0
            assert out.view.most_likely(name) == g.most_likely


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(journeys, st.integers(min_value=0), st.sampled_from(["legal_ev", "big"]))
def test_adding_evidence_never_lowers_confidence(steps, where, event) -> None:
    rules = rules_from(RULES)
    segment = "Industry.Legal" if event == "legal_ev" else "Size.Big"
    at = where % (len(steps) + 1)
    # one more request, at the same time as the previous one, with one more event for S
    extra = (0, {"events": (event,)})
    more = [*steps[:at], extra, *steps[at:]]
    base = play(rules, steps)
    boosted = play(rules, more)
    boosted = boosted[:at] + boosted[at + 1 :]
    for a, b in zip(base, boosted, strict=True):
        assert b.view.confidence(segment) >= a.view.confidence(segment) - 1e-12
        assert b.view.score(segment) >= a.view.score(segment) - 1e-12


COUNTS = """
group G { segment S { implicit event "other" weight 1 } }
audience A0 = count(event "x" within 10m) == 0
audience A1 = count(event "x" within 10m) >= 1
audience A7 = count(event "x" within 1h) > 7
audience A20 = count(event "x" within 1h) == 20
audience A33 = count(event "x" within 2h) < 33
audience A50 = count(event "x" within 1d) > 50
audience E50 = count(event "x" within 90s) >= 50
audience Ever = count(event "x") >= 50
when A0 or A1 or A7 or A20 or A33 or A50 or E50 or Ever show slot s
"""

EVERY_THRESHOLD = (
    'group G { segment S { implicit event "other" weight 1 } }\n'
    + "".join(f'audience Ge{k} = count(event "x" within 1h) >= {k}\n' for k in range(51))
    + "".join(f'audience Eq{k} = count(event "x" within 1h) == {k}\n' for k in range(51))
    + "when "
    + " or ".join([f"Ge{k}" for k in range(51)] + [f"Eq{k}" for k in range(51)])
    + " show slot s\n"
)

CHECKS = {
    "A0": (600, lambda n: n == 0),
    "A1": (600, lambda n: n >= 1),
    "A7": (3600, lambda n: n > 7),
    "A20": (3600, lambda n: n == 20),
    "A33": (7200, lambda n: n < 33),
    "A50": (86400, lambda n: n > 50),
    "E50": (90, lambda n: n >= 50),
    "Ever": (None, lambda n: n >= 50),
}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2, 5, 30, 89, 90, 600, 3599, 3600, 7000]), st.integers(0, 12)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_windowed_counts_match_a_brute_force_count(steps) -> None:
    rules = rules_from(COUNTS)
    t = T0
    history: list[int] = []
    requests = []
    for gap, n in steps:
        t += gap
        history += [t] * n
        requests.append((gap, {"events": ("x",) * n}))
    outcomes = play(rules, requests)
    t = T0
    seen: list[int] = []
    for (gap, n), out in zip(steps, outcomes, strict=True):
        t += gap
        seen += [t] * n
        for name, (window, test) in CHECKS.items():
            count = len(seen) if window is None else sum(1 for x in seen if t - x < window)
            assert (name in out.audiences) == test(count), (name, count)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1, 60, 600, 1800, 3599, 3600]), st.integers(0, 30)),
        min_size=1,
        max_size=30,
    )
)
def test_every_threshold_up_to_50_is_exact(steps) -> None:
    rules = rules_from(EVERY_THRESHOLD)
    assert rules.layout.windows[0].limit == 51
    requests = [(gap, {"events": ("x",) * n}) for gap, n in steps]
    t = T0
    seen: list[int] = []
    for (gap, n), out in zip(steps, play(rules, requests), strict=True):
        t += gap
        seen += [t] * n
        count = sum(1 for x in seen if t - x < 3600)
        expected = {f"Ge{k}" for k in range(51) if count >= k}
        expected |= {f"Eq{count}"} if count <= 50 else set()
        assert set(out.audiences) == expected, count


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(journeys)
def test_state_cookie_state_round_trips(steps) -> None:
    rules = rules_from(RULES)
    codec = CookieCodec(rules, KEY)
    for out in play(rules, steps, codec):
        state = out.state
        assert decode_state(encode_state(state, rules.layout), rules.layout) == state
        back, reason = codec.loads(codec.dumps(state), state.updated)
        assert reason is None
        assert back == state


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(journeys)
def test_cookie_never_exceeds_the_worst_case(steps) -> None:
    rules = rules_from(RULES)
    bound = worst_case_cookie_bytes(rules.ruleset)
    codec = CookieCodec(rules, KEY)
    for out in play(rules, steps, codec):
        header = set_cookie_header(
            "smartseg", codec.dumps(out.state), max_age=365 * 86400, secure=True
        )
        assert len(header) <= bound <= COOKIE_LIMIT


# ------------------------------- a long history: 25,000 page views (demo rules)


def _demo_vocabulary(rules):
    cats, paths, events, tags, queries = set(), set(), set(), set(), []
    for slot in rules.slots:
        m = slot.matcher
        if m.kind == "category":
            cats.add(m.pattern)
        elif m.kind in ("page", "landing"):
            paths.add(m.pattern.replace("**", "x/y").replace("*", "z"))
        elif m.kind == "event":
            events.add(m.pattern)
        elif m.kind == "tag":
            tags.add(m.pattern)
        elif m.kind == "query":
            queries.append((m.param, m.pattern.replace("*", "q")))
    tags |= set(rules.tag_keys)
    return sorted(cats), sorted(paths), sorted(events), sorted(tags), queries


@pytest.mark.slow
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_cookie_stays_under_4096_bytes_over_a_long_history(seed: int) -> None:
    """25,000 page views, each cookie measured. The rare requests that grow the state
    (answers, dismissals, tags, 40-day gaps) come four times as often as in a plain
    random walk, so the history holds as many of them as 100,000 page views would:
    every window and fact the cookie can hold fills up long before the end."""
    rules = demo_rules()
    engine = Engine(rules)
    codec = CookieCodec(rules, ["old-key", KEY])
    bound = worst_case_cookie_bytes(rules.ruleset)
    assert bound <= COOKIE_LIMIT
    rnd = random.Random(seed)
    cats, paths, events, tags, queries = _demo_vocabulary(rules)
    paths += ["/", "/pricing", "/cart", "/blog/a-post"]
    answers = [
        Answer(f"{g.name}.{s}", rnd.choice(["yes", "no"])) for g in rules.groups for s in g.segments
    ]
    answers += [Answer(g.name, "other") for g in rules.groups]
    t = float(T0)
    cookie = None
    state = None
    biggest = 0
    rare = 4 / 100  # four times the 1% of the rare kinds of requests
    for i in range(25_000):
        t += rnd.choice((0, 1, 1, 2, 5, 30, 120, 1900)) + (
            86400 * 40 if rnd.random() < 0.002 else 0
        )
        if cookie is not None and i % 50 == 0:  # the browser's copy, now and then
            state, reason = codec.loads(cookie, t)
            assert state is not None, reason
        query = {}
        if rnd.random() < 0.2:
            param, value = rnd.choice(queries)
            query = {param: [value]}
        req = RequestInfo(
            time=t,
            path=rnd.choice(paths) + (str(rnd.randrange(50)) if rnd.random() < 0.5 else ""),
            query=query,
            referrer=rnd.choice([None, None, "https://g2.com/", "https://www.abajournal.com/x"]),
            categories=tuple(rnd.sample(cats, rnd.randrange(4))),
            events=tuple(rnd.choices(events, k=rnd.randrange(3))),
            tags=tuple(rnd.sample(tags, 1)) if rnd.random() < rare else (),
            answers=(rnd.choice(answers),) if rnd.random() < rare else (),
            dismissals=(rnd.choice(rules.surveys),) if rnd.random() < rare else (),
            attributes={"lead_score": rnd.randrange(100)},
            gpc=rnd.random() < 0.01,
        )
        out = engine.step(state, req)
        state = out.state
        if out.changed:
            cookie = codec.dumps(out.state)
            header = set_cookie_header("smartseg", cookie, max_age=365 * 86400, secure=True)
            biggest = max(biggest, len(header))
            assert len(header) <= bound, (i, len(header))
    assert biggest > 0
    # facts are never trimmed: the last cookie carries every fact of the state
    final, reason = codec.loads(cookie, t)
    assert reason is None and final is not None
    assert final.facts == out.state.facts and final.facts


def test_the_demo_rules_fit_the_cookie() -> None:
    rules = demo_rules()
    assert worst_case_cookie_bytes(rules.ruleset) <= COOKIE_LIMIT
