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
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer

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
#: After this many syntax errors in one file the parser stops reading it.
MAX_SYNTAX_ERRORS = 25
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


_LOCK = threading.Lock()


@functools.cache
def _lark() -> Lark:
    """The parser, with the AST builder applied inline while LALR reduces.

    No parse tree is built (faster, and no recursion however long an `and`
    chain is). `keep_all_tokens` hands every keyword and bracket to the
    builder, so each node's span runs from its first token to its last one,
    exactly what `propagate_positions` would compute.
    """
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        keep_all_tokens=True,
        maybe_placeholders=True,
        transformer=_BUILDER,
        cache=True,  # parser tables in the temp dir, keyed by the grammar's hash
        _plugins={"ContextualLexer": _FastContextualLexer},
    )


class _FastContextualLexer(ContextualLexer):
    """Lark's contextual lexer with a fast path for the common case.

    Lark's contextual lexer runs, per token, the scanner of the current parser
    state. Here one scanner (the root lexer's, all terminals) finds the token,
    and the state's accepted set decides: a word is its keyword when the state
    accepts that keyword, else a NAME when it accepts NAME. Whenever the fast
    path would produce a terminal the state does not accept, the token is left
    to Lark's own state lexer, so tokens and errors are exactly Lark's: when the
    root scanner's first match is accepted, the state scanner (the same ordered
    alternatives, restricted) finds that same match first.
    """

    def __init__(
        self, conf: Any, states: dict[int, Collection[str]], always_accept: Collection[str] = ()
    ) -> None:
        super().__init__(conf, states, always_accept)
        self._accepts = {state: frozenset(names) for state, names in states.items()}
        self._keywords = {
            t.pattern.value: t.name
            for t in conf.terminals
            if t.pattern.type == "str" and t.pattern.value.isidentifier()
        }
        self._ignore = frozenset(conf.ignore)

    def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        text_slice = lexer_state.text
        text, end = text_slice.text, text_slice.end
        counter = lexer_state.line_ctr
        accepts, keywords, ignore = self._accepts, self._keywords, self._ignore
        mres = self.root_lexer.scanner._mres
        # the root scanner is one compiled alternation here; call it directly
        single = mres[0].match if len(mres) == 1 else None
        match = self.root_lexer.match
        while counter.char_pos < end:
            pos = counter.char_pos
            kind: str | None = None
            value = ""
            if single is not None:
                m = single(text, pos, end)
                if m is not None:
                    value, kind = m.group(), m.lastgroup
            else:
                found = match(text_slice, pos)
                if found is not None:
                    value, kind = found
            if kind is not None:
                if kind in ignore:  # white space and comments: LineCounter.feed, inlined
                    newlines = value.count("\n")
                    if newlines:
                        counter.line += newlines
                        counter.line_start_pos = pos + value.rindex("\n") + 1
                    counter.char_pos = pos + len(value)
                    counter.column = counter.char_pos - counter.line_start_pos + 1
                    continue
                accepted = accepts[parser_state.position]
                if kind == "NAME":
                    keyword = keywords.get(value)
                    if keyword is not None and keyword in accepted:
                        kind = keyword
                    elif "NAME" not in accepted:
                        kind = None
                elif kind not in accepted:
                    kind = None
            if kind is None:
                # not the common case: Lark's own lexer for this state decides,
                # and raises its own errors
                try:
                    yield from self._slow_token(lexer_state, parser_state)
                except EOFError:
                    return
                continue
            line, column = counter.line, counter.column
            n = len(value)
            # no terminal but the ignored WS spans lines, so no newline to count
            token = Token(kind, value, pos, line, column, line, column + n, pos + n)
            counter.char_pos = pos + n
            counter.column = column + n
            lexer_state.last_token = token
            yield token

    def _slow_token(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        """One token the way `ContextualLexer.lex` makes it (including its errors)."""
        try:
            yield self.lexers[parser_state.position].next_token(lexer_state, parser_state)
        except UnexpectedCharacters as e:
            # as Lark does: a terminal defined elsewhere reads as an unexpected token
            try:
                last_token = lexer_state.last_token
                token = self.root_lexer.next_token(lexer_state, parser_state)
                raise UnexpectedToken(
                    token,
                    e.allowed,
                    state=parser_state,
                    token_history=[last_token],
                    terminals_by_name=self.root_lexer.terminals_by_name,
                ) from None
            except UnexpectedCharacters:
                raise e from None


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


class _Paren:
    """A parenthesised expression while it is being built: the parentheses count
    in the span of the node that contains it, not in the expression's own."""

    __slots__ = ("expr", "span")

    def __init__(self, expr: ast.Expr, span: ast.Span) -> None:
        self.expr = expr
        self.span = span


class _Block(tuple):  # type: ignore[type-arg]
    """The actions of a `{ … }` block, with the span of the braces."""

    span: ast.Span


def _edge(child: object) -> ast.Span | None:
    if child is None:
        return None
    if isinstance(child, Token):
        return _tok_span(child)
    if isinstance(child, ast.Span):
        return child
    return getattr(child, "span", None)


def _span(children: tuple[object, ...]) -> ast.Span:
    """From the first child's start to the last child's end (placeholders skipped)."""
    # the hot path of the builder: tokens are read directly, without a Span each
    first: object = None
    for first in children:
        if first is not None:
            break
    last: object = None
    for last in reversed(children):
        if last is not None:
            break
    if first is None or last is None:
        return ast.NO_SPAN
    if type(first) is Token:
        line, column, start = first.line, first.column, first.start_pos
    else:
        f = _edge(first)
        if f is None:
            return ast.NO_SPAN
        line, column, start = f.line, f.column, f.start
    if type(last) is Token:
        return ast.Span(line, column, last.end_line, last.end_column, start, last.end_pos)  # type: ignore[arg-type]
    e = _edge(last)
    if e is None:
        return ast.NO_SPAN
    return ast.Span(line, column, e.end_line, e.end_column, start, e.end)  # type: ignore[arg-type]


def _expr(x: object) -> ast.Expr:
    return x.expr if isinstance(x, _Paren) else x  # type: ignore[return-value]


_ESCAPE = re.compile(r"\\(.)")


@v_args(inline=True)
class _Builder(Transformer):  # type: ignore[type-arg]
    """Builds AST nodes bottom-up while the LALR parser reduces.

    One instance serves every parse; `path` and `problems` are set per parse
    under `_LOCK` (see `_parse_region`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.path = "<string>"
        self.problems: list[Diagnostic] = []

    # -- tokens
    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(str(tok), _tok_span(tok))

    def _string(self, tok: Token) -> ast.String:
        raw = str(tok)[1:-1]
        if "\\" not in raw:
            return ast.String(raw, _tok_span(tok))

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
    def start(self, *items: ast.Item) -> list[ast.Item]:
        return list(items)

    # -- groups
    def group(self, *c: object) -> ast.Group:
        label = c[2]
        return ast.Group(
            self._name(c[1]),  # type: ignore[arg-type]
            self._string(label) if label is not None else None,  # type: ignore[arg-type]
            tuple(c[4:-1]),  # type: ignore[arg-type]
            _span(c),
        )

    def prior(self, kw: Token, value: ast.Number) -> ast.Prior:
        return ast.Prior(value, _span((kw, value)))

    def decay(self, kw: Token, tok: Token) -> ast.Decay:
        return ast.Decay(self._duration(tok), _span((kw, tok)))

    def segment(self, *c: object) -> ast.Segment:
        label = c[2]
        return ast.Segment(
            self._name(c[1]),  # type: ignore[arg-type]
            self._string(label) if label is not None else None,  # type: ignore[arg-type]
            tuple(c[4:-1]),  # type: ignore[arg-type]
            _span(c),
        )

    def signal(
        self,
        kind: Token,
        matcher: ast.Matcher,
        weight: ast.Number | None,
        cap: ast.Number | None,
    ) -> ast.Signal:
        return ast.Signal(
            str(kind) == "explicit", matcher, weight, cap, _span((kind, matcher, weight, cap))
        )

    def signal_kind(self, tok: Token) -> Token:
        return tok

    def weight(self, kw: Token, value: ast.Number) -> ast.Number:
        return value

    def cap(self, kw: Token, value: ast.Number) -> ast.Number:
        return value

    def matcher(self, kind: Token, pattern: Token) -> ast.Matcher:
        return ast.Matcher(str(kind), self._string(pattern), None, _span((kind, pattern)))  # type: ignore[arg-type]

    def matcher_kind(self, tok: Token) -> Token:
        return tok

    def query_matcher(self, kw: Token, param: Token, pattern: Token) -> ast.Matcher:
        return ast.Matcher(
            "query", self._string(pattern), self._name(param), _span((kw, param, pattern))
        )

    # -- audiences
    def audience(self, kw: Token, name: Token, eq: Token, condition: object) -> ast.Audience:
        return ast.Audience(self._name(name), _expr(condition), _span((kw, name, eq, condition)))

    def sync_audience(
        self, sync: Token, kw: Token, name: Token, eq: Token, condition: object
    ) -> ast.Audience:
        return ast.Audience(
            self._name(name),
            _expr(condition),
            _span((sync, kw, name, eq, condition)),
            synced=True,
        )

    # -- measurement
    def goal(self, *c: object) -> ast.Goal:
        kw, name, label, eq, condition, value = c
        # the value's span runs to its last token, a closing parenthesis included
        value_expr, value_span = value if value is not None else (None, None)  # type: ignore[misc]
        return ast.Goal(
            self._name(name),  # type: ignore[arg-type]
            self._string(label) if label is not None else None,  # type: ignore[arg-type]
            condition if isinstance(condition, ast.Matcher) else _expr(condition),
            value_expr,
            _span((kw, name, label, eq, condition, value_span)),
        )

    def goal_value(self, kw: Token, value: object) -> tuple[ast.Expr, ast.Span]:
        return _expr(value), _span((kw, value))

    def holdout(self, kw: Token, share: ast.Number) -> ast.Holdout:
        return ast.Holdout(share, _span((kw, share)))

    def experiment(self, *c: object) -> ast.Experiment:
        label = c[2]
        return ast.Experiment(
            self._name(c[1]),  # type: ignore[arg-type]
            self._string(label) if label is not None else None,  # type: ignore[arg-type]
            tuple(c[4:-1]),  # type: ignore[arg-type]
            _span(c),
        )

    def experiment_when(self, kw: Token, condition: object) -> ast.Eligibility:
        return ast.Eligibility(_expr(condition), _span((kw, condition)))

    def traffic(self, kw: Token, share: ast.Number) -> ast.Traffic:
        return ast.Traffic(share, _span((kw, share)))

    def variant(
        self, kw: Token, name: Token, weight: ast.Number, body: _Block | None
    ) -> ast.Variant:
        actions = tuple(body) if body is not None else ()
        return ast.Variant(
            self._name(name), weight, actions, body is not None, _span((kw, name, weight, body))
        )

    def experiment_goal(self, kw: Token, name: Token) -> ast.ExperimentGoal:
        return ast.ExperimentGoal(self._name(name), _span((kw, name)))

    def schedule(self, kw: Token, date: Token) -> ast.Schedule:
        return ast.Schedule(
            str(kw),  # type: ignore[arg-type]
            ast.Date(str(date), _tok_span(date)),
            _span((kw, date)),
        )

    # -- rules
    def when_rule(self, kw: Token, condition: object, body: object) -> ast.Rule:
        span = _span((kw, condition, body))
        if isinstance(body, _Block):
            return ast.Rule(_expr(condition), tuple(body), True, span)
        return ast.Rule(_expr(condition), (body,), False, span)  # type: ignore[arg-type]

    def block(self, *c: object) -> _Block:
        block = _Block(c[1:-1])
        block.span = _span(c)
        return block

    def bare_rule(self, action: ast.Action) -> ast.Rule:
        return ast.Rule(None, (action,), False, action.span)

    def show_slot(self, kw: Token, slot_kw: Token, slot: Token) -> ast.ShowSlot:
        return ast.ShowSlot(self._name(slot), _span((kw, slot)))

    def hide_slot(self, kw: Token, slot_kw: Token, slot: Token) -> ast.HideSlot:
        return ast.HideSlot(self._name(slot), _span((kw, slot)))

    def replace_text(self, *c: Token) -> ast.ReplaceText:
        return ast.ReplaceText(self._name(c[2]), self._string(c[4]), _span(c))

    def replace_template(self, *c: Token) -> ast.ReplaceTemplate:
        return ast.ReplaceTemplate(self._name(c[2]), self._string(c[5]), _span(c))

    def order_slot(self, *c: Token) -> ast.OrderSlot:
        return ast.OrderSlot(self._name(c[2]), self._name(c[4]), _span(c))

    def show_survey(
        self,
        kw: Token,
        survey_kw: Token,
        question: Token,
        about: tuple[ast.Ref, ast.Span] | None,
        slot: tuple[ast.Name, ast.Span] | None,
    ) -> ast.ShowSurvey:
        last = slot[1] if slot is not None else about[1] if about is not None else question
        return ast.ShowSurvey(
            self._string(question),
            about[0] if about is not None else None,
            slot[0] if slot is not None else None,
            _span((kw, last)),
        )

    def survey_about(self, kw: Token, ref: ast.Ref) -> tuple[ast.Ref, ast.Span]:
        return ref, _span((kw, ref))

    def survey_slot(self, kw: Token, slot_kw: Token, slot: Token) -> tuple[ast.Name, ast.Span]:
        return self._name(slot), _span((kw, slot))

    # -- expressions
    def _flatten(self, op: str, left: object, kw: Token, right: object) -> ast.BoolOp:
        # Parentheses only group; `(a and b) and c` means the same as
        # `a and b and c`, so the flattened tree is the canonical one.
        operands: list[ast.Expr] = []
        for side in (_expr(left), _expr(right)):
            if isinstance(side, ast.BoolOp) and side.op == op:
                operands.extend(side.operands)
            else:
                operands.append(side)
        return ast.BoolOp(op, tuple(operands), _span((left, right)))  # type: ignore[arg-type]

    def or_expr(self, left: object, kw: Token, right: object) -> ast.BoolOp:
        return self._flatten("or", left, kw, right)

    def and_expr(self, left: object, kw: Token, right: object) -> ast.BoolOp:
        return self._flatten("and", left, kw, right)

    def not_expr(self, kw: Token, operand: object) -> ast.Not:
        return ast.Not(_expr(operand), _span((kw, operand)))

    def compare(self, left: object, op: Token, right: object) -> ast.Compare:
        return ast.Compare(
            str(op),  # type: ignore[arg-type]
            _expr(left),
            _expr(right),
            _tok_span(op),
            _span((left, right)),
        )

    def is_expr(self, left: object, kw: Token, right: object) -> ast.Is:
        return ast.Is(_expr(left), _expr(right), False, _span((left, right)))

    def is_not_expr(self, left: object, kw: Token, not_kw: Token, right: object) -> ast.Is:
        return ast.Is(_expr(left), _expr(right), True, _span((left, right)))

    def paren(self, lpar: Token, inner: object, rpar: Token) -> _Paren:
        return _Paren(_expr(inner), _span((lpar, rpar)))

    def number(self, tok: Token) -> ast.Number:
        return ast.Number(float(tok), False, str(tok), _tok_span(tok))

    def negative_number(self, minus: Token, tok: Token) -> ast.Number:
        return ast.Number(-float(tok), False, "-" + str(tok), _span((minus, tok)))

    def percent(self, tok: Token) -> ast.Number:
        return ast.Number(float(str(tok)[:-1]) / 100.0, True, str(tok), _tok_span(tok))

    def _duration(self, tok: Token) -> ast.Duration:
        text = str(tok)
        return ast.Duration(float(text[:-1]) * _DURATION_UNITS[text[-1]], text, _tok_span(tok))

    def duration(self, tok: Token) -> ast.Duration:
        return self._duration(tok)

    def string(self, tok: Token) -> ast.String:
        return self._string(tok)

    def true(self, tok: Token) -> ast.Boolean:
        return ast.Boolean(True, _tok_span(tok))

    def false(self, tok: Token) -> ast.Boolean:
        return ast.Boolean(False, _tok_span(tok))

    def none(self, tok: Token) -> ast.NoneLit:
        return ast.NoneLit(_tok_span(tok))

    def ref(self, group: Token, *rest: Token | None) -> ast.Ref:
        # `["." NAME]`: (None, None) when absent, (DOT, NAME) when present
        segment = rest[-1] if rest else None
        return ast.Ref(
            self._name(group),
            self._name(segment) if segment is not None else None,
            _span((group, segment)),
        )

    def call(self, func: Token, *rest: object) -> ast.Call:
        args = tuple(
            _expr(a) if isinstance(a, _Paren) else a
            for a in rest[1:-1]
            if a is not None and not isinstance(a, Token)
        )
        return ast.Call(self._name(func), args, _span((func, rest[-1])))  # type: ignore[arg-type]

    def matcher_arg(self, matcher: ast.Matcher, within: ast.Duration | None) -> ast.MatcherArg:
        return ast.MatcherArg(matcher, within, _span((matcher, within)))

    def within(self, kw: Token, tok: Token) -> ast.Duration:
        return self._duration(tok)


_BUILDER = _Builder()


# -------------------------------------------------------------- entry points


@dataclass(frozen=True, slots=True)
class ParseResult:
    file: ast.RuleFile
    diagnostics: tuple[Diagnostic, ...]
    #: The names written in text the parser had to skip after a syntax error: a
    #: definition of one of them may be lost, so the checker keeps quiet about it
    #: (and only it). None: the file could not be read at all, so any name may be.
    skipped_names: frozenset[str] | None = frozenset()

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def parse_source(text: str, path: str = "<string>") -> ParseResult:
    """Parse one file's text. Never raises for bad input: problems become diagnostics."""
    diagnostics: list[Diagnostic] = []
    comments = tuple(_comments(text))
    nesting = _nesting_problem(text, path)
    if nesting is not None:
        return ParseResult(ast.RuleFile(path, (), comments), (nesting,), _names_in(text))

    items: list[ast.Item] = []
    skipped: list[str] = []
    offset = 0
    while offset <= len(text):
        try:
            parsed, problems = _parse_region(text, offset, len(text), path)
            items.extend(parsed)
            diagnostics.extend(problems)
            break
        except UnexpectedInput as exc:
            error_pos = _error_pos(exc, text)
            diagnostics.append(_explain(exc, text, path))
            item_start = _item_start_before(text, error_pos, offset)
            if item_start > offset:
                try:
                    parsed, problems = _parse_region(text, offset, item_start, path)
                    items.extend(parsed)
                    diagnostics.extend(problems)
                except UnexpectedInput:
                    # the region before the error did not stand alone; drop it
                    skipped.append(text[offset:item_start])
            restart = _next_item_start(text, max(error_pos, item_start) + 1)
            skipped.append(text[item_start : len(text) if restart is None else restart])
            if restart is None:
                break
            if len(diagnostics) >= MAX_SYNTAX_ERRORS:
                skipped.append(text[restart:])
                break  # the rest is unlikely to be worth reading before these are fixed
            offset = restart
    return ParseResult(
        ast.RuleFile(path, tuple(items), comments),
        tuple(diagnostics),
        _names_in("\n".join(skipped)) if skipped else frozenset(),
    )


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names_in(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def parse_file(path: str | Path, display_path: str | None = None) -> ParseResult:
    """Read and parse a file; unreadable, oversized or non-UTF-8 files give SEG107."""
    shown = display_path or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ParseResult(
            ast.RuleFile(shown),
            (_file_problem(shown, f"cannot read the file: {exc.strerror or exc}"),),
            None,
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
            None,  # nothing of it could be read: any name may be defined there
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
            None,  # nothing of it could be read: any name may be defined there
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


def _parse_region(
    text: str, start: int, end: int, path: str
) -> tuple[list[ast.Item], list[Diagnostic]]:
    """Parse text[start:end], keeping positions: the rest is blanked, newlines kept."""
    region = text if start == 0 and end == len(text) else _blank(text[:start]) + text[start:end]
    parser = _lark()
    with _LOCK:  # the one builder carries per-parse state
        _BUILDER.path = path
        _BUILDER.problems = problems = []
        items: list[ast.Item] = parser.parse(region)  # type: ignore[assignment]
    return items, problems


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


_TOP_LEVEL = re.compile(
    r"^(?:[ \t]*(?:group|audience|sync|when|goal|holdout|experiment)\b"
    r"|(?:show|hide|replace|order)\b)",
    re.M,
)


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


#: Strings, comments, brackets and `not`: what the pre-checks look at. Strings end at
#: a quote or before a newline, as the grammar's STRING does; `\\` skips any character.
_CODE_SCAN = re.compile(r'"(?:[^"\\\n]|\\[\s\S])*"?|#[^\n]*|[()]|\bnot\b')


def _nesting_problem(text: str, path: str) -> Diagnostic | None:
    """SEG108 when parentheses and `not`s nest deeper than `MAX_NESTING`.

    Refused before parsing, so no later recursive pass (the checker, `==` on
    the tree) can exhaust Python's stack. A run of `not`s counts one level each.
    """
    if "(" not in text and "not" not in text:
        return None
    depth = 0
    run = 0  # `not`s in a row (only spaces and `(` between them)
    run_end = -1
    for m in _CODE_SCAN.finditer(text):
        tok = m.group()
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth = max(0, depth - 1)
            run = 0
            continue
        elif tok == "not":
            gap = text[run_end : m.start()] if run_end >= 0 else "x"
            run = run + 1 if not gap.strip(" \t\r\n(") else 1
            run_end = m.end()
        else:
            continue
        if depth + run > MAX_NESTING:
            line, col = _line_col(text, m.start())
            return Diagnostic(
                path,
                line,
                col,
                line,
                col + len(tok),
                "error",
                "SEG108",
                f"parentheses and `not`s are nested more than {MAX_NESTING} levels deep",
                "split the condition into audiences and refer to them by name",
            )
    return None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _comments(text: str) -> Iterable[ast.Comment]:
    if "#" not in text:
        return
    for m in _CODE_SCAN.finditer(text):
        if m.group().startswith("#"):
            pos = m.start()
            end = m.end()
            line, col = _line_col(text, pos)
            yield ast.Comment(
                text[pos:end].rstrip(), ast.Span(line, col, line, col + end - pos, pos, end)
            )


# ---------------------------------------------------------- explaining errors
#
# Lark reports an error as a position and a set of terminal names it would have
# accepted there. `_explain` turns that into a sentence a marketer can act on:
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
    """Everything `_explain` needs to know about one error."""

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
        line, col = (self.line, self.col) if at is None else _line_col(self.text, at)
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
    pos = min(_error_pos(exc, text), len(text))
    line, col = _line_col(text, pos)
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
        line, col = _line_col(text, pos)
    item_start = _item_start_before(text, pos, 0)
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


def _explain(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
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
        bl, bc = _line_col(err.text, err.braces[-1])
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
        pl, pc = _line_col(err.text, err.parens[-1])
        return err.diag(
            f"expected `)` to close the `(` at line {pl}, column {pc}, found {err.shown}",
            "add the missing `)`",
        )
    if err.braces and err.ttype in ("GROUP", "AUDIENCE", "WHEN") and "RBRACE" in err.expected:
        bl, _ = _line_col(err.text, err.braces[-1])
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
