"""The checker (SEG2xx–SEG5xx): names, types, ranges, rule logic, and what it
hands to the compiler; plus property tests that no input makes it raise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartseg_dsl import ast
from smartseg_dsl.checker import BOOL, NUMBER, Type, check, resolve, suppressions
from smartseg_dsl.diagnostics import CODES, Diagnostic
from smartseg_dsl.loader import check_paths
from smartseg_dsl.parser import parse_source

ROOT = Path(__file__).resolve().parent.parent

GROUPS = """\
group Industry "Industry" {
    segment Legal "Legal" {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
    }
    segment RealEstate "Real estate" { implicit category "property" weight 3 }
    segment Hospitality "Hospitality" { implicit category "hotels" weight 3 }
}
"""


def ruleset(*sources: str) -> ast.RuleSet:
    files = []
    for i, source in enumerate(sources):
        result = parse_source(source, f"f{i}.seg")
        assert result.ok, result.diagnostics
        files.append(result.file)
    return ast.RuleSet(tuple(files))


def diagnose(source: str, *, groups: bool = True) -> list[Diagnostic]:
    return check(ruleset((GROUPS if groups else "") + source))


def codes(source: str, *, groups: bool = True) -> list[str]:
    return [d.code for d in diagnose(source, groups=groups)]


# ===================================================================== names


def test_unknown_segment_with_suggestion() -> None:
    (d,) = diagnose("when certain(Industry.Legl) show slot a\n")
    assert (d.code, d.line, d.column, d.end_column) == ("SEG201", 9, 14, 27)
    assert d.message == "unknown segment `Industry.Legl`"
    assert d.help == "did you mean `Industry.Legal`?"


def test_segment_written_without_its_group() -> None:
    (d,) = diagnose("when confidence(Legal) > 30% show slot a\n")
    assert d.code == "SEG201" and d.help == "write `Industry.Legal`"


def test_segment_of_another_group_is_suggested() -> None:
    (d,) = diagnose("when certain(Sector.Legal) show slot a\n")
    assert d.code == "SEG202" and d.help == "did you mean `Industry.Legal`?"


@pytest.mark.parametrize(
    "source",
    [
        "order slot a by Industri\n",
        "when known(Industri) show slot a\n",
        "when most_likely(Industri) is none show slot a\n",
        'when visits > 3 show survey "Q?" about Industri\n',
    ],
)
def test_unknown_group(source: str) -> None:
    (d,) = diagnose(source)
    assert d.code == "SEG202" and d.help == "did you mean `Industry`?"


def test_keyword_as_name() -> None:
    found = codes('group page { segment when { explicit tag "x" } }\naudience count = visits > 1\n')
    assert found.count("SEG203") == 3


def test_unknown_bare_name_suggests_an_audience_and_does_not_call_it_unused() -> None:
    found = diagnose("audience HotLead = visits > 3\nwhen HotLeed show slot a\n")
    assert [(d.code, d.help) for d in found] == [("SEG204", "did you mean `HotLead`?")]


def test_keyword_where_a_value_belongs() -> None:
    (d,) = diagnose("when visits > and show slot a\n")
    assert d.code == "SEG204" and "keyword `and`" in d.message


def test_duplicates_across_files_point_at_the_second() -> None:
    found = check(
        ruleset(
            GROUPS + "audience A = visits > 1\nwhen A show slot a\n",
            'group Industry { segment X { explicit tag "x" } }\n'
            "audience A = visits > 2\naudience Industry = visits > 3\n",
        )
    )
    dups = [d for d in found if d.code == "SEG205"]
    assert [(d.file, d.line) for d in dups] == [("f1.seg", 1), ("f1.seg", 2), ("f1.seg", 3)]
    assert "already defined at f0.seg:1" in dups[0].message
    assert "already defined at f0.seg:9" in dups[1].message
    assert "already the name of a group" in dups[2].message


def test_duplicate_segment_in_a_group() -> None:
    found = diagnose(
        'group G {\n  segment S { explicit tag "a" }\n  segment S { explicit tag "b" }\n}\n'
    )
    assert [d.code for d in found] == ["SEG205"]


def test_audience_cycle_is_named_once() -> None:
    found = diagnose(
        "audience A = B and visits > 1\naudience B = C\naudience C = A\nwhen A show slot a\n"
    )
    assert [d.code for d in found] == ["SEG206"]
    assert found[0].message == "audience cycle: `A` → `B` → `C` → `A`"
    assert found[0].line == 11  # the use that closes the circle, in C


def test_self_referencing_audience() -> None:
    found = diagnose("audience A = A or visits > 3\nwhen A show slot a\n")
    assert [d.code for d in found] == ["SEG206"]


# ===================================================================== types


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ("session_time > 300", "SEG301"),
        ("visits", "SEG301"),
        ("Industry.Legal", "SEG301"),
        ("Industry", "SEG301"),
        ('visits == "3"', "SEG301"),
        ('device > "mobile"', "SEG301"),
        ("most_likely(Industry) == Industry.Legal", "SEG301"),
        ("visits is 3", "SEG301"),
        ("visits == none", "SEG301"),
        ("not visits", "SEG301"),
        ("visits > 1 and pageviews", "SEG301"),
        ("most_likely(Industry) is Other.Legal", "SEG202"),
        ("confidnce(Industry.Legal) > 30%", "SEG302"),
        ("frobnicate()", "SEG302"),
        ("confidence(Industry) > 30%", "SEG303"),
        ('certain("Industry.Legal")', "SEG303"),
        ("most_likely(Industry.Legal) is none", "SEG303"),
        ("tagged(lawyer)", "SEG303"),
        ('count(tag "x") > 1', "SEG303"),
        ('count(referrer "x.com") > 0', "SEG303"),
        ('since(event "x" within 7d) > 1d', "SEG303"),
        ("count(visits) > 1", "SEG303"),
        ('confidence(page "/x")', "SEG303"),
        ("certain(Industry.Legal, Industry.RealEstate)", "SEG303"),
        ("known()", "SEG303"),
        ("visits() > 1", "SEG303"),
        ("certain > 1", "SEG303"),
        ("confidence(Industry.Legal) > 1.5", "SEG304"),
        ("confidence(Industry.Legal) > 30", "SEG304"),
        ("confidence(Industry.Legal) < -0.5", "SEG304"),
        ("score(Industry.Legal) > 150%", "SEG304"),
        ('device == "phone"', "SEG312"),
        ('viewing("pricing")', "SEG313"),
        ('tagged("")', "SEG313"),
        ('count(page "/x" within 0s) > 1', "SEG308"),
        ('count(page "/x" within 7d) > 51', "SEG502"),
    ],
)
def test_type_and_value_mistakes(condition: str, code: str) -> None:
    found = codes(f"when {condition} show slot a\n")
    assert found[:1] == [code], found


def test_a_mistake_is_reported_once() -> None:
    # no cascade: the unknown segment makes the comparison's type unknown, silently
    assert codes("when confidence(Industry.Legl) > 30 and visits show slot a\n") == [
        "SEG201",
        "SEG301",
    ]


@pytest.mark.parametrize(
    "condition",
    [
        "confidence(Industry.Legal) >= 30%",
        "score(Industry.Legal) > 4",
        "most_likely(Industry) is Industry.Legal",
        "most_likely(Industry) is not none",
        'since(event "purchase") is none',
        'since(event "purchase") > 90d',
        'attribute("plan") == "pro"',
        'attribute("score") > 0.8',
        'attribute("plan") is none',
        'device != "mobile"',
        'viewing("/pricing/**")',
        'count(query utm_source "news*" within 7d) > 2',
        "known(Industry) and not certain(Industry.Legal)",
        "true",
        "session_time > 10m or pageviews >= 3",
    ],
)
def test_valid_conditions(condition: str) -> None:
    assert diagnose(f"when {condition} show slot a\n") == []


def test_group_settings_and_signals() -> None:
    found = codes(
        "group G {\n  prior 0\n  decay 0d\n  prior 3\n"
        '  segment S { implicit page "x" weight -1 max 0  explicit tag "t" weight 2 }\n'
        '  segment T { implicit page "/y" weight 5 max 2  implicit referrer "https://a.com/b" }\n'
        "}\n",
        groups=False,
    )
    assert found == [
        "SEG307",
        "SEG308",
        "SEG309",
        "SEG313",
        "SEG305",
        "SEG306",
        "SEG311",
        "SEG306",
        "SEG313",
    ]


def test_implicit_signal_without_weight_is_fine() -> None:
    assert codes('group G { segment S { implicit page "/x" } }\n', groups=False) == []


# =============================================================== rule logic


@pytest.mark.parametrize(
    "condition",
    [
        "confidence(Industry.Legal) > 1",
        "confidence(Industry.Legal) < 0",
        "score(Industry.Legal) < 0",
        'count(page "/x" within 7d) < 0',
        'count(page "/x") > 3 and count(page "/x") < 4',
        'count(page "/x") == 2.5',
        "visits < 1",
        "pageviews <= 0",
        "session_time < 0s",
        'since(event "e") < 0s',
        "confidence(Industry.Legal) > 0.5 and confidence(Industry.Legal) < 0.2",
        "confidence(Industry.Legal) >= 50% and confidence(Industry.Legal) != 50% "
        "and confidence(Industry.Legal) <= 50%",
        "certain(Industry.Legal) and certain(Industry.RealEstate)",
        "certain(Industry.Legal) and not known(Industry)",
        "certain(Industry.Legal) and confidence(Industry.Legal) < 1",
        "certain(Industry.Legal) and confidence(Industry.RealEstate) > 0",
        "confidence(Industry.Legal) >= 1 and not certain(Industry.Legal)",
        "confidence(Industry.Legal) > 60% and confidence(Industry.RealEstate) > 40%",
        "likely(Industry.Legal) and likely(Industry.RealEstate)",
        "likely(Industry.Legal) and certain(Industry.RealEstate)",
        "most_likely(Industry) is none and certain(Industry.Legal)",
        "likely(Industry.Legal) and confidence(Industry.Legal) == 0",
        'since(event "e") > 90d and since(event "e") is none',
        'device == "mobile" and device == "desktop"',
        'device != "mobile" and device != "desktop" and device != "tablet"',
        'tagged("a") and not tagged("a")',
        "(visits < 1 or pageviews < 1) and visits > 2",
        "3 > 5",
        "not true",
        "Industry.Legal is Industry.RealEstate",
    ],
)
def test_never_true(condition: str) -> None:
    found = diagnose(f"when {condition} show slot a\n")
    assert [d.code for d in found] == ["SEG401"], found


@pytest.mark.parametrize(
    "condition",
    [
        "confidence(Industry.Legal) >= 1",  # certain
        "confidence(Industry.Legal) > 0.5 or confidence(Industry.Legal) < 0.2",
        "confidence(Industry.Legal) > 50% and confidence(Industry.RealEstate) > 40%",
        "visits < 2",
        'count(page "/x") >= 3 and count(page "/x") <= 3',
        'not (since(event "buy") > 90d)',
        'not (since(event "buy") > 90d) and since(event "buy") is none',
        'attribute("plan") == "pro" and attribute("score") > 0.5',
        "likely(Industry.Legal) and not certain(Industry.Legal)",
        "known(Industry) and most_likely(Industry) is none",  # "None of these"
        "confidence(Industry.Legal) > confidence(Industry.RealEstate)",
        'count(page "/x" within 1d) > count(page "/x" within 7d)',
    ],
)
def test_possible_conditions_are_not_reported(condition: str) -> None:
    assert diagnose(f"when {condition} show slot a\n") == []


def test_never_true_points_at_the_conflicting_comparison() -> None:
    (d,) = diagnose(
        "when visits > 2 and confidence(Industry.Legal) > 0.5\n"
        "    and confidence(Industry.Legal) < 0.2 show slot a\n"
    )
    assert (d.line, d.column) == (10, 9)
    assert d.message == (
        "`confidence(Industry.Legal) < 0.2` can never be true together with "
        "`confidence(Industry.Legal) > 0.5`"
    )


def test_never_true_through_an_audience() -> None:
    found = diagnose("audience Loyal = visits > 5\nwhen Loyal and visits < 3 show slot a\n")
    assert [d.code for d in found] == ["SEG401"]


def test_impossible_audience_is_reported_on_the_audience() -> None:
    found = diagnose("audience Never = visits < 1\nwhen Never show slot a\n")
    assert [(d.code, d.line) for d in found] == [("SEG401", 9)]


@pytest.mark.parametrize(
    "condition",
    [
        "confidence(Industry.Legal) >= 0",
        "confidence(Industry.Legal) <= 1",
        "visits >= 1",
        'count(page "/x") >= 0',
        'tagged("a") or not tagged("a")',
        'since(event "e") >= 0s or since(event "e") is none',
        "not false",
    ],
)
def test_always_true(condition: str) -> None:
    assert codes(f"when {condition} show slot a\n") == ["SEG402"]


def test_literal_true_and_false_are_deliberate() -> None:
    assert codes("when true show slot a\nwhen false show slot b\n") == []
    # but `when true` still takes its slot
    assert codes("when true show slot a\nwhen visits > 2 hide slot a\n") == ["SEG403"]


@pytest.mark.parametrize(
    ("rules", "shadowed"),
    [
        ("show slot a\nwhen certain(Industry.Legal) show slot a\n", True),
        ("when visits > 1 show slot a\nwhen visits > 1 hide slot a\n", True),
        ("when visits > 1 show slot a\nwhen visits > 5 hide slot a\n", True),
        (
            "when confidence(Industry.Legal) > 30% show slot a\n"
            "when confidence(Industry.Legal) > 60% and visits > 2 hide slot a\n",
            True,
        ),
        ("audience R = visits > 1\nwhen R show slot a\nwhen visits > 3 hide slot a\n", True),
        ("when visits > 5 show slot a\nwhen visits > 1 hide slot a\n", False),
        ("when visits > 1 show slot a\nwhen visits > 1 hide slot b\n", False),
        (
            "when visits > 1 show slot a\nwhen visits > 1 { hide slot a\n show slot b }\n",
            False,  # slot b still takes effect
        ),
        (
            'when visits > 1 show survey "Q?" about Industry\n'
            'when visits > 1 show survey "R?" about Industry.Legal\n',
            False,  # a survey can be suppressed at run time, leaving its slot free
        ),
        ('when tagged("a") show slot a\nwhen tagged("b") show slot a\n', False),
    ],
)
def test_shadowed_rules(rules: str, shadowed: bool) -> None:
    found = codes(rules)
    assert ("SEG403" in found) == shadowed, found


def test_shadowing_across_files_names_the_file() -> None:
    found = check(ruleset(GROUPS + "show slot banner\n", "when visits > 2 show slot banner\n"))
    (d,) = found
    assert d.code == "SEG403" and "f0.seg:9" in d.message


def test_conflicting_actions_in_one_rule() -> None:
    found = diagnose(
        'when visits > 1 {\n  show slot a\n  replace slot a with "x"\n  show survey "Q?" '
        "about Industry\n  hide slot survey\n}\n"
    )
    assert [(d.code, d.line) for d in found] == [("SEG404", 11), ("SEG404", 13)]


def test_surveys() -> None:
    assert codes('when confidence(Industry.Legal) > 30% show survey "Lawyer?"\n') == []
    assert codes('when visits > 3 show survey "Lawyer?"\n') == ["SEG310"]
    assert codes('show survey "Which industry?"\n') == ["SEG310"]
    assert codes(
        'when likely(Industry.Legal) or likely(Industry.RealEstate) show survey "Q?"\n'
    ) == ["SEG310"]
    assert codes('when certain(Industry.Legal) show survey "Q?"\n') == ["SEG408"]
    assert codes('when known(Industry) show survey "Q?" about Industry\n') == ["SEG408"]
    assert codes('when certain(Industry.Legal) show survey "Q?" about Industry.Legl\n') == [
        "SEG201"
    ]


def test_segment_without_signals_unless_a_survey_asks() -> None:
    group = 'group G {\n  segment A { explicit tag "a" }\n  segment B { }\n}\n'
    assert codes(group, groups=False) == ["SEG405"]
    assert codes(group + 'show survey "Which?" about G\n', groups=False) == []


def test_unused_audience_and_use_by_another_audience() -> None:
    assert codes("audience A = visits > 1\n") == ["SEG406"]
    assert codes("audience A = visits > 1\naudience B = A\nwhen B show slot x\n") == []


def test_empty_block_and_detached_action() -> None:
    assert codes("when visits > 1 {\n}\n") == ["SEG407"]
    found = codes("when visits > 1\n    show slot a\n    hide slot b\n")
    assert found == ["SEG409"]
    # an action in column 1 after a rule is a deliberate bare rule
    assert codes("when visits > 1 show slot a\nhide slot b\n") == []


# ===================================================================== limits


def test_cookie_budget() -> None:
    pytest.importorskip("smartseg_dsl.budget")
    many = "".join(
        f'when count(page "/p/{n}" within 30d) > 40 show slot s{n}\n' for n in range(200)
    )
    found = check(ruleset(many))
    (d,) = [d for d in found if d.code == "SEG501"]
    assert d.severity == "error" and "over the limit of 4096" in d.message
    assert (d.file, d.line, d.column) == ("f0.seg", 1, 6)
    few = "".join(f'when count(page "/p/{n}" within 30d) > 40 show slot s{n}\n' for n in range(3))
    assert check(ruleset(few)) == []


# =============================================================== suppression


def test_suppression_on_own_line_and_the_next() -> None:
    assert codes("audience A = visits > 1  # smartseg: ignore[SEG406]\n") == []
    assert codes("# smartseg: ignore[SEG406]\naudience A = visits > 1\n") == []
    assert codes("# smartseg: ignore[SEG406]\n\naudience A = visits > 1\n") == ["SEG406"]
    assert codes("# smartseg: ignore[SEG402]\naudience A = visits > 1\n") == ["SEG406"]
    assert codes("when visits < 1 show slot a  # smartseg: ignore[SEG406, seg401]\n") == []


def test_syntax_and_limit_errors_cannot_be_silenced() -> None:
    result = check_paths_of("# smartseg: ignore[SEG101]\nwhen visits = 3 show slot a\n")
    assert [d.code for d in result] == ["SEG101"]


def check_paths_of(source: str, tmp: Path | None = None) -> list[Diagnostic]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.seg"
        path.write_text(source, encoding="utf-8")
        return list(check_paths([path]).diagnostics)


def test_suppressions_table() -> None:
    result = parse_source("# x\n# smartseg: ignore[SEG401,SEG402]\nwhen visits < 1 show slot a\n")
    assert suppressions(result.file) == {2: {"SEG401", "SEG402"}, 3: {"SEG401", "SEG402"}}


def test_unknown_names_are_quiet_after_a_syntax_error() -> None:
    rs = ruleset("when certain(Industry.Legal) and visits < 1 show slot a\n")
    assert [d.code for d in check(rs)] == ["SEG202"]  # no group Industry here
    assert [d.code for d in check(rs, syntax_errors=True)] == []
    rs = ruleset("when visits < 1 show slot a\naudience A = visits > 2\n")
    assert [d.code for d in check(rs, syntax_errors=True)] == ["SEG401"]


def _check_dir(files: dict[str, str | bytes]) -> list[tuple[str, int, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            (Path(d) / name).write_bytes(data)
        found = check_paths([d]).diagnostics
        return [(Path(x.file).name, x.line, x.code) for x in found]


GROUP = 'group Industry {\n    segment Legal { explicit tag "lawyer" }\n}\n'


def test_name_errors_still_reported_beside_a_syntax_error() -> None:
    # the misspelt segment is nowhere in the skipped text: it is reported
    found = _check_dir(
        {"a.seg": GROUP + "when certain(Industry.Legl) show slot a\nwhen visits = 3 show slot b\n"}
    )
    assert found == [("a.seg", 4, "SEG201"), ("a.seg", 5, "SEG101")]
    # in another file of the rule set too
    found = _check_dir(
        {
            "a.seg": GROUP + "when visits = 3 show slot b\n",
            "b.seg": "when certain(Industry.Legl) show slot a\nwhen known(Sector) show slot c\n",
        }
    )
    assert found == [("a.seg", 4, "SEG101"), ("b.seg", 1, "SEG201"), ("b.seg", 2, "SEG202")]


def test_names_the_skipped_text_may_define_stay_quiet() -> None:
    # `segment RealEstate` is in the text skipped after the syntax error
    broken = GROUP.replace("}\n}", "}\n    segment RealEstate { explicit tag = }\n}")
    found = _check_dir(
        {"a.seg": broken, "b.seg": "when certain(Industry.RealEstate) show slot a\n"}
    )
    assert [code for _, _, code in found] == ["SEG101"]
    # an unreadable file could define anything
    found = _check_dir(
        {"a.seg": "when certain(Industry.Legal) show slot a\n", "b.seg": GROUP.encode() + b"\xff"}
    )
    assert found == [("b.seg", 4, "SEG107")]  # and no SEG202 for `Industry`


def test_skipped_names_of_the_parser() -> None:
    result = parse_source(GROUP + "audience A = visits = 3\nwhen A show slot x\n")
    assert not result.ok
    assert result.skipped_names == {"audience", "A", "visits"}
    assert parse_source(GROUP).skipped_names == frozenset()


# ================================================================== symbols


def test_resolve_for_the_compiler() -> None:
    rs = ruleset(
        GROUPS
        + "audience Hot = Warm and visits > 3\naudience Warm = pageviews > 2\n"
        + 'when likely(Industry.Legal) and Hot show survey "Lawyer?"\n'
        + 'when visits > 2 show survey "Which?" about Industry in slot side\n'
    )
    sym = resolve(rs)
    assert list(sym.groups) == ["Industry"]
    assert list(sym.segments) == ["Industry.Legal", "Industry.RealEstate", "Industry.Hospitality"]
    assert sym.segments_of("Industry") == ["Legal", "RealEstate", "Hospitality"]
    assert list(sym.audiences) == ["Hot", "Warm"]
    assert sym.audience_order == ["Warm", "Hot"]
    assert sym.audience_deps == {"Hot": {"Warm"}, "Warm": set()}
    rules = [r for _, r in rs.rules()]
    first, second = rules[0].actions[0], rules[1].actions[0]
    assert isinstance(first, ast.ShowSurvey) and isinstance(second, ast.ShowSurvey)
    assert sym.about(first) == "Industry.Legal"
    assert sym.about(second) == "Industry"
    cond = rules[0].condition
    assert isinstance(cond, ast.BoolOp)
    assert sym.type_of(cond) == BOOL
    likely = cond.operands[0]
    assert isinstance(likely, ast.Call)
    assert sym.type_of(likely.args[0]) == Type("segment", "Industry")  # type: ignore[arg-type]
    hot = rs.audiences[0].condition
    assert isinstance(hot, ast.BoolOp)
    visits_cmp = hot.operands[1]
    assert isinstance(visits_cmp, ast.Compare)
    assert sym.type_of(visits_cmp.left) == NUMBER


def test_types_of_every_kind() -> None:
    rs = ruleset(
        GROUPS + 'when most_likely(Industry) is none and since(event "e") > 1d and '
        'attribute("a") == 1 and device == "mobile" and session_time > 1m show slot a\n'
    )
    sym = resolve(rs)
    ((_, rule),) = rs.rules()
    assert isinstance(rule.condition, ast.BoolOp)
    kinds = []
    for operand in rule.condition.operands:
        assert isinstance(operand, (ast.Compare, ast.Is))
        kinds.append(sym.type_of(operand.left))
    assert kinds == [
        Type("segment", "Industry", nullable=True),
        Type("duration", nullable=True),
        Type("any", nullable=True),
        Type("string"),
        Type("duration"),
    ]


# ========================================================== the shipped rules


def test_shipped_rules_check_clean() -> None:
    rules = ROOT / "rules"
    if not any(rules.glob("*.seg")):
        pytest.skip("no rules/*.seg in this checkout")
    result = check_paths([rules])
    assert [d for d in result.diagnostics] == []


# ============================================================ property tests

SAMPLE = (
    GROUPS
    + """\
