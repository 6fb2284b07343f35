"""Syntax errors a marketer can act on (SEG1xx), recovery, and the builder's spans.

Each case is a common mistake: the diagnostic must point at the offending token
and say, in words, what was found and what was expected, with a `help:` line
when there is an obvious fix.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartseg_dsl import ast
from smartseg_dsl.parser import MAX_NESTING, MAX_SYNTAX_ERRORS, parse_source

GROUP = 'group Industry {\n    segment Legal { explicit tag "lawyer" }\n}\n'

# source, (line, column, end column), code, words in the message, words in the help
CASES: list[tuple[str, tuple[int, int, int], str, str, str | None]] = [
    (
        "group Industry { segment Legal { explicit tag lawyer } }\n",
        (1, 47, 53),
        "SEG101",
        'expected a tag in double quotes such as "lawyer" after `tag`, found `lawyer`',
        'put it in double quotes: "lawyer"',
    ),
    (
        "when visits > 3 show survey Are you a lawyer\n",
        (1, 29, 45),
        "SEG101",
        "expected the question in double quotes",
        'put it in double quotes: "Are you a lawyer"',
    ),
    ("when visits = 3 show slot a\n", (1, 13, 14), "SEG101", "`=` is not a comparison", "`==`"),
    ("when visits => 3 show slot a\n", (1, 13, 15), "SEG101", "`=>` is not a", "write `>=`"),
    ("when visits >> 3 show slot a\n", (1, 13, 15), "SEG101", "`>>` is not a", "write `>`"),
    (
        "audience A == visits > 3\nwhen A show slot a\n",
        (1, 12, 14),
        "SEG101",
        "an audience is named with a single `=`",
        "audience Name = condition",
    ),
    ("when visits > 3 && visits < 9 show slot a\n", (1, 17, 19), "SEG101", "`&&`", "`and`"),
    ("when visits > 3 || visits < 9 show slot a\n", (1, 17, 19), "SEG101", "`||`", "`or`"),
    ('when !tagged("x") show slot a\n', (1, 6, 7), "SEG101", "`!`", "`not`"),
    (
        "when visits > 3 AND visits < 9 show slot a\n",
        (1, 17, 20),
        "SEG101",
        "keywords are lower case",
        "write `and`",
    ),
    (
        "when confidence(Industry.Legal) >30 % show slot a\n",
        (1, 37, 38),
        "SEG104",
        "without a space before `%`",
        "write 30% instead of 30 %",
    ),
    (
        "when session_time > 30 min show slot a\n",
        (1, 21, 27),
        "SEG104",
        "`30 min` is not a duration",
        "write `30m`",
    ),
    (
        'when count(page "/x" within 7) > 3 show slot a\n',
        (1, 29, 30),
        "SEG104",
        "expected a duration such as 24h after `within`, found `7`",
        "add a unit: `7d`",
    ),
    (
        'when count(page "/x" within) > 3 show slot a\n',
        (1, 28, 29),
        "SEG101",
        "expected a duration such as 24h after `within`, found `)`",
        None,
    ),
    ("group G { decay 30 }\n", (1, 17, 19), "SEG104", "after `decay`, found `30`", "`30d`"),
    ("when confidence(Industry.Legal) > .5 show slot a\n", (1, 35, 37), "SEG104", "`.5`", "`0.5`"),
    (
        "when confidence(Industry.Legal) > 0,5 show slot a\n",
        (1, 35, 38),
        "SEG104",
        "`0,5`",
        "`0.5`",
    ),
    (
        "when visits > show slot a\n",
        (1, 15, 19),
        "SEG101",
        "expected a value after `>`, found `show`",
        "complete the condition",
    ),
    (
        "when visits > (show slot a\n",
        (1, 16, 20),
        "SEG101",
        "expected a condition after `(`, found `show`",
        None,
    ),
    ("when visits > = 3 show slot a\n", (1, 13, 16), "SEG101", "(no space inside it)", "`>=`"),
    (
        "when visits > 3 show headline\n",
        (1, 22, 30),
        "SEG101",
        "expected `slot` after `show`",
        "show slot headline",
    ),
    (
        'when visits > 3 replace headline with "x"\n',
        (1, 25, 33),
        "SEG101",
        "expected `slot` after `replace`",
        "replace slot headline with",
    ),
    (
        'when visits > 3 replace slot a "x"\n',
        (1, 32, 35),
        "SEG101",
        "expected `with` after the slot name `a`",
        'replace slot a with "x"',
    ),
    (
        "when visits > 3 order slot a Industry\n",
        (1, 30, 38),
        "SEG101",
        "expected `by` after the slot name `a`",
        "order slot a by Industry",
    ),
    (
        "when visits > 3 show slot hero banner\n",
        (1, 32, 38),
        "SEG101",
        "after the slot name `hero`",
        "`hero_banner`",
    ),
    (
        "when visits > 3\nwhen visits > 4 show slot a\n",
        (2, 1, 5),
        "SEG101",
        "the rule above has no action",
        "show slot banner",
    ),
    ("when visits > 3\n", (1, 16, 16), "SEG101", "the file ends before the rule's action", None),
    (
        "when visits > 3 then show slot a\n",
        (1, 17, 21),
        "SEG101",
        "unexpected `then`",
        "remove `then`",
    ),
    ("if visits > 3 show slot a\n", (1, 1, 3), "SEG101", "a rule starts with `when`", None),
    (
        "when visits > 3 { show slot a\n",
        (1, 17, 18),
        "SEG105",
        "this `{` is never closed",
        "add a `}`",
    ),
    (
        GROUP.replace("}\n}", "}\n") + "when visits > 3 show slot a\n",
        (4, 1, 5),
        "SEG105",
        "before the `{` opened on line 1 was closed",
        None,
    ),
    (
        'group G { segment S { explicit tag "a" }\nwhen visits > 3 show slot a\n',
        (2, 1, 5),
        "SEG105",
        "found `when` before the `{` opened on line 1 was closed",
        "add the missing `}`",
    ),
    ("when visits > 3 show slot a }\n", (1, 29, 30), "SEG101", "no `{` to close", None),
    (
        "when (visits > 3 show slot a\n",
        (1, 18, 22),
        "SEG101",
        "expected `)` to close the `(` at line 1, column 6",
        None,
    ),
    ("when visits > 3) show slot a\n", (1, 16, 17), "SEG101", "no `(` to close", None),
    ('when tagged("lawyer) show slot a\n', (1, 13, 33), "SEG102", "no closing double quote", None),
    (
        "when tagged('lawyer') show slot a\n",
        (1, 13, 21),
        "SEG103",
        "double quotes",
        'write "lawyer"',
    ),
    ("when visits > 3 show slot a;\n", (1, 28, 29), "SEG103", "`;`", "remove the `;`"),
    (
        "when count(page /x) > 3 show slot a\n",
        (1, 17, 19),
        "SEG103",
        "a path in double quotes",
        'put it in double quotes: "/x"',
    ),
    ('when tagged("a\\q") show slot a\n', (1, 15, 17), "SEG106", "unknown escape `\\q`", None),
    (
        'group G { segment S { implicit categry "law" weight 3 } }\n',
        (1, 32, 39),
        "SEG101",
        "found `categry`",
        "did you mean `category`?",
    ),
    (
        'group G { segment S { category "law" weight 3 } }\n',
        (1, 23, 31),
        "SEG101",
        "a signal starts with `explicit` or `implicit`",
        'implicit category "…" weight 3',
    ),
    (
        'group G { Legal { explicit tag "a" } }\n',
        (1, 11, 16),
        "SEG101",
        "expected `segment`, `prior` or `decay` inside the group",
        "segment Legal { … }",
    ),
    (
        'segment Legal { explicit tag "a" }\n',
        (1, 1, 8),
        "SEG101",
        "`segment` belongs inside a group",
        None,
    ),
    (
        'group G { segment S { implicit category "law" weight } }\n',
        (1, 54, 55),
        "SEG101",
        "expected a number such as 3 after `weight`, found `}`",
        None,
    ),
    (
        "audience A visits > 3\n",
        (1, 12, 18),
        "SEG101",
        "expected `=` after the audience name `A`",
        None,
    ),
    (
        "when certain(Industry.Legal), visits > 3 show slot a\n",
        (1, 29, 30),
        "SEG101",
        "combined with `and` or `or`",
        None,
    ),
    ("group { }\n", (1, 7, 8), "SEG101", "expected a group name after `group`, found `{`", None),
]


@pytest.mark.parametrize(("source", "where", "code", "message", "help"), CASES)
def test_explained(
    source: str, where: tuple[int, int, int], code: str, message: str, help: str | None
) -> None:
    result = parse_source(source, "t.seg")
    assert result.diagnostics, "expected a syntax error"
    d = result.diagnostics[0]
    assert d.code == code, d
    assert message in d.message
    assert (d.line, d.column, d.end_column) == where, d
    assert d.end_line == d.line
    if help is not None:
        assert d.help is not None and help in d.help, d.help
    # never a token name in the words a marketer reads
    for word in ("NAME", "STRING", "RBRACE", "LPAR", "$END", "COMPARE", "DURATION"):
        assert word not in d.message and word not in (d.help or "")


def test_expected_value_after_an_operator_in_words() -> None:
    (d,) = parse_source("when visits > { show slot a\n").diagnostics
    assert d.message == "expected a value such as 3, 30% or 24h after `>`, found `{`"


def test_expected_condition_in_words() -> None:
    (d,) = parse_source("when { show slot a }\n").diagnostics
    assert d.message.startswith("expected a condition such as confidence(Industry.Legal) > 30%")


def test_recovers_and_reports_several_errors() -> None:
    source = (
        "when visits = 3 show slot a\n"
        + GROUP
        + "when visits > 3 && pageviews > 2 show slot b\n"
        + "when certain(Industry.Legal) show slot c\n"
        + "when visits > 3 show d\n"
    )
    result = parse_source(source, "t.seg")
    assert [(d.line, d.code) for d in result.diagnostics] == [
        (1, "SEG101"),
        (5, "SEG101"),
        (7, "SEG101"),
    ]
    kinds = [type(i).__name__ for i in result.file.items]
    assert kinds == ["Group", "Rule"]  # the items between the errors are kept


def test_error_count_is_capped() -> None:
    source = "when visits = 3 show slot a\n" * (MAX_SYNTAX_ERRORS * 3)
    assert len(parse_source(source).diagnostics) == MAX_SYNTAX_ERRORS


def test_deep_parentheses_are_refused() -> None:
    ok = "when " + "(" * MAX_NESTING + "visits > 3" + ")" * MAX_NESTING + " show slot a\n"
    assert parse_source(ok).ok
    deep = "when " + "(" * 1000 + "visits > 3" + ")" * 1000 + " show slot a\n"
    (d,) = parse_source(deep).diagnostics
    assert (d.code, d.line, d.column) == ("SEG108", 1, 5 + MAX_NESTING + 1)


def test_long_not_runs_are_refused_but_long_chains_are_fine() -> None:
    (d,) = parse_source("when " + "not " * 1000 + "visits > 3 show slot a\n").diagnostics
    assert d.code == "SEG108"
    assert parse_source("when " + "not not " * 16 + "visits > 3 show slot a\n").ok
    chain = " and ".join(f"not visits > {i}" for i in range(2000))
    result = parse_source(f"when {chain} show slot a\n")
    assert result.ok
    (rule,) = result.file.items
    assert isinstance(rule, ast.Rule) and isinstance(rule.condition, ast.BoolOp)
    assert len(rule.condition.operands) == 2000


def test_parentheses_and_nots_in_strings_and_comments_do_not_count() -> None:
    source = 'when tagged("' + "(" * 100 + '") show slot a  # ' + "not " * 100 + "\n"
    assert parse_source(source).ok


# ------------------------------------------------------------------ builder


def test_spans_of_the_builder() -> None:
    source = (
        "when (visits > 3) and not (certain(Industry.Legal)) "
        'show survey "Q?" about Industry in slot s\n'
        'group G "L" {\n  prior -2\n  segment S { implicit query seg "x" weight 2 max 4 }\n}\n'
    )
    result = parse_source(source)
    assert result.ok
    rule, group = result.file.items
    assert isinstance(rule, ast.Rule) and isinstance(group, ast.Group)
    cond = rule.condition
    assert isinstance(cond, ast.BoolOp)
    # the parentheses belong to the `and`, not to its operands
    assert (cond.span.column, cond.span.end_column) == (6, 52)
    first, second = cond.operands
    assert (first.span.column, first.span.end_column) == (7, 17)
    assert isinstance(second, ast.Not) and (second.span.column, second.span.end_column) == (23, 52)
    (survey,) = rule.actions
    assert isinstance(survey, ast.ShowSurvey)
    assert survey.about == ast.Ref(ast.Name("Industry"))
    assert survey.slot_name == "s"
    assert (survey.span.column, survey.span.end_column) == (53, 94)
    assert (rule.span.line, rule.span.end_line, rule.span.end_column) == (1, 1, 94)
    prior = group.prior
    assert prior is not None and prior.value.value == -2 and prior.value.text == "-2"
    assert (prior.span.line, prior.span.column, prior.span.end_column) == (3, 3, 11)
    (signal,) = group.segments[0].signals
    assert signal.matcher == ast.Matcher("query", ast.String("x"), ast.Name("seg"))
    assert (signal.span.column, signal.span.end_column) == (15, 52)
    assert (group.span.line, group.span.end_line) == (2, 5)


def test_values_are_normalised() -> None:
    result = parse_source(
        'audience A = count(page "/x" within 2w) > 30% or since(event "e") > 90d\n'
    )
    (aud,) = result.file.items
    assert isinstance(aud, ast.Audience)
    left, right = aud.condition.operands  # type: ignore[union-attr]
    assert left.left.args[0].within.seconds == 14 * 86400
    assert left.right == ast.Number(0.3, True)
    assert right.right == ast.Duration(90 * 86400)


def test_parsing_is_independent_per_call() -> None:
    bad = parse_source('when tagged("a\\q") show slot a\n', "one.seg")
    good = parse_source('when tagged("a") show slot a\n', "two.seg")
    assert [d.file for d in bad.diagnostics] == ["one.seg"]
    assert good.diagnostics == ()


# --------------------------------------------------- the fast lexer is exact


def _dump(x: object) -> object:
    """A tree's full content, spans included (`==` on the AST ignores spans)."""
    import dataclasses

    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, *(_dump(getattr(x, f.name)) for f in dataclasses.fields(x)))
    if isinstance(x, (tuple, list)):
        return tuple(_dump(i) for i in x)
    return x


@functools.cache
def _plain_lark() -> Any:
    """The same parser with Lark's own contextual lexer, for comparison."""
    from lark import Lark

    import smartseg_dsl.parser as parser_module

    return Lark(
        parser_module.grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        keep_all_tokens=True,
        maybe_placeholders=True,
        transformer=parser_module._BUILDER,
    )


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [
                *sorted(ast.KEYWORDS),
                *"(){},.=-<>%;'#\n",
                "==",
                "!=",
                ">=",
                "3",
                "0.5",
                "30%",
                "24h",
                "30 d",
                '"x"',
                '"un',
                "Industry.Legal",
                "shows",
                "slotted",
                "within7d",
                " ",
            ]
        ),
        max_size=40,
    )
)
def test_fast_lexer_matches_larks_own(tokens: list[str]) -> None:
    import smartseg_dsl.parser as parser_module

    text = " ".join(tokens)
    fast = _dump(parse_source(text))
    plain = _plain_lark()
    original = parser_module._lark
    parser_module._lark = lambda: plain  # type: ignore[assignment]
    try:
        slow = _dump(parse_source(text))
    finally:
        parser_module._lark = original
    assert fast == slow
