"""Explaining syntax errors: a Lark error → one SEG1xx `Diagnostic` in words.

The parser (`parser.py`) calls `explain` for each error it meets and uses the
position helpers here (`error_pos`, `item_start_before`, `line_col`,
`TOP_LEVEL`) for its recovery at the next top-level item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import ast
from .diagnostics import Diagnostic

__all__ = ["TOP_LEVEL", "error_pos", "explain", "item_start_before", "line_col"]


# ------------------------------------------------------------------ positions

TOP_LEVEL = re.compile(
    r"^(?:[ \t]*(?:group|audience|sync|when|goal|holdout|experiment)\b"
    r"|(?:show|hide|replace|order)\b)",
    re.M,
)


def item_start_before(text: str, pos: int, floor: int) -> int:
    """Start of the top-level item containing `pos` (or `floor`)."""
    best = floor
    for m in TOP_LEVEL.finditer(text, floor, pos + 1):
        if m.start() <= pos:
            best = m.start()
    return best


def error_pos(exc: UnexpectedInput, text: str) -> int:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        return len(text)
    pos = getattr(exc, "pos_in_stream", None)
    if pos is None:
        token = getattr(exc, "token", None)
        pos = getattr(token, "start_pos", None)
    return len(text) if pos is None else int(pos)


def line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


# ---------------------------------------------------------- explaining errors
#
# Lark reports an error as a position and a set of terminal names it would have
# accepted there. `explain` turns that into a sentence a marketer can act on:
# what was found, what was expected (in words, from the context), and a `help:`
# line for the common mistakes. The expected set of an LALR parser is
# over-generous (states are shared), so it is first filtered with what the text
# itself shows: no `)` is expected without an open `(`, no `}` without an open
# `{`, no end of file inside braces.

_WORDS: dict[str, str] = {
    "NAME": "a name",
    "STRING": 'a text in double quotes such as "lawyer"',
    "NUMBER": "a number such as 3",
    "DURATION": "a duration such as 24h",
    "PERCENT": "a percentage such as 30%",
    "COMPARE": "a comparison (<, <=, >, >=, ==, !=)",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "COMMA": "`,`",
    "DOT": "`.`",
    "EQUAL": "`=`",
    "MINUS": "`-`",
    "$END": "the end of the file",
}

#: What a NAME is, judging by the word before it.
_NAME_AFTER = {
    "group": "a group name",
    "segment": "a segment name",
    "audience": "an audience name",
    "slot": "a slot name",
    "by": "a group name",
    "about": "a segment or group such as Industry.Legal",
    "query": "a query parameter name",
    ".": "a segment name",
}
#: What a STRING is, judging by the word before it.
_STRING_AFTER = {
    "page": 'a path in double quotes such as "/blog/**"',
    "landing": 'a path in double quotes such as "/legal/**"',
    "referrer": 'a host name in double quotes such as "abajournal.com"',
    "tag": 'a tag in double quotes such as "lawyer"',
    "category": 'a category in double quotes such as "law"',
    "event": 'an event name in double quotes such as "signup"',
    "survey": 'the question in double quotes such as "Are you a lawyer?"',
    "template": 'a template path in double quotes such as "partials/hero.html"',
    "with": 'a text in double quotes, or `template "path"`',
}

_EXPR_START = {"NAME", "NUMBER", "STRING", "LPAR", "NOT", "PERCENT", "DURATION", "TRUE", "FALSE"}
_ACTION_START = {"SHOW", "HIDE", "REPLACE", "ORDER"}
_TOP_START = {"GROUP", "AUDIENCE", "WHEN", "GOAL", "HOLDOUT"} | _ACTION_START
_CONTINUE = {"AND", "OR", "COMPARE", "IS"}
_COMPARISONS = {"<", "<=", ">", ">=", "==", "!="}
_MATCHER_WORDS = ("tag", "query", "category", "referrer", "landing", "page", "event")
_UNIT_WORDS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "week": "w", "weeks": "w",
}  # fmt: skip

_PREV_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|\d+(?:\.\d+)?[smhdw%]?|[A-Za-z_]\w*|<=|>=|==|!=|\S'
)


def _word(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    if terminal.isalpha() and terminal.isupper():
        return f"`{terminal.lower()}`"
    return f"`{terminal}`"


def _one_of(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _previous_tokens(text: str, pos: int) -> list[re.Match[str]]:
    """The (up to) two tokens before `pos`, nearest last."""
    found: list[re.Match[str]] = []
    for m in _PREV_TOKEN.finditer(text, max(0, text.rfind("\n", 0, max(0, pos - 400)) + 1), pos):
        if not m.group().startswith("#"):
            found = [*found[-1:], m]
    return found


def _token_at(text: str, pos: int) -> str:
    if pos >= len(text):
        return ""
    m = _PREV_TOKEN.match(text, pos)
    return m.group() if m else text[pos]


_BRACKET_SCAN = re.compile(r'"(?:[^"\\\n]|\\[\s\S])*"?|#[^\n]*|[(){}]')


def _open_brackets(text: str, start: int, pos: int) -> tuple[list[int], list[int]]:
    """Offsets of the `{` and `(` still open at `pos`, scanning from `start`."""
    braces: list[int] = []
    parens: list[int] = []
    for m in _BRACKET_SCAN.finditer(text, start, pos):
        ch = m.group()
        if ch == "{":
            braces.append(m.start())
        elif ch == "}":
            if braces:
                braces.pop()
            parens.clear()
        elif ch == "(":
            parens.append(m.start())
        elif ch == ")" and parens:
            parens.pop()
    return braces, parens


@dataclass(slots=True)
class _Error:
    """Everything `explain` needs to know about one error."""

    text: str
    path: str
    pos: int
    line: int
    col: int
    found: str  # the token at the error, as written ("" at the end of the file)
    ttype: str  # its terminal name ("$END" at the end of the file)
    prev: str | None
    before: list[re.Match[str]]
    expected: set[str]
    braces: list[int]
    parens: list[int]

    @property
    def shown(self) -> str:
        return f"`{self.found}`" if self.found else "the end of the file"

    def diag(
        self,
        message: str,
        help: str | None = None,
        code: str = "SEG101",
        *,
        at: int | None = None,
        length: int | None = None,
    ) -> Diagnostic:
        pos = self.pos if at is None else at
        line, col = (self.line, self.col) if at is None else line_col(self.text, at)
        n = len(self.found) if length is None and at is None else (length or 1)
        if pos >= len(self.text):
            n = 0
        return Diagnostic(self.path, line, col, line, col + n, "error", code, message, help)


def _expected_words(err: _Error) -> str:
    """Summarise the expected-terminal set in words, from the context."""
    names = set(err.expected)
    prev = err.prev
    parts: list[str] = []
    if prev == "within" and "DURATION" in names:
        return "a duration such as 24h"
    if prev == "with":
        names.discard("TEMPLATE")  # the STRING words mention it
    if len(names & _EXPR_START) >= 4:
        if prev in _COMPARISONS:
            parts.append("a value such as 3, 30% or 24h")
        elif prev == "is" or (prev == "not" and "NONE" in names and "IS" in _before_words(err)):
            parts.append("a segment such as Industry.Legal, or none")
        else:
            parts.append("a condition such as confidence(Industry.Legal) > 30%")
        names -= _EXPR_START | {"MINUS", "NONE"}
    if names >= _ACTION_START:
        parts.append("an action (show, hide, replace, order)")
        names -= _ACTION_START
    if {"GROUP", "AUDIENCE", "WHEN"} <= names:
        parts.append("a new `when`, `group` or `audience`")
        names -= {"GROUP", "AUDIENCE", "WHEN", "GOAL", "HOLDOUT"}
    if names >= {"VALUE"} and names & _CONTINUE:
        parts.append("`value`")
        names -= {"VALUE"}
    if names & _CONTINUE and parts:
        parts.append("more of the condition (`and`, `or`, a comparison)")
        names -= _CONTINUE | {"NOT"}
    if {"NUMBER", "MINUS"} & names and prev in ("weight", "max", "prior"):
        parts.append("a number such as 3")
        names -= {"NUMBER", "MINUS", "PERCENT"}
    for t in sorted(names):
        if t == "NAME":
            parts.append(_NAME_AFTER.get(prev or "", "a name"))
        elif t == "STRING":
            parts.append(_STRING_AFTER.get(prev or "", _WORDS["STRING"]))
        else:
            parts.append(_word(t))
    return _one_of(parts) if parts else "something else"


def _before_words(err: _Error) -> list[str]:
    return [m.group() for m in err.before]


def _context(exc: UnexpectedInput, text: str, path: str) -> _Error:
    pos = min(error_pos(exc, text), len(text))
    line, col = line_col(text, pos)
    before = _previous_tokens(text, pos)
    if isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
        ttype = "CHAR"
    else:
        expected = set(getattr(exc, "expected", ()) or ())
        token = getattr(exc, "token", None)
        ttype = str(getattr(token, "type", "$END"))
    found = "" if ttype == "$END" else _token_at(text, pos)
    if ttype == "$END" and before:
        # point just after the last token, not at the blank lines after it
        pos = before[-1].end()
        line, col = line_col(text, pos)
    item_start = item_start_before(text, pos, 0)
    braces, _ = _open_brackets(text, 0, pos)
    _, parens = _open_brackets(text, item_start, pos)
    if not braces:
        expected.discard("RBRACE")
    else:
        expected.discard("$END")
    if not parens:
        expected -= {"RPAR", "COMMA"}
    return _Error(
        text,
        path,
        pos,
        line,
        col,
        found,
        ttype,
        before[-1].group() if before else None,
        before,
        expected,
        braces,
        parens,
    )


def explain(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """Turn a Lark error into a diagnostic that says what to do."""
    err = _context(exc, text, path)
    if isinstance(exc, UnexpectedCharacters):
        return _explain_character(err)
    for rule in _TOKEN_RULES:
        found = rule(err)
        if found is not None:
            return found
    return _generic(err)


def _generic(err: _Error) -> Diagnostic:
    after = f" after `{err.prev}`" if err.prev else ""
    if err.ttype == "$END":
        return err.diag(f"the file ends too early: expected {_expected_words(err)}{after}")
    return err.diag(f"expected {_expected_words(err)}{after}, found {err.shown}")


# ------------------------------------------------------- unexpected characters


def _explain_character(err: _Error) -> Diagnostic:
    text, pos = err.text, err.pos
    ch = text[pos] if pos < len(text) else ""
    rest = text[pos : pos + 2]
    if ch == '"':
        end = len(text[pos:].split("\n", 1)[0])
        return err.diag(
            "this text has no closing double quote",
            'close it on the same line: "like this"',
            "SEG102",
            at=pos,
            length=end,
        )
    if ch.isdigit():
        m = re.match(r"\d+(?:\.\d+)?\w*", text[pos:])
        bad = m.group() if m else ch
        return err.diag(
            f"`{bad}` is not a number, duration or percentage",
            "durations are written 30s, 15m, 24h, 7d or 2w; percentages 30%",
            "SEG104",
            at=pos,
            length=len(bad),
        )
    if ch == "%" and err.prev and err.prev[0].isdigit():
        number = err.prev
        return err.diag(
            "a percentage is written without a space before `%`",
            f"write {number}% instead of {number} %",
            "SEG104",
            at=pos,
            length=1,
        )
    if rest == "&&" or ch == "&":
        return err.diag(
            "`&&` is not an operator here",
            "write `and` to combine conditions",
            at=pos,
            length=len(rest) if rest == "&&" else 1,
        )
    if rest == "||" or ch == "|":
        return err.diag(
            "`||` is not an operator here", "write `or`", at=pos, length=2 if rest == "||" else 1
        )
    if ch == "!":
        return err.diag("`!` is not an operator here", "write `not` (or `!=` to compare)", at=pos)
    if ch == "'":
        m = re.match(r"'([^'\n]*)'?", text[pos:])
        inner = m.group(1) if m else ""
        return err.diag(
            "texts are written in double quotes, not single quotes",
            f'write "{inner}"',
            "SEG103",
            at=pos,
            length=len(m.group()) if m else 1,
        )
    if ch == ";":
        return err.diag(
            "unexpected `;`: rules need no separator",
            "remove the `;` (each rule simply starts with `when` or an action)",
            "SEG103",
            at=pos,
        )
    if ch in "/*" and "STRING" in err.expected:
        m = re.match(r"[^\s)\"]+", text[pos:])
        word = m.group() if m else ch
        return err.diag(
            f"expected {_STRING_AFTER.get(err.prev or '', _WORDS['STRING'])}, found `{word}`",
            f'put it in double quotes: "{word}"',
            "SEG103",
            at=pos,
            length=len(word),
        )
    message = f"unexpected character `{ch}`"
    if err.expected:
        message += f": expected {_expected_words(err)}"
        if err.prev:
            message += f" after `{err.prev}`"
    return err.diag(message, None, "SEG103", at=pos)


# -------------------------------------------------------- unexpected tokens


def _rule_eof(err: _Error) -> Diagnostic | None:
    if err.ttype != "$END":
        return None
    if err.braces:
        bl, bc = line_col(err.text, err.braces[-1])
        return Diagnostic(
            err.path,
            bl,
            bc,
            bl,
            bc + 1,
            "error",
            "SEG105",
            "this `{` is never closed",
            "add a `}` at the end of the block",
        )
    if err.expected >= _ACTION_START and err.expected & _CONTINUE:
        return err.diag(
            f"the file ends before the rule's action: expected an action after `{err.prev}`",
            "give the rule an action, e.g. `show slot banner`",
        )
    return None


def _rule_value_keyword(err: _Error) -> Diagnostic | None:
    """`when visits > show slot x`: the action keyword was read where a value belongs."""
    before = err.before
    if (
        len(before) == 2
        and before[1].group() in ("show", "hide", "replace", "order")
        and before[0].group() in _COMPARISONS | {"and", "or", "not", "is", "when", "=", "("}
    ):
        kw = before[1]
        what = "a value" if before[0].group() in _COMPARISONS else "a condition"
        return err.diag(
            f"expected {what} after `{before[0].group()}`, found `{kw.group()}`",
            "complete the condition before the action",
            at=kw.start(),
            length=len(kw.group()),
        )
    return None


def _rule_operators(err: _Error) -> Diagnostic | None:
    text, pos = err.text, err.pos
    if err.ttype == "EQUAL":
        nxt = text[pos + 1 : pos + 2]
        if err.prev == "=" and text[pos - 1 : pos + 1] == "==":
            return err.diag(
                "an audience is named with a single `=`",
                "write `audience Name = condition`",
                at=pos - 1,
                length=2,
            )
        if "COMPARE" in err.expected or err.expected & _CONTINUE:
            if nxt in "<>" and nxt:
                return err.diag(
                    f"`={nxt}` is not a comparison",
                    f"write `{nxt}=`",
                    at=pos,
                    length=2,
                )
            return err.diag(
                "`=` is not a comparison",
                "write `==` to compare (a single `=` only names an audience)",
            )
    if err.ttype in ("COMPARE", "EQUAL") and err.prev in _COMPARISONS:
        start = err.before[-1].start()
        both = text[start : pos + len(err.found)]
        compact = "".join(both.split())
        if compact in _COMPARISONS:
            fix, why = compact, " (no space inside it)"
        else:
            fix = {"<>": "!=", "=>": ">=", "=<": "<=", "!==": "!=", "===": "=="}.get(
                compact, compact[:1]
            )
            why = ""
        return err.diag(
            f"`{both}` is not a comparison{why}",
            f"write `{fix}`",
            at=start,
            length=len(both),
        )
    if err.ttype == "DOT" and text[pos + 1 : pos + 2].isdigit():
        m = re.match(r"\.\d+", text[pos:])
        number = m.group() if m else "."
        return err.diag(
            f"`{number}` needs a digit before the point",
            f"write `0{number}`",
            "SEG104",
            at=pos,
            length=len(number),
        )
    if err.ttype == "COMMA":
        if err.prev and err.prev[0].isdigit() and text[pos + 1 : pos + 2].isdigit():
            m = re.match(r",\d+", text[pos:])
            digits = m.group()[1:] if m else ""
            return err.diag(
                f"`{err.prev},{digits}` is not a number: decimals use a point",
                f"write `{err.prev}.{digits}`",
                "SEG104",
                at=err.before[-1].start(),
                length=len(err.prev) + 1 + len(digits),
            )
        if not err.parens:
            return err.diag(
                "conditions are combined with `and` or `or`, not `,`",
                "write `and` (both must hold) or `or` (either may hold)",
            )
    return None


def _rule_brackets(err: _Error) -> Diagnostic | None:
    if err.ttype == "RPAR" and not err.parens:
        return err.diag("there is no `(` to close here", "remove this `)`, or add the missing `(`")
    if err.ttype == "RBRACE" and not err.braces:
        return err.diag("there is no `{` to close here", "remove this `}`, or add the missing `{`")
    if (
        err.parens
        and "RPAR" in err.expected
        and err.ttype not in ("RPAR", "COMMA")
        and not (err.expected & _EXPR_START)
    ):
        pl, pc = line_col(err.text, err.parens[-1])
        return err.diag(
            f"expected `)` to close the `(` at line {pl}, column {pc}, found {err.shown}",
            "add the missing `)`",
        )
    if err.braces and err.ttype in ("GROUP", "AUDIENCE", "WHEN") and "RBRACE" in err.expected:
        bl, _ = line_col(err.text, err.braces[-1])
        return err.diag(
            f"found {err.shown} before the `{{` opened on line {bl} was closed",
            "add the missing `}`",
            "SEG105",
        )
    return None


def _rule_missing_action(err: _Error) -> Diagnostic | None:
    """`when visits > 3` followed by a new item, or a stray word instead of an action."""
    if not (err.expected >= _ACTION_START and err.expected & _CONTINUE):
        return None
    if (
        err.ttype in ("WHEN", "GROUP", "AUDIENCE")
        and "\n" in err.text[err.before[-1].end() if err.before else 0 : err.pos]
    ):
        return err.diag(
            f"the rule above has no action: expected an action after `{err.prev}`, "
            f"found {err.shown}",
            "give the rule an action, e.g. `show slot banner`",
        )
    if err.found in ("then", "do", "then:", "->"):
        return err.diag(
            f"unexpected `{err.found}`: the action follows the condition directly",
            f"remove `{err.found}`: `when … show slot banner`",
        )
    if err.ttype == "NAME":
        lower = err.found.lower()
        if lower in ("and", "or", "is", "not"):
            return err.diag(
                f"`{err.found}` is not a keyword: keywords are lower case",
                f"write `{lower}`",
            )
        if lower in ("show", "hide", "replace", "order"):
            return err.diag(
                f"`{err.found}` is not a keyword: keywords are lower case",
                f"write `{lower}`",
            )
    return None


def _rule_units(err: _Error) -> Diagnostic | None:
    """`30 min`, `within 7`, `decay 30`: a duration without its unit."""
    text = err.text
    if err.ttype == "NAME" and err.prev and re.fullmatch(r"\d+(\.\d+)?", err.prev):
        unit = _UNIT_WORDS.get(err.found.lower())
        if unit is not None:
            start = err.before[-1].start()
            return err.diag(
                f"`{err.prev} {err.found}` is not a duration",
                f"write `{err.prev}{unit}` (no space; units are s, m, h, d, w)",
                "SEG104",
                at=start,
                length=err.pos + len(err.found) - start,
            )
    if err.expected == {"DURATION"} or (err.prev == "within" and "DURATION" in err.expected):
        what = f"expected a duration such as 24h after `{err.prev}`, found {err.shown}"
        help = None
        if err.ttype == "NUMBER":
            after = re.match(r"\s+([A-Za-z]+)", text[err.pos + len(err.found) :])
            unit = _UNIT_WORDS.get(after.group(1).lower()) if after else None
            help = (
                f"write `{err.found}{unit}` (no space)"
                if unit
                else f"add a unit: `{err.found}d` (s, m, h, d or w)"
            )
        return err.diag(what, help, "SEG104" if err.ttype == "NUMBER" else "SEG101")
    return None


def _rule_missing_quotes(err: _Error) -> Diagnostic | None:
    if "STRING" not in err.expected or len(err.expected - {"TEMPLATE"}) != 1:
        return None
    if not (err.found.isidentifier() or err.ttype == "NUMBER"):
        return None
    words = err.found
    if err.prev == "survey":
        line_rest = err.text[err.pos :].split("\n", 1)[0].split("#", 1)[0]
        words = re.split(r"\s+(?:about|in)\s", line_rest, maxsplit=1)[0].strip()
    return err.diag(
        f"expected {_STRING_AFTER.get(err.prev or '', _WORDS['STRING'])} after `{err.prev}`, "
        f"found {err.shown}",
        f'put it in double quotes: "{words}"',
        length=len(words),
    )


def _rule_structure(err: _Error) -> Diagnostic | None:
    """Missing `slot`/`with`/`by`/`segment`/`explicit`, misplaced items, misspelt keywords."""
    prev, found, expected = err.prev, err.found, err.expected
    if prev in ("show", "hide") and "SLOT" in expected and err.ttype == "NAME":
        return err.diag(
            f"expected `slot` after `{prev}`, found {err.shown}",
            f"write `{prev} slot {found}`",
        )
    if prev in ("replace", "order") and "SLOT" in expected:
        rest = f"{found} with …" if prev == "replace" else f"{found} by Group"
        return err.diag(
            f"expected `slot` after `{prev}`, found {err.shown}",
            f"write `{prev} slot {rest if err.ttype == 'NAME' else 'NAME …'}`",
        )
    if expected == {"WITH"}:
        return err.diag(
            f"expected `with` after the slot name `{prev}`, found {err.shown}",
            f"write `replace slot {prev} with {found if err.ttype == 'STRING' else '…'}`",
        )
    if expected == {"BY"}:
        return err.diag(
            f"expected `by` after the slot name `{prev}`, found {err.shown}",
            f"write `order slot {prev} by {found if err.ttype == 'NAME' else 'Group'}`",
        )
    if expected == {"EQUAL"} and len(err.before) == 2 and err.before[0].group() == "audience":
        return err.diag(
            f"expected `=` after the audience name `{prev}`, found {err.shown}",
            f"write `audience {prev} = {found} …`",
        )
    in_group = "SEGMENT" in expected and "PRIOR" in expected
    if in_group and err.ttype == "NAME":
        return err.diag(
            f"expected `segment`, `prior` or `decay` inside the group, found {err.shown}",
            f"write `segment {found} {{ … }}`",
        )
    if {"EXPLICIT", "IMPLICIT"} <= expected and err.ttype != "EXPLICIT":
        kind = found if found in _MATCHER_WORDS else "category"
        return err.diag(
            f"a signal starts with `explicit` or `implicit`, found {err.shown}",
            f'write `implicit {kind} "…" weight 3` (evidence) or `explicit {kind} "…"` (certainty)',
        )
    if (
        {"WHEN", "GROUP"} <= expected
        and err.ttype in ("NAME", "SEGMENT", "PRIOR", "DECAY", "EXPLICIT", "IMPLICIT")
        and found in ("segment", "prior", "decay", "explicit", "implicit")
    ):
        return err.diag(
            f"`{found}` belongs inside a group",
            "put it inside `group Name { … }`"
            if found != "segment"
            else "write it inside its group: `group Name { segment … }`",
        )
    if {"WHEN", "GROUP"} <= expected and err.ttype == "NAME":
        if found.lower() == "if":
            return err.diag("a rule starts with `when`, not `if`", "write `when CONDITION ACTION`")
        lower = found.lower()
        if lower in ("when", "group", "audience", "show", "hide", "replace", "order"):
            return err.diag(
                f"`{found}` is not a keyword: keywords are lower case", f"write `{lower}`"
            )
        # the slot name of the action before has a space in it?
        if len(err.before) == 2 and err.before[0].group() == "slot":
            return err.diag(
                f"unexpected {err.shown} after the slot name `{prev}`",
                f"slot names are one word: `{prev}_{found}`",
            )
        return err.diag(
            f"expected a new `when`, `group`, `audience` or an action, found {err.shown}",
            None,
        )
    # a misspelt or mis-cased keyword where only keywords fit
    keywords = {t.lower() for t in expected if t.isalpha() and t.isupper() and t != "NAME"}
    if err.ttype == "NAME" and keywords and "NAME" not in expected:
        import difflib

        lower = found.lower()
        best = (
            [lower]
            if lower in keywords
            else difflib.get_close_matches(lower, sorted(keywords), n=1, cutoff=0.6)
        )
        if best:
            return err.diag(
                f"expected {_expected_words(err)} after `{prev}`, found {err.shown}",
                f"did you mean `{best[0]}`?",
            )
    return None


def _rule_names(err: _Error) -> Diagnostic | None:
    if err.expected == {"NAME"} and err.ttype != "$END":
        what = _NAME_AFTER.get(err.prev or "", "a name")
        help = None
        if err.ttype == "STRING":
            help = f"names are written without quotes: `{err.found.strip(chr(34))}`"
        elif err.found in ast.KEYWORDS:
            help = f"`{err.found}` is a reserved word; choose another name"
        return err.diag(f"expected {what} after `{err.prev}`, found {err.shown}", help)
    return None


_TOKEN_RULES = (
    _rule_eof,
    _rule_value_keyword,
    _rule_operators,
    _rule_brackets,
    _rule_units,
    _rule_missing_action,
    _rule_missing_quotes,
    _rule_structure,
    _rule_names,
)
