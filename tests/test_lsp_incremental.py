"""The language server's incremental re-parse and re-check are exact.

After every one of many seeded random edits (characters inserted and deleted, names
renamed, syntax broken and fixed, lines added), the server's model (`lsp/model.py`,
which re-parses only the changed items, `lsp/reparse.py`, and reuses the previous
check's work, `lsp/recheck.py`) must give the very diagnostics a from-scratch
`parse_source` + `check_parsed` gives, and the very parse (items, spans, comments,
syntax diagnostics, skipped names) `parse_source` gives.
"""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
import sys
from pathlib import Path

import pytest

from smartseg_dsl import ast
from smartseg_dsl.loader import check_parsed
from smartseg_dsl.lsp.model import RuleSetModel
from smartseg_dsl.lsp.reparse import BlockParser
from smartseg_dsl.parser import ParseResult, parse_source

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import generate  # noqa: E402

_PIECES = [
    *'abXY_ ()\n{}."#%<>=0123456789',
    "when ",
    " and ",
    " or not ",
    "show slot x",
    "}\n",
    '\ngroup G "g" {\n',
    "segment S { }\n",
    "\naudience Z = visits > 2\n",
    "\nwhen A1 show slot typed\n",
    "\n    goal Trial\n",
    "# smartseg: ignore[SEG403]\n",
    "certain(",
    "G1.S1_1",
    "Industry.Legal",
]


def _spans(node: object, out: list[ast.Span]) -> list[ast.Span]:
    if isinstance(node, ast.Span):
        out.append(node)
    elif isinstance(node, tuple):
        for x in node:
            _spans(x, out)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _spans(getattr(node, f.name), out)
    return out


def _same_parse(a: ParseResult, b: ParseResult) -> bool:
    return (
        a.file == b.file
        and a.file.path == b.file.path
        and a.file.comments == b.file.comments
        and _spans(a.file.items, []) == _spans(b.file.items, [])
        and a.diagnostics == b.diagnostics
        and a.skipped_names == b.skipped_names
    )


def _edit(rng: random.Random, text: str) -> str:
    roll = rng.random()
    at = rng.randrange(len(text) + 1)
    if roll < 0.35 and text:
        return text[:at] + text[min(len(text), at + rng.randrange(1, 5)) :]
    if roll < 0.8:
        return text[:at] + rng.choice(_PIECES) + text[at:]
    words = re.findall(r"\b[A-Z]\w*\b", text)
    if not words:
        return text + rng.choice(_PIECES)
    word = rng.choice(words)
    if rng.random() < 0.5:  # rename (all of its uses in this file, or the first only)
        new = word + rng.choice("xyz")
        return re.sub(rf"\b{word}\b", new, text, count=rng.choice([0, 1]))
    return re.sub(rf"\b{word}\b", word[:-1], text, count=1)  # a typo


def _expected(model: RuleSetModel, files: tuple[str, ...]) -> dict[str, list[object]]:
    results = [parse_source(model.text(f) or "", f) for f in files]
    by_file: dict[str, list[object]] = {f: [] for f in files}
    for d in check_parsed(results).diagnostics:
        by_file.setdefault(d.file, []).append(d)
    return by_file


def _run(folder: Path, steps: int, seed: int) -> None:
    files = sorted(str(p.resolve()) for p in folder.glob("*.seg"))
    rng = random.Random(seed)
    model = RuleSetModel()
    texts = {f: Path(f).read_text(encoding="utf-8") for f in files}
    for f in files:
        model.open(f, texts[f])
    for step in range(steps):
        path = rng.choice(files)
        texts[path] = _edit(rng, texts[path])
        model.change(path, texts[path])
        analysis = model.analysis(path)
        assert _same_parse(analysis.result(path), parse_source(texts[path], path)), (
            f"step {step}: the parse of {path} differs"
        )
        got = analysis.diagnostics()
        want = _expected(model, analysis.files)
        assert got == want, f"step {step} (seed {seed}): diagnostics differ after editing {path}"