audience HotLead = count(page "/product/**" within 48h) > 3
    and count(event "add_to_cart" within 48h) == 0
audience Lapsed = since(event "purchase") > 90d
when certain(Industry.Legal) replace slot headline with "Billing built for law firms"
when likely(Industry.Legal) and confidence(Industry.Legal) >= 50% {
    replace slot hero with template "partials/legal_hero.html"
    show slot legal_case_study
}
when confidence(Industry.Legal) > 0.3 show survey "Are you a lawyer?"
when HotLead or Lapsed show slot discount_banner  # smartseg: ignore[SEG403]
when not (visits > 3) and device != "mobile" hide slot tour
order slot testimonials by Industry
"""
)
TOKENS = SAMPLE.replace("(", " ( ").replace(")", " ) ").replace(".", " . ").split(" ")


def assert_sane(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        assert d.line >= 1 and d.column >= 1, d
        assert (d.end_line, d.end_column) >= (d.line, d.column), d
        assert d.code in CODES, d
        assert d.severity == CODES[d.code].severity, d
        assert d.message


def run_all(text: str) -> None:
    result = parse_source(text, "fuzz.seg")
    rs = ast.RuleSet((result.file,))
    found = list(result.diagnostics) + check(rs, syntax_errors=not result.ok)
    assert_sane(found)
    resolve(rs)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    run_all(data.decode("utf-8", errors="replace"))


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [
                *sorted(ast.KEYWORDS),
                "(",
                ")",
                "{",
                "}",
                ",",
                ".",
                "=",
                "==",
                ">",
                "<",
                "!=",
                "-",
                "3",
                "0.5",
                "30%",
                "24h",
                '"x"',
                '"/a/**"',
                "Industry",
                "Legal",
                "Hot",
                "\n",
                " ",
                "#",
                "# smartseg: ignore[SEG401]\n",
            ]
        ),
        max_size=60,
    )
)
def test_token_soup_never_raises(tokens: list[str]) -> None:
    run_all(" ".join(tokens))


@st.composite
def mutated_sample(draw: st.DrawFn) -> str:
    tokens = list(TOKENS)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "char"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[draw(st.integers(0, len(tokens) - 1))])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif tokens[i]:
            k = draw(st.integers(0, len(tokens[i]) - 1))
            ch = draw(st.characters(codec="utf-8"))
            tokens[i] = tokens[i][:k] + ch + tokens[i][k + 1 :]
        if not tokens:
            tokens = ["when"]
    return " ".join(tokens)


@settings(max_examples=400)
@given(mutated_sample())
def test_mutated_rules_never_raise(text: str) -> None:
    run_all(text)


def test_the_sample_is_clean() -> None:
    result = parse_source(SAMPLE)
    assert result.ok
    assert check(ast.RuleSet((result.file,))) == []
