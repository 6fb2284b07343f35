"""The parser's builder half: every construct of SPEC §1 becomes the expected AST.

Trees are compared by meaning (spans are excluded from `==`); span tests check
positions separately. The error-message half of the parser has its own tests.
"""

from __future__ import annotations

import lark
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl import ast
from smartseg_dsl.parser import grammar_path, parse_source

N = ast.Name
S = ast.String


def parse_ok(text: str) -> ast.RuleFile:
    result = parse_source(text, "t.seg")
    assert result.diagnostics == (), result.diagnostics
    return result.file


def condition(text: str) -> ast.Expr:
    (rule,) = parse_ok(f"when {text} show slot x").items
    assert isinstance(rule, ast.Rule) and rule.condition is not None
    return rule.condition


def ref(group: str, segment: str | None = None) -> ast.Ref:
    return ast.Ref(N(group), N(segment) if segment else None)


def call(func: str, *args: ast.Expr | ast.MatcherArg) -> ast.Call:
    return ast.Call(N(func), args)


# ------------------------------------------------------------------ grammar


def test_grammar_builds_in_strict_mode_without_conflicts() -> None:
    # strict=True turns shift/reduce conflicts and (with interegular) terminal
    # collisions into errors instead of silently picking one.
    pytest.importorskip("interegular")
    parser = lark.Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        strict=True,
    )
    assert parser.parse("when visits > 3 show slot x") is not None


def test_empty_file_and_comments_only() -> None:
    assert parse_ok("").items == ()
    file = parse_ok("# just a note\n\n   # another\n")
    assert file.items == ()
    assert [c.text for c in file.comments] == ["# just a note", "# another"]


# ------------------------------------------------------------------- groups


def test_group_with_settings_segments_and_every_matcher() -> None:
    file = parse_ok(
        """
group Industry "Industry" {
    prior 10
    decay 30d
    segment Legal "Legal services" {
        explicit tag "lawyer"
        explicit query seg "legal"
        implicit category "law"        weight 3 max 12
        implicit referrer "abajournal.com"  weight 5
        implicit landing "/legal/**"   weight 4
        implicit page "/pricing/legal" weight 2
        implicit event "legal_webinar" weight 6
    }
    segment Other { }
}
"""
    )
    legal = ast.Segment(
        N("Legal"),
        S("Legal services"),
        (
            ast.Signal(True, ast.Matcher("tag", S("lawyer"))),
            ast.Signal(True, ast.Matcher("query", S("legal"), N("seg"))),
            ast.Signal(False, ast.Matcher("category", S("law")), ast.Number(3), ast.Number(12)),
            ast.Signal(False, ast.Matcher("referrer", S("abajournal.com")), ast.Number(5)),
            ast.Signal(False, ast.Matcher("landing", S("/legal/**")), ast.Number(4)),
            ast.Signal(False, ast.Matcher("page", S("/pricing/legal")), ast.Number(2)),
            ast.Signal(False, ast.Matcher("event", S("legal_webinar")), ast.Number(6)),
        ),
    )
    expected = ast.Group(
        N("Industry"),
        S("Industry"),
        (
            ast.Prior(ast.Number(10)),
            ast.Decay(ast.Duration(30 * 86400)),
            legal,
            ast.Segment(N("Other")),
        ),
    )
    assert file.items == (expected,)
    group = file.items[0]
    assert isinstance(group, ast.Group)
    assert group.prior == ast.Prior(ast.Number(10))
    assert group.decay == ast.Decay(ast.Duration(2_592_000))
    assert [s.name.value for s in group.segments] == ["Legal", "Other"]


def test_labels_are_optional_and_settings_keep_source_order() -> None:
    (group,) = parse_ok("group G { segment A { } decay 1h prior 2.5 }").items
    assert group == ast.Group(
        N("G"),
        None,
        (ast.Segment(N("A")), ast.Decay(ast.Duration(3600)), ast.Prior(ast.Number(2.5))),
    )


def test_max_without_weight_and_percent_or_negative_settings() -> None:
    (group,) = parse_ok('group G { prior -1 segment A { implicit page "/x" max 4 } }').items
    assert isinstance(group, ast.Group)
    assert group.body[0] == ast.Prior(ast.Number(-1.0))
    signal = group.segments[0].signals[0]
    assert signal.weight is None and signal.cap == ast.Number(4)


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "value", "percent"),
    [("30%", 0.3, True), ("0.30", 0.3, False), ("100%", 1.0, True), ("12.5%", 0.125, True)],
)
def test_numbers_and_percentages(text: str, value: float, percent: bool) -> None:
    expr = condition(f"confidence(G.S) > {text}")
    assert isinstance(expr, ast.Compare) and isinstance(expr.right, ast.Number)
    assert expr.right.value == pytest.approx(value)
    assert expr.right.percent is percent
    assert expr.right.text == text  # kept for tooling, excluded from ==