@pytest.mark.parametrize("seed", [1, 2])
def test_random_edits_of_the_shipped_rules(tmp_path: Path, seed: int) -> None:
    for p in (ROOT / "rules").glob("*.seg"):
        shutil.copy(p, tmp_path / p.name)
    _run(tmp_path, 120, seed)


@pytest.mark.parametrize("seed", [3, 4])
def test_random_edits_of_a_generated_rule_set(tmp_path: Path, seed: int) -> None:
    generate(tmp_path, groups=12, per_group=4, rules=160)
    _run(tmp_path, 80, seed)


def test_a_keystroke_parses_one_item() -> None:
    text = (ROOT / "rules").glob("*.seg").__next__().read_text(encoding="utf-8")
    parser = BlockParser("f.seg")
    parser.parse(text)
    at = text.index("when ") + len("when ")
    changed = text[:at] + "x" + text[at:]
    result = parser.parse(changed)
    assert _same_parse(result, parse_source(changed, "f.seg"))
    assert parser.parsed_runs <= 2  # the changed item (with a neighbour at most)


def test_experiments_split_at_their_inner_lines_parse_whole() -> None:
    # `when` and `goal` inside an experiment start lines a top-level item may start:
    # the pieces are parsed together until the experiment closes
    text = (
        'goal Trial = event "t"\n'
        "experiment E {\n    when visits > 1\n    variant a 1\n    variant b 1 {\n"
        "        show slot x\n    }\n    goal Trial\n}\nwhen visits > 2\nshow slot y\n"
    )
    parser = BlockParser("f.seg")
    for n in range(len(text) + 1):  # every prefix: mostly broken
        assert _same_parse(parser.parse(text[:n]), parse_source(text[:n], "f.seg")), n


# ------------------------------------------------- targeted edits (the caches' inputs)
#
# What the incremental check reuses, and what must make it stop: a condition node that
# is the same object as in the previous run keeps its condition object and analysis
# (`recheck._Same`, `recheck._Tables.applied`); one moved by an edit above it replays them
# shifted; a file parsed as before keeps its part of the budget's input. Each sequence
# below is checked against a from-scratch check after every step, and each step must
# change some diagnostics (else it would not test the cache it aims at).

_GROUPS = """\
group Industry "Industry" {
    segment Legal "Legal" {
        explicit tag "lawyer"
    }
    segment Health "Health" {
        explicit tag "doctor"
        implicit category "clinics" weight 2 max 1
    }
}
"""

_AUDIENCES = """\
audience Keen = confidence(Industry.Legal) > 30% and visits >= 2
audience Wide = Keen or visits > 5
"""

_RULES = """\
when Keen show slot a
when Wide and visits >= 3
    show slot b
when Keen and visits >= 4 show slot a
when certain(Industry.Health) show survey "Still in health care?"
when Nobody show slot c
when confidence(Industry.Legal) > 150 show slot d
when Keen and visits < 2 show slot e
when Keen and visits < 2 and visits > 0 show slot e
when Keen show slot f
when confidence(Industry.Legal) > 40% and visits >= 3 show slot f
"""


def _model_of(folder: Path, texts: dict[str, str]) -> tuple[RuleSetModel, dict[str, str]]:
    model = RuleSetModel()
    paths = {}
    for name, text in texts.items():
        path = str((folder / name).resolve())
        Path(path).write_text(text, encoding="utf-8")
        model.open(path, text)
        paths[name] = path
    return model, paths


def _three_files(
    groups: str = _GROUPS, audiences: str = _AUDIENCES, rules: str = _RULES
) -> dict[str, str]:
    """The texts of a rule set's three files by name: groups, audiences, rules."""
    return {"10-groups.seg": groups, "20-audiences.seg": audiences, "30-rules.seg": rules}


