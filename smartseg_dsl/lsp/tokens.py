"""Semantic tokens: what each word of a document is, for the editor's colours.

Words the index knows (`index.py`: the rule set's groups, segments, audiences, goals,
experiments and variants, the built-in functions and values) take their kind from it,
definitions marked as such; the word after `slot` is a slot; the language's keywords,
strings, numbers (with durations, percentages and dates), comments and operators come
from a scan of the text that follows the grammar's terminals. A document with syntax
errors still gets tokens: the scan needs no parse, and the index holds what the parser
kept.

Positions are the AST's (1-based lines, columns in characters); `server.py` encodes
them as LSP wants (relative, UTF-16).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .. import ast
from .index import Occurrence

__all__ = ["MODIFIERS", "TOKEN_TYPES", "Token", "semantic_tokens"]

#: The legend's token types, in order (LSP's standard names, so every theme colours them).
TOKEN_TYPES: tuple[str, ...] = (
    "keyword",
    "namespace",  # group
    "enumMember",  # segment, variant
    "variable",  # audience, built-in value
    "event",  # goal
    "class",  # experiment
    "property",  # slot
    "function",  # built-in function
    "string",
    "number",
    "comment",
    "operator",
)
#: The legend's modifiers, in order (a bit each).
MODIFIERS: tuple[str, ...] = ("declaration", "defaultLibrary")

_KIND_TYPE = {
    "group": "namespace",
    "segment": "enumMember",
    "variant": "enumMember",
    "audience": "variable",
    "value": "variable",
    "goal": "event",
    "experiment": "class",
    "function": "function",
}
_TYPE_INDEX = {name: i for i, name in enumerate(TOKEN_TYPES)}
_DECLARATION = 1
_DEFAULT_LIBRARY = 2

#: Keywords of the grammar (built-in functions and values are names, told by the index).
_KEYWORDS = frozenset(
    w
    for w in ast.KEYWORDS
    if w
    not in {
        "visits", "pageviews", "session_time", "device", "confidence", "score", "certain",
        "likely", "most_likely", "known", "tagged", "count", "since", "viewing", "attribute",
    }
)  # fmt: skip

_SCAN = re.compile(
    r"""(?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"?)
      | (?P<number>\d{4}-\d{1,2}-\d{1,2}(?![A-Za-z0-9_])
                  |\d+(?:\.\d+)?(?:[smhdw](?![A-Za-z0-9_])|%)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<operator><=|>=|==|!=|<|>|=|-)
    """,
    re.X,
)


@dataclass(frozen=True, slots=True)
class Token:
    line: int
    column: int
    length: int
    type: str
    modifiers: int = 0


def semantic_tokens(
    text: str,
    occurrences: Iterable[Occurrence],
    first_line: int = 1,
    last_line: int | None = None,
) -> list[Token]:
    """The tokens of `text` in order, those on lines `first_line`..`last_line` only."""
    known: dict[tuple[int, int], Occurrence] = {}
    for o in occurrences:
        if o.span.line == o.span.end_line:
            known.setdefault((o.span.line, o.span.column), o)
    out: list[Token] = []
    lines = text.split("\n")
    last = len(lines) if last_line is None else min(last_line, len(lines))
    for number in range(max(first_line, 1), last + 1):
        previous = ""
        for m in _SCAN.finditer(lines[number - 1]):
            kind = m.lastgroup
            value = m.group()
            column = m.start() + 1
            token_type: str | None = kind
            modifiers = 0
            if kind == "word":
                occ = known.get((number, column))
                if occ is not None and occ.span.end_column - occ.span.column == len(value):
                    token_type = _KIND_TYPE.get(occ.kind)
                    if occ.definition:
                        modifiers |= _DECLARATION
                    if occ.kind in ("function", "value"):
                        modifiers |= _DEFAULT_LIBRARY
                elif previous == "slot":
                    token_type = "property"
                elif value in _KEYWORDS:
                    token_type = "keyword"
                else:
                    token_type = None  # a name the index does not know (misspelt, say)
            previous = value if kind == "word" else ""
            if token_type is not None:
                out.append(Token(number, column, len(value), token_type, modifiers))
    return out


def encode(tokens: Iterable[Token], width: object = None) -> list[int]:
    """LSP's flat array: Δline, Δstart, length, type, modifiers per token (0-based).

    `width(line, column)` converts a 1-based character column to the LSP column (UTF-16
    units, 0-based); by default the column minus one."""
    data: list[int] = []
    prev_line, prev_col = 0, 0
    for t in tokens:
        line = t.line - 1
        if callable(width):
            col = width(t.line, t.column)
            end = width(t.line, t.column + t.length)
        else:
            col, end = t.column - 1, t.column - 1 + t.length
        delta_line = line - prev_line
        data += [
            delta_line,
            col - prev_col if delta_line == 0 else col,
            end - col,
            _TYPE_INDEX[t.type],
            t.modifiers,
        ]
        prev_line, prev_col = line, col
    return data