def test_percent_and_fraction_compare_by_flag_as_well_as_value() -> None:
    assert condition("x > 50%") != condition("x > 0.5")  # `percent` is part of the meaning


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1_209_600), ("1.5h", 5400)],
)
def test_durations_become_seconds(text: str, seconds: float) -> None:
    expr = condition(f"session_time > {text}")
    assert expr == ast.Compare(">", ref("session_time"), ast.Duration(float(seconds)))
    assert isinstance(expr, ast.Compare) and isinstance(expr.right, ast.Duration)
    assert expr.right.text == text


def test_negative_numbers() -> None:
    expr = condition('attribute("score") >= - 2.5')
    assert expr == ast.Compare(">=", call("attribute", S("score")), ast.Number(-2.5))
    assert isinstance(expr, ast.Compare) and isinstance(expr.right, ast.Number)
    assert expr.right.text == "-2.5"


def test_string_escapes_are_unescaped() -> None:
    (rule,) = parse_ok(r'replace slot h with "say \"hi\" \\ o/ # not a comment"').items
    assert rule == ast.Rule(None, (ast.ReplaceText(N("h"), S('say "hi" \\ o/ # not a comment')),))
    assert parse_source(r'replace slot h with "x"', "t").file.comments == ()


def test_unknown_escape_is_a_diagnostic_at_the_backslash() -> None:
    result = parse_source('replace slot h with "a\\nb"', "t.seg")
    (diag,) = result.diagnostics
    assert (diag.code, diag.line, diag.column, diag.end_column) == ("SEG106", 1, 23, 25)


def test_true_false_none() -> None:
    assert condition("a == true or b == false or c is none") == ast.BoolOp(
        "or",
        (
            ast.Compare("==", ref("a"), ast.Boolean(True)),
            ast.Compare("==", ref("b"), ast.Boolean(False)),
            ast.Is(ref("c"), ast.NoneLit()),
        ),
    )


# -------------------------------------------------------------- conditions


def test_segment_and_group_references() -> None:
    assert condition("certain(Industry.Legal)") == call("certain", ref("Industry", "Legal"))
    assert condition("known(Industry)") == call("known", ref("Industry"))
    assert condition("HotLead") == ref("HotLead")
    assert condition("Industry . Legal") == ref("Industry", "Legal")  # whitespace is free
    assert ref("Industry", "Legal").dotted == "Industry.Legal"


def test_and_or_flatten_and_parentheses_group() -> None:
    a, b, c, d = (ref(x) for x in "abcd")
    assert condition("a and b and c") == ast.BoolOp("and", (a, b, c))
    assert condition("a and (b and c)") == ast.BoolOp("and", (a, b, c))
    assert condition("(a and b) and c") == ast.BoolOp("and", (a, b, c))
    assert condition("a or b or c") == ast.BoolOp("or", (a, b, c))
    # `and` binds tighter than `or`
    assert condition("a or b and c or d") == ast.BoolOp("or", (a, ast.BoolOp("and", (b, c)), d))
    assert condition("(a or b) and c") == ast.BoolOp("and", (ast.BoolOp("or", (a, b)), c))
    assert condition("((a))") == a


def test_not_binds_tighter_than_and_but_looser_than_comparison() -> None:
    a, b = ref("a"), ref("b")
    assert condition("not a and b") == ast.BoolOp("and", (ast.Not(a), b))
    assert condition("not (a and b)") == ast.Not(ast.BoolOp("and", (a, b)))
    assert condition("not visits > 3") == ast.Not(ast.Compare(">", ref("visits"), ast.Number(3)))
    assert condition("not not a") == ast.Not(ast.Not(a))


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons(op: str) -> None:
    assert condition(f"visits {op} 3") == ast.Compare(op, ref("visits"), ast.Number(3))  # type: ignore[arg-type]


def test_is_and_is_not() -> None:
    ml = call("most_likely", ref("Industry"))
    assert condition("most_likely(Industry) is Industry.Legal") == ast.Is(
        ml, ref("Industry", "Legal"), negated=False
    )
    assert condition("most_likely(Industry) is not none") == ast.Is(ml, ast.NoneLit(), negated=True)


