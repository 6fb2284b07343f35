"""The abstract syntax tree of the .seg language.

Every node is a frozen dataclass carrying the `Span` of the source it came
from. Spans are excluded from `==` and `hash`, so two trees compare equal when
they *mean* the same thing, wherever their tokens sit; `smartseg fmt` relies
on that to prove it never changes meaning.

Values are normalised at parse time: percentages are fractions (`30%` → 0.3),
durations are seconds (`2w` → 1_209_600.0), strings are unescaped. The source
text of a literal is kept in `text` (excluded from `==` as well) so tooling can
quote it back as written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal as TypingLiteral
from typing import TypeAlias, TypeVar

__all__ = [
    "KEYWORDS",
    "MATCHER_KINDS",
    "Action",
    "Audience",
    "BoolOp",
    "Boolean",
    "Call",
    "Compare",
    "Date",
    "Decay",
    "Duration",
    "Eligibility",
    "Experiment",
    "ExperimentGoal",
    "ExperimentItem",
    "Expr",
    "Goal",
    "Group",
    "HideSlot",
    "Holdout",
    "Is",
    "Item",
    "Matcher",
    "MatcherArg",
    "Name",
    "NoneLit",
    "Not",
    "Number",
    "OrderSlot",
    "Prior",
    "Ref",
    "ReplaceTemplate",
    "ReplaceText",
    "Rule",
    "RuleFile",
    "RuleSet",
    "Schedule",
    "Segment",
    "ShowSlot",
    "ShowSurvey",
    "Signal",
    "Span",
    "String",
    "Traffic",
    "Variant",
    "walk",
]

#: Words reserved by the language: none of them may name a group, segment or
#: audience. Built-in values and functions are reserved too, because a name in
#: a condition is looked up among them first.
KEYWORDS: frozenset[str] = frozenset(
    {
        # structure
        "group", "segment", "prior", "decay", "explicit", "implicit", "weight", "max",
        "audience", "when", "sync",
        # measurement
        "goal", "value", "holdout", "experiment", "traffic", "variant", "from", "until",
        # matchers
        "tag", "query", "category", "referrer", "landing", "page", "event", "within",
        # actions
        "show", "hide", "replace", "order", "slot", "with", "template", "by", "survey",
        "about", "in",
        # operators and literals
        "and", "or", "not", "is", "true", "false", "none",
        # built-in values and functions (SPEC §1.4)
        "visits", "pageviews", "session_time", "device",
        "confidence", "score", "certain", "likely", "most_likely", "known", "tagged",
        "count", "since", "viewing", "attribute",
    }
)  # fmt: skip

MatcherKind: TypeAlias = TypingLiteral[
    "tag", "query", "category", "referrer", "landing", "page", "event"
]
MATCHER_KINDS: tuple[str, ...] = (
    "tag", "query", "category", "referrer", "landing", "page", "event",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based lines and columns, end exclusive; 0-based offsets."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def cover(self, other: Span) -> Span:
        """The smallest span containing both."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = last if last.end >= first.end else first
        return Span(first.line, first.column, end.end_line, end.end_column, first.start, end.end)


NO_SPAN = Span(0, 0, 0, 0)


_T = TypeVar("_T")


def _last(body: tuple[object, ...], kind: type[_T]) -> _T | None:
    """The last item of `kind` in a body: a setting written twice counts as written last
    (the checker reports the repeat, SEG309)."""
    for item in reversed(body):
        if isinstance(item, kind):
            return item
    return None


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)  # type: ignore[return-value]


# --------------------------------------------------------------------- leaves


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier as written, with its own span (diagnostics point at it)."""

    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Number:
    """A number literal; `percent` marks one written as `30%` (value 0.3)."""

    value: float
    percent: bool = False
    text: str = field(default="", compare=False)
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration literal in seconds (`24h` → 86400.0)."""

    seconds: float
    text: str = field(default="", compare=False)
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class String:
    """A string literal, unescaped."""

    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class NoneLit:
    span: Span = _span()


# --------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Ref:
    """`Group.Segment`, or a single name: a group, an audience or a built-in value."""

    group: Name
    segment: Name | None = None
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return (
            self.group.value if self.segment is None else f"{self.group.value}.{self.segment.value}"
        )


