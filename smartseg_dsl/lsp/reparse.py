"""Re-parsing a document after a keystroke: only the top-level items whose text changed.

`BlockParser.parse(text)` returns exactly what `parser.parse_source(text, path)` returns
(the same items, spans, diagnostics and skipped names), but parses only the pieces of
text it has not seen before.

The text is cut at every line where a top-level item may start (`TOP_LEVEL`, the
lines `parse_source` recovers at); a *run* is a stretch of consecutive pieces. A run
whose text parses on its own is a sequence of whole items, and the grammar
(`start: _item*`, LALR, so unambiguous) gives a concatenation of such sequences
exactly the concatenation of their parses: the items of a file are the items of its
runs, moved to where each run sits (lines and offsets shifted; a run starts at the
start of a line, so columns never change). A piece that does not parse on its own (a
`when` line whose action is on the next line at column 1, an experiment whose `goal`
lines start pieces of their own) is parsed together with the following pieces until
the run parses or fails before its end. Parses are cached by the run's text.

Syntax errors replay `parse_source`'s recovery step by step (parse the rest, explain
the error, keep the items before it, restart at the next item), with each region
parsed run by run as above; the error itself is explained from a parse of its run at
its real position, and only the items of a region are spliced from the cache. The
LSP tests compare this with `parse_source` after random edits.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from typing import Any

from lark.exceptions import UnexpectedInput, UnexpectedToken

from .. import ast
from ..diagnostics import Diagnostic
from ..parser import (
    ParseResult,
    _comments,
    _nesting_problem,
    _parse_region,
    _parse_regions,
    parse_source,
)
from ..syntax_errors import TOP_LEVEL

__all__ = ["BlockParser", "shift"]

#: How many run texts a document keeps parsed (a 2,000-line file has ~1,000 items).
_CACHE_LIMIT = 20_000


# ------------------------------------------------------------------- shifting


_new = object.__new__
_set = object.__setattr__
_Span = ast.Span


def _setter(cls: type, name: str) -> Any:
    """A slot's own setter (faster than `object.__setattr__` on a frozen dataclass)."""
    found = cls.__dict__.get(name)
    if found is not None and hasattr(found, "__set__"):
        return found.__set__
    return lambda obj, value: _set(obj, name, value)


_S_LINE, _S_COLUMN, _S_END_LINE, _S_END_COLUMN, _S_START, _S_END = (
    _setter(_Span, f) for f in ("line", "column", "end_line", "end_column", "start", "end")
)


def _shift_span(s: ast.Span, dl: int, do: int) -> ast.Span:
    if s.line < 1:  # NO_SPAN and friends: no position to move
        return s
    new = _new(_Span)
    _S_LINE(new, s.line + dl)
    _S_COLUMN(new, s.column)
    _S_END_LINE(new, s.end_line + dl)
    _S_END_COLUMN(new, s.end_column)
    _S_START(new, s.start + do)
    _S_END(new, s.end + do)
    return new


def _shift_tuple(t: tuple[Any, ...], dl: int, do: int) -> tuple[Any, ...]:
    return tuple([x if type(x) in _SCALARS else _SHIFTERS[type(x)](x, dl, do) for x in t])


def _shift_diagnostic(d: Diagnostic, dl: int, do: int) -> Diagnostic:
    return Diagnostic(
        d.file, d.line + dl, d.column, d.end_line + dl, d.end_column, d.severity, d.code,
        d.message, d.help,
    )  # fmt: skip


def _keep(x: Any, dl: int, do: int) -> Any:
    return x


_SCALARS = frozenset({str, float, int, bool, type(None)})


class _Table(dict):  # type: ignore[type-arg]
    """Class → the function that shifts its instances (made on first use)."""

    def __missing__(self, cls: type) -> Any:
        return _shifter(cls)


_SHIFTERS = _Table({_Span: _shift_span, tuple: _shift_tuple, Diagnostic: _shift_diagnostic})


def _shifter(cls: type) -> Any:
    if not is_dataclass(cls):
        if issubclass(cls, tuple):
            _SHIFTERS[cls] = _shift_tuple
            return _shift_tuple
        _SHIFTERS[cls] = _keep
        return _keep
    lines = [f"def shift_{cls.__name__}(n, dl, do):", "    new = _new(C)"]
    scope: dict[str, Any] = {"_new": _new, "C": cls, "_SCALARS": _SCALARS}
    scope["_SHIFTERS"] = _SHIFTERS
    for i, f in enumerate(fields(cls)):
        scope[f"set_{i}"] = _setter(cls, f.name)
        lines.append(f"    v = n.{f.name}")
        lines.append("    if type(v) not in _SCALARS: v = _SHIFTERS[type(v)](v, dl, do)")
        lines.append(f"    set_{i}(new, v)")
    lines.append("    return new")
    exec("\n".join(lines), scope)  # generated from the dataclass's own fields
    found = _SHIFTERS[cls] = scope[f"shift_{cls.__name__}"]
    return found