def _steps(
    folder: Path, texts: dict[str, str], steps: list[tuple[str, str, str]], changes: bool = True
) -> None:
    """Each step replaces `old` with `new` in one file (all occurrences); after each, the
    model's diagnostics equal a from-scratch check's (and, with `changes`, differ from
    the step before)."""
    model, paths = _model_of(folder, texts)
    first = next(iter(paths.values()))
    before = model.analysis(first).diagnostics()
    assert before == _expected(model, model.analysis(first).files)
    for n, (name, old, new) in enumerate(steps):
        assert old in texts[name], (n, old)
        texts[name] = texts[name].replace(old, new)
        model.change(paths[name], texts[name])
        analysis = model.analysis(paths[name])
        got = analysis.diagnostics()
        assert got == _expected(model, analysis.files), f"step {n}: {name}: {old!r} → {new!r}"
        assert got != before or not changes, f"step {n} changed no diagnostic: it tests nothing"
        before = got


def test_a_name_another_file_depends_on(tmp_path: Path) -> None:
    _steps(
        tmp_path,
        _three_files(),
        [
            # the segment the audience (and through it the rules) reads disappears
            ("10-groups.seg", "segment Legal ", "segment Lega "),
            ("10-groups.seg", "segment Lega ", "segment Legal "),
            # the unknown audience of the rules file is defined in the audiences file
            ("20-audiences.seg", "audience Wide", "audience Nobody = visits > 9\naudience Wide"),
            # an audience renamed: every rule using it now names nothing
            ("20-audiences.seg", "audience Keen", "audience Keener"),
            ("20-audiences.seg", "audience Keener", "audience Keen"),
            # a second group of the same name (its segments are not the group's)
            (
                "20-audiences.seg",
                "audience Keen",
                'group Industry "again" {\n    segment Legal "L" {\n        explicit tag "l"\n'
                '    }\n    segment Tech "T" {\n    }\n}\naudience Keen',
            ),
            ("30-rules.seg", "when Nobody show", "when certain(Industry.Tech) show"),
            ("20-audiences.seg", 'group Industry "again"', 'group Industry2 "again"'),
            # the group the survey asks about loses the segment, then gets it back
            ("10-groups.seg", "segment Health ", "segment Healthy "),
            ("10-groups.seg", "segment Healthy ", "segment Health "),
        ],
    )


def test_an_audience_edit_changes_the_logic_of_unchanged_rules(tmp_path: Path) -> None:
    # the rules file's nodes are the same objects throughout: their condition objects are
    # reused, and their analysis (never true, always true, shadowing) must follow the
    # audiences they inline
    _steps(
        tmp_path,
        _three_files(),
        [
            # the rule `Keen and visits < 2` can be true, then never again; the rule on
            # slot f after `when Keen show slot f` is shadowed, then not, then again
            ("20-audiences.seg", "visits >= 2\n", "visits >= 1\n"),
            ("20-audiences.seg", "visits >= 1\n", "visits >= 5\n"),
            ("20-audiences.seg", "visits >= 5\n", "visits >= 2\n"),
            ("20-audiences.seg", "visits >= 2\n", "visits >= 2 and visits < 2\n"),  # never
            # a cycle: the conditions of both audiences are not reasoned about, then are
            ("20-audiences.seg", "visits >= 2 and visits < 2\n", "visits >= 2\n"),
            ("20-audiences.seg", "> 30% and", "> 30% and Wide and"),
            ("20-audiences.seg", "> 30% and Wide and", "> 30% and"),
            ("20-audiences.seg", "or visits > 5", "or visits > 5 or visits < 9"),  # always
            ("20-audiences.seg", "or visits > 5 or visits < 9", "or visits > 5"),
        ],
    )


