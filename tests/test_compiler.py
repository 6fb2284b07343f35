"""The compiler: feature analysis, generated code, matchers, and stability of keys."""

from __future__ import annotations

import re
import types

import pytest
from engine_helpers import KEY, T0, Visitor, rules_from
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartseg_dsl import ast
from smartseg_dsl.budget import worst_case_cookie_bytes
from smartseg_dsl.compiler import CompileError, compile_ruleset, glob_regex, host_matcher
from smartseg_dsl.cookie import CookieCodec, set_cookie_header
from smartseg_dsl.engine import Answer, Engine, RequestInfo
from smartseg_dsl.parser import parse_source
from smartseg_dsl.state import DEFAULT_WINDOW_LIMIT, MatcherId, encode_state

MINIMAL = """
group G {
    segment S { implicit category "law" weight 2 }
    segment T { implicit event "t" weight 1 }
}
when confidence(G.S) > 0.1 show slot s
"""


def compile_text(text: str):
    parsed = parse_source(text)
    assert parsed.ok, parsed.diagnostics
    return compile_ruleset(ast.RuleSet((parsed.file,)))


# ------------------------------------------------------------ feature analysis


def test_rules_that_never_count_pages_store_no_page_timestamps() -> None:
    rules = rules_from(MINIMAL)
    layout = rules.layout
    assert layout.windows == () and not layout.counts and not layout.since
    assert not layout.sessions and not layout.pageviews
    assert layout.reloads  # a reload must not fire the category signal again
    v = Visitor(rules)
    for i in range(20):
        v.wait(60).page(f"/p{i}", categories=["law"], events=("t",))
    assert v.state is not None
    doc = encode_state(v.state, layout)
    # the id, times, the previous path's hash and the two accumulators: no sessions,
    # page view count, counters or windows
    assert set(doc) == {"v", "i", "t", "u", "h", "e"}
    assert len(doc["e"]) == 2


def test_each_feature_is_stored_only_when_a_rule_observes_it() -> None:
    rules = rules_from(
        MINIMAL
        + """
audience A = count(page "/product/**" within 48h) > 3 and visits >= 2
audience B = since(event "buy") > 90d or count(event "t") >= 1 or tagged("vip")
when A or B show slot x
"""
    )
    layout = rules.layout
    assert [w.matcher for w in layout.windows] == [MatcherId("page", "/product/**")]
    assert layout.windows[0].limit == 4 and layout.windows[0].retention == 48 * 3600
    assert list(layout.counts) == [MatcherId("event", "t")]
    assert list(layout.since) == [MatcherId("event", "buy")]
    assert list(layout.tags) == ["vip"]
    assert layout.sessions and layout.reloads and not layout.pageviews


@pytest.mark.parametrize(
    ("condition", "limit"),
    [
        ('count(event "e" within 1h) > 3', 4),
        ('count(event "e" within 1h) >= 3', 4),
        ('count(event "e" within 1h) == 0', 1),
        ('3 < count(event "e" within 1h)', 4),
        ('count(event "e" within 1h) < 2.5', 3),
        ('count(event "e" within 1h) > 50', 51),
        ('count(event "e" within 1h) > 120', 121),
        ('count(event "e" within 1h) > count(event "f" within 1h)', DEFAULT_WINDOW_LIMIT),
    ],
)
def test_windows_keep_as_many_timestamps_as_the_comparisons_need(condition, limit) -> None:
    rules = compile_text(MINIMAL + f"when {condition} show slot x\n")
    spec = next(w for w in rules.layout.windows if w.matcher == MatcherId("event", "e"))
    assert spec.limit == limit


def test_one_window_per_matcher_with_the_longest_retention() -> None:
    rules = compile_text(
        MINIMAL
        + 'when count(event "e" within 1h) > 3 show slot x\n'
        + 'when count(event "e" within 1d) > 9 show slot y\n'
    )
    (spec,) = rules.layout.windows
    assert (spec.retention, spec.limit) == (86400, 10)


# ------------------------------------------------------------- generated code


def test_conditions_are_compiled_once_into_plain_functions() -> None:
    rules = rules_from(MINIMAL)
    (rule,) = rules.rules
    assert rule.source == "(c.conf[0] > 0.1)"
    assert isinstance(rules.evaluate_rules, types.FunctionType)
    # a rule's own function is compiled when first called, and agrees with the batch
    ctx = types.SimpleNamespace(conf=[0.2])
    assert rule.test(ctx) is True and rules.evaluate_rules(ctx) == [True]
    ctx.conf = [0.05]
    assert rule.test(ctx) is False and rules.evaluate_rules(ctx) == [False]


