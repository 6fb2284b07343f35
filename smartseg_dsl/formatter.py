"""Canonical layout for `.seg` files (`smartseg fmt`).

The formatter prints the AST back with a fixed layout (documented, rule by
rule, in docs/formatting.md) and puts every `#` comment back where it was
relative to the code around it. It never changes meaning: `format_source`
re-parses its own output and refuses to return text whose AST or comment list
differs from the input's (that would be a formatter bug, reported as a
`FormatError` instead of a silently rewritten file).

How comments are placed. Every construct that the formatter prints on lines of
its own is a *unit*: a top-level item (group, audience, rule), a group setting
or segment, a signal, an action inside a `{ }` block. Groups, segments and
block rules are *containers* with a header (up to `{`) and a body. A comment
in a container's body is either

- *trailing*: on the same line as the end of the unit before it (or as the
  `{`): it stays at the end of that unit's (or the header's) last line;
- *own-line*: it keeps its place in the sequence of units and comments of
  that body, with the blank lines around it (at most one).

A comment that sits *inside* a unit's own text (in a condition broken over
lines, between `implicit page "/x"` and `weight 3` on the next line, inside a
group header) cannot be put back after re-printing, so that unit (for a
container: its header) is printed as written instead. Comments are never lost.

`# smartseg: ignore[...]` silences its own line and the next one, so moving
tokens across those lines would change which diagnostics are silenced. Every
unit that touches a line covered by such a directive is therefore printed as
written too, together with any unit sharing one of its lines.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import ast
from .diagnostics import Diagnostic
from .parser import parse_source
from .printer import (
    action_text,
    bool_operand_text,
    duration_text,
    expr_text,
    matcher_text,
    number_text,
    quote,
)

__all__ = [
    "INDENT",
    "LINE_LENGTH",
    "FormatError",
    "format_action",
    "format_expr",
    "format_ruleset_file",
    "format_source",
]

INDENT = "    "
#: Conditions are broken over several lines when a line would be longer than this.
LINE_LENGTH = 100

#: A comment that tells tooling something (`# smartseg: ignore[SEG401]`). Searched
#: anywhere in the comment, as the checker does: pinning a line too many is harmless.
_DIRECTIVE = re.compile(r"smartseg\s*:")
_TRAILING_WS = " \t\f\r"


class FormatError(Exception):
    """The file cannot be formatted: it has syntax errors (see `diagnostics`).

    A broken file is never formatted: the parser's recovery may have dropped
    parts of it, and printing the rest would delete the user's text. The same
    error, with no diagnostics, reports a formatter bug caught by the safety net.
    """

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


def format_source(text: str, path: str = "<string>") -> str:
    """Format one file's text; raise `FormatError` when it has syntax errors."""
    result = parse_source(text, path)
    if not result.ok:
        errors = [d for d in result.diagnostics if d.severity == "error"]
        first = errors[0]
        raise FormatError(
            f"{path}:{first.line}:{first.column}: {first.code} {first.message}",
            result.diagnostics,
        )
    out = format_ruleset_file(result.file, text)
    again = parse_source(out, path)
    # The safety net: a formatter bug must never reach the user's file.
    if (
        not again.ok
        or again.file.items != result.file.items
        or [c.text for c in again.file.comments] != [c.text for c in result.file.comments]
    ):
        raise FormatError(
            f"{path}: internal formatter error: the canonical layout would change the "
            "file's meaning or lose a comment; the file was left as it is (please report it)"
        )
    return out


def format_ruleset_file(file: ast.RuleFile, text: str) -> str:
    """Print a parsed file (with `text`, the source it was parsed from) canonically."""
    lines = _Printer(text, file.comments).file(file.items)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


# ------------------------------------------------------------------ expressions


def format_expr(expr: ast.Expr) -> str:
    """A condition on one line, with parentheses only where precedence needs them."""
    return expr_text(expr)


def format_action(action: ast.Action) -> str:
    """One action on one line."""
    return action_text(action)


def _string(s: ast.String) -> str:
    return quote(s.value)


def _broken(head: str, expr: ast.Expr) -> list[str]:
    """`head` + a condition broken before each top-level `and`/`or`."""
    if not isinstance(expr, ast.BoolOp):
        return [head + format_expr(expr)]
    first, *rest = expr.operands
    lines = [head + bool_operand_text(expr.op, first)]
    lines.extend(f"{INDENT}{expr.op} {bool_operand_text(expr.op, x)}" for x in rest)
    return lines


# ------------------------------------------------------------------- layout

_Unit = (
    ast.Item | ast.Prior | ast.Decay | ast.Segment | ast.Signal | ast.Action | ast.ExperimentItem
)
#: units printed as `header { body }`
_Container = ast.Group | ast.Segment | ast.Rule | ast.Experiment | ast.Variant


