"""The language's vocabulary: what a rule set may say, and what a survey accepts.

* `Type` and the built-in functions (`FUNCTIONS`: argument kind, result type,
  example and the sentence people read in hover and completion) and values
  (`VALUES`) of SPEC §1.4; `docs/language.md` lists the same names and types
  (tests/test_symbols.py keeps the two in step);
* the matcher kinds `count` and `since` take (`COUNT_KINDS`) and the devices;
* `answer_choices`: the one rule for the answers a survey accepts;
* `Symbols`: what the checker resolved in one rule set (definitions by name, every
  expression's type, audience dependency order, survey subjects, the state layout),
  handed to the compiler so it never re-derives them.

Free of any other smartseg module at run time (the AST and state types are named
for type checkers only), so the engine, the answer bank, the middleware, the
checker, the compiler and the language server can all import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from . import ast
    from .state import Layout

__all__ = [
    "ANSWER_LABELS",
    "ANY",
    "BOOL",
    "COUNT_KINDS",
    "DEVICES",
    "DURATION",
    "ERROR",
    "EXACT_COUNT_LIMIT",
    "FUNCTIONS",
    "NO",
    "NONE",
    "NUMBER",
    "OTHER",
    "STRING",
    "VALUES",
    "YES",
    "Function",
    "Symbols",
    "Type",
    "answer_choices",
]

# ======================================================================= types

TypeKind = Literal["number", "duration", "bool", "string", "segment", "none", "any", "error"]


@dataclass(frozen=True, slots=True)
class Type:
    """The type of an expression.

    `segment` types carry their group; `nullable` marks values that may be
    `none` (`since(...)`, `attribute(...)`, `most_likely(G)`); `any` is what
    `attribute()` returns (a text, a number or none); `error` marks an
    expression already reported, so no second diagnostic cascades from it.
    """

    kind: TypeKind
    group: str | None = None
    nullable: bool = False

    def describe(self) -> str:
        base = {
            "number": "a number",
            "duration": "a duration",
            "bool": "a condition (true or false)",
            "string": "a text",
            "segment": f"a segment of {self.group}",
            "none": "none",
            "any": "an app-supplied value",
            "error": "an invalid value",
        }[self.kind]
        return base + (" or none" if self.nullable and self.kind not in ("none", "any") else "")


NUMBER = Type("number")
DURATION = Type("duration")
BOOL = Type("bool")
STRING = Type("string")
NONE = Type("none")
ANY = Type("any", nullable=True)
ERROR = Type("error")

ArgKind = Literal["segment", "group", "text", "matcher", "count-matcher"]


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in function: one argument of `arg` kind; `result` None means segment-of-G.

    `doc` is one sentence for people (the language server's hover and completion).
    """

    name: str
    arg: ArgKind
    result: Type | None
    example: str
    doc: str = ""


#: The functions of SPEC §1.4. Each takes exactly one argument.
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            "confidence",
            "segment",
            NUMBER,
            "confidence(Industry.Legal)",
            "How sure we are that the visitor belongs to the segment: 0 to 1 (1 when certain).",
        ),
        Function(
            "score",
            "segment",
            NUMBER,
            "score(Industry.Legal)",
            "The segment's evidence points: its implicit signals, after caps and decay.",
        ),
        Function(
            "certain",
            "segment",
            BOOL,
            "certain(Industry.Legal)",
            "True when the visitor told us (an explicit signal or a survey answer).",
        ),
        Function(
            "likely",
            "segment",
            BOOL,
            "likely(Industry.Legal)",
            "True when the segment is its group's most likely one.",
        ),
        Function(
            "most_likely",
            "group",
            None,
            "most_likely(Industry)",
            "The group's most likely segment, or none while nothing points anywhere.",
        ),
        Function(
            "known",
            "group",
            BOOL,
            "known(Industry)",
            'True when the group is answered: certain, or "None of these".',
        ),
        Function(
            "tagged",
            "text",
            BOOL,
            'tagged("lawyer")',
            "True when the visitor carries the tag.",
        ),
        Function(
            "viewing",
            "text",
            BOOL,
            'viewing("/pricing/**")',
            "True when the path of the current page matches the pattern.",
        ),
        Function(
            "attribute",
            "text",
            ANY,
            'attribute("plan")',
            "A value the site supplies for this page: a text, a number or none.",
        ),
        Function(
            "count",
            "count-matcher",
            NUMBER,
            'count(page "/blog/**" within 7d)',
            "How often a page, category, event or query matcher fired "
            "(in the last D with `within D`; ever without).",
        ),
        Function(
            "since",
            "matcher",
            Type("duration", nullable=True),
            'since(event "purchase")',
            "The time since the matcher last fired, or none if it never did.",
        ),
    )
}