def test_strings_can_never_become_code() -> None:
    nasty = "x') or True or ('"
    rules = compile_text(
        MINIMAL
        + f'when tagged("{nasty}") or viewing("/{nasty}\\\\") or attribute("{nasty}") == "a\\"b" '
        + "show slot x\n"
    )
    v = Visitor(rules)
    out = v.request(attributes={nasty: "nope"})
    assert "x" not in out.decisions
    out = v.request(attributes={nasty: 'a"b'})
    assert out.decisions["x"].kind == "show"
    out = v.request(tags=(nasty,))
    assert out.decisions["x"].kind == "show"


def test_is_and_none_semantics() -> None:
    rules = compile_text(
        MINIMAL
        + "audience NoneYet = most_likely(G) is none\n"
        + "audience IsS = most_likely(G) is G.S\n"
        + "audience NotS = most_likely(G) is not G.S\n"
        + "when NoneYet or IsS or NotS show slot x\n"
    )
    v = Visitor(rules)
    assert set(v.request().audiences) == {"NoneYet", "NotS"}
    assert set(v.page("/a", categories=["law"]).audiences) == {"IsS"}
    assert set(v.event("t", "t").audiences) == {"IsS"}  # a 2–2 tie: S is declared first
    assert set(v.event("t").audiences) == {"NotS"}


def test_audiences_may_use_audiences_declared_later() -> None:
    rules = compile_text(
        MINIMAL
        + "audience Outer = Inner and score(G.T) > 0\n"
        + "audience Inner = score(G.S) > 0\n"
        + "when Outer show slot x\n"
    )
    v = Visitor(rules)
    v.page("/a", categories=["law"])
    out = v.event("t")
    assert out.audiences == ("Outer", "Inner")
    assert out.decisions["x"].kind == "show"


def test_audience_cycles_are_refused() -> None:
    with pytest.raises(CompileError, match="cycle"):
        compile_text(MINIMAL + "audience A = B\naudience B = A\nwhen A show slot x\n")


def test_a_survey_without_a_resolvable_subject_is_refused() -> None:
    with pytest.raises(CompileError, match="about"):
        compile_text(MINIMAL + 'when score(G.S) > 1 and score(G.T) > 1 show survey "?"\n')


def test_survey_subject_is_inferred_from_the_condition() -> None:
    rules = compile_text(MINIMAL + 'when confidence(G.T) > 0.2 show survey "T?"\n')
    decision = rules.rules[-1].decisions[0]
    assert (decision.about, decision.slot, decision.action) == ("G.T", "survey", "survey")


# ------------------------------------------------------------------- matchers


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("/blog/*", "/blog/x", True),
        ("/blog/*", "/blog/", True),
        ("/blog/*", "/blog/x/y", False),
        ("/blog/**", "/blog/x/y", True),
        ("/blog/**", "/blog", False),
        ("/pricing**", "/pricing", True),
        ("/pricing**", "/pricing/legal", True),
        ("/p?ge", "/page", True),
        ("/p?ge", "/p/ge", False),
        ("/Legal", "/legal", False),
        ("/a.b", "/aXb", False),
        ("/(x)", "/(x)", True),
    ],
)
def test_path_globs(glob: str, path: str, matches: bool) -> None:
    assert (glob_regex(glob).fullmatch(path) is not None) == matches


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("abajournal.com", "abajournal.com", True),
        ("abajournal.com", "www.abajournal.com", True),
        ("ABAjournal.com", "news.abajournal.com", True),
        ("abajournal.com", "notabajournal.com", False),
        ("*.x.com", "x.com", False),
        ("*.x.com", "a.x.com", True),
        ("*.x.com", "a.b.x.com", True),
        ("news.*.com", "news.abc.com", True),
    ],
)
def test_host_matching(pattern: str, host: str, matches: bool) -> None:
    assert host_matcher(pattern)(host) == matches


def test_categories_match_case_insensitively_and_once_per_page() -> None:
    v = Visitor(rules_from(MINIMAL))
    out = v.page("/a", categories=["Law", " law ", "LAW"])
    assert out.view.score("G.S") == 2


# ------------------------------------------------------------- key stability


