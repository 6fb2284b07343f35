"""docs/journeys.md: its examples run, and it documents every key the parser accepts.

The page's fenced blocks with a `file=` option are written to a folder (the rules and
the journeys); `smartseg test` must pass on them. Its tables must name every top-level,
step and `expect` key of `journey.py`, so a new key cannot go undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartseg_dsl import journey
from smartseg_dsl.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "journeys.md"
_FILE_BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```", re.M | re.S)


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return text[start : end if end >= 0 else len(text)]


def _table_keys(section: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def test_the_examples_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _FILE_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert {kind for kind, _, _ in files} == {"seg", "json"}
    for _, name, body in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["test", "rules/", "journeys/"])
    assert result.exit_code == 0, result.output
    assert "2 journey(s), 5 step(s) with expectations, 0 failed" in result.output
    assert "Every rule fired in some journey" in result.output


def test_every_key_is_documented() -> None:
    assert _table_keys(_section("Top-level keys")) == journey._TOP_KEYS
    assert _table_keys(_section("Step keys")) == journey._STEP_KEYS
    assert _table_keys(_section("`expect` keys")) == journey._EXPECT_KEYS


def test_engine_docs_point_here() -> None:
    engine = (DOC.parent / "engine.md").read_text(encoding="utf-8")
    assert "(journeys.md)" in engine
