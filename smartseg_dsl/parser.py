"""The parser: `.seg` source text → `ast.RuleFile`, and syntax diagnostics (SEG1xx).

The grammar lives in `grammar/smartseg.lark` (shipped inside the wheel as
`smartseg_dsl/grammar/smartseg.lark`). Lark builds an LALR(1) parser with the
contextual lexer once per process, caching its tables on disk; the
`_Builder` transformer runs during the parse (no intermediate parse tree) and
produces frozen AST nodes carrying their spans.

Syntax errors are explained in words (`syntax_errors.explain`): what was found, what was
expected, and a `help:` line for the common mistakes. After an error the
parser recovers at the next top-level item (a line starting with `group`,
`audience` or `when`, or an action at column 1), so one file can report
several independent errors; the items before the error are kept.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer

from . import ast
from .diagnostics import Diagnostic
from .syntax_errors import TOP_LEVEL, error_pos, explain, item_start_before, line_col

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


#: `Token(...)` without the wrapper that checks for a deprecated keyword (the lexer
#: makes one per token: 7 % of a parse); the public constructor if Lark drops it
_new_token = getattr(Token, "_future_new", Token)


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
            token = _new_token(kind, value, pos, line, column, line, column + n, pos + n)
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
    comments = tuple(_comments(text))
    nesting = _nesting_problem(text, path)
    if nesting is not None:
        return ParseResult(ast.RuleFile(path, (), comments), (nesting,), _names_in(text))
    return _parse_regions(
        text, path, lambda start, end: _parse_region(text, start, end, path), comments
    )


#: parses text[start:end] of the text at hand, keeping positions (`_parse_region`)
_RegionParser = Callable[[int, int], tuple[list[ast.Item], list[Diagnostic]]]


def _parse_regions(
    text: str, path: str, region: _RegionParser, comments: tuple[ast.Comment, ...]
) -> ParseResult:
    """The whole text through `region`; after a syntax error, the items before it on
    their own, then on from the next item's start (the text between is skipped)."""
    diagnostics: list[Diagnostic] = []
    items: list[ast.Item] = []
    skipped: list[str] = []
    offset = 0
    while offset <= len(text):
        try:
            parsed, problems = region(offset, len(text))
            items.extend(parsed)
            diagnostics.extend(problems)
            break
        except UnexpectedInput as exc:
            at = error_pos(exc, text)
            diagnostics.append(explain(exc, text, path))
            item_start = item_start_before(text, at, offset)
            if item_start > offset:
                try:
                    parsed, problems = region(offset, item_start)
                    items.extend(parsed)
                    diagnostics.extend(problems)
                except UnexpectedInput:
                    # the region before the error did not stand alone; drop it
                    skipped.append(text[offset:item_start])
            restart = _next_item_start(text, max(at, item_start) + 1)
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


def _next_item_start(text: str, pos: int) -> int | None:
    m = TOP_LEVEL.search(text, pos)
    return m.start() if m else None


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
            line, col = line_col(text, m.start())
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


#: strings (a `#` inside one is text) and comments
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\[\s\S])*"?|#[^\n]*')


def _comments(text: str) -> Iterable[ast.Comment]:
    if "#" not in text:
        return
    # lines counted as the scan goes (line_col from the start for each comment made a
    # file of many comments quadratic)
    line, line_start, counted = 1, 0, 0
    for m in _STRING_OR_COMMENT.finditer(text):
        pos = m.start()
        if text[pos] != "#":
            continue
        newlines = text.count("\n", counted, pos)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", counted, pos) + 1
        counted = pos
        end = m.end()
        col = pos - line_start + 1
        yield ast.Comment(
            text[pos:end].rstrip(), ast.Span(line, col, line, col + end - pos, pos, end)
        )
