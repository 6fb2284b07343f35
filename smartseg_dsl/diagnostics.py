"""Diagnostics: what the parser and checker report, and the code registry.

A `Diagnostic` carries the file, the 1-based line/column range of the
offending token, a severity, a stable code (`SEG` + 3 digits; the first digit
is the class: 1 syntax, 2 names, 3 types and values, 4 rule logic, 5 limits),
a message, and an optional `help` line saying how to fix it.

Every code the project emits is registered here (`CODES`), with a short name
(the SARIF rule name), its default severity, a one-line summary and a longer
explanation; each also has a page `docs/codes/<CODE>.md` with a bad and a good
example (a test keeps the two in step). Renderers for the text, JSON, GitHub
and SARIF formats live in `report.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .ast import Span

__all__ = [
    "CODES",
    "DOCS_URL",
    "HOME_URL",
    "UNSUPPRESSIBLE_CLASSES",
    "CodeInfo",
    "Diagnostic",
    "Severity",
]

Severity = Literal["error", "warning"]

#: Where the project and the per-code documentation live (SARIF `informationUri`
#: and `helpUri`). The docs pages are `docs/codes/<CODE>.md` in the repository.
HOME_URL = "https://github.com/smartseg/smartseg"
DOCS_URL = HOME_URL + "/blob/main/docs/codes/{code}.md"

#: Code classes a `# smartseg: ignore[...]` comment cannot silence: after a syntax
#: error there is no trustworthy tree, and a rule set over the cookie budget
#: would break the runtime guarantee of SPEC §2.2.
UNSUPPRESSIBLE_CLASSES = frozenset({"1", "5"})


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    code: str
    message: str
    help: str | None = None

    @classmethod
    def at(
        cls,
        file: str,
        span: Span,
        code: str,
        message: str,
        *,
        help: str | None = None,
        severity: Severity | None = None,
    ) -> Diagnostic:
        return cls(
            file=file,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
            severity=severity or CODES[code].severity,
            code=code,
            message=message,
            help=help,
        )

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    name: str  # a short kebab-case name, used as the SARIF rule name
    severity: Severity
    summary: str  # one line: SARIF shortDescription, docs index
    explanation: str  # a paragraph: SARIF fullDescription / help

    @property
    def docs_url(self) -> str:
        return DOCS_URL.format(code=self.code)


#: The registry of every code the project emits, in code order.
CODES: dict[str, CodeInfo] = {}


def _code(code: str, name: str, severity: Severity, summary: str, explanation: str) -> None:
    CODES[code] = CodeInfo(code, name, severity, summary, explanation)


# ---------------------------------------------------------------- SEG1xx syntax
_code(
    "SEG101",
    "unexpected-token",
    "error",
    "The parser found something it did not expect.",
    "The file does not follow the grammar of the language at this point. The message "
    "says what was found and what could have come instead.",
)
_code(
    "SEG102",
    "unterminated-string",
    "error",
    "A text has no closing double quote.",
    'Texts are written in double quotes on one line: "like this". A quote that is '
    "never closed swallows the rest of the line.",
)
_code(
    "SEG103",
    "invalid-character",
    "error",
    "A character that cannot start any word of the language.",
    "Only names, numbers, durations, percentages, texts in double quotes, comparisons "
    "and the punctuation `{ } ( ) , . = -` can appear outside comments.",
)
_code(
    "SEG104",
    "bad-literal",
    "error",
    "A malformed number, duration or percentage.",
    "Durations are a number and a unit with no space (30s, 15m, 24h, 7d, 2w); "
    "percentages are a number and `%` with no space (30%).",
)
_code(
    "SEG105",
    "unclosed-brace",
    "error",
    "A `{` is never closed.",
    "Every `{` that opens a group, a segment or a block of actions needs its `}`.",
)
_code(
    "SEG106",
    "bad-escape",
    "error",
    "An unknown escape sequence in a text.",
    'Inside double quotes only \\" (a double quote) and \\\\ (a backslash) can be escaped.',
)
_code(
    "SEG107",
    "unreadable-file",
    "error",
    "A file that cannot be read, is not UTF-8 text, or is too large.",
    "Rule files are UTF-8 text of at most 2 MB. The file could not be read as such, "
    "so none of its rules were checked.",
)
_code(
    "SEG108",
    "too-deeply-nested",
    "error",
    "Parentheses or `not`s nested too deeply to check.",
    "A condition nested more than 64 levels deep is refused; name parts of it as "
    "audiences instead.",
)

# ----------------------------------------------------------------- SEG2xx names
_code(
    "SEG201",
    "unknown-segment",
    "error",
    "A segment that no group defines.",
    "Segments are referred to as `Group.Segment`, and the segment must be declared "
    "inside that group (in any file of the rule set).",
)
_code(
    "SEG202",
    "unknown-group",
    "error",
    "A group that no file defines.",
    "`most_likely`, `known`, `order slot … by`, `about` and `Group.Segment` "
    "references need a group declared with `group Name { … }` in the rule set.",
)
_code(
    "SEG203",
    "keyword-as-name",
    "error",
    "A reserved word used as the name of a group, segment or audience.",
    "Keywords and the names of built-in functions and values are reserved, because a "
    "name in a condition is looked up among them first.",
)
_code(
    "SEG204",
    "unknown-name",
    "error",
    "A name in a condition that is neither an audience nor a built-in value.",
    "A bare name in a condition must be an audience (`audience Name = …`) or one of "
    "`visits`, `pageviews`, `session_time`, `device`.",
)
_code(
    "SEG205",
    "duplicate-name",
    "error",
    "A group, segment or audience defined twice.",
    "Names are global across all files of a rule set: each group and audience is "
    "defined once, each segment once in its group, and an audience cannot share its "
    "name with a group.",
)
_code(
    "SEG206",
    "audience-cycle",
    "error",
    "Audiences that depend on each other in a circle.",
    "An audience may use other audiences, but never itself, directly or through "
    "others: its value would have no definition.",
)
_code(
    "SEG207",
    "unknown-goal",
    "error",
    "An experiment names a goal the rule set does not define.",
    "An experiment is judged on goals defined elsewhere in the rule set with "
    "`goal NAME = …`; the name after `goal` inside the experiment must be one of them "
    "(the message suggests the closest).",
)
_code(
    "SEG208",
    "unknown-template",
    "error",
    "A `with template` that the site's templates cannot load.",
    "Only reported when the templates are known: `smartseg check --templates DIR`, and "
    "the middleware at start-up (it refuses to start). The template is not in the "
    "template folders, or it does not compile; every page that needs it would keep "
    "the slot as the app made it.",
)

# -------------------------------------------------------- SEG3xx types & values
_code(
    "SEG301",
    "type-mismatch",
    "error",
    "A value of the wrong type: a comparison of unlike values, or a non-condition "
    "where a condition is needed.",
    "Numbers compare with numbers (a percentage is a number), durations with "
    "durations, texts with texts (== and != only); `is` compares segments or `none`; "
    "`and`, `or`, `not` and `when` need conditions.",
)
_code(
    "SEG302",
    "unknown-function",
    "error",
    "A call of a function the language does not have.",
    "The functions are confidence, score, certain, likely, most_likely, known, "
    "tagged, count, since, viewing and attribute.",
)
_code(
    "SEG303",
    "bad-arguments",
    "error",
    "A function called with the wrong number or kind of arguments, or a value "
    "called like a function.",
    "Each function takes exactly one argument of a given kind: a segment `G.S`, a "
    'group `G`, a text in quotes, or a matcher such as `page "/blog/**"`.',
)
_code(
    "SEG304",
    "threshold-out-of-range",
    "error",
    "A confidence or percentage outside 0..1 (0%..100%).",
    "A confidence is a fraction between 0 and 1, written 0.3 or 30%. A threshold "
    "outside that range is almost always a missing `%`.",
)
_code(
    "SEG305",
    "negative-weight",
    "error",
    "An implicit signal with a negative weight.",
    "A weight is the evidence one firing adds to its segment; evidence cannot be "
    "negative. To count against a segment, add evidence to the segments it competes "
    "with.",
)
_code(
    "SEG306",
    "max-below-weight",
    "error",
    "A signal's `max` is not positive or is below its weight.",
    "`max` caps the signal's total contribution; a cap below a single firing's weight "
    "(or a cap of zero) means the weight can never be earned.",
)
_code(
    "SEG307",
    "non-positive-prior",
    "error",
    "A group's `prior` is zero or negative.",
    'The prior is the evidence mass of "don\'t know yet"; it must be positive so '
    "implicit evidence never reaches certainty.",
)
_code(
    "SEG308",
    "non-positive-duration",
    "error",
    "A `decay` half-life or `within` window of zero.",
    "A half-life of zero would erase all evidence immediately, and a window of zero "
    "never contains anything.",
)
_code(
    "SEG309",
    "duplicate-setting",
    "error",
    "`prior` or `decay` given twice in one group, or `holdout` twice in a rule set.",
    "Each group has at most one `prior` and one `decay`, and a rule set at most one `holdout`.",
)
_code(
    "SEG310",
    "survey-without-about",
    "error",
    "A survey whose subject cannot be worked out.",
    "Without `about`, a survey asks about the one segment its rule's condition "
    "mentions; if the condition mentions none or several, say `about G.S` or "
    "`about G`.",
)
_code(
    "SEG311",
    "weight-on-explicit",
    "warning",
    "`weight` or `max` on an explicit signal.",
    "An explicit signal makes the visitor certain; weights only mean something on "
    "implicit signals, so they are ignored here.",
)
_code(
    "SEG312",
    "unknown-device",
    "warning",
    "`device` compared with a value it never has.",
    '`device` is always "mobile", "tablet" or "desktop".',
)
_code(
    "SEG313",
    "pattern-never-matches",
    "warning",
    "A matcher pattern that can never match.",
    "Paths start with `/` (so a page, landing or viewing glob must start with `/` or "
    "`*`), a referrer is a host name without scheme or path, and an empty tag, "
    "category or event name never fires.",
)

_code(
    "SEG314",
    "goal-value-needs-event",
    "error",
    "A goal with `value` whose condition is not a single `event` matcher.",
    "A value goal records a number each time its event fires (an order total, say), so "
    'its condition must be `event "name"` alone; a goal reached by a page or a '
    "condition has no firing to attach a value to.",
)
_code(
    "SEG315",
    "share-out-of-range",
    "error",
    "A `holdout` or an experiment's `traffic` share outside (0, 100%].",
    "A holdout is the share of visitors kept from personalization to measure its lift, "
    "and an experiment's traffic the share of eligible visitors it enrols: each is more "
    "than 0 and at most 100% (written `10%` or `0.1`).",
)
_code(
    "SEG316",
    "variant-weight",
    "error",
    "An experiment variant's weight is not above 0.",
    "Weights are relative shares: `variant a 1` and `variant b 2` send a third of the "
    "enrolled visitors to `a` and two thirds to `b`. A weight of 0 or less would send "
    "nobody; remove the variant instead.",
)
_code(
    "SEG317",
    "too-few-variants",
    "error",
    "An experiment with fewer than two variants.",
    "An experiment compares variants, usually a control (a variant without actions) and "
    "one or more variants that change the page; with a single variant there is nothing "
    "to compare.",
)
_code(
    "SEG318",
    "bad-date",
    "error",
    "A `from` or `until` date that is not a real YYYY-MM-DD date.",
    "Experiment dates are UTC calendar dates written YYYY-MM-DD (`from 2026-12-01`); "
    "the month is 01–12 and the day exists in that month.",
)
_code(
    "SEG319",
    "empty-schedule",
    "error",
    "An experiment whose `until` is not after its `from`.",
    "`from` is the first day the experiment runs and `until` the first day it no longer "
    "does (exclusive), so `until` must be a later date or the experiment never runs.",
)

# ------------------------------------------------------------ SEG4xx rule logic
_code(
    "SEG401",
    "never-true",
    "error",
    "A condition that can never be true.",
    "The checker reasons about the ranges of confidences, scores, counts, visits and "
    "durations: a condition that no visitor can meet is a mistake, and its rule "
    "would never fire.",
)
_code(
    "SEG402",
    "always-true",
    "warning",
    "A condition that is true for every visitor.",
    "The condition cannot be false (for instance `confidence(G.S) >= 0`); the rule "
    "behaves like a bare action, which is rarely what was meant.",
)
_code(
    "SEG403",
    "shadowed-rule",
    "warning",
    "A rule whose every action is taken by earlier rules.",
    "For each slot the first rule that fires wins. When an earlier rule acts on the "
    "same slot whenever this one would, this rule never takes effect.",
)
_code(
    "SEG404",
    "conflicting-actions",
    "error",
    "One rule acts on the same slot twice.",
    "Only one action applies to a slot; two actions of one rule on the same slot "
    "contradict each other.",
)
_code(
    "SEG405",
    "segment-without-signals",
    "warning",
    "A segment with no signal and no survey that could ever select it.",
    "Without an explicit or implicit signal (or a survey about it or its group) no "
    "visitor can ever be in the segment.",
)
_code(
    "SEG406",
    "unused-audience",
    "warning",
    "An audience that no rule or other audience uses.",
    "An audience nothing refers to has no effect on pages.",
)
_code(
    "SEG407",
    "empty-block",
    "warning",
    "A rule with an empty `{ }` block.",
    "A rule without actions does nothing.",
)
_code(
    "SEG408",
    "survey-never-shown",
    "warning",
    "A survey whose rule only fires when the answer is already known.",
    "A survey is never shown once `known(G)` holds for its group, so a rule whose "
    "condition implies it (such as `certain(G.S)`) never shows its survey.",
)

_code(
    "SEG409",
    "detached-action",
    "warning",
    "An indented action under a `when` rule without braces: it always applies.",
    "A `when` rule without braces has exactly one action. An indented action on the "
    "next line looks like part of the rule but is a separate, bare action that applies "
    "to every visitor; put the actions in `{ }`.",
)

_code(
    "SEG410",
    "large-holdout",
    "warning",
    "A holdout above 20% of visitors.",
    "Every visitor in the holdout sees the unpersonalized site. 5% to 10% is usually "
    "enough to measure lift within weeks; a larger holdout costs conversions for as "
    "long as it stays.",
)
_code(
    "SEG411",
    "overlapping-experiments",
    "warning",
    "Two experiments act on the same slot at overlapping dates.",
    "A slot takes the first action in rule order, so while both run the later experiment's "
    "variant seldom reaches the page and its results mean little. Give them dates that do "
    "not overlap, or test different slots.",
)
_code(
    "SEG412",
    "shadowed-experiment",
    "warning",
    "An experiment whose every slot an earlier rule always takes.",
    "An experiment acts at its position in the rule order. When, for every visitor it "
    "could enrol, earlier rules already take every slot its variants act on, no variant "
    "ever reaches the page and nobody is exposed.",
)
_code(
    "SEG413",
    "experiment-without-goal",
    "warning",
    "An experiment that names no goal.",
    "The report compares an experiment's variants on its goals (the first is primary); "
    "without one it can only count who was exposed.",
)

_code(
    "SEG414",
    "sync-audience-reads-the-page",
    "warning",
    "A `sync audience` that depends on the page being viewed.",
    "A synced audience's membership is sent to the CRM: every time an identified visitor "
    "enters or leaves it, a webhook is queued. A condition on the current page "
    "(`viewing(…)`) changes as the visitor moves between pages, so the CRM would get a "
    "webhook for nearly every page view. Base the audience on what the visitor did.",
)

# ---------------------------------------------------------------- SEG5xx limits
_code(
    "SEG501",
    "cookie-budget",
    "error",
    "The visitor state the rules need may not fit in the cookie.",
    "The Set-Cookie header value must stay within 4096 bytes for any visitor "
    "history (SPEC §2.2); the rules' worst-case state (counters, timestamps, facts, "
    "tags) exceeds it.",
)
_code(
    "SEG502",
    "inexact-count",
    "warning",
    "A windowed count compared with a number above 50.",
    "Counts within a window are exact only up to 50 (SPEC §1.4); comparisons "
    "against larger numbers may be approximate.",
)