def shift(node: Any, dl: int, do: int) -> Any:
    """A copy of an AST (node, tuple of nodes, diagnostic) moved `dl` lines and `do`
    characters later (columns unchanged)."""
    if type(node) in _SCALARS:
        return node
    return _SHIFTERS[type(node)](node, dl, do)


# -------------------------------------------------------------------- parsing


class _Failed(Exception):
    """A run does not parse on its own; `at_end`: only because its text ended."""

    def __init__(self, at_end: bool) -> None:
        self.at_end = at_end


class _Run:
    __slots__ = ("at", "items", "line", "problems")

    def __init__(
        self, items: tuple[ast.Item, ...], problems: tuple[Diagnostic, ...], line: int, at: int
    ) -> None:
        self.items = items
        self.problems = problems
        self.line = line  # where `items` sit now (1-based line of the run's first line)
        self.at = at  # and the offset


def _blank(text: str) -> str:
    return re.sub(r"[^\n]+", lambda m: " " * len(m.group()), text)


class BlockParser:
    """The parse of one file, kept between keystrokes."""

    def __init__(self, path: str) -> None:
        self.path = path
        #: run text → its parse (at `line`/`at`), or a _Failed
        self._runs: dict[str, _Run | _Failed] = {}
        self._used: dict[str, _Run | _Failed] = {}
        #: statistics for tests and the benchmark: runs parsed by Lark in the last parse
        self.parsed_runs = 0
        #: id(item.span) → (text of its run, its index there), for the items of the last
        #: parse that came from a run (the incremental checker's key of an item)
        self.origins: dict[int, tuple[str, int]] = {}

    def parse(self, text: str) -> ParseResult:
        self.parsed_runs = 0
        self.origins = {}
        if _nesting_problem(text, self.path) is not None:
            return parse_source(text, self.path)
        self._used = {}
        try:
            return self._parse(text)
        finally:
            # keep what this text used; the rest goes once the cache is large
            if len(self._runs) > _CACHE_LIMIT:
                self._runs = self._used
            else:
                self._runs.update(self._used)

    # ---------------------------------------------------------------- runs
    def _parse(self, text: str) -> ParseResult:
        n = len(text)
        bounds = [0]
        for m in TOP_LEVEL.finditer(text):
            if m.start() > 0:
                bounds.append(m.start())
        if bounds[-1] != n:
            bounds.append(n)
        index = {b: i for i, b in enumerate(bounds)}
        lines = [1] * len(bounds)
        for i in range(1, len(bounds)):
            lines[i] = lines[i - 1] + text.count("\n", bounds[i - 1], bounds[i])
        self._text, self._bounds, self._index, self._lines = text, bounds, index, lines
        return _parse_regions(text, self.path, self._region, tuple(_comments(text)))

    def _region(self, start: int, end: int) -> tuple[list[ast.Item], list[Diagnostic]]:
        """What `_parse_region(text, start, end)` returns (or raises); both are bounds."""
        if start == end:
            return self._real(start, end)  # nothing to parse: Lark decides ($END is fine)
        bounds, index = self._bounds, self._index
        i, last = index[start], index[end]
        items: list[ast.Item] = []
        problems: list[Diagnostic] = []
        while i < last:
            j = 1
            while True:
                k = min(i + j, last)
                try:
                    run = self._run(i, k)
                except _Failed as failed:
                    if not failed.at_end or k == last:
                        # the error, at its real position: what the region's parse raises
                        self._real(bounds[i], end)
                        raise AssertionError("a run failed alone but not in place") from None
                    j *= 2
                    continue
                items.extend(run.items)
                problems.extend(run.problems)
                i = k
                break
        return items, problems

    def _run(self, i: int, k: int) -> _Run:
        text, bounds = self._text, self._bounds
        start, end = bounds[i], bounds[k]
        key = text[start:end]
        found = self._runs.get(key) or self._used.get(key)
        if found is None:
            self.parsed_runs += 1
            try:
                parsed, problems = _parse_region(key, 0, len(key), self.path)
                found = _Run(tuple(parsed), tuple(problems), 1, 0)
            except UnexpectedInput as exc:
                found = _Failed(isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
        self._used[key] = found
        if isinstance(found, _Failed):
            raise found
        line = self._lines[i]
        if found.line != line or found.at != start:
            dl, do = line - found.line, start - found.at
            found = _Run(shift(found.items, dl, do), shift(found.problems, dl, do), line, start)
            self._used[key] = found
        origins = self.origins
        for n, item in enumerate(found.items):
            origins[id(item.span)] = (key, n)
        return found

    def _real(self, start: int, end: int) -> tuple[list[ast.Item], list[Diagnostic]]:
        text = self._text
        if start == 0 and end == len(text):
            return _parse_region(text, 0, end, self.path)
        # `_parse_region`'s own blanking, faster on a long prefix; same text
        region = _blank(text[:start]) + text[start:end]
        parsed, problems = _parse_region(region, 0, len(region), self.path)
        return parsed, problems