#: Built-in values (names, not calls).
VALUES: dict[str, Type] = {
    "visits": NUMBER,
    "pageviews": NUMBER,
    "session_time": DURATION,
    "device": STRING,
}

DEVICES = ("mobile", "tablet", "desktop")
COUNT_KINDS = ("page", "category", "event", "query")
#: SPEC §1.4: counts must be exact against constants up to this.
EXACT_COUNT_LIMIT = 50


# ==================================================================== surveys

#: The answers to a yes/no survey (about a segment `G.S`).
YES, NO = "yes", "no"
#: "None of these": the answer to a choice survey (about a group `G`) that picks no segment.
OTHER = "other"
#: How the survey form labels the answers that are not segments.
ANSWER_LABELS = {YES: "Yes", NO: "No", OTHER: "None of these"}


def answer_choices(about: str, segments: Sequence[str]) -> tuple[str, ...]:
    """The answers a survey about `about` accepts (SPEC §3.5): the one rule.

    About a segment `G.S`: `yes` or `no`. About a group `G` (whose segment names
    are `segments`): one of them, or `other`. `about` is assumed to name a
    group or segment that exists; callers check that first.
    """
    return (YES, NO) if "." in about else (*segments, OTHER)


# ==================================================================== a rule set


@dataclass(slots=True)
class Symbols:
    """What the checker resolved in one rule set; the compiler's input.

    Built by one run of the checker (`checker.check` returns them with the
    diagnostics, as `Checked.symbols`; `checker.resolve` alone) and handed to
    `compiler.compile_ruleset`, which reads the definitions, types, audience order
    and survey subjects from here instead of working them out again.

    Types and survey subjects are keyed by `id()` of the AST node, so they are
    valid as long as `ruleset` (kept here) is alive. Where a name is defined
    twice, the first definition wins (the second is a SEG205 error).
    """

    ruleset: ast.RuleSet
    groups: dict[str, ast.Group] = field(default_factory=dict)
    #: "Group.Segment" → segment
    segments: dict[str, ast.Segment] = field(default_factory=dict)
    audiences: dict[str, ast.Audience] = field(default_factory=dict)
    #: where each group/audience is defined: name → (file path, span of its name)
    defined_at: dict[str, tuple[str, ast.Span]] = field(default_factory=dict)
    #: audience name → the audiences its condition uses directly
    audience_deps: dict[str, set[str]] = field(default_factory=dict)
    #: audiences in dependency order (an audience after those it uses); cyclic ones left out
    audience_order: list[str] = field(default_factory=list)
    cyclic_audiences: set[str] = field(default_factory=set)
    types: dict[int, Type] = field(default_factory=dict)
    #: id(ShowSurvey) → "Group.Segment" (a yes/no survey) or "Group" (pick a segment)
    survey_about: dict[int, str] = field(default_factory=dict)
    #: goal name → its first definition
    goals: dict[str, ast.Goal] = field(default_factory=dict)
    #: the rule set's holdout share (the first `holdout`), None without one
    holdout: float | None = None
    #: experiment name → its first definition
    experiments: dict[str, ast.Experiment] = field(default_factory=dict)
    #: what the visitor state must hold (`state.Layout.from_ruleset`), built once for the
    #: cookie budget (SEG501); None if it could not be built
    layout: Layout | None = None

    def type_of(self, expr: ast.Expr | ast.MatcherArg) -> Type:
        """The inferred type of an expression of this rule set (ERROR if unknown)."""
        return self.types.get(id(expr), ERROR)

    def about(self, survey: ast.ShowSurvey) -> str | None:
        """The resolved subject of a survey action, or None if it has none."""
        return self.survey_about.get(id(survey))

    def segments_of(self, group: str) -> list[str]:
        g = self.groups.get(group)
        return [s.name.value for s in g.segments] if g is not None else []
