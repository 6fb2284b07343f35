"""The parser: `.seg` source text → `ast.RuleFile`, and syntax diagnostics (SEG1xx).

The grammar lives in `grammar/smartseg.lark` (shipped inside the wheel as
`smartseg_dsl/grammar/smartseg.lark`). Lark builds an LALR(1) parser with the
contextual lexer once per process, caching its tables on disk; the
`_Builder` transformer runs during the parse (no intermediate parse tree) and
produces frozen AST nodes carrying their spans.

Syntax errors are explained in words (`_explain`): what was found, what was
expected, and a `help:` line for the common mistakes. After an error the
parser recovers at the next top-level item (a line starting with `group`,
`audience` or `when`, or an action at column 1), so one file can report
several independent errors; the items before the error are kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast
from .diagnostics import Diagnostic

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "ParseResult",
    "grammar_path",
    "parse_file",
    "parse_paths",
    "parse_source",
]

#: Files larger than this are refused (SEG107): a rule set is a few hundred lines.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Parenthesis nesting deeper than this is refused (SEG108) before parsing, so no
#: later recursive pass can hit Python's recursion limit.
MAX_NESTING = 64

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


# --------------------------------------------------------------------- grammar


def grammar_path() -> Path:
    """The grammar file: packaged copy in a wheel, `grammar/` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "grammar" / "smartseg.lark",
        here.parent / "grammar" / "smartseg.lark",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("grammar/smartseg.lark is missing from this installation")


@functools.cache
def _lark() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,  # parser tables in the temp dir, keyed by the grammar's hash
    )


# ---------------------------------------------------------------- the builder


def _tok_span(tok: Token) -> ast.Span:
    return ast.Span(
        tok.line or 0,
        tok.column or 0,
        tok.end_line or 0,
        tok.end_column or 0,
        tok.start_pos or 0,
        tok.end_pos or 0,
    )


def _meta_span(meta: object) -> ast.Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return ast.Span(
        meta.line,  # type: ignore[attr-defined]
        meta.column,  # type: ignore[attr-defined]
        meta.end_line,  # type: ignore[attr-defined]
        meta.end_column,  # type: ignore[attr-defined]
        meta.start_pos,  # type: ignore[attr-defined]
        meta.end_pos,  # type: ignore[attr-defined]
    )


_ESCAPE = re.compile(r"\\(.)")