def test_every_function_of_the_spec() -> None:
    legal = ref("Industry", "Legal")
    cases = {
        "confidence(Industry.Legal) >= 50%": ast.Compare(
            ">=", call("confidence", legal), ast.Number(0.5, percent=True)
        ),
        "score(Industry.Legal) > 3": ast.Compare(">", call("score", legal), ast.Number(3)),
        "certain(Industry.Legal)": call("certain", legal),
        "likely(Industry.Legal)": call("likely", legal),
        'tagged("vip")': call("tagged", S("vip")),
        "visits >= 3": ast.Compare(">=", ref("visits"), ast.Number(3)),
        "pageviews < 10": ast.Compare("<", ref("pageviews"), ast.Number(10)),
        "session_time > 5m": ast.Compare(">", ref("session_time"), ast.Duration(300)),
        'count(page "/product/**" within 48h) > 3': ast.Compare(
            ">",
            call(
                "count",
                ast.MatcherArg(ast.Matcher("page", S("/product/**")), ast.Duration(172800)),
            ),
            ast.Number(3),
        ),
        'count(query utm "x*") == 0': ast.Compare(
            "==",
            call("count", ast.MatcherArg(ast.Matcher("query", S("x*"), N("utm")))),
            ast.Number(0),
        ),
        'since(event "purchase") > 90d': ast.Compare(
            ">",
            call("since", ast.MatcherArg(ast.Matcher("event", S("purchase")))),
            ast.Duration(90 * 86400),
        ),
        'viewing("/blog/*")': call("viewing", S("/blog/*")),
        'attribute("plan") == "pro"': ast.Compare("==", call("attribute", S("plan")), S("pro")),
        'device == "mobile"': ast.Compare("==", ref("device"), S("mobile")),
        "f()": call("f"),
        "f(a, 2, b.c)": call("f", ref("a"), ast.Number(2), ref("b", "c")),
    }
    for text, expected in cases.items():
        assert condition(text) == expected, text


# ------------------------------------------------------------------ audiences


def test_audiences() -> None:
    file = parse_ok(
        """
audience HotLead = count(page "/product/**" within 48h) > 3
                   and count(event "add_to_cart" within 48h) == 0
audience Lapsed  = since(event "purchase") > 90d
"""
    )
    hot, lapsed = file.items
    assert isinstance(hot, ast.Audience) and hot.name == N("HotLead")
    assert isinstance(hot.condition, ast.BoolOp) and len(hot.condition.operands) == 2
    assert lapsed == ast.Audience(
        N("Lapsed"),
        ast.Compare(
            ">",
            call("since", ast.MatcherArg(ast.Matcher("event", S("purchase")))),
            ast.Duration(7_776_000),
        ),
    )


# --------------------------------------------------------------------- rules


def test_single_line_and_block_rules() -> None:
    cond = call("certain", ref("Industry", "Legal"))
    single, block, one_block, empty = parse_ok(
        """
when certain(Industry.Legal) replace slot headline with "Law"
when certain(Industry.Legal) {
    replace slot hero with template "partials/legal_hero.html"
    show slot legal_case_study
}
when certain(Industry.Legal) { hide slot promo }
when certain(Industry.Legal) { }
"""
    ).items
    assert single == ast.Rule(cond, (ast.ReplaceText(N("headline"), S("Law")),), block=False)
    assert block == ast.Rule(
        cond,
        (
            ast.ReplaceTemplate(N("hero"), S("partials/legal_hero.html")),
            ast.ShowSlot(N("legal_case_study")),
        ),
        block=True,
    )
    # the user's choice of block vs single line is part of the tree
    assert one_block == ast.Rule(cond, (ast.HideSlot(N("promo")),), block=True)
    assert one_block != ast.Rule(cond, (ast.HideSlot(N("promo")),), block=False)
    assert empty == ast.Rule(cond, (), block=True)


def test_bare_actions_of_every_kind() -> None:
    items = parse_ok(
        """
show slot a
hide slot b
replace slot c with "text"
replace slot d with template "t.html"
order slot testimonials by Industry
show survey "Are you a lawyer?"
show survey "Which industry?" about Industry
show survey "Lawyer?" about Industry.Legal in slot side
show survey "Lawyer?" in slot side
"""
    ).items
    actions = [item.actions[0] for item in items if isinstance(item, ast.Rule)]
    assert all(isinstance(i, ast.Rule) and i.condition is None for i in items)
    assert actions == [
        ast.ShowSlot(N("a")),
        ast.HideSlot(N("b")),
        ast.ReplaceText(N("c"), S("text")),
        ast.ReplaceTemplate(N("d"), S("t.html")),
        ast.OrderSlot(N("testimonials"), N("Industry")),
        ast.ShowSurvey(S("Are you a lawyer?")),
        ast.ShowSurvey(S("Which industry?"), ref("Industry")),
        ast.ShowSurvey(S("Lawyer?"), ref("Industry", "Legal"), N("side")),
        ast.ShowSurvey(S("Lawyer?"), None, N("side")),
    ]
    assert [ast.action_slot(a) for a in actions[-4:]] == ["survey", "survey", "side", "side"]


def test_items_keep_file_order() -> None:
    items = parse_ok("when a show slot x\ngroup G { }\naudience A = b\norder slot y by G\n").items
    assert [type(i).__name__ for i in items] == ["Rule", "Group", "Audience", "Rule"]