def _is_container(unit: object) -> bool:
    if isinstance(unit, ast.Group | ast.Segment | ast.Experiment):
        return True
    return isinstance(unit, ast.Rule | ast.Variant) and unit.block


@dataclass
class _Entry:
    """One own-line comment or one unit of a body, in source order."""

    blank_before: bool
    comment: ast.Comment | None = None
    unit: _Unit | None = None
    trailing: ast.Comment | None = None
    #: several units printed as written (they share lines with a pinned unit)
    verbatim: tuple[int, int] | None = None


class _Printer:
    def __init__(self, text: str, comments: Sequence[ast.Comment]) -> None:
        self.text = text
        self.comments = sorted(comments, key=lambda c: c.span.start)
        self.comment_starts = [c.span.start for c in self.comments]
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        #: the column widths of the segment being printed (see `_alignment`)
        self.align: tuple[int, int] = (0, 0)
        #: lines whose tokens a `# smartseg:` directive covers: its own and the next
        self.covered: set[int] = set()
        for c in self.comments:
            if _DIRECTIVE.search(c.text):
                self.covered.update((c.span.line, c.span.line + 1))

    # -- source positions
    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def comments_in(self, start: int, end: int) -> list[ast.Comment]:
        lo = bisect.bisect_left(self.comment_starts, start)
        hi = bisect.bisect_left(self.comment_starts, end)
        return self.comments[lo:hi]

    def blank_between(self, start: int, end: int) -> bool:
        return self.text.count("\n", start, end) >= 2

    def touches_covered(self, first_line: int, last_line: int) -> bool:
        return any(line in self.covered for line in range(first_line, last_line + 1))

    def open_brace(self, after: int) -> int:
        """Offset of the `{` opening a body: the first `{` in code after `after`."""
        i = after
        while i < len(self.text):
            ch = self.text[i]
            if ch == "{":
                return i
            if ch == "#":
                nl = self.text.find("\n", i)
                i = len(self.text) if nl < 0 else nl
                continue
            i += 1
        raise ValueError("no `{` after the header")  # the parser guarantees one

    def verbatim(self, start: int, end: int, depth: int) -> list[str]:
        """Source text as written: the first line re-indented, the others untouched."""
        lines = [line.rstrip(_TRAILING_WS) for line in self.text[start:end].split("\n")]
        lines[0] = INDENT * depth + lines[0]
        return lines

    # -- containers
    def file(self, items: Sequence[ast.Item]) -> list[str]:
        entries, _ = self.entries(items, 0, len(self.text), None)
        return self.emit(entries, 0, top_level=True)

    def entries(
        self,
        units: Sequence[_Unit],
        start: int,
        end: int,
        brace_line: int | None,
    ) -> tuple[list[_Entry], ast.Comment | None]:
        """Units and own-line comments of a body, with trailing comments attached.

        Returns the entries and the comment on the `{` line after the `{`, if any.
        """
        events: list[tuple[int, ast.Comment | _Unit]] = [(u.span.start, u) for u in units]
        unit_spans = [(u.span.start, u.span.end) for u in units]
        for c in self.comments_in(start, end):
            if not any(s <= c.span.start < e for s, e in unit_spans):
                events.append((c.span.start, c))
        events.sort(key=lambda ev: ev[0])

        entries: list[_Entry] = []
        header_comment: ast.Comment | None = None
        prev_end = start
        prev_line = brace_line  # None at the start of the file: nothing to trail
        prev_is_unit = False
        for offset, ev in events:
            if isinstance(ev, ast.Comment):
                if prev_line is not None and ev.span.line == prev_line:
                    if prev_is_unit:
                        entries[-1].trailing = ev
                    else:
                        header_comment = ev
                else:
                    entries.append(_Entry(self.blank_between(prev_end, offset), comment=ev))
                prev_is_unit = False
            else:
                entries.append(_Entry(self.blank_between(prev_end, offset), unit=ev))
                prev_is_unit = True
            prev_end = ev.span.end
            prev_line = ev.span.end_line
        return self.pin(entries), header_comment

    def pin(self, entries: list[_Entry]) -> list[_Entry]:
        """Merge units sharing a line with a directive-covered unit into one verbatim run."""
        out: list[_Entry] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            if entry.unit is None:
                out.append(entry)
                i += 1
                continue
            j = i  # the run of units chained by shared lines: entries[i..j]
            while (
                j + 1 < len(entries)
                and entries[j].trailing is None
                and entries[j + 1].unit is not None
                and entries[j + 1].unit.span.line == entries[j].unit.span.end_line  # type: ignore[union-attr]
            ):
                j += 1
            run = entries[i : j + 1]
            if len(run) > 1 and any(self.pinned(e.unit) for e in run):  # type: ignore[arg-type]
                first, last = run[0].unit, run[-1].unit
                merged = _Entry(
                    entry.blank_before,
                    unit=first,
                    trailing=run[-1].trailing,
                    verbatim=(first.span.start, last.span.end),  # type: ignore[union-attr]
                )
                out.append(merged)
            else:
                out.extend(run)
            i = j + 1
        return out

    def pinned(self, unit: _Unit) -> bool:
        """Does a `# smartseg:` directive cover a line that printing would rearrange?

        For a leaf: any of its lines. For a container: its header lines, or its
        closing line when the `}` shares it with the last unit of the body
        (printing would move that unit off the covered line) or when the body is
        empty (printing would join the `}` to the header).
        """
        if not self.covered:
            return False
        if _is_container(unit):
            last = self.line_of(self.open_brace(self.header_end(unit)))
            children = _children(unit)  # type: ignore[arg-type]
            if unit.span.end_line in self.covered and (
                not children  # `{ }` over several lines would become `{}` on the header line
                or children[-1].span.end_line == unit.span.end_line
            ):
                return True
        else:
            last = unit.span.end_line
        return self.touches_covered(unit.span.line, last)

    def header_end(self, unit: _Container) -> int:
        """Offset just after the last token before the `{`, except for closing parentheses."""
        if isinstance(unit, ast.Rule):
            assert unit.condition is not None
            return unit.condition.span.end
        if isinstance(unit, ast.Variant):
            return unit.weight.span.end
        last = unit.label if unit.label is not None else unit.name
        return last.span.end

    def emit(self, entries: list[_Entry], depth: int, top_level: bool = False) -> list[str]:
        lines: list[str] = []
        chunk_start = 0  # where the own-line comments leading the next unit begin
        prev_multiline = False
        prev_directive_tail = False
        for entry in entries:
            if entry.blank_before and lines:
                lines.append("")
            if entry.comment is not None:
                lines.append(INDENT * depth + entry.comment.text)
                continue
            body = self.unit_lines(entry, depth)
            if entry.trailing is not None:
                body[-1] += "  " + entry.trailing.text
            if (
                top_level
                and chunk_start > 0
                and (prev_multiline or len(body) > 1)
                and "" not in lines[chunk_start:]
                # a trailing directive covers the next line: it must stay the next line
                and not prev_directive_tail
            ):
                lines.insert(chunk_start, "")  # a multi-line item stands apart
            lines.extend(body)
            chunk_start = len(lines)
            prev_multiline = len(body) > 1
            prev_directive_tail = entry.trailing is not None and bool(
                _DIRECTIVE.search(entry.trailing.text)
            )
        return lines

    # -- units
    def unit_lines(self, entry: _Entry, depth: int) -> list[str]:
        unit = entry.unit
        assert unit is not None
        if entry.verbatim is not None:
            return self.verbatim(*entry.verbatim, depth)
        if _is_container(unit):
            return self.container(unit, depth)  # type: ignore[arg-type]
        if self.pinned(unit) or self.comments_in(unit.span.start, unit.span.end):
            return self.verbatim(unit.span.start, unit.span.end, depth)
        return self.leaf(unit, depth)

    def container(self, unit: _Container, depth: int) -> list[str]:
        if self.pinned(unit):
            return self.verbatim(unit.span.start, unit.span.end, depth)
        brace = self.open_brace(self.header_end(unit))
        if self.comments_in(unit.span.start, brace):
            header = self.verbatim(unit.span.start, brace + 1, depth)
        else:
            header = [INDENT * depth + line for line in self.header(unit)]
        close = unit.span.end - 1
        entries, header_comment = self.entries(
            _children(unit), brace + 1, close, self.line_of(brace)
        )
        if header_comment is not None:
            header[-1] += "  " + header_comment.text
        if not entries:
            if header_comment is None:
                header[-1] += "}"
            else:
                header.append(INDENT * depth + "}")
            return header
        if isinstance(unit, ast.Segment):
            self.align = _alignment(
                [e.unit for e in entries if isinstance(e.unit, ast.Signal) and self.canonical(e)]
            )
        body = self.emit(entries, depth + 1)
        return [*header, *body, INDENT * depth + "}"]

    def canonical(self, entry: _Entry) -> bool:
        unit = entry.unit
        assert unit is not None
        return (
            entry.verbatim is None
            and not self.pinned(unit)
            and not self.comments_in(unit.span.start, unit.span.end)
        )

    def header(self, unit: _Container) -> list[str]:
        if isinstance(unit, ast.Variant):
            return [f"variant {unit.name.value} {number_text(unit.weight)} {{"]
        if isinstance(unit, ast.Rule):
            assert unit.condition is not None
            one = f"when {format_expr(unit.condition)} {{"
            if len(one) <= LINE_LENGTH:
                return [one]
            lines = _broken("when ", unit.condition)
            lines[-1] += " {"
            return lines
        word = (
            "group"
            if isinstance(unit, ast.Group)
            else "experiment"
            if isinstance(unit, ast.Experiment)
            else "segment"
        )
        label = f" {_string(unit.label)}" if unit.label is not None else ""
        return [f"{word} {unit.name.value}{label} {{"]

    def leaf(self, unit: _Unit, depth: int) -> list[str]:
        pad = INDENT * depth
        if isinstance(unit, ast.Signal):
            return [pad + _signal(unit, self.align)]
        if isinstance(unit, ast.Prior):
            return [f"{pad}prior {number_text(unit.value)}"]
        if isinstance(unit, ast.Decay):
            return [f"{pad}decay {duration_text(unit.half_life)}"]
        if isinstance(unit, ast.Audience):
            head = f"{'sync ' if unit.synced else ''}audience {unit.name.value} = "
            one = head + format_expr(unit.condition)
            if len(pad + one) <= LINE_LENGTH:
                return [pad + one]
            return [pad + line for line in _broken(head, unit.condition)]
        if isinstance(unit, ast.Goal):
            label = f" {_string(unit.label)}" if unit.label is not None else ""
            head = f"goal {unit.name.value}{label} = "
            cond = unit.condition
            tail = f" value {format_expr(unit.value)}" if unit.value is not None else ""
            if isinstance(cond, ast.Matcher):
                return [pad + head + matcher_text(cond) + tail]
            one = head + format_expr(cond) + tail
            if len(pad + one) <= LINE_LENGTH:
                return [pad + one]
            lines = _broken(head, cond)
            lines[-1] += tail
            return [pad + line for line in lines]
        if isinstance(unit, ast.Holdout):
            return [f"{pad}holdout {number_text(unit.share)}"]
        if isinstance(unit, ast.Eligibility):
            one = f"when {format_expr(unit.condition)}"
            if len(pad + one) <= LINE_LENGTH:
                return [pad + one]
            return [pad + line for line in _broken("when ", unit.condition)]
        if isinstance(unit, ast.Traffic):
            return [f"{pad}traffic {number_text(unit.share)}"]
        if isinstance(unit, ast.Variant):  # a control: no block
            return [f"{pad}variant {unit.name.value} {number_text(unit.weight)}"]
        if isinstance(unit, ast.ExperimentGoal):
            return [f"{pad}goal {unit.name.value}"]
        if isinstance(unit, ast.Schedule):
            return [f"{pad}{unit.kind} {unit.date.text}"]
        if isinstance(unit, ast.Rule):
            action = format_action(unit.actions[0])
            if unit.condition is None:
                return [pad + action]
            head = f"when {format_expr(unit.condition)}"
            if len(f"{pad}{head} {action}") <= LINE_LENGTH:
                return [f"{pad}{head} {action}"]
            if len(pad + head) <= LINE_LENGTH:
                return [pad + head, pad + INDENT + action]
            lines = _broken("when ", unit.condition)
            return [pad + line for line in [*lines, INDENT + action]]
        return [pad + format_action(unit)]  # type: ignore[arg-type]