@v_args(meta=True, inline=True)
class _Builder(Transformer):  # type: ignore[type-arg]
    """Builds AST nodes bottom-up while the LALR parser reduces."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.problems: list[Diagnostic] = []

    # -- tokens
    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(str(tok), _tok_span(tok))

    def _string(self, tok: Token) -> ast.String:
        raw = str(tok)[1:-1]

        def unescape(m: re.Match[str]) -> str:
            ch = m.group(1)
            if ch in '"\\':
                return ch
            span = _tok_span(tok)
            col = span.column + 1 + m.start()
            self.problems.append(
                Diagnostic(
                    self.path,
                    span.line,
                    col,
                    span.line,
                    col + 2,
                    "error",
                    "SEG106",
                    f"unknown escape `\\{ch}` in a string",
                    'only \\" (a double quote) and \\\\ (a backslash) can be escaped',
                )
            )
            return ch

        return ast.String(_ESCAPE.sub(unescape, raw), _tok_span(tok))

    # -- file
    def start(self, meta: object, *items: ast.Item) -> list[ast.Item]:
        return list(items)

    # -- groups
    def group(self, meta: object, name: Token, label: Token | None, *body: object) -> ast.Group:
        return ast.Group(
            self._name(name),
            self._string(label) if label is not None else None,
            tuple(body),  # type: ignore[arg-type]
            _meta_span(meta),
        )

    def prior(self, meta: object, value: ast.Number) -> ast.Prior:
        return ast.Prior(value, _meta_span(meta))

    def decay(self, meta: object, tok: Token) -> ast.Decay:
        return ast.Decay(self._duration(tok), _meta_span(meta))

    def segment(
        self, meta: object, name: Token, label: Token | None, *signals: ast.Signal
    ) -> ast.Segment:
        return ast.Segment(
            self._name(name),
            self._string(label) if label is not None else None,
            tuple(signals),
            _meta_span(meta),
        )

    def signal(
        self,
        meta: object,
        kind: Token,
        matcher: ast.Matcher,
        weight: ast.Number | None,
        cap: ast.Number | None,
    ) -> ast.Signal:
        return ast.Signal(str(kind) == "explicit", matcher, weight, cap, _meta_span(meta))

    def signal_kind(self, meta: object, tok: Token) -> Token:
        return tok

    def weight(self, meta: object, value: ast.Number) -> ast.Number:
        return value

    def cap(self, meta: object, value: ast.Number) -> ast.Number:
        return value

    def matcher(self, meta: object, kind: Token, pattern: Token) -> ast.Matcher:
        return ast.Matcher(str(kind), self._string(pattern), None, _meta_span(meta))  # type: ignore[arg-type]

    def matcher_kind(self, meta: object, tok: Token) -> Token:
        return tok

    def query_matcher(self, meta: object, param: Token, pattern: Token) -> ast.Matcher:
        return ast.Matcher("query", self._string(pattern), self._name(param), _meta_span(meta))

    # -- audiences
    def audience(self, meta: object, name: Token, condition: ast.Expr) -> ast.Audience:
        return ast.Audience(self._name(name), condition, _meta_span(meta))

    # -- rules
    def when_rule(
        self, meta: object, condition: ast.Expr, body: ast.Action | tuple[ast.Action, ...]
    ) -> ast.Rule:
        if isinstance(body, tuple):
            return ast.Rule(condition, body, True, _meta_span(meta))
        return ast.Rule(condition, (body,), False, _meta_span(meta))

    def block(self, meta: object, *actions: ast.Action) -> tuple[ast.Action, ...]:
        return tuple(actions)

    def bare_rule(self, meta: object, action: ast.Action) -> ast.Rule:
        return ast.Rule(None, (action,), False, _meta_span(meta))

    def show_slot(self, meta: object, slot: Token) -> ast.ShowSlot:
        return ast.ShowSlot(self._name(slot), _meta_span(meta))

    def hide_slot(self, meta: object, slot: Token) -> ast.HideSlot:
        return ast.HideSlot(self._name(slot), _meta_span(meta))

    def replace_text(self, meta: object, slot: Token, text: Token) -> ast.ReplaceText:
        return ast.ReplaceText(self._name(slot), self._string(text), _meta_span(meta))

    def replace_template(self, meta: object, slot: Token, path: Token) -> ast.ReplaceTemplate:
        return ast.ReplaceTemplate(self._name(slot), self._string(path), _meta_span(meta))

    def order_slot(self, meta: object, slot: Token, group: Token) -> ast.OrderSlot:
        return ast.OrderSlot(self._name(slot), self._name(group), _meta_span(meta))

    def show_survey(
        self, meta: object, question: Token, about: ast.Ref | None, slot: ast.Name | None
    ) -> ast.ShowSurvey:
        return ast.ShowSurvey(self._string(question), about, slot, _meta_span(meta))

    def survey_about(self, meta: object, ref: ast.Ref) -> ast.Ref:
        return ref

    def survey_slot(self, meta: object, slot: Token) -> ast.Name:
        return self._name(slot)

    # -- expressions
    def _flatten(self, op: str, meta: object, left: ast.Expr, right: ast.Expr) -> ast.BoolOp:
        operands: list[ast.Expr] = []
        for side in (left, right):
            if (
                isinstance(side, ast.BoolOp)
                and side.op == op
                and not getattr(side, "_paren", False)
            ):
                operands.extend(side.operands)
            else:
                operands.append(side)
        return ast.BoolOp(op, tuple(operands), _meta_span(meta))  # type: ignore[arg-type]

    def or_expr(self, meta: object, left: ast.Expr, right: ast.Expr) -> ast.BoolOp:
        return self._flatten("or", meta, left, right)

    def and_expr(self, meta: object, left: ast.Expr, right: ast.Expr) -> ast.BoolOp:
        return self._flatten("and", meta, left, right)

    def not_expr(self, meta: object, operand: ast.Expr) -> ast.Not:
        return ast.Not(operand, _meta_span(meta))

    def compare(self, meta: object, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Compare:
        return ast.Compare(str(op), left, right, _tok_span(op), _meta_span(meta))  # type: ignore[arg-type]

    def is_expr(self, meta: object, left: ast.Expr, right: ast.Expr) -> ast.Is:
        return ast.Is(left, right, False, _meta_span(meta))

    def is_not_expr(self, meta: object, left: ast.Expr, right: ast.Expr) -> ast.Is:
        return ast.Is(left, right, True, _meta_span(meta))

    def paren(self, meta: object, inner: ast.Expr) -> ast.Expr:
        # Parentheses only group; `(a and b) and c` means the same as `a and b and c`,
        # so the flattened tree is the canonical one.
        return inner

    def number(self, meta: object, tok: Token) -> ast.Number:
        return ast.Number(float(tok), False, str(tok), _tok_span(tok))

    def negative_number(self, meta: object, tok: Token) -> ast.Number:
        return ast.Number(-float(tok), False, "-" + str(tok), _meta_span(meta))

    def percent(self, meta: object, tok: Token) -> ast.Number:
        return ast.Number(float(str(tok)[:-1]) / 100.0, True, str(tok), _tok_span(tok))

    def _duration(self, tok: Token) -> ast.Duration:
        text = str(tok)
        return ast.Duration(float(text[:-1]) * _DURATION_UNITS[text[-1]], text, _tok_span(tok))

    def duration(self, meta: object, tok: Token) -> ast.Duration:
        return self._duration(tok)

    def string(self, meta: object, tok: Token) -> ast.String:
        return self._string(tok)

    def true(self, meta: object) -> ast.Boolean:
        return ast.Boolean(True, _meta_span(meta))

    def false(self, meta: object) -> ast.Boolean:
        return ast.Boolean(False, _meta_span(meta))

    def none(self, meta: object) -> ast.NoneLit:
        return ast.NoneLit(_meta_span(meta))

    def ref(self, meta: object, group: Token, segment: Token | None) -> ast.Ref:
        return ast.Ref(
            self._name(group),
            self._name(segment) if segment is not None else None,
            _meta_span(meta),
        )

    def call(self, meta: object, func: Token, *args: object) -> ast.Call:
        return ast.Call(
            self._name(func),
            tuple(a for a in args if a is not None),  # type: ignore[misc]
            _meta_span(meta),
        )

    def matcher_arg(
        self, meta: object, matcher: ast.Matcher, within: ast.Duration | None
    ) -> ast.MatcherArg:
        return ast.MatcherArg(matcher, within, _meta_span(meta))

    def within(self, meta: object, tok: Token) -> ast.Duration:
        return self._duration(tok)


# -------------------------------------------------------------- entry points


@dataclass(frozen=True, slots=True)
class ParseResult:
    file: ast.RuleFile
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def parse_source(text: str, path: str = "<string>") -> ParseResult:
    """Parse one file's text. Never raises for bad input: problems become diagnostics."""
    diagnostics: list[Diagnostic] = []
    comments = tuple(_comments(text))
    nesting = _nesting_problem(text, path)
    if nesting is not None:
        return ParseResult(ast.RuleFile(path, (), comments), (nesting,))

    items: list[ast.Item] = []
    offset = 0
    while offset <= len(text):
        builder = _Builder(path)
        try:
            items.extend(_parse_region(text, offset, len(text), builder))
            diagnostics.extend(builder.problems)
            break
        except UnexpectedInput as exc:
            error_pos = _error_pos(exc, text)
            diagnostics.append(_explain(exc, text, path))
            item_start = _item_start_before(text, error_pos, offset)
            if item_start > offset:
                kept = _Builder(path)
                try:
                    items.extend(_parse_region(text, offset, item_start, kept))
                    diagnostics.extend(kept.problems)
                except UnexpectedInput:
                    pass  # the region before the error did not stand alone; drop it
            restart = _next_item_start(text, max(error_pos, item_start) + 1)
            if restart is None:
                break
            offset = restart
    return ParseResult(ast.RuleFile(path, tuple(items), comments), tuple(diagnostics))


