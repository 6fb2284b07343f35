"""Renderers for `smartseg check`: text, JSON, GitHub workflow commands and SARIF 2.1.0.

All renderers take the diagnostics in the order they should appear (the
loader sorts them by file, line and column) and return one string ending in a
newline. They never raise on odd input: a diagnostic whose line is not in the
source is printed without an excerpt.

- text: `file:line:col: severity CODE message`, the source line, a caret range
  under exactly [column, end_column) — tabs expanded, wide characters counted
  twice, combining marks not at all — then `= help: …`, and a summary line.
- json: exactly the object of SPEC §5.
- github: `::error file=…,line=…::message` with the documented escaping.
- sarif: one run; every registered code is a rule (stable ids and indexes).
- junit: one test case per rule file, one failure per error (CI test reports).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from .diagnostics import CODES, HOME_URL, Diagnostic

__all__ = [
    "render_github",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_text",
    "summary_line",
]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_TAB = 4


# ====================================================================== text


class _Style:
    """ANSI styles, or nothing when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *codes: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


_SEVERITY_COLOR = {"error": "31", "warning": "33"}


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d\ufeff":
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    if ord(ch) < 32 or ord(ch) == 127:
        return 0  # control characters other than tab are not printed
    return 1


def _display(line: str) -> tuple[str, list[int]]:
    """The line as printed (tabs expanded, controls dropped) and each char's start column."""
    out: list[str] = []
    starts: list[int] = []
    col = 0
    for ch in line:
        starts.append(col)
        if ch == "\t":
            n = _TAB - col % _TAB
            out.append(" " * n)
            col += n
            continue
        w = _char_width(ch)
        if w == 0 and (ord(ch) < 32 or ord(ch) == 127):
            continue
        out.append(ch)
        col += w
    starts.append(col)  # the position just past the end
    return "".join(out), starts


def _excerpt(d: Diagnostic, lines: list[str], style: _Style) -> list[str]:
    if d.line < 1 or d.line > len(lines):
        return []
    raw = lines[d.line - 1].rstrip("\r\n")
    shown, starts = _display(raw)
    n = len(raw)
    first = min(max(d.column, 1) - 1, n)
    # a multi-line range is underlined to the end of its first line
    last = max(n if d.end_line > d.line else min(d.end_column - 1, n), first + 1)
    begin = starts[first]
    end = starts[last] if last <= n else starts[n] + (last - n)
    width = max(1, end - begin)
    gutter = len(str(d.line))
    bar = style(" " * (gutter + 2) + "|", "1", "34")
    caret = style("^" * width, "1", _SEVERITY_COLOR[d.severity])
    number = style(f" {d.line} |", "1", "34")
    return [f"{number} {shown}".rstrip(), f"{bar} {' ' * begin}{caret}"]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(diagnostics: Sequence[Diagnostic], files: int) -> str:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = sum(1 for d in diagnostics if d.severity == "warning")
    if not errors and not warnings:
        return f"All checks passed ({_plural(files, 'file')})."
    found = " and ".join(
        part
        for part in (
            _plural(errors, "error") if errors else "",
            _plural(warnings, "warning") if warnings else "",
        )
        if part
    )
    return f"Found {found} in {_plural(files, 'file')}."


def render_text(
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, str],
    color: bool = False,
    *,
    files: int | None = None,
) -> str:
    """Human-readable report; `sources` maps a diagnostic's file to its text."""
    style = _Style(color)
    split: dict[str, list[str]] = {}
    blocks: list[str] = []
    for d in diagnostics:
        severity = style(d.severity, "1", _SEVERITY_COLOR[d.severity])
        where = style(f"{d.file}:{d.line}:{d.column}:", "1")
        head = f"{where} {severity} {style(d.code, '1')} {d.message}"
        out = [head]
        if d.code != "SEG107" and d.file in sources:
            if d.file not in split:
                split[d.file] = sources[d.file].split("\n")
            out.extend(_excerpt(d, split[d.file], style))
        if d.help:
            indent = " " * (len(str(d.line)) + 2)
            out.append(f"{indent}{style('= help:', '1', '36')} {d.help}")
        blocks.append("\n".join(out))
    count = files if files is not None else len({d.file for d in diagnostics})
    blocks.append(style(summary_line(diagnostics, count), "1"))
    return "\n\n".join(blocks) + "\n"


# ====================================================================== json


