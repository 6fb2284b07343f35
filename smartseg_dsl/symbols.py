"""The language's vocabulary: what a rule set may say, and what a survey accepts.

* `Type` and the built-in functions (`FUNCTIONS`: argument kind, result type,
  example and the sentence people read in hover and completion) and values
  (`VALUES`) of SPEC §1.4; `docs/language.md` lists the same names and types
  (tests/test_symbols.py keeps the two in step);
* the matcher kinds `count` and `since` take (`COUNT_KINDS`) and the devices;
* `answer_choices`: the one rule for the answers a survey accepts.

Kept free of any other smartseg module, so the engine, the answer bank, the
middleware, the checker and the language server can all import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