def test_edits_that_move_items_without_changing_them(tmp_path: Path) -> None:
    # items below an edit are the same text at another line or offset: what they report
    # (SEG204, SEG304, SEG401, SEG403, SEG408, …) moves with them
    rules = _RULES.replace("when Keen show slot a\n", "when Keen show slot a\n" * 2, 1)
    _steps(
        tmp_path,
        _three_files(rules=rules),
        [
            ("30-rules.seg", "when Keen show slot a\n", "when Keen  show slot a\n"),  # offsets
            ("30-rules.seg", "when Keen  show slot a\n", "\n\nwhen Keen show slot a\n"),  # lines
            ("30-rules.seg", "\n\nwhen Keen show slot a\n", "when Keen show slot a\n"),
            ("30-rules.seg", "when Wide", "\nwhen Wide"),
            ("20-audiences.seg", "audience Keen", "\n# moved\naudience Keen"),
            ("20-audiences.seg", "> 30%", ">  30%"),
            ("10-groups.seg", 'group Industry "Industry" {\n', '\ngroup Industry "Industry" {\n'),
        ],
        changes=False,  # an offset-only move changes no line or column
    )


def test_reused_results_survive_syntax_errors_in_another_file(tmp_path: Path) -> None:
    _steps(
        tmp_path,
        _three_files(),
        [
            ("20-audiences.seg", "audience Wide = ", "audience Wide = ("),  # broken
            ("30-rules.seg", "when Nobody", "when Nobody2"),
            ("20-audiences.seg", "audience Wide = (", "audience Wide = "),  # fixed
            ("30-rules.seg", "when Nobody2", "when Keen and Nobody2"),
        ],
    )


def test_the_cookie_budget_follows_edits_in_any_file(tmp_path: Path) -> None:
    _steps(
        tmp_path,
        _three_files(
            audiences=_AUDIENCES + 'audience Hot = count(page "/x" within 7d) > 5\n',
            rules=_RULES + "when Hot show slot z\n",
        ),
        [
            ("20-audiences.seg", "within 7d) > 5", "within 7d) > 3000"),  # over the limit
            ("30-rules.seg", "when Keen show slot f", "when Keen show slot ff"),
            ("20-audiences.seg", "within 7d) > 3000", "within 7d) > 5"),
            ("30-rules.seg", "when Hot show", 'when count(event "e" within 1d) > 3000 show'),
            ("30-rules.seg", 'when count(event "e" within 1d) > 3000 show', "when Hot show"),
        ],
    )


def test_a_layout_from_each_rules_own_uses_is_the_layout(tmp_path: Path) -> None:
    # the language server builds the state layout (SEG501) from what each rule's
    # condition uses, kept per rule text (`state._Uses.merge`): the very same layout
    from smartseg_dsl.parser import parse_file
    from smartseg_dsl.state import Layout, _Uses

    generate(tmp_path, groups=12, per_group=4, rules=160)
    for folder in (tmp_path, ROOT / "rules"):
        ruleset = ast.RuleSet(tuple(parse_file(p).file for p in sorted(folder.glob("*.seg"))))

        def own(rule: ast.Rule, audiences: set[str]) -> _Uses | None:
            if id(rule) % 3 == 0:
                return None  # walked in place: both kinds mixed
            uses = _Uses()
            assert rule.condition is not None
            uses.walk(rule.condition, audiences)
            return uses

        merged, walked = Layout.from_ruleset(ruleset, own), Layout.from_ruleset(ruleset)
        assert merged == walked
        assert repr(merged) == repr(walked)  # the maps in the same order too


def test_a_synced_audience_follows_what_the_audiences_it_names_read(tmp_path: Path) -> None:
    # SEG414 reads the audiences' dependencies: an unchanged `sync audience` line must
    # warn when an audience it names starts reading the page, and stop when it does not
    texts = _three_files(audiences=_AUDIENCES + "sync audience Synced = Wide and visits > 1\n")
    _steps(
        tmp_path,
        texts,
        [
            ("20-audiences.seg", "visits >= 2\n", 'visits >= 2 and viewing("/pricing")\n'),
            ("20-audiences.seg", ' and viewing("/pricing")\n', "\n"),
            ("20-audiences.seg", "= Wide and", '= viewing("/x") and'),
        ],
    )