def _children(unit: _Container) -> Sequence[_Unit]:
    if isinstance(unit, ast.Group | ast.Experiment):
        return unit.body
    if isinstance(unit, ast.Segment):
        return unit.signals
    return unit.actions


def _signal_prefix(signal: ast.Signal) -> str:
    return f"{'explicit' if signal.explicit else 'implicit'} {matcher_text(signal.matcher)}"


def _weight_part(signal: ast.Signal) -> str:
    return f"weight {number_text(signal.weight)}" if signal.weight is not None else ""


def _alignment(signals: Sequence[ast.Signal]) -> tuple[int, int]:
    """Widths of the matcher column and of the `weight` column within one segment."""
    weighted = [s for s in signals if s.weight is not None or s.cap is not None]
    matcher_width = max((len(_signal_prefix(s)) for s in weighted), default=0)
    weight_width = max((len(_weight_part(s)) for s in weighted if s.cap is not None), default=0)
    return matcher_width, weight_width


def _signal(signal: ast.Signal, align: tuple[int, int]) -> str:
    prefix = _signal_prefix(signal)
    if signal.weight is None and signal.cap is None:
        return prefix
    matcher_width, weight_width = align
    line = prefix.ljust(matcher_width) + " " + _weight_part(signal)
    if signal.cap is not None:
        if weight_width:
            line = line.ljust(max(matcher_width, len(prefix)) + 1 + weight_width) + " "
        line += f"max {number_text(signal.cap)}"
    return line