def test_keywords_are_names_where_a_keyword_cannot_appear() -> None:
    # The checker reports "keyword used as a name" (SEG2xx); the parser keeps going.
    (rule,) = parse_source("show slot order", "t").file.items
    assert rule == ast.Rule(None, (ast.ShowSlot(N("order")),))


# --------------------------------------------------------------------- spans


def test_spans_point_at_tokens() -> None:
    text = (
        'group Industry "Industry" {\n'  # line 1
        "    segment Legal {\n"  # line 2
        '        implicit page "/x" weight 3 max 5\n'  # line 3
        "    }\n"
        "}\n"
        "when confidence(Industry.Legal) >= -3 {\n"  # line 6
        "    show slot hero\n"
        "}\n"
    )
    group, rule = parse_ok(text).items
    assert isinstance(group, ast.Group) and isinstance(rule, ast.Rule)
    assert (group.span.line, group.span.column, group.span.end_line, group.span.end_column) == (
        1, 1, 5, 2,
    )  # fmt: skip
    assert text[group.span.start : group.span.end].startswith("group Industry")
    assert text[group.span.start : group.span.end].endswith("}")
    assert (group.name.span.line, group.name.span.column, group.name.span.end_column) == (1, 7, 15)
    assert group.label is not None and group.label.span.column == 16

    segment = group.segments[0]
    assert (segment.name.span.line, segment.name.span.column) == (2, 13)
    signal = segment.signals[0]
    assert (signal.span.line, signal.span.column, signal.span.end_column) == (3, 9, 42)
    assert signal.matcher.pattern.span.column == 23
    assert signal.weight is not None and signal.weight.span.column == 35
    assert signal.cap is not None and signal.cap.span.column == 41

    cond = rule.condition
    assert isinstance(cond, ast.Compare)
    assert (cond.span.line, cond.span.column) == (6, 6)
    assert (cond.op_span.line, cond.op_span.column, cond.op_span.end_column) == (6, 33, 35)
    assert isinstance(cond.left, ast.Call)
    (arg,) = cond.left.args
    assert isinstance(arg, ast.Ref) and arg.segment is not None
    assert (arg.group.span.column, arg.segment.span.column) == (17, 26)
    assert isinstance(cond.right, ast.Number)
    assert (cond.right.span.column, cond.right.span.end_column) == (36, 38)  # `-3`
    action = rule.actions[0]
    assert (action.span.line, action.span.column, action.span.end_column) == (7, 5, 19)
    assert (rule.span.line, rule.span.end_line) == (6, 8)


def test_spans_of_a_multi_line_condition() -> None:
    text = "audience A = visits > 3\n    and pageviews > 4\n"
    (audience,) = parse_ok(text).items
    assert isinstance(audience, ast.Audience)
    cond = audience.condition
    assert (cond.span.line, cond.span.column, cond.span.end_line, cond.span.end_column) == (
        1, 14, 2, 22,
    )  # fmt: skip
    assert text[cond.span.start : cond.span.end] == "visits > 3\n    and pageviews > 4"


def test_comments_are_collected_with_spans_but_not_inside_strings() -> None:
    text = '# head\ngroup G "a # b" {  # trailing\n}\n  # indented\nshow slot x # end'
    file = parse_ok(text)
    assert [c.text for c in file.comments] == ["# head", "# trailing", "# indented", "# end"]
    spans = [(c.span.line, c.span.column, c.span.end_column) for c in file.comments]
    assert spans == [(1, 1, 7), (2, 20, 30), (4, 3, 13), (5, 13, 18)]
    for c in file.comments:
        assert text[c.span.start : c.span.end] == c.text


def test_comment_text_drops_trailing_whitespace_and_carriage_returns() -> None:
    file = parse_ok("show slot x  # note  \r\nshow slot y\r\n")
    assert [c.text for c in file.comments] == ["# note"]
    assert len(file.items) == 2


# ------------------------------------------------- comments found in one pass

_PIECES = ["#", '"', "\\", "\n", "a", " ", "(", "not ", "x#y", "\\\n", '"s # t"']


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_comments_are_found_where_a_scan_from_the_start_finds_them(pieces: list[str]) -> None:
    import re

    from smartseg_dsl.parser import _comments
    from smartseg_dsl.syntax_errors import line_col

    text = "".join(pieces)
    oracle = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\[\s\S])*"?|#[^\n]*', text):
        if m.group().startswith("#"):
            line, col = line_col(text, m.start())
            oracle.append((m.group().rstrip(), line, col, m.start(), m.end()))
    got = [(c.text, c.span.line, c.span.column, c.span.start, c.span.end) for c in _comments(text)]
    assert got == oracle