def parse_file(path: str | Path, display_path: str | None = None) -> ParseResult:
    """Read and parse a file; unreadable, oversized or non-UTF-8 files give SEG107."""
    shown = display_path or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ParseResult(
            ast.RuleFile(shown),
            (_file_problem(shown, f"cannot read the file: {exc.strerror or exc}"),),
        )
    if len(data) > MAX_FILE_BYTES:
        size = len(data) / (1024 * 1024)
        return ParseResult(
            ast.RuleFile(shown),
            (
                _file_problem(
                    shown,
                    f"the file is {size:.1f} MB; rule files are limited to "
                    f"{MAX_FILE_BYTES // (1024 * 1024)} MB",
                    help="split the rules into several .seg files in one directory",
                ),
            ),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return ParseResult(
            ast.RuleFile(shown),
            (
                Diagnostic(
                    shown,
                    line,
                    column,
                    line,
                    column + 1,
                    "error",
                    "SEG107",
                    f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                    f"at offset {exc.start})",
                    "save the file as UTF-8",
                ),
            ),
        )
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark some editors add
    return parse_source(text, shown)


def parse_paths(paths: Iterable[str | Path]) -> list[ParseResult]:
    """Parse files in the order given (callers sort: SPEC §1 loads in path order)."""
    return [parse_file(p) for p in paths]


def _file_problem(path: str, message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(path, 1, 1, 1, 1, "error", "SEG107", message, help)


# ------------------------------------------------------------------ recovery


def _parse_region(text: str, start: int, end: int, builder: _Builder) -> list[ast.Item]:
    """Parse text[start:end], keeping positions: the rest is blanked, newlines kept."""
    region = text if start == 0 and end == len(text) else _blank(text[:start]) + text[start:end]
    tree = _lark().parse(region)
    return builder.transform(tree)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


_TOP_LEVEL = re.compile(r"^(?:[ \t]*(?:group|audience|when)\b|(?:show|hide|replace|order)\b)", re.M)


def _item_start_before(text: str, pos: int, floor: int) -> int:
    """Start of the top-level item containing `pos` (or `floor`)."""
    best = floor
    for m in _TOP_LEVEL.finditer(text, floor, pos + 1):
        if m.start() <= pos:
            best = m.start()
    return best


def _next_item_start(text: str, pos: int) -> int | None:
    m = _TOP_LEVEL.search(text, pos)
    return m.start() if m else None


def _error_pos(exc: UnexpectedInput, text: str) -> int:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        return len(text)
    pos = getattr(exc, "pos_in_stream", None)
    if pos is None:
        token = getattr(exc, "token", None)
        pos = getattr(token, "start_pos", None)
    return len(text) if pos is None else int(pos)


# ------------------------------------------------------------ pre-checks


def _scan_code(text: str, *, comments: bool = False) -> Iterable[tuple[int, str]]:
    """Yield (offset, char) for characters outside strings and comments.

    With `comments=True` the `#` opening each comment is yielded too (then skipped).
    """
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            if comments:
                yield i, ch
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        yield i, ch
        i += 1


def _nesting_problem(text: str, path: str) -> Diagnostic | None:
    if "(" not in text:
        return None
    depth = 0
    for pos, ch in _scan_code(text):
        if ch == "(":
            depth += 1
            if depth > MAX_NESTING:
                line, col = _line_col(text, pos)
                return Diagnostic(
                    path,
                    line,
                    col,
                    line,
                    col + 1,
                    "error",
                    "SEG108",
                    f"parentheses are nested more than {MAX_NESTING} levels deep",
                    "split the condition into audiences and refer to them by name",
                )
        elif ch == ")":
            depth = max(0, depth - 1)
    return None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _comments(text: str) -> Iterable[ast.Comment]:
    if "#" not in text:
        return
    for pos, ch in _scan_code(text, comments=True):
        if ch == "#":
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line, col = _line_col(text, pos)
            yield ast.Comment(
                text[pos:end].rstrip(), ast.Span(line, col, line, col + end - pos, pos, end)
            )


# ---------------------------------------------------------- explaining errors

#: Terminal names → words a marketer understands.
_WORDS: dict[str, str] = {
    "NAME": "a name",
    "STRING": 'a text in double quotes such as "lawyer"',
    "NUMBER": "a number",
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

_EXPR_START = {"NAME", "NUMBER", "STRING", "LPAR", "NOT", "PERCENT", "DURATION", "TRUE", "FALSE"}
_ACTION_START = {"SHOW", "HIDE", "REPLACE", "ORDER"}
_TOP_START = {"GROUP", "AUDIENCE", "WHEN"} | _ACTION_START

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


def _previous_token(text: str, pos: int) -> str | None:
    found = _previous_tokens(text, pos)
    return found[-1].group() if found else None


_OPERATORS = {"<", "<=", ">", ">=", "==", "!=", "and", "or", "not", "is", "when", "="}


def _found(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the file"
    m = _PREV_TOKEN.match(text, pos)
    tok = m.group() if m else text[pos]
    return f"`{tok}`"


def _expected_words(expected: set[str], prev: str | None) -> str:
    """Summarise an expected-terminal set in words."""
    names = set(expected)
    parts: list[str] = []
    if len(names & _EXPR_START) >= 4:
        parts.append("a condition such as confidence(Industry.Legal) > 30%")
        names -= _EXPR_START | {"MINUS", "NONE"}
    if names >= _ACTION_START:
        parts.append("an action (show, hide, replace, order)")
        names -= _ACTION_START
    if {"GROUP", "AUDIENCE", "WHEN"} <= names:
        parts.append("`group`, `audience` or `when`")
        names -= {"GROUP", "AUDIENCE", "WHEN"}
    if prev == "within" and "DURATION" in names:
        return "a duration such as 24h after `within`"
    parts.extend(_word(t) for t in sorted(names))
    return _one_of(parts) if parts else "something else"


def _unclosed_brace(text: str, pos: int) -> int | None:
    """Offset of the innermost `{` still open at `pos`."""
    stack: list[int] = []
    for p, ch in _scan_code(text[:pos]):
        if ch == "{":
            stack.append(p)
        elif ch == "}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _explain(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """Turn a Lark error into a diagnostic that says what to do."""
    pos = _error_pos(exc, text)
    line, col = _line_col(text, min(pos, len(text)))
    prev = _previous_token(text, pos)
    found = _found(text, pos)
    end_col = col + max(1, len(found) - 2) if found.startswith("`") else col
    code, message, help = "SEG101", "", None

    if isinstance(exc, UnexpectedCharacters):
        ch = text[pos] if pos < len(text) else ""
        expected: set[str] = set(exc.allowed or ())
        rest = text[pos : pos + 2]
        if ch == '"':
            code, message = "SEG102", "this text has no closing double quote"
            help = 'close it on the same line: "like this"'
            end_col = col + len(text[pos:].split("\n", 1)[0])
        elif ch.isdigit():
            word = re.match(r"\d+(?:\.\d+)?\w*", text[pos:])
            bad = word.group() if word else ch
            code, end_col = "SEG104", col + len(bad)
            message = f"`{bad}` is not a number, duration or percentage"
            help = "durations are written 30s, 15m, 24h, 7d or 2w; percentages 30%"
        elif ch == "%":
            code, message = "SEG104", "a percentage is written without a space before `%`"
            help = "write 30% instead of 30 %"
        elif rest == "&&" or ch == "&":
            message, help = "`&&` is not an operator here", "write `and` to combine conditions"
            end_col = col + (2 if rest == "&&" else 1)
        elif rest == "||" or ch == "|":
            message, help = "`||` is not an operator here", "write `or`"
            end_col = col + (2 if rest == "||" else 1)
        elif ch == "!":
            message, help = "`!` is not an operator here", "write `not` (or `!=` to compare)"
        else:
            code = "SEG103"
            message = f"unexpected character `{ch}`"
            if expected:
                message += f"; expected {_expected_words(expected, prev)}"
        return Diagnostic(path, line, col, line, end_col, "error", code, message, help)

    expected = set(getattr(exc, "expected", ()) or ())
    token = getattr(exc, "token", None)
    ttype = getattr(token, "type", "$END")
    after = f" after `{prev}`" if prev else ""

    if isinstance(exc, UnexpectedEOF) or ttype == "$END":
        brace = _unclosed_brace(text, len(text))
        if brace is not None:
            bl, bc = _line_col(text, brace)
            return Diagnostic(
                path,
                bl,
                bc,
                bl,
                bc + 1,
                "error",
                "SEG105",
                "this `{` is never closed",
                "add a `}` at the end of the block",
            )
        message = f"the file ends too early; expected {_expected_words(expected, prev)}{after}"
        return Diagnostic(path, line, col, line, col, "error", "SEG101", message, None)

    before = _previous_tokens(text, pos)
    if (
        len(before) == 2
        and before[1].group() in ("show", "hide", "replace", "order")
        and before[0].group() in _OPERATORS
    ):
        # `when visits > show slot x`: the keyword was read as a value
        kw = before[1]
        line, col = _line_col(text, kw.start())
        message = f"expected a value after `{before[0].group()}`, found `{kw.group()}`"
        help = "complete the condition before the action"
        return Diagnostic(
            path, line, col, line, col + len(kw.group()), "error", code, message, help
        )
    if ttype == "EQUAL" and "COMPARE" in expected:
        message = "`=` is not a comparison"
        help = "write `==` to compare (a single `=` only names an audience)"
    elif ttype == "NAME" and expected == {"STRING"}:
        message = f"expected a text in double quotes{after}, found {found}"
        help = f'put it in double quotes: "{found.strip("`")}"'
    elif prev in ("show", "hide") and ttype == "NAME" and "SLOT" in expected:
        message = f"expected `slot` after `{prev}`, found {found}"
        help = f"write `{prev} slot {found.strip('`')}`"
    elif prev in ("replace", "order") and "SLOT" in expected:
        message = f"expected `slot` after `{prev}`, found {found}"
        help = f"write `{prev} slot NAME …`"
    elif expected & {"RBRACE"} and ttype in _TOP_START - _ACTION_START:
        brace = _unclosed_brace(text, pos)
        if brace is not None:
            bl, _ = _line_col(text, brace)
            return Diagnostic(
                path,
                line,
                col,
                line,
                end_col,
                "error",
                "SEG105",
                f"found {found} before the `{{` opened on line {bl} was closed",
                "add the missing `}`",
            )
        message = f"unexpected {found}{after}; expected {_expected_words(expected, prev)}"
    elif prev == "within":
        message = f"expected a duration such as 24h after `within`, found {found}"
    else:
        message = f"unexpected {found}{after}; expected {_expected_words(expected, prev)}"
    return Diagnostic(path, line, col, line, end_col, "error", code, message, help)
