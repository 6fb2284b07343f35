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