def render_json(diagnostics: Sequence[Diagnostic], *, files: int) -> str:
    """`{"diagnostics": [...], "summary": {"files", "errors", "warnings"}}` (SPEC §5)."""
    import json

    doc = {
        "diagnostics": [d.to_json() for d in diagnostics],
        "summary": {
            "files": files,
            "errors": sum(1 for d in diagnostics if d.severity == "error"),
            "warnings": sum(1 for d in diagnostics if d.severity == "warning"),
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ==================================================================== github


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic."""
    lines = []
    for d in diagnostics:
        props = ",".join(
            f"{k}={_gh_property(str(v))}"
            for k, v in (
                ("file", PurePath(d.file).as_posix()),
                ("line", d.line),
                ("col", d.column),
                ("endLine", d.end_line),
                ("endColumn", d.end_column),
                ("title", d.code),
            )
        )
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        lines.append(f"::{d.severity} {props}::{_gh_data(message)}")
    return "".join(line + "\n" for line in lines)


# ===================================================================== sarif


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("smartseg")
    except metadata.PackageNotFoundError:
        return "0+unknown"  # running from a checkout that was never installed


def _artifact_uri(file: str, base: Path) -> str:
    """A relative URI with forward slashes when the file is under `base`."""
    from urllib.parse import quote

    path = Path(file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            return path.as_uri()
    return quote(path.as_posix(), safe="/")


def _sarif_rule(code: str) -> dict[str, object]:
    info = CODES[code]
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.explanation},
        "help": {
            "text": f"{info.explanation} See {info.docs_url} for a bad and a good example.",
            "markdown": f"{info.explanation}\n\n[{code}: bad and good examples]({info.docs_url})",
        },
        "helpUri": info.docs_url,
        "defaultConfiguration": {"level": info.severity},
        "properties": {"tags": ["smartseg"]},
    }


def render_sarif(diagnostics: Sequence[Diagnostic], *, base: str | os.PathLike[str] = ".") -> str:
    """A SARIF 2.1.0 log for GitHub code scanning; file URIs relative to `base`."""
    import json

    codes = list(CODES)
    index = {code: i for i, code in enumerate(codes)}
    root = Path(base)
    results = []
    for d in diagnostics:
        end_column = d.end_column if d.end_line > d.line else max(d.end_column, d.column + 1)
        result: dict[str, object] = {
            "ruleId": d.code,
            "level": d.severity,
            "message": {"text": d.message + (f"\nhelp: {d.help}" if d.help else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _artifact_uri(d.file, root)},
                        "region": {
                            "startLine": max(1, d.line),
                            "startColumn": max(1, d.column),
                            "endLine": max(1, d.end_line, d.line),
                            "endColumn": max(1, end_column),
                        },
                    }
                }
            ],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "smartseg",
                        "informationUri": HOME_URL,
                        "version": _version(),
                        "rules": [_sarif_rule(c) for c in codes],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ===================================================================== junit


def render_junit(
    diagnostics: Sequence[Diagnostic], files: Sequence[str], *, strict: bool = False
) -> str:
    """JUnit XML: one `<testcase>` per rule file, one `<failure>` per error in it.

    Warnings are failures too with `strict` (as they fail `smartseg check --strict`);
    otherwise they are listed in the test case's `<system-out>`. `failures` counts
    the failing test cases.
    """
    import xml.etree.ElementTree as ET

    by_file: dict[str, list[Diagnostic]] = {PurePath(f).as_posix(): [] for f in files}
    for d in diagnostics:
        by_file.setdefault(PurePath(d.file).as_posix(), []).append(d)
    failing = sum(
        1 for found in by_file.values() if any(d.severity == "error" or strict for d in found)
    )
    counts = {"tests": str(len(by_file)), "failures": str(failing), "errors": "0"}
    root = ET.Element("testsuites", {"name": "smartseg check", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "smartseg check", **counts, "skipped": "0"})
    for file, found in by_file.items():
        case = ET.SubElement(suite, "testcase", {"classname": "smartseg.check", "name": file})
        notes = []
        for d in found:
            text = f"{file}:{d.line}:{d.column}: {d.severity} {d.code} {d.message}" + (
                f"\nhelp: {d.help}" if d.help else ""
            )
            if d.severity == "error" or strict:
                failure = ET.SubElement(
                    case, "failure", {"type": d.code, "message": f"{d.code} {d.message}"}
                )
                failure.text = text
            else:
                notes.append(text)
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join(notes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