@dataclass(frozen=True, slots=True)
class Matcher:
    """What a signal or `count`/`since` looks at: `page "/blog/**"`, `query seg "legal"`."""

    kind: MatcherKind
    pattern: String
    param: Name | None = None  # the query parameter name, for `query`
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class MatcherArg:
    """A matcher used as a function argument, optionally windowed: `page "/x" within 48h`."""

    matcher: Matcher
    within: Duration | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; the checker validates the name, arity and argument types."""

    func: Name
    args: tuple[Expr | MatcherArg, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BoolOp:
    """`and` / `or` over two or more operands (flattened: `a and b and c` is one node)."""

    op: TypingLiteral["and", "or"]
    operands: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Compare:
    op: TypingLiteral["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr
    op_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Is:
    """`X is Y` / `X is not Y`."""

    left: Expr
    right: Expr
    negated: bool = False
    span: Span = _span()


Expr: TypeAlias = (
    Number | Duration | String | Boolean | NoneLit | Ref | Call | Not | BoolOp | Compare | Is
)


# ------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class Signal:
    """`explicit tag "lawyer"` or `implicit category "law" weight 3 max 12`."""

    explicit: bool
    matcher: Matcher
    weight: Number | None = None
    cap: Number | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Segment:
    name: Name
    label: String | None = None
    signals: tuple[Signal, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Prior:
    value: Number
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Decay:
    half_life: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Group:
    """A group of competing segments. `body` keeps settings and segments in source order."""

    name: Name
    label: String | None = None
    body: tuple[Prior | Decay | Segment, ...] = ()
    span: Span = _span()

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(x for x in self.body if isinstance(x, Segment))

    @property
    def prior(self) -> Prior | None:
        """The last `prior` setting (the checker reports duplicates)."""
        return _last(self.body, Prior)

    @property
    def decay(self) -> Decay | None:
        return _last(self.body, Decay)


# ------------------------------------------------------------------ audiences


@dataclass(frozen=True, slots=True)
class Audience:
    name: Name
    condition: Expr
    span: Span = _span()
    #: `sync audience`: membership changes go to the CRM/ESP (SPEC §1.8, §7)
    synced: bool = False


# --------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class ShowSlot:
    slot: Name
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class HideSlot:
    slot: Name
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ReplaceText:
    slot: Name
    text: String
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ReplaceTemplate:
    slot: Name
    template: String
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class OrderSlot:
    slot: Name
    group: Name
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ShowSurvey:
    """`show survey "question" [about REF] [in slot s]`; `slot` None means `survey`."""

    question: String
    about: Ref | None = None
    slot: Name | None = None
    span: Span = _span()

    @property
    def slot_name(self) -> str:
        return self.slot.value if self.slot is not None else "survey"


Action: TypeAlias = ShowSlot | HideSlot | ReplaceText | ReplaceTemplate | OrderSlot | ShowSurvey


def action_slot(action: Action) -> str:
    """The slot an action acts on."""
    if isinstance(action, ShowSurvey):
        return action.slot_name
    return action.slot.value


@dataclass(frozen=True, slots=True)
class Rule:
    """`when COND ACTION`, `when COND { ACTION… }`, or a bare ACTION (condition None)."""

    condition: Expr | None
    actions: tuple[Action, ...]
    block: bool = False
    span: Span = _span()


# ---------------------------------------------------------------- measurement


@dataclass(frozen=True, slots=True)
class Goal:
    """`goal NAME ["label"] = CONDITION [value EXPR]` (SPEC §1.7).

    `condition` is a condition, or a bare `Matcher` meaning "this request fired it".
    """

    name: Name
    label: String | None
    condition: Expr | Matcher
    value: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Holdout:
    """`holdout 10%`: the share of visitors no rule acts on (SPEC §1.7)."""

    share: Number
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Date:
    """A `YYYY-MM-DD` literal as written (UTC); the checker validates the calendar."""

    text: str
    span: Span = _span()

    def moment(self) -> datetime | None:
        """Midnight UTC of this day; None when the text is not a real `YYYY-MM-DD` date."""
        if len(self.text) != 10:  # strptime would take 2026-1-5
            return None
        try:
            return datetime.strptime(self.text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Eligibility:
    """`when COND` inside an experiment: who may enter."""

    condition: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Traffic:
    """`traffic 50%`: the share of eligible visitors enrolled."""

    share: Number
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Variant:
    """`variant NAME WEIGHT [{ actions }]`; without actions it is a control."""

    name: Name
    weight: Number
    actions: tuple[Action, ...] = ()
    block: bool = False
    span: Span = _span()

    @property
    def control(self) -> bool:
        return not self.actions


@dataclass(frozen=True, slots=True)
class ExperimentGoal:
    """`goal NAME` inside an experiment: a goal it is judged on."""

    name: Name
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Schedule:
    """`from DATE` (inclusive) or `until DATE` (exclusive), UTC."""

    kind: TypingLiteral["from", "until"]
    date: Date
    span: Span = _span()


ExperimentItem: TypeAlias = Eligibility | Traffic | Variant | ExperimentGoal | Schedule


@dataclass(frozen=True, slots=True)
class Experiment:
    """`experiment NAME ["label"] { … }` (SPEC §1.7); `body` in source order.

    Settings written twice are kept (the checker reports them, SEG309); the
    properties read the last one, as for a group's `prior`.
    """

    name: Name
    label: String | None
    body: tuple[ExperimentItem, ...] = ()
    span: Span = _span()

    @property
    def when(self) -> Expr | None:
        found = _last(self.body, Eligibility)
        return found.condition if found is not None else None

    @property
    def traffic(self) -> Number | None:
        found = _last(self.body, Traffic)
        return found.share if found is not None else None

    @property
    def variants(self) -> tuple[Variant, ...]:
        return tuple(x for x in self.body if isinstance(x, Variant))

    @property
    def goals(self) -> tuple[ExperimentGoal, ...]:
        return tuple(x for x in self.body if isinstance(x, ExperimentGoal))

    def schedule(self, kind: str) -> Date | None:
        found = [x for x in self.body if isinstance(x, Schedule) and x.kind == kind]
        return found[-1].date if found else None  # the last one, as `_last` gives

    def slots(self) -> tuple[str, ...]:
        """Every slot some variant acts on, each once, in order."""
        return tuple(dict.fromkeys(action_slot(a) for v in self.variants for a in v.actions))


Item: TypeAlias = Group | Audience | Rule | Goal | Holdout | Experiment


# --------------------------------------------------------------- containers


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` comment; kept for the formatter and for `# smartseg: ignore[...]`."""

    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: str = field(compare=False)
    items: tuple[Item, ...] = ()
    comments: tuple[Comment, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All files of a rule set, in load order (lexicographic path order)."""

    files: tuple[RuleFile, ...] = ()

    def items(self) -> list[tuple[RuleFile, Item]]:
        return [(f, item) for f in self.files for item in f.items]

    @property
    def groups(self) -> list[Group]:
        return [i for f in self.files for i in f.items if isinstance(i, Group)]

    @property
    def audiences(self) -> list[Audience]:
        return [i for f in self.files for i in f.items if isinstance(i, Audience)]

    @property
    def goals(self) -> list[Goal]:
        return [i for f in self.files for i in f.items if isinstance(i, Goal)]

    @property
    def holdouts(self) -> list[Holdout]:
        return [i for f in self.files for i in f.items if isinstance(i, Holdout)]

    @property
    def experiments(self) -> list[Experiment]:
        return [i for f in self.files for i in f.items if isinstance(i, Experiment)]

    def rules(self) -> list[tuple[RuleFile, Rule]]:
        return [(f, i) for f in self.files for i in f.items if isinstance(i, Rule)]

    def deciders(self) -> list[tuple[RuleFile, Rule | Experiment]]:
        """Rules and experiments in rule order: together they decide the slots (§1.5, §1.7)."""
        return [(f, i) for f in self.files for i in f.items if isinstance(i, Rule | Experiment)]


def walk(expr: Expr | MatcherArg, *, into_calls: bool = True) -> Iterator[Expr | MatcherArg]:
    """Every sub-expression of `expr`, outermost first, left to right.

    A call's arguments are yielded too (a matcher argument as one node, not
    entered); with `into_calls=False` a call is yielded but not entered.
    """
    stack: list[Expr | MatcherArg] = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, BoolOp):
            stack.extend(reversed(node.operands))
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, Compare | Is):
            stack += [node.right, node.left]
        elif into_calls and isinstance(node, Call):
            stack.extend(reversed(node.args))
