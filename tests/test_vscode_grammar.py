"""The VS Code extension's TextMate grammar (editors/vscode/syntaxes/seg.tmLanguage.json)
against the language's own lexer, on every `.seg` file of rules/, examples/ and
tests/fixtures/.

A small TextMate-style scanner here applies the grammar (patterns in order, the
earliest match wins, `begin`/`end` for strings, captures); then every token Lark's
lexer finds in a file must start where the grammar gives it the scope of its kind:
a keyword its keyword scope, a number, duration, percentage or date its constant
scope, a string, a comment, a comparison operator theirs, a built-in function its
support scope, and a plain name no keyword or constant scope. The grammar's regexes
are kept in the subset Python's `re` and Oniguruma read alike, so this is what VS Code
shows. (A Python test rather than `vscode-tmgrammar-test`: it needs no Node in CI and
checks every token of every file, not hand-written snapshots.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartseg_dsl.checker import FUNCTIONS, VALUES
from smartseg_dsl.parser import _lark, parse_source

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "seg.tmLanguage.json"


@dataclass(frozen=True)
class _Rule:
    match: re.Pattern[str] | None
    name: str | None
    captures: dict[int, str]
    begin: re.Pattern[str] | None = None
    end: re.Pattern[str] | None = None
    inner: tuple[_Rule, ...] = ()


def _rules(patterns: list[dict[str, object]], repo: dict[str, dict[str, object]]) -> list[_Rule]:
    out: list[_Rule] = []
    for p in patterns:
        if "include" in p:
            target = repo[str(p["include"]).lstrip("#")]
            nested = "patterns" in target and "begin" not in target
            out += _rules(list(target["patterns"]) if nested else [target], repo)  # type: ignore[call-overload]
            continue
        key = "beginCaptures" if "begin" in p else "captures"
        caps = {int(k): v["name"] for k, v in dict(p.get(key, {})).items()}  # type: ignore[call-overload]
        if "begin" in p:
            out.append(
                _Rule(
                    None,
                    str(p["name"]),
                    caps,
                    re.compile(str(p["begin"])),
                    re.compile(str(p["end"])),
                    tuple(_rules(list(p.get("patterns", [])), repo)),  # type: ignore[arg-type]
                )
            )
        else:
            out.append(_Rule(re.compile(str(p["match"])), p.get("name"), caps))  # type: ignore[arg-type]
    return out


def load_grammar() -> list[_Rule]:
    data = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    return _rules(data["patterns"], data["repository"])


def scopes(line: str, rules: list[_Rule]) -> list[str | None]:
    """The innermost scope of every character of one line."""
    out: list[str | None] = [None] * len(line)
    pos = 0
    while pos < len(line):
        best: tuple[int, int, _Rule, re.Match[str]] | None = None
        for i, r in enumerate(rules):
            rx = r.match or r.begin
            assert rx is not None
            m = rx.search(line, pos)
            if m is not None and (best is None or (m.start(), i) < (best[0], best[1])):
                best = (m.start(), i, r, m)
        if best is None:
            break
        start, _, rule, m = best
        end = m.end()
        if rule.begin is not None:
            assert rule.end is not None
            e = rule.end.search(line, end)
            # escapes inside: skip them so an escaped quote does not end the string
            scan = end
            while True:
                esc = re.compile(r"\\.").search(line, scan)
                e = rule.end.search(line, scan)
                if esc is not None and e is not None and esc.start() < e.start():
                    scan = esc.end()
                    continue
                break
            end = e.end() if e is not None else len(line)
            inner_end = e.start() if e is not None else len(line)
            for k in range(start, end):
                out[k] = rule.name
            for inner in rule.inner:
                assert inner.match is not None
                for im in inner.match.finditer(line[:inner_end], m.end()):
                    for k in range(im.start(), im.end()):
                        if out[k] == rule.name:
                            out[k] = inner.name
            for group, name in rule.captures.items():
                for k in range(m.start(group), m.end(group)):
                    out[k] = name
            pos = max(end, pos + 1)
            continue
        for k in range(start, end):
            out[k] = rule.name
        for group, name in rule.captures.items():
            if m.group(group) is not None:
                for k in range(m.start(group), m.end(group)):
                    out[k] = name
        pos = max(end, pos + 1)
    return out


STRUCTURE = {
    "group", "segment", "audience", "when", "goal", "holdout", "experiment", "traffic",
    "variant", "from", "until", "prior", "decay", "weight", "max", "value", "within",
}  # fmt: skip
EXPECTED_KEYWORD = {
    **dict.fromkeys(STRUCTURE, "keyword.control.seg"),
    **dict.fromkeys(("explicit", "implicit"), "storage.modifier.signal.seg"),
    **dict.fromkeys(
        ("tag", "query", "category", "referrer", "landing", "page", "event"),
        "support.type.matcher.seg",
    ),
    **dict.fromkeys(
        ("show", "hide", "replace", "order", "slot", "with", "template", "by", "survey", "about"),
        "keyword.other.action.seg",
    ),
    "in": "keyword.other.action.seg",
    **dict.fromkeys(("and", "or", "not", "is"), "keyword.operator.logical.seg"),
    **dict.fromkeys(("true", "false", "none"), "constant.language.seg"),
}
EXPECTED_TERMINAL = {
    "NUMBER": "constant.numeric.seg",
    "DURATION": "constant.numeric.duration.seg",
    "PERCENT": "constant.numeric.percentage.seg",
    "DATE": "constant.other.date.seg",
    "COMPARE": "keyword.operator.comparison.seg",
}


def seg_files() -> list[Path]:
    found = []
    for folder in ("rules", "examples", "tests/fixtures", "site_example"):
        found += sorted((ROOT / folder).rglob("*.seg"))
    return [p for p in found if parse_source(p.read_text(encoding="utf-8")).ok]


def expected_scope(tok_type: str, value: str, rest: str) -> str | tuple[str, ...] | None:
    if tok_type == "COMMENT":
        return "punctuation.definition.comment.seg"
    if tok_type == "STRING":
        return "punctuation.definition.string.begin.seg"
    if tok_type in EXPECTED_TERMINAL:
        return EXPECTED_TERMINAL[tok_type]
    if value in EXPECTED_KEYWORD:
        return EXPECTED_KEYWORD[value]
    if tok_type == "NAME":
        if value in FUNCTIONS and rest.lstrip().startswith("("):
            return "support.function.builtin.seg"
        if value in VALUES:
            return "support.variable.builtin.seg"
        return ("entity.name.", "variable.other.")
    return None


@pytest.mark.parametrize("path", seg_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_grammar_scopes_every_token(path: Path) -> None:
    rules = load_grammar()
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    line_scopes = [scopes(line, rules) for line in lines]
    checked = 0
    for tok in _lark().lex(text, dont_ignore=True):
        if tok.type == "WS" or tok.line is None or tok.column is None:
            continue
        line, col = tok.line - 1, tok.column - 1
        want = expected_scope(tok.type, str(tok), lines[line][col + len(tok) :])
        if want is None:
            continue
        got = line_scopes[line][col]
        where = f"{path.name}:{tok.line}:{tok.column} {tok.type} {str(tok)!r}"
        if isinstance(want, tuple):
            assert got is not None and got.startswith(want), f"{where}: {got}"
        else:
            assert got == want, f"{where}: got {got}, want {want}"
        checked += 1
    assert checked > 0


def test_the_scanner_on_a_sample() -> None:
    rules = load_grammar()
    line = 'when count(page "/a\\"b" within 7d) >= 30% and Industry.Legal # note'
    got = scopes(line, rules)

    def at(word: str) -> str | None:
        return got[line.index(word)]

    assert at("when") == "keyword.control.seg"
    assert at("count") == "support.function.builtin.seg"
    assert at("page") == "support.type.matcher.seg"
    assert at('"/a') == "punctuation.definition.string.begin.seg"
    assert at('\\"') == "constant.character.escape.seg"
    assert at("within") == "keyword.control.seg"
    assert at("7d") == "constant.numeric.duration.seg"
    assert at(">=") == "keyword.operator.comparison.seg"
    assert at("30%") == "constant.numeric.percentage.seg"
    assert at("Industry") == "entity.name.type.group.seg"
    assert at("Legal") == "entity.name.type.segment.seg"
    assert at("# note") == "punctuation.definition.comment.seg"
    assert at("note") == "comment.line.number-sign.seg"
    ignore = "# smartseg: ignore[SEG401]"
    assert scopes(ignore, rules)[2] == "keyword.other.directive.ignore.seg"
    dates = "from 2026-03-01 until 2026-04-01"
    assert scopes(dates, rules)[5] == "constant.other.date.seg"


def test_extension_manifest() -> None:
    pkg = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    (lang,) = pkg["contributes"]["languages"]
    assert lang["extensions"] == [".seg"]
    (grammar,) = pkg["contributes"]["grammars"]
    assert (ROOT / "editors" / "vscode" / grammar["path"]).resolve() == GRAMMAR
    config = json.loads(
        (ROOT / "editors" / "vscode" / lang["configuration"]).read_text(encoding="utf-8")
    )
    assert config["comments"] == {"lineComment": "#"}
    assert ["{", "}"] in config["brackets"] and ["(", ")"] in config["brackets"]
    assert pkg["contributes"]["configuration"]["properties"]["smartseg.server.command"][
        "default"
    ] == ["smartseg", "lsp"]
    assert "vscode-languageclient" in pkg["dependencies"]