def test_editing_rules_keeps_the_data_of_unchanged_items() -> None:
    before = rules_from(MINIMAL + 'group H { segment X { explicit tag "x" } }\n')
    after = rules_from(
        "# a new group and a new rule come first\n"
        'group A { segment B { implicit event "b" weight 1 } }\n'
        + MINIMAL
        + 'group H { segment X { explicit tag "x" } }\n'
        + "when score(A.B) > 1 show slot b\n"
    )
    v = Visitor(before)
    v.page("/a", categories=["law"])
    v.wait(1).tag("x")
    assert v.cookie is not None
    state, reason = CookieCodec(after, KEY).loads(v.cookie, v.now)
    assert reason is None and state is not None
    out = Engine(after).step(state, RequestInfo(v.now))
    assert out.view.score("G.S") == 2
    assert out.view.certain("H.X")


def test_a_renamed_segment_loses_its_data_but_the_cookie_still_loads() -> None:
    before = rules_from(MINIMAL)
    after = rules_from(MINIMAL.replace("segment S", "segment Law").replace("G.S", "G.Law"))
    v = Visitor(before)
    v.page("/a", categories=["law"])
    v.wait(1).answer("G.S", "yes")
    state, reason = CookieCodec(after, KEY).loads(v.cookie, v.now)
    assert reason is None and state is not None
    assert state.facts == () and state.evidence == {}


# ------------------------------------------------ random valid programs (hypothesis)

try:
    from strategies import rule_files
except ImportError:  # pragma: no cover - the shared strategies module is optional
    rule_files = None


@pytest.mark.skipif(rule_files is None, reason="tests/strategies.py not available")
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_valid_programs_compile_run_and_fit_their_worst_case(data) -> None:
    tree = data.draw(rule_files())
    rules = compile_ruleset(ast.RuleSet((tree,)))
    engine = Engine(rules)
    codec = CookieCodec(rules, KEY)
    bound = worst_case_cookie_bytes(rules.ruleset)
    kinds: dict[str, set[str]] = {}
    for slot in rules.slots:
        kinds.setdefault(slot.matcher.kind, set()).add(slot.matcher.pattern.replace("*", "x"))
    answers = [Answer(g.name, "other") for g in rules.groups] + [
        Answer(s, "yes") for s in rules.segment_names
    ]
    state = None
    t = float(T0)
    for _ in range(data.draw(st.integers(1, 12))):
        t += data.draw(st.sampled_from([0, 1, 60, 1801, 86400 * 3]))
        req = RequestInfo(
            time=t,
            path=data.draw(st.sampled_from(["/", *sorted(kinds.get("page", ()))])),
            categories=tuple(sorted(kinds.get("category", ())))[:3],
            events=tuple(sorted(kinds.get("event", ()))),
            tags=tuple(sorted(kinds.get("tag", ()))),
            answers=(data.draw(st.sampled_from(answers)),) if answers else (),
            dismissals=rules.surveys[:1],
            attributes={"a": 1},
        )
        out = engine.step(state, req)
        for g in out.groups.values():
            assert sum(g.confidences.values()) <= 1 + 1e-9
        state = out.state
        header = set_cookie_header("smartseg", codec.dumps(state), max_age=365 * 86400, secure=True)
        assert len(header) <= bound
        assert codec.loads(codec.dumps(state), t)[0] == state


def test_generated_code_reads_only_fields_of_the_context() -> None:
    """Every `c.<field>` the compiler writes (or its helpers read) is a slot of `Ctx`."""
    import inspect

    from smartseg_dsl import compiler

    slots = set(compiler.Ctx.__slots__)
    named = set(re.findall(r"\bc\.([a-z_]+)", inspect.getsource(compiler)))
    assert named, "the pattern no longer finds the context's fields"
    assert named <= slots, named - slots
    rules = rules_from(
        'group G { segment S { implicit page "/s" } }\n'
        "audience A = visits > 1 and pageviews > 2 and session_time > 1m\n"
        'when A and device == "mobile" and confidence(G.S) > 0.5 and score(G.S) > 1 '
        "and certain(G.S) and likely(G.S) and known(G) and most_likely(G) is G.S "
        'and tagged("t") and viewing("/x") and attribute("a") == 1 '
        'and count(page "/s") > 1 and count(page "/s" within 7d) > 1 '
        'and since(page "/s") < 1d show slot s\n'
    )
    generated = " ".join([*(r.source for r in rules.rules), *(a.source for a in rules.audiences)])
    used = set(re.findall(r"\bc\.([a-z_]+)", generated))
    assert used and used <= slots, used - slots
