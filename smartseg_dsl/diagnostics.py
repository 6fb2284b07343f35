"""Diagnostics: what the parser and checker report, and the code registry.

A `Diagnostic` carries the file, the 1-based line/column range of the
offending token, a severity, a stable code (`SEG` + 3 digits; the first digit
is the class: 1 syntax, 2 names, 3 types and values, 4 rule logic, 5 limits),
a message, and an optional `help` line saying how to fix it.

Renderers for the text, JSON, GitHub and SARIF formats live in `report.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .ast import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    code: str
    message: str
    help: str | None = None

    @classmethod
    def at(
        cls,
        file: str,
        span: Span,
        code: str,
        message: str,
        *,
        help: str | None = None,
        severity: Severity | None = None,
    ) -> Diagnostic:
        return cls(
            file=file,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
            severity=severity or CODES[code].severity,
            code=code,
            message=message,
            help=help,
        )

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    name: str  # a short kebab-case name, used as SARIF rule name
    severity: Severity
    summary: str  # one line, used in SARIF and docs index


#: The registry of every code the project emits. Each has a page in
#: docs/codes/<CODE>.md with a bad and a good example.
CODES: dict[str, CodeInfo] = {}


def _code(code: str, name: str, severity: Severity, summary: str) -> None:
    CODES[code] = CodeInfo(code, name, severity, summary)


# SEG1xx — syntax
_code("SEG101", "unexpected-token", "error", "The parser found something it did not expect.")
_code("SEG102", "unterminated-string", "error", "A string has no closing double quote.")
_code("SEG103", "invalid-character", "error", "A character that cannot start any token.")
_code("SEG104", "bad-literal", "error", "A malformed number, duration or percentage.")
_code("SEG105", "unclosed-brace", "error", "A `{` is never closed.")
_code("SEG106", "bad-escape", "error", "An unknown escape sequence in a string.")
_code("SEG107", "unreadable-file", "error", "A file that is not valid UTF-8 text or is too large.")
_code("SEG108", "too-deeply-nested", "error", "Parentheses nested too deeply to check.")
# The checker registers its own codes (SEG2xx-SEG5xx) in checker.py.
