"""The checker: names, types, value ranges and rule logic of a rule set (SEG2xx–SEG5xx).

`check(ruleset)` returns every diagnostic the rule set deserves beyond its
syntax; `resolve(ruleset)` returns the `Symbols` the compiler needs (the
definitions by name, every expression's type, the audiences in dependency
order, every survey's subject, the state layout), so the compiler never
re-derives them; the list `check` returns carries them too (`Checked.symbols`), so
the loader checks once and compiles from that run.

The passes, in order:

1. declarations — groups, segments, audiences across all files; duplicates,
   reserved words, group settings and signal values;
2. types — every expression of every audience and rule gets a `Type`; names are
   resolved with "did you mean" suggestions; function arguments are checked;
3. audience cycles;
4. logic — each well-typed condition is turned into negation normal form over
   *atoms* (a constant comparison on a term such as `confidence(G.S)` or
   `count(page "/x" within 7d)`, a segment choice such as `most_likely(G) is
   G.S`, an opaque flag such as `tagged("t")`), with audiences inlined. A small
   DPLL-style search with interval arithmetic per term decides whether the
   condition can be true (SEG401), can be false (SEG402), and whether a rule's
   condition implies an earlier rule's on the same slot (shadowing, SEG403).
   The search is exhaustive up to a step budget; past it the answer is "could
   be", so the checker never claims impossibility it has not proved (the
   solver is `logic.py`; the checker builds its atoms);
5. surveys, unused audiences, segments without signals, and the cookie budget
   (SEG501, computed by `budget.py`, the one size model shared with the engine).

`# smartseg: ignore[SEG401, SEG402]` comments are applied last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from . import ast, logic
from .diagnostics import CODES, UNSUPPRESSIBLE_CLASSES, Diagnostic
from .printer import expr_text, matcher_text, number_text, quote, short
from .symbols import (
    ANY,
    BOOL,
    COUNT_KINDS,
    DEVICES,
    DURATION,
    ERROR,
    EXACT_COUNT_LIMIT,
    FUNCTIONS,
    NONE,
    NUMBER,
    STRING,
    VALUES,
    Function,
    Symbols,
    Type,
)

__all__ = [
    "ANY",
    "BOOL",
    "DURATION",
    "FUNCTIONS",
    "NUMBER",
    "STRING",
    "VALUES",
    "Checked",
    "Symbols",
    "Type",
    "apply_suppressions",
    "check",
    "render_expr",
    "resolve",
    "suppressions",
]


# ============================================================ rendering exprs


def render_expr(e: ast.Expr | ast.MatcherArg) -> str:
    """Source-like text of an expression, for messages (`printer.expr_text`, explicit)."""
    return expr_text(e, explicit=True)


def _short(e: ast.Expr, limit: int = 60) -> str:
    return short(render_expr(e), limit)


# ================================================================== suggestions


def _suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate: a case-insensitive match first, then difflib's best."""
    pool = list(dict.fromkeys(candidates))
    if not pool:
        return None
    lower = name.lower()
    for c in pool:
        if c.lower() == lower:
            return c
    import difflib  # only needed when a name is wrong

    found = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not found:
        by_lower = {c.lower(): c for c in pool}
        found = [by_lower[x] for x in difflib.get_close_matches(lower, list(by_lower), 1, 0.6)]
    return found[0] if found else None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    best = _suggest(name, candidates)
    return f"did you mean `{best}`?" if best is not None else None


#: Why a term's domain is what it is, for "can never be true" messages.
_DOMAIN_WHY = {
    "conf": "a confidence is between 0 and 1",
    "score": "a score is never negative",
    "count": "a count is a whole number, never negative",
    "visits": "`visits` counts this visit too, so it is a whole number of at least 1",
    "pageviews": "`pageviews` counts this page view too, so it is a whole number of at least 1",
    "session_time": "a duration is never negative",
    "since": "a duration is never negative",
    "attr": "",
}


_INF = math.inf


# ==================================================================== checker

#: Codes that speak of names which a file with a syntax error may define in the
#: part the parser had to skip: silenced then (SPEC: go on with the other files).
#: When the names of the skipped text are known (`check(skipped_names=…)`), only a
#: diagnostic whose name is among them is silenced, and an audience cycle never is
#: (skipped text can only remove edges of the dependency graph, never add one).
_NAME_CODES = frozenset({"SEG201", "SEG202", "SEG204", "SEG206", "SEG207", "SEG406"})
#: The name a name diagnostic is about: the first `quoted` word of its message.
_QUOTED_NAME = re.compile(r"`([^`]*)`")


class _Condition:
    """A checked condition (of an audience or a rule) and what the logic pass made of it."""

    __slots__ = (
        "always", "expr", "expr_hash", "file", "key_rep", "keys", "neg", "never", "nnf", "ok",
        "segments",
    )  # fmt: skip

    def __init__(self, expr: ast.Expr, file: str) -> None:
        self.expr = expr
        self.file = file
        self.ok = True  # no error inside: safe to reason about
        self.nnf: logic.Node = logic.UNKNOWN
        self.neg: logic.Node = logic.UNKNOWN
        self.keys: set[object] = set()
        self.never = False
        self.always = False
        #: "G.S" → span of each segment the condition mentions directly
        self.segments: dict[str, ast.Span] = {}
        #: hash(expr), once known (a deep hash: the shadowing pass asks for every rule)
        self.expr_hash: int | None = None
        #: min(keys, key=repr), once known (the shadowing pass's index key)
        self.key_rep: object = None

    def hash(self) -> int:
        if self.expr_hash is None:
            self.expr_hash = hash(self.expr)
        return self.expr_hash

    def rep(self) -> object:
        """The key the shadowing pass files this condition under (`keys` not empty)."""
        if self.key_rep is None:
            self.key_rep = min(self.keys, key=repr)
        return self.key_rep


class _Checker:
    """One run of every pass over one rule set; `diagnostics` and `sym` are the results."""

    def __init__(
        self,
        ruleset: ast.RuleSet,
        syntax_errors: bool,
        skipped_names: Collection[str] | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.syntax_errors = syntax_errors
        self.skipped_names = skipped_names
        self.diagnostics: list[Diagnostic] = []
        self.sym = Symbols(ruleset)
        self.file = ""
        self.item_span = ast.Span(1, 1, 1, 1)
        self.failed = False
        self.cond: _Condition | None = None
        self.audience_conds: dict[str, _Condition] = {}
        self.rule_conds: list[tuple[ast.RuleFile, ast.Rule, _Condition | None]] = []
        self.goal_conds: dict[str, _Condition] = {}
        self.audience_uses: dict[str, list[tuple[str, ast.Span]]] = {}
        self.reasoner = logic.Reasoner(self.sym.segments_of, DEVICES)
        self._nnf_cache: dict[tuple[str, bool], logic.Node] = {}
        self._expanding: set[str] = set()
        self.current_audience: str | None = None
        #: audiences offered as "did you mean" for a misspelt name: not reported unused
        self.suggested: set[str] = set()
        self._goal_files: dict[str, str] = {}
        self._experiment_files: dict[str, str] = {}
        self._holdout_seen = False
        #: id(the rule standing for an experiment in `rule_conds`) → the experiment
        self.experiment_of: dict[int, ast.Experiment] = {}
        #: (audience, audience it uses) → where the use is, for cycle messages
        self._dep_spans: dict[tuple[str, str], tuple[str, ast.Span]] = {}

    # ------------------------------------------------------------- reporting
    def report(
        self,
        span: ast.Span,
        code: str,
        message: str,
        help: str | None = None,
        *,
        file: str | None = None,
    ) -> None:
        if CODES[code].severity == "error":
            self.failed = True
        if self.syntax_errors and code in _NAME_CODES and self.maybe_skipped(code, message):
            return
        if span.line < 1 or span.column < 1:
            span = self.item_span if self.item_span.line >= 1 else ast.Span(1, 1, 1, 1)
        self.diagnostics.append(Diagnostic.at(file or self.file, span, code, message, help=help))

    def maybe_skipped(self, code: str, message: str) -> bool:
        """Could the text a syntax error made the parser skip change this diagnostic?"""
        if self.skipped_names is None:
            return True  # not told what was skipped: anything may have been
        if code == "SEG206":
            return False
        m = _QUOTED_NAME.search(message)
        return m is None or m.group(1).rsplit(".", 1)[-1] in self.skipped_names

    # ------------------------------------------------------------------ run
    def run(self) -> list[Diagnostic]:
        self.declare()
        self.experiments()
        self.type_all()
        self.find_cycles()
        self.logic()
        self.surveys_and_slots()
        self.segment_warnings()
        self.detached_actions()
        self.unused_audiences()
        self.synced_audiences()
        self.budget()
        return self.diagnostics

    # ====================================================== 1. declarations
    def declare(self) -> None:
        sym = self.sym
        for f in self.ruleset.files:
            self.file = f.path
            for item in f.items:
                self.item_span = item.span
                if isinstance(item, ast.Group):
                    self.declare_group(f, item)
                elif isinstance(item, ast.Audience):
                    name = item.name.value
                    self.reserved(item.name, "an audience")
                    if self.duplicate(name, item.name, "audience"):
                        continue
                    sym.audiences[name] = item
                    sym.defined_at[name] = (f.path, item.name.span)
                elif isinstance(item, ast.Goal):
                    self.declare_goal(f, item)
                elif isinstance(item, ast.Holdout):
                    self.declare_holdout(item)

    def declare_goal(self, f: ast.RuleFile, goal: ast.Goal) -> None:
        self.reserved(goal.name, "a goal")
        self.declare_once(
            f, goal, "goal", self.sym.goals, self._goal_files, "remove or rename this goal"
        )

    def declare_once(
        self,
        f: ast.RuleFile,
        item: ast.Goal | ast.Experiment,
        kind: str,
        defined: dict[str, Any],
        files: dict[str, str],
        help: str,
    ) -> bool:
        """Record a goal or experiment in `defined` (its file in `files`); SEG205 and
        False when its name is already there."""
        name = item.name.value
        first = defined.get(name)
        if first is not None:
            self.report(
                item.name.span,
                "SEG205",
                f"{kind} `{name}` is already defined at {files[name]}:{first.name.span.line}",
                help,
            )
            return False
        defined[name] = item
        files[name] = f.path
        return True

    def declare_holdout(self, holdout: ast.Holdout) -> None:
        share = holdout.share
        if self.sym.holdout is not None or self._holdout_seen:
            self.report(
                ast.Span(
                    holdout.span.line,
                    holdout.span.column,
                    holdout.span.line,
                    holdout.span.column + len("holdout"),
                    holdout.span.start,
                ),
                "SEG309",
                "the rule set already has a `holdout`: there is at most one",
                "keep one `holdout` line (in any file of the rule set)",
            )
            return
        self._holdout_seen = True
        if not 0 < share.value <= 1:
            self.report(
                share.span,
                "SEG315",
                f"a holdout of {number_text(share)} is not a share between 0% (excluded) and 100%",
                f"write `holdout {number_text(share)}%`"
                if share.value > 1 and not share.percent
                else "write a percentage such as `holdout 10%`, or remove the line",
            )
            return
        self.sym.holdout = share.value
        if share.value > 0.2:
            self.report(
                share.span,
                "SEG410",
                f"a holdout of {number_text(share)} keeps personalization from more than a "
                "fifth of visitors",
                "5% to 10% is usually enough to measure lift; keep a larger holdout only "
                "for a short test",
            )

    def reserved(self, name: ast.Name, what: str) -> None:
        if name.value in ast.KEYWORDS:
            # reserved words are all lower case, and names are case-sensitive
            self.report(
                name.span,
                "SEG203",
                f"`{name.value}` is a reserved word and cannot name {what}",
                f"choose another name, such as `{name.value.capitalize()}`",
            )

    def duplicate(self, name: str, where: ast.Name, kind: str) -> bool:
        """Report a group/audience name defined before; True if it was."""
        sym = self.sym
        if name not in sym.defined_at:
            return False
        first_file, first_span = sym.defined_at[name]
        first_kind = "group" if name in sym.groups else "audience"
        same = "already defined" if first_kind == kind else f"already the name of a {first_kind}"
        self.report(
            where.span,
            "SEG205",
            f"{kind} `{name}` is {same} at {first_file}:{first_span.line}",
            "rename one of them" if first_kind != kind else f"remove or rename this {kind}",
        )
        return True

    def declare_group(self, f: ast.RuleFile, group: ast.Group) -> None:
        sym = self.sym
        name = group.name.value
        self.reserved(group.name, "a group")
        is_dup = self.duplicate(name, group.name, "group")
        segments = self.group_body(f, group)
        if not is_dup:
            sym.groups[name] = group
            sym.defined_at[name] = (f.path, group.name.span)
            sym.segments.update(segments)

    def group_body(self, f: ast.RuleFile, group: ast.Group) -> dict[str, ast.Segment]:
        """A group's settings, segments and signals, which depend on nothing else (SEG203,
        SEG205 within the group, SEG305–SEG309, SEG311, SEG313); its segments by `G.S`."""
        name = group.name.value
        segments: dict[str, ast.Segment] = {}
        seen_setting: dict[str, ast.Span] = {}
        seen_segment: dict[str, ast.Span] = {}
        for part in group.body:
            if isinstance(part, ast.Prior):
                self.setting_once(seen_setting, "prior", part.span)
                if part.value.value <= 0:
                    self.report(
                        part.value.span,
                        "SEG307",
                        f"the prior must be positive, not {number_text(part.value)}",
                        "leave it out for the default of 10, or give a positive number",
                    )
            elif isinstance(part, ast.Decay):
                self.setting_once(seen_setting, "decay", part.span)
                if part.half_life.seconds <= 0:
                    self.report(
                        part.half_life.span,
                        "SEG308",
                        "a half-life of zero would erase all evidence at once",
                        "give a positive half-life such as 30d, or leave `decay` out",
                    )
            else:
                self.reserved(part.name, "a segment")
                seg = part.name.value
                if seg in seen_segment:
                    self.report(
                        part.name.span,
                        "SEG205",
                        f"segment `{name}.{seg}` is already defined at "
                        f"{f.path}:{seen_segment[seg].line}",
                        "remove or rename this segment",
                    )
                    continue
                seen_segment[seg] = part.name.span
                segments[f"{name}.{seg}"] = part
                for signal in part.signals:
                    self.check_signal(signal)
        return segments

    def setting_once(
        self, seen: dict[str, ast.Span], what: str, span: ast.Span, owner: str = "group"
    ) -> None:
        if what in seen:
            self.report(
                ast.Span(span.line, span.column, span.line, span.column + len(what), span.start),
                "SEG309",
                f"this {owner} already has a `{what}` (line {seen[what].line})",
                f"keep one `{what}`",
            )
        else:
            seen[what] = span

    def check_signal(self, signal: ast.Signal) -> None:
        self.check_pattern(signal.matcher.kind, signal.matcher.pattern)
        if signal.explicit:
            for extra, word in ((signal.weight, "weight"), (signal.cap, "max")):
                if extra is not None:
                    self.report(
                        extra.span,
                        "SEG311",
                        f"`{word}` means nothing on an explicit signal: it makes the "
                        "visitor certain",
                        f"remove `{word} {number_text(extra)}`, or make the signal `implicit`",
                    )
            return
        weight = signal.weight.value if signal.weight is not None else 1.0
        if signal.weight is not None and weight < 0:
            self.report(
                signal.weight.span,
                "SEG305",
                f"a weight cannot be negative ({number_text(signal.weight)})",
                "give evidence to the competing segments instead",
            )
        cap = signal.cap
        if cap is not None:
            if cap.value <= 0:
                self.report(
                    cap.span,
                    "SEG306",
                    f"`max {number_text(cap)}` leaves this signal no contribution at all",
                    "give a positive cap at least as large as the weight, or drop `max`",
                )
            elif weight >= 0 and cap.value < weight:
                self.report(
                    cap.span,
                    "SEG306",
                    f"`max {number_text(cap)}` is below the weight {weight:g}: "
                    "one firing would already exceed it",
                    f"raise `max` to at least {weight:g}",
                )

    def check_pattern(self, kind: str, pattern: ast.String) -> None:
        text = pattern.value
        if kind in ("page", "landing", "viewing"):
            if not text.startswith(("/", "*")):
                self.report(
                    pattern.span,
                    "SEG313",
                    f"the path pattern {quote(text)} never matches: paths start with `/`",
                    f"write {quote('/' + text.lstrip('/'))}",
                )
        elif kind == "referrer":
            if "://" in text or "/" in text or not text:
                host = text.split("://", 1)[-1].split("/", 1)[0]
                self.report(
                    pattern.span,
                    "SEG313",
                    f"the referrer {quote(text)} never matches: a referrer is a host name",
                    f"write {quote(host)}" if host else 'write a host such as "example.com"',
                )
        elif kind in ("tag", "category", "event") and not text.strip():
            self.report(pattern.span, "SEG313", f"an empty {kind} name never matches")

    # ============================================================= 2. types
    def type_all(self) -> None:
        for f in self.ruleset.files:
            self.file = f.path
            for item in f.items:
                self.item_span = item.span
                if isinstance(item, ast.Audience):
                    if self.sym.audiences.get(item.name.value) is not item:
                        # a duplicate: still type it, for its own mistakes
                        self.condition(item.condition, f.path, audience=None)
                    else:
                        cond = self.condition(item.condition, f.path, audience=item.name.value)
                        self.audience_conds[item.name.value] = cond
                elif isinstance(item, ast.Rule):
                    cond = (
                        self.condition(item.condition, f.path, audience=None)
                        if item.condition is not None
                        else None
                    )
                    self.rule_conds.append((f, item, cond))
                elif isinstance(item, ast.Goal):
                    self.type_goal(f, item)
                elif isinstance(item, ast.Experiment):
                    when = item.when
                    cond = (
                        self.condition(when, f.path, audience=None, where="an experiment's `when`")
                        if when is not None
                        else None
                    )
                    # in the rule order, an experiment is a rule acting on its variants' slots
                    actions = tuple(a for v in item.variants for a in v.actions)
                    stand_in = ast.Rule(when, actions, True, item.span)
                    self.experiment_of[id(stand_in)] = item
                    self.rule_conds.append((f, stand_in, cond))

    def type_goal(self, f: ast.RuleFile, goal: ast.Goal) -> None:
        condition = goal.condition
        if isinstance(condition, ast.Matcher):
            self.check_pattern(condition.kind, condition.pattern)
        else:
            cond = self.condition(condition, f.path, audience=None, where="a goal")
            if self.sym.goals.get(goal.name.value) is goal:
                self.goal_conds[goal.name.value] = cond
        if goal.value is None:
            return
        t = self.type(goal.value)
        if t.kind not in ("number", "any", "error"):
            self.report(
                goal.value.span,
                "SEG301",
                f"a goal's value must be a number, but `{_short(goal.value)}` is {t.describe()}",
                'use a number the app supplies, such as `value attribute("order_total")`',
            )
        if not (isinstance(condition, ast.Matcher) and condition.kind == "event"):
            self.report(
                goal.value.span,
                "SEG314",
                "a goal with `value` must be reached by an event: its condition must be "
                '`event "name"` alone',
                'write `goal NAME = event "purchase" value attribute("order_total")`, '
                "or drop `value`",
            )

    def condition(
        self, expr: ast.Expr, file: str, audience: str | None, where: str | None = None
    ) -> _Condition:
        cond = _Condition(expr, file)
        self.cond = cond
        self.current_audience = audience
        if audience is not None:
            self.sym.audience_deps.setdefault(audience, set())
        self.failed = False
        t = self.type(expr)
        if where is None:
            where = "an audience" if audience is not None else "`when`"
        self.require_bool(expr, t, where)
        cond.ok = not self.failed
        self.cond = None
        return cond

    def type(self, e: ast.Expr) -> Type:
        t = self._type(e)
        self.sym.types[id(e)] = t
        return t

    def _type(self, e: ast.Expr) -> Type:
        if isinstance(e, ast.Number):
            if e.percent and not 0 <= e.value <= 1:
                self.report(
                    e.span,
                    "SEG304",
                    f"{number_text(e)} is not a percentage between 0% and 100%",
                )
            return NUMBER
        if isinstance(e, ast.Duration):
            return DURATION
        if isinstance(e, ast.String):
            return STRING
        if isinstance(e, ast.Boolean):
            return BOOL
        if isinstance(e, ast.NoneLit):
            return NONE
        if isinstance(e, ast.Ref):
            return self.type_ref(e)
        if isinstance(e, ast.Call):
            return self.type_call(e)
        if isinstance(e, ast.Not):
            self.require_bool(e.operand, self.type(e.operand), "`not`")
            return BOOL
        if isinstance(e, ast.BoolOp):
            for operand in e.operands:
                self.require_bool(operand, self.type(operand), f"`{e.op}`")
            return BOOL
        if isinstance(e, ast.Compare):
            return self.type_compare(e)
        if isinstance(e, ast.Is):
            return self.type_is(e)
        return ERROR

    def require_bool(self, e: ast.Expr, t: Type, where: str) -> None:
        if t.kind in ("bool", "error"):
            return
        shown = _short(e)
        help: str | None = None
        if t.kind == "number":
            help = f"compare it with a number, e.g. `{shown} > 3`"
        elif t.kind == "duration":
            help = f"compare it with a duration, e.g. `{shown} > 10m`"
        elif t.kind == "segment" and isinstance(e, ast.Ref) and e.segment is not None:
            help = f"write `certain({shown})` or `likely({shown})`"
        elif t.kind == "segment":
            help = f"compare it with a segment, e.g. `{shown} is none`"
        elif t.kind == "string":
            help = f'compare it with a text, e.g. `{shown} == "mobile"`'
        self.report(
            e.span,
            "SEG301",
            f"{where} needs a condition, but `{shown}` is {t.describe()}",
            help,
        )

    # -- names
    def group_type_error(self, e: ast.Ref) -> Type:
        g = e.group.value
        segs = self.sym.segments_of(g)
        example = f"likely({g}.{segs[0]})" if segs else f"known({g})"
        self.report(
            e.span,
            "SEG301",
            f"`{g}` is a group, not a value",
            f"use a function of the group, e.g. `{example}` or `most_likely({g}) is none`",
        )
        return ERROR

    def type_ref(self, e: ast.Ref) -> Type:
        name = e.group.value
        if e.segment is not None:
            return self.resolve_segment_ref(e)
        if name in VALUES:
            return VALUES[name]
        if name in FUNCTIONS:
            fn = FUNCTIONS[name]
            self.report(
                e.span,
                "SEG303",
                f"`{name}` is a function and needs an argument",
                f"write `{fn.example}`",
            )
            return ERROR
        if name in self.sym.audiences:
            self.use_audience(name, e.span)
            return BOOL
        if name in ast.KEYWORDS:
            # where a value is expected the parser reads any word as a name, so
            # `visits > and …` arrives here with `and` as the "value"
            self.report(
                e.span,
                "SEG204",
                f"expected a value, found the keyword `{name}`",
                "something is missing before it",
            )
            return ERROR
        if name in self.sym.groups:
            return self.group_type_error(e)
        owners = self.segment_owners(name)
        if owners:
            return self.bare_segment(e, owners)
        best = _suggest(name, [*self.sym.audiences, *VALUES])
        if best in self.sym.audiences:
            self.suggested.add(best)  # one typo, one diagnostic: not also "unused"
        self.report(
            e.span,
            "SEG204",
            f"unknown name `{name}`: not an audience or a built-in value",
            f"did you mean `{best}`?" if best else None,
        )
        return ERROR

    def use_audience(self, name: str, span: ast.Span) -> None:
        self.audience_uses.setdefault(name, []).append((self.file, span))
        if self.current_audience is not None:
            self.sym.audience_deps.setdefault(self.current_audience, set()).add(name)
            self._dep_spans[(self.current_audience, name)] = (self.file, span)

    def segment_owners(self, seg: str) -> list[str]:
        return [
            g
            for g, grp in self.sym.groups.items()
            if any(s.name.value == seg for s in grp.segments)
        ]

    def bare_segment(self, e: ast.Ref, owners: list[str]) -> Type:
        name = e.group.value
        full = f"{owners[0]}.{name}"
        self.report(
            e.span,
            "SEG201",
            f"unknown segment `{name}`: a segment is written with its group",
            f"write `{full}`"
            + (
                f" (or {', '.join(f'`{g}.{name}`' for g in owners[1:])})" if len(owners) > 1 else ""
            ),
        )
        return ERROR

    def resolve_segment_ref(self, e: ast.Ref) -> Type:
        """`G.S` in any position: its type, after reporting an unknown G or S."""
        assert e.segment is not None
        g, s = e.group.value, e.segment.value
        if g not in self.sym.groups:
            owners = self.segment_owners(s)
            help = (
                f"did you mean `{owners[0]}.{s}`?" if owners else _did_you_mean(g, self.sym.groups)
            )
            if g in self.sym.audiences:
                help = f"`{g}` is an audience; use it on its own: `{g}`"
            self.report(e.group.span, "SEG202", f"unknown group `{g}`", help)
            return ERROR
        segs = self.sym.segments_of(g)
        if s not in segs:
            best = _suggest(s, segs)
            help: str | None = f"did you mean `{g}.{best}`?" if best else None
            if best is None:
                elsewhere = [o for o in self.segment_owners(s) if o != g]
                if elsewhere:
                    help = f"`{s}` is a segment of {elsewhere[0]}: `{elsewhere[0]}.{s}`"
                elif segs:
                    help = f"the segments of {g} are " + ", ".join(f"`{x}`" for x in segs)
            self.report(e.span, "SEG201", f"unknown segment `{g}.{s}`", help)
            return ERROR
        if self.cond is not None:
            self.cond.segments.setdefault(f"{g}.{s}", e.span)
        return Type("segment", g)

    # -- calls
    def type_call(self, e: ast.Call) -> Type:
        name = e.func.value
        fn = FUNCTIONS.get(name)
        if fn is None:
            for arg in e.args:
                if not isinstance(arg, ast.MatcherArg):
                    self.type(arg)  # report mistakes inside too
            if name in VALUES:
                self.report(
                    e.span,
                    "SEG303",
                    f"`{name}` is a value, not a function",
                    f"write `{name}` without parentheses",
                )
            elif name in self.sym.audiences:
                self.use_audience(name, e.func.span)
                self.report(
                    e.span,
                    "SEG303",
                    f"`{name}` is an audience, not a function",
                    f"write `{name}` without parentheses",
                )
            else:
                self.report(
                    e.func.span,
                    "SEG302",
                    f"unknown function `{name}`",
                    _did_you_mean(name, FUNCTIONS),
                )
            return ERROR
        if len(e.args) != 1:
            for arg in e.args:
                if not isinstance(arg, ast.MatcherArg):
                    self.type(arg)
            got = "no argument" if not e.args else f"{len(e.args)} arguments"
            self.report(
                e.span,
                "SEG303",
                f"`{name}` takes one argument, not {got}",
                f"write `{fn.example}`",
            )
            return ERROR
        arg = e.args[0]
        if fn.arg == "segment":
            return self.segment_arg(fn, arg)
        if fn.arg == "group":
            return self.group_arg(fn, arg)
        if fn.arg == "text":
            if not isinstance(arg, ast.String):
                if not isinstance(arg, (ast.MatcherArg, ast.Ref)):
                    self.type(arg)  # a bare word is the text without its quotes
                text = render_expr(arg)
                help = f"write `{name}({quote(text)})`" if isinstance(arg, ast.Ref) else None
                self.report(
                    arg.span,
                    "SEG303",
                    f"`{name}` takes a text in double quotes, such as `{fn.example}`",
                    help,
                )
                return ERROR
            self.sym.types[id(arg)] = STRING
            if name == "viewing":
                self.check_pattern("viewing", arg)
            elif name == "tagged":
                self.check_pattern("tag", arg)
            return fn.result  # type: ignore[return-value]
        # matchers
        if not isinstance(arg, ast.MatcherArg):
            self.type(arg)
            self.report(
                arg.span,
                "SEG303",
                f"`{name}` takes a matcher such as `{fn.example}`",
                None,
            )
            return ERROR
        m = arg.matcher
        self.check_pattern(m.kind, m.pattern)
        if arg.within is not None and arg.within.seconds <= 0:
            self.report(
                arg.within.span,
                "SEG308",
                "a window of zero never contains anything",
                "give a positive window such as 24h, or drop `within` to count ever",
            )
        if name == "since" and arg.within is not None:
            self.report(
                arg.within.span,
                "SEG303",
                "`since` has no window: it is the time since the matcher last fired",
                f"drop `within {render_expr(arg.within)}`, or compare: "
                f"`since({matcher_text(m)}) < {render_expr(arg.within)}`",
            )
            return ERROR
        if name == "count" and m.kind not in COUNT_KINDS:
            help = {
                "tag": f"to test a tag write `tagged({quote(m.pattern.value)})`",
                "referrer": f"a first referrer is recorded once: write "
                f"`since({matcher_text(m)}) is not none`",
                "landing": f"a landing page is recorded once: write "
                f"`since({matcher_text(m)}) is not none`",
            }.get(m.kind)
            self.report(
                m.span,
                "SEG303",
                f"`count` counts page, category, event or query matches, not `{m.kind}`",
                help,
            )
            return ERROR
        return fn.result  # type: ignore[return-value]

    def segment_arg(self, fn: Function, arg: ast.Expr | ast.MatcherArg) -> Type:
        name = fn.name
        if isinstance(arg, ast.Ref):
            self.sym.types[id(arg)] = ERROR
            if arg.segment is not None:
                t = self.resolve_segment_ref(arg)
                self.sym.types[id(arg)] = t
                return ERROR if t.kind == "error" else fn.result  # type: ignore[return-value]
            bare = arg.group.value
            if bare in self.sym.groups:
                segs = self.sym.segments_of(bare)
                example = f"{bare}.{segs[0]}" if segs else f"{bare}.Segment"
                self.report(
                    arg.span,
                    "SEG303",
                    f"`{name}` takes a segment such as `{example}`, not the group `{bare}`",
                    f"write `{name}({example})`"
                    + (f", or `most_likely({bare})` for the group" if name == "likely" else ""),
                )
                return ERROR
            owners = self.segment_owners(bare)
            if owners:
                self.bare_segment(arg, owners)
                return ERROR
            everything = [f"{g}.{s}" for g in self.sym.groups for s in self.sym.segments_of(g)]
            best = _suggest(bare, [x.split(".", 1)[1] for x in everything])
            help = None
            if best is not None:
                full = next(x for x in everything if x.split(".", 1)[1] == best)
                help = f"did you mean `{full}`?"
            self.report(arg.span, "SEG201", f"unknown segment `{bare}`", help)
            return ERROR
        if not isinstance(arg, ast.MatcherArg):
            self.type(arg)
        help = None
        if isinstance(arg, ast.String) and "." in arg.value:
            help = f"write it without quotes: `{name}({arg.value})`"
        self.report(
            arg.span,
            "SEG303",
            f"`{name}` takes a segment written `Group.Segment`, "
            f"such as `{FUNCTIONS[name].example}`",
            help,
        )
        return ERROR

    def group_arg(self, fn: Function, arg: ast.Expr | ast.MatcherArg) -> Type:
        name = fn.name
        if isinstance(arg, ast.Ref):
            self.sym.types[id(arg)] = ERROR
            if arg.segment is not None:
                g = arg.group.value
                alt = "likely" if name == "most_likely" else "certain"
                self.report(
                    arg.span,
                    "SEG303",
                    f"`{name}` takes a group, not the segment `{arg.dotted}`",
                    f"write `{name}({g})`, or `{alt}({arg.dotted})`",
                )
                return ERROR
            g = arg.group.value
            if g not in self.sym.groups:
                owners = self.segment_owners(g)
                help = (
                    f"`{g}` is a segment of {owners[0]}: write `{name}({owners[0]})`"
                    if owners
                    else _did_you_mean(g, self.sym.groups)
                )
                self.report(arg.span, "SEG202", f"unknown group `{g}`", help)
                return ERROR
            self.sym.types[id(arg)] = Type("segment", g)
            if fn.result is None:
                return Type("segment", g, nullable=True)
            return fn.result
        if not isinstance(arg, ast.MatcherArg):
            self.type(arg)
        self.report(
            arg.span,
            "SEG303",
            f"`{name}` takes a group name, such as `{fn.example}`",
            None,
        )
        return ERROR

    # -- comparisons
    def type_compare(self, e: ast.Compare) -> Type:
        lt, rt = self.type(e.left), self.type(e.right)
        if lt.kind == "error" or rt.kind == "error":
            return BOOL
        op = e.op
        ls, rs = _short(e.left, 40), _short(e.right, 40)
        if lt.kind == "none" or rt.kind == "none":
            other = rs if lt.kind == "none" else ls
            word = "is not" if op == "!=" else "is"
            self.report(
                e.span,
                "SEG301",
                f"`{op}` does not compare with none",
                f"write `{other} {word} none`" if op in ("==", "!=") else None,
            )
            return BOOL
        ok = _comparable(lt, rt, op)
        if not ok:
            help = None
            if {lt.kind, rt.kind} == {"duration", "number"}:
                num = e.right if rt.kind == "number" else e.left
                if isinstance(num, ast.Number) and not num.percent:
                    n = number_text(num)
                    help = f"durations need a unit: write `{n}s`, `{n}m`, `{n}d`…"
            elif lt.kind == "segment" and rt.kind == "segment" and op in ("==", "!="):
                help = f"write `{ls} {'is not' if op == '!=' else 'is'} {rs}`"
            elif "string" in (lt.kind, rt.kind) and op not in ("==", "!="):
                help = "texts can only be compared with == or !="
            elif "segment" in (lt.kind, rt.kind) and lt.kind != rt.kind:
                help = "compare a segment with `is`, e.g. `most_likely(Industry) is Industry.Legal`"
            self.report(
                e.span,
                "SEG301",
                f"cannot compare {lt.describe()} (`{ls}`) with {rt.describe()} (`{rs}`) "
                f"using `{op}`",
                help,
            )
            return BOOL
        self.value_checks(e)
        return BOOL

    def value_checks(self, e: ast.Compare) -> None:
        for term, const in ((e.left, e.right), (e.right, e.left)):
            if not isinstance(term, (ast.Call, ast.Ref)):
                continue
            if (
                isinstance(term, ast.Call)
                and term.func.value == "confidence"
                and isinstance(const, ast.Number)
                and not (const.percent and not 0 <= const.value <= 1)  # reported already
                and not 0 <= const.value <= 1
            ):
                help = "write a fraction such as 0.3 or a percentage such as 30%"
                if 1 < const.value <= 100 and const.value.is_integer() and not const.percent:
                    help = f"write `{number_text(const)}%` (or {const.value / 100:g})"
                self.report(
                    const.span,
                    "SEG304",
                    "a confidence is between 0 and 1 (0% and 100%); "
                    f"{number_text(const)} is outside",
                    help,
                )
            if (
                isinstance(term, ast.Ref)
                and term.segment is None
                and term.group.value == "device"
                and isinstance(const, ast.String)
                and const.value not in DEVICES
            ):
                self.report(
                    const.span,
                    "SEG312",
                    f'`device` is "mobile", "tablet" or "desktop", never {quote(const.value)}',
                    _did_you_mean(const.value, DEVICES) or 'use "mobile", "tablet" or "desktop"',
                )
            if (
                isinstance(term, ast.Call)
                and term.func.value == "count"
                and term.args
                and isinstance(term.args[0], ast.MatcherArg)
                and term.args[0].within is not None
                and isinstance(const, ast.Number)
                and const.value > EXACT_COUNT_LIMIT
            ):
                self.report(
                    const.span,
                    "SEG502",
                    f"counts within a window are exact only up to {EXACT_COUNT_LIMIT}; "
                    f"a comparison with {number_text(const)} may be approximate",
                    f"compare with {EXACT_COUNT_LIMIT} or less, or drop `within` to count ever",
                )

    def type_is(self, e: ast.Is) -> Type:
        lt, rt = self.type(e.left), self.type(e.right)
        if lt.kind == "error" or rt.kind == "error":
            return BOOL
        word = "is not" if e.negated else "is"
        if lt.kind == "segment" and rt.kind == "segment":
            if lt.group != rt.group:
                self.report(
                    e.span,
                    "SEG301",
                    f"`{_short(e.left, 40)}` is {lt.describe()}, `{_short(e.right, 40)}` "
                    f"is {rt.describe()}: they are never the same",
                    None,
                )
            return BOOL
        for a, b in ((lt, rt), (rt, lt)):
            if a.kind == "none" and (b.nullable or b.kind in ("segment", "none")):
                return BOOL
        help = None
        if lt.kind == rt.kind and lt.kind in ("number", "duration", "string"):
            help = (
                f"write `{_short(e.left, 40)} {'!=' if e.negated else '=='} {_short(e.right, 40)}`"
            )
        elif rt.kind == "none" or lt.kind == "none":
            help = "only values that may be none (since, attribute, most_likely) can be none"
        self.report(
            e.span,
            "SEG301",
            f"`{word}` compares segments or none, not {lt.describe()} with {rt.describe()}",
            help,
        )
        return BOOL

    # ===================================================== 3. audience cycles
    def find_cycles(self) -> None:
        sym = self.sym
        deps = sym.audience_deps
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        order: list[str] = []
        components: list[list[str]] = []
        counter = 0
        # Tarjan's algorithm, iteratively (audience chains may be long)
        for root in sym.audiences:
            if root in index:
                continue
            work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(deps.get(root, ()))))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, it = work[-1]
                advanced = False
                for nxt in it:
                    if nxt not in sym.audiences:
                        continue
                    if nxt not in index:
                        index[nxt] = low[nxt] = counter
                        counter += 1
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, iter(sorted(deps.get(nxt, ())))))
                        advanced = True
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp: list[str] = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.append(top)
                        if top == node:
                            break
                    components.append(comp)
                    if len(comp) == 1 and node not in deps.get(node, ()):
                        order.append(node)
        sym.audience_order = order
        position = {name: i for i, name in enumerate(sym.audiences)}
        for comp in components:
            if len(comp) == 1 and comp[0] not in deps.get(comp[0], ()):
                continue
            sym.cyclic_audiences.update(comp)
            members = set(comp)
            start = min(comp, key=position.__getitem__)
            path = [start]
            seen = {start}
            node = start
            while True:
                nxt = min(
                    (d for d in deps.get(node, ()) if d in members),
                    key=position.__getitem__,
                )
                path.append(nxt)
                if nxt in seen:
                    break
                seen.add(nxt)
                node = nxt
            cycle = path[path.index(path[-1]) :]
            file, span = self._dep_spans[(cycle[-2], cycle[-1])]
            self.report(
                span,
                "SEG206",
                "audience cycle: " + " → ".join(f"`{n}`" for n in cycle),
                "an audience cannot depend on itself; break the circle",
                file=file,
            )
            for name in comp:
                cond = self.audience_conds.get(name)
                if cond is not None:
                    cond.ok = False

    # ================================================================ 4. logic
    def logic(self) -> None:
        for name in self.sym.audience_order:
            cond = self.audience_conds.get(name)
            if cond is not None and cond.ok:
                self.analyse(cond, f"audience `{name}`")
        for _f, rule, cond in self.rule_conds:
            if cond is not None and cond.ok:
                owner = "this experiment" if id(rule) in self.experiment_of else "this rule"
                self.analyse(cond, owner)
        for name, cond in self.goal_conds.items():
            if cond.ok:
                self.analyse(cond, f"goal `{name}`")

    def analyse(self, cond: _Condition, owner: str) -> None:
        if isinstance(cond.expr, ast.Boolean):
            # `when true` / `when false` say what they mean on purpose (a rule
            # switched on or off): no diagnostic, but the logic still knows
            cond.always, cond.never = cond.expr.value, not cond.expr.value
            cond.nnf = logic.T if cond.expr.value else logic.F
            cond.neg = logic.F if cond.expr.value else logic.T
            return
        cond.key_rep = None
        cond.nnf = self.nnf(cond.expr, True)
        cond.neg = self.nnf(cond.expr, False)
        logic.keys_of(cond.nnf, cond.keys)
        reasoner = self.reasoner
        self.file = cond.file
        if not reasoner.sat([cond.nnf]):
            cond.never = True
            self.explain_never(cond, owner)
        elif not reasoner.sat([cond.neg]):
            cond.always = True
            self.report(
                cond.expr.span,
                "SEG402",
                f"this condition is always true, so {owner} applies to every visitor",
                "drop the condition (a bare action always applies) or fix the threshold",
                file=cond.file,
            )

    def explain_never(self, cond: _Condition, owner: str) -> None:
        expr = cond.expr
        conjuncts = (
            list(expr.operands) if isinstance(expr, ast.BoolOp) and expr.op == "and" else [expr]
        )
        nodes = [self.nnf(c, True) for c in conjuncts]
        reasoner = self.reasoner
        for c, n in zip(conjuncts, nodes, strict=True):
            if not reasoner.sat([n]):
                self.report(
                    c.span,
                    "SEG401",
                    f"`{_short(c)}` can never be true{self.why(c)}",
                    self.never_help(c),
                    file=cond.file,
                )
                return
        for k in range(1, len(nodes)):
            if reasoner.sat(nodes[: k + 1]):
                continue
            partner = next((j for j in range(k) if not reasoner.sat([nodes[j], nodes[k]])), None)
            if partner is not None:
                other = conjuncts[partner]
                message = (
                    f"`{_short(conjuncts[k], 50)}` can never be true together with "
                    f"`{_short(other, 50)}`"
                )
            else:
                message = (
                    f"`{_short(conjuncts[k], 50)}` can never be true together with the "
                    "conditions before it"
                )
            self.report(
                conjuncts[k].span,
                "SEG401",
                message,
                f"no visitor meets both, so {owner} never applies",
                file=cond.file,
            )
            return
        self.report(
            expr.span,
            "SEG401",
            "this condition can never be true",
            f"so {owner} never applies",
            file=cond.file,
        )

    def why(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Compare):
            for side in (e.left, e.right):
                term = self.term(side)
                if term is not None and _DOMAIN_WHY.get(term[0][0]):  # type: ignore[index]
                    return ": " + _DOMAIN_WHY[term[0][0]]  # type: ignore[index]
        return ""

    def never_help(self, e: ast.Expr) -> str | None:
        if (
            isinstance(e, ast.Compare)
            and isinstance(e.left, ast.Call)
            and e.left.func.value == "confidence"
            and e.op == ">"
            and isinstance(e.right, ast.Number)
            and e.right.value == 1
            and e.left.args
        ):
            return f"for certainty write `certain({render_expr(e.left.args[0])})`"
        return None

    # -- building NNF
    def term(self, e: ast.Expr) -> tuple[tuple[object, ...], logic.Dom] | None:
        """The term an expression denotes, with its domain; None if not a modelled term."""
        if isinstance(e, ast.Ref) and e.segment is None:
            name = e.group.value
            if name in ("visits", "pageviews"):
                return (name,), (1.0, _INF, True, False)
            if name == "session_time":
                return (name,), (0.0, _INF, False, False)
            return None
        if not isinstance(e, ast.Call) or len(e.args) != 1:
            return None
        name = e.func.value
        arg = e.args[0]
        if name in ("confidence", "score") and isinstance(arg, ast.Ref) and arg.segment:
            kind = "conf" if name == "confidence" else "score"
            hi = 1.0 if kind == "conf" else _INF
            return (kind, arg.group.value, arg.segment.value), (0.0, hi, False, False)
        if name in ("count", "since") and isinstance(arg, ast.MatcherArg):
            m = arg.matcher
            ident = (m.kind, m.param.value if m.param else None, m.pattern.value)
            if name == "since":
                return ("since", *ident), (0.0, _INF, False, True)
            within = arg.within.seconds if arg.within is not None else None
            hi = 0.0 if within is not None and within <= 0 else _INF
            return ("count", *ident, within), (0.0, hi, True, False)
        if name == "attribute" and isinstance(arg, ast.String):
            return ("attr", arg.value), (-_INF, _INF, False, True)
        return None

    def nnf(self, e: ast.Expr, pos: bool) -> logic.Node:
        if isinstance(e, ast.BoolOp):
            parts = [self.nnf(x, pos) for x in e.operands]
            return (logic.conj if (e.op == "and") == pos else logic.disj)(parts)
        if isinstance(e, ast.Not):
            return self.nnf(e.operand, not pos)
        if isinstance(e, ast.Boolean):
            return logic.T if e.value == pos else logic.F
        if isinstance(e, ast.Ref) and e.segment is None:
            name = e.group.value
            if name in self.sym.audiences:
                return self.audience_nnf(name, pos)
            return logic.UNKNOWN
        if isinstance(e, ast.Call) and len(e.args) == 1:
            name, arg = e.func.value, e.args[0]
            if isinstance(arg, ast.Ref) and arg.segment is not None:
                if name == "certain":
                    return ("disc", ("certain", arg.group.value), pos, arg.segment.value, e)
                if name == "likely":
                    return ("disc", ("ml", arg.group.value), pos, arg.segment.value, e)
            if name == "known" and isinstance(arg, ast.Ref) and arg.segment is None:
                return ("bool", ("known", arg.group.value), pos, e)
            if name in ("tagged", "viewing") and isinstance(arg, ast.String):
                return ("bool", (name, arg.value), pos, e)
            return logic.UNKNOWN
        if isinstance(e, ast.Compare):
            return self.compare_nnf(e, pos)
        if isinstance(e, ast.Is):
            return self.is_nnf(e, pos)
        return logic.UNKNOWN

    def audience_nnf(self, name: str, pos: bool) -> logic.Node:
        cached = self._nnf_cache.get((name, pos))
        if cached is not None:
            return cached
        cond = self.audience_conds.get(name)
        if (
            cond is None
            or not cond.ok
            or cond.never  # reported on the audience itself: not again on every use
            or name in self.sym.cyclic_audiences
            or name in self._expanding
            or len(self._expanding) > 32
        ):
            node: logic.Node = ("bool", ("audience", name), pos, None)
        else:
            self._expanding.add(name)
            try:
                node = self.nnf(cond.expr, pos)
            finally:
                self._expanding.discard(name)
        self._nnf_cache[(name, pos)] = node
        return node

    def compare_nnf(self, e: ast.Compare, pos: bool) -> logic.Node:
        op = e.op
        left, right = e.left, e.right
        lc, rc = _const(left), _const(right)
        if lc is not None and rc is not None:
            if type(lc) is not type(rc):
                return logic.UNKNOWN
            if isinstance(lc, str):
                if op not in ("==", "!="):
                    return logic.UNKNOWN
                result = (lc == rc) == (op == "==")
            else:
                result = logic.cmp(op, lc, rc)  # type: ignore[arg-type]
            return logic.T if result == pos else logic.F
        if lc is not None and rc is None:
            left, right, lc, rc, op = right, left, rc, lc, logic.FLIP[op]
        if rc is None:
            return logic.UNKNOWN
        if isinstance(left, ast.Ref) and left.group.value == "device" and left.segment is None:
            if isinstance(rc, str) and rc in DEVICES and op in ("==", "!="):
                return ("disc", ("device",), (op == "==") == pos, rc, e)
            return logic.UNKNOWN
        if isinstance(rc, str):
            return logic.UNKNOWN
        term = self.term(left)
        if term is None:
            return logic.UNKNOWN
        key, dom = term
        nullable = dom[3]
        if not pos:
            op = logic.NEGATE[op]
        atom: logic.Node = ("num", key, op, float(rc), dom, e)
        if nullable and (not pos or op == "!="):
            # `none` fails every ordering comparison, so the negation may be none
            return ("or", (atom, ("null", key, True, dom, e)))
        return atom

    def is_nnf(self, e: ast.Is, pos: bool) -> logic.Node:
        pos = pos != e.negated
        left, right = e.left, e.right
        if isinstance(left, ast.NoneLit):
            left, right = right, left
        if isinstance(left, ast.NoneLit) and isinstance(right, ast.NoneLit):
            return logic.T if pos else logic.F
        if isinstance(left, ast.Ref) and isinstance(right, ast.Ref):
            if left.segment is not None and right.segment is not None:
                same = left.dotted == right.dotted
                return logic.T if same == pos else logic.F
            return logic.UNKNOWN
        if isinstance(right, ast.Ref) and not isinstance(left, ast.Ref):
            left, right = right, left
            if isinstance(left, ast.Ref):
                left, right = right, left
        if isinstance(left, ast.Ref) and isinstance(right, ast.Call):
            left, right = right, left
        if (
            isinstance(left, ast.Call)
            and left.func.value == "most_likely"
            and len(left.args) == 1
            and isinstance(left.args[0], ast.Ref)
        ):
            group = left.args[0].group.value  # type: ignore[union-attr]
            if isinstance(right, ast.NoneLit):
                return ("disc", ("ml", group), pos, None, e)
            if isinstance(right, ast.Ref) and right.segment is not None:
                return ("disc", ("ml", group), pos, right.segment.value, e)
            return logic.UNKNOWN
        if isinstance(right, ast.NoneLit):
            term = self.term(left)
            if term is not None and term[1][3]:
                return ("null", term[0], pos, term[1], e)
        return logic.UNKNOWN

    # ============================================== 5. surveys, slots, shadows
    def surveys_and_slots(self) -> None:
        #: slot → earlier rules acting on it: (file, rule, condition) in order
        always: dict[str, tuple[str, ast.Rule]] = {}
        by_hash: dict[str, dict[int, list[tuple[str, ast.Rule, _Condition]]]] = {}
        by_key: dict[str, dict[object, list[tuple[str, ast.Rule, _Condition]]]] = {}
        for f, rule, cond in self.rule_conds:
            self.file = f.path
            self.item_span = rule.span
            experiment = self.experiment_of.get(id(rule))
            if experiment is not None:
                self.experiment_slots(experiment, rule, cond, always, by_hash, by_key)
                continue
            if rule.block and not rule.actions:
                self.report(
                    _head_span(rule),
                    "SEG407",
                    "this rule has no actions",
                    "add an action between the braces, or remove the rule",
                )
            slots_seen = self.actions(rule, rule.actions, cond, "rule")
            if cond is not None and cond.never:
                continue
            if cond is not None and not cond.ok:
                continue  # its meaning is unclear: neither shadowed nor shadowing
            # -- shadowing
            shadowed: list[tuple[str, str, ast.Rule]] = []
            for slot in slots_seen:
                earlier = self.shadowing_rule(rule, cond, slot, always, by_hash, by_key)
                if earlier is None:
                    break
                shadowed.append((slot, *earlier))
            if shadowed and len(shadowed) == len(slots_seen):
                parts = []
                for slot, efile, erule in shadowed:
                    where = (
                        f"line {erule.span.line}"
                        if efile == f.path
                        else f"{efile}:{erule.span.line}"
                    )
                    parts.append(f"the rule on {where} already takes slot `{slot}`")
                self.report(
                    _head_span(rule),
                    "SEG403",
                    "this rule never takes effect: whenever it fires, " + " and ".join(parts),
                    "move this rule above the earlier one, or narrow the earlier rule's condition",
                )
            # -- register as a potential shadower (surveys may be suppressed at run time)
            for action in rule.actions:
                if isinstance(action, ast.ShowSurvey):
                    continue
                slot = ast.action_slot(action)
                if cond is None or cond.always:
                    always.setdefault(slot, (f.path, rule))
                else:
                    entry = (f.path, rule, cond)
                    by_hash.setdefault(slot, {}).setdefault(cond.hash(), []).append(entry)
                    if cond.keys:
                        by_key.setdefault(slot, {}).setdefault(cond.rep(), []).append(entry)

    def shadowing_rule(
        self,
        rule: ast.Rule,
        cond: _Condition | None,
        slot: str,
        always: dict[str, tuple[str, ast.Rule]],
        by_hash: dict[str, dict[int, list[tuple[str, ast.Rule, _Condition]]]],
        by_key: dict[str, dict[object, list[tuple[str, ast.Rule, _Condition]]]],
    ) -> tuple[str, ast.Rule] | None:
        if slot in always:
            return always[slot]
        if cond is None:
            return None
        for efile, erule, econd in by_hash.get(slot, {}).get(cond.hash(), ()):
            if econd.expr == cond.expr:
                return efile, erule
        index = by_key.get(slot)
        if not index or not cond.keys:
            return None
        tried = 0
        for key in cond.keys:
            for efile, erule, econd in index.get(key, ()):
                if not econd.keys <= cond.keys:
                    continue
                tried += 1
                if tried > 64:
                    return None
                if not self.reasoner.sat([cond.nnf, econd.neg]):
                    return efile, erule
        return None

    def actions(
        self,
        rule: ast.Rule,
        actions: Sequence[ast.Action],
        cond: _Condition | None,
        owner: str,
    ) -> dict[str, ast.Action]:
        """One slot per action of a rule (or variant, SEG404); surveys and orders checked.
        Returns each slot's first action."""
        slots_seen: dict[str, ast.Action] = {}
        for action in actions:
            slot = ast.action_slot(action)
            if slot in slots_seen:
                self.report(
                    action.span,
                    "SEG404",
                    f"slot `{slot}` already gets `{_action_text(slots_seen[slot])}` from this "
                    f"{owner}; only one action per slot can apply",
                    "keep one of the two actions",
                )
            else:
                slots_seen[slot] = action
            if isinstance(action, ast.ShowSurvey):
                self.survey(rule, action, cond)
            elif isinstance(action, ast.OrderSlot):
                self.order_slot(action)
        return slots_seen

    def experiment_slots(
        self,
        experiment: ast.Experiment,
        rule: ast.Rule,
        cond: _Condition | None,
        always: dict[str, tuple[str, ast.Rule]],
        by_hash: dict[str, dict[int, list[tuple[str, ast.Rule, _Condition]]]],
        by_key: dict[str, dict[object, list[tuple[str, ast.Rule, _Condition]]]],
    ) -> None:
        """Each variant's actions as a rule's; SEG412 when earlier rules take every slot.

        An experiment never shadows a later rule: a control, the traffic share and
        the dates leave its slots to the rules after it."""
        for variant in experiment.variants:
            self.actions(rule, variant.actions, cond, "variant")
        slots = experiment.slots()
        if not slots or (cond is not None and (cond.never or not cond.ok)):
            return
        taken: list[tuple[str, str, ast.Rule]] = []
        for slot in slots:
            earlier = self.shadowing_rule(rule, cond, slot, always, by_hash, by_key)
            if earlier is None:
                return
            taken.append((slot, *earlier))
        parts = []
        for slot, efile, erule in taken:
            where = (
                f"line {erule.span.line}" if efile == self.file else f"{efile}:{erule.span.line}"
            )
            parts.append(f"the rule on {where} already takes slot `{slot}`")
        self.report(
            experiment.name.span,
            "SEG412",
            f"experiment `{experiment.name.value}` never shows a variant: whenever a visitor "
            "is eligible, " + " and ".join(parts),
            "move the experiment above those rules, or narrow their conditions",
        )

    # ============================================================ experiments
    def experiments(self) -> None:
        """Names, settings, weights, goals and dates of every experiment (SPEC §1.7)."""
        schedules: list[tuple[str, ast.Experiment, float | None, float | None]] = []
        for f in self.ruleset.files:
            self.file = f.path
            for item in f.items:
                if not isinstance(item, ast.Experiment):
                    continue
                self.item_span = item.span
                dates = self.experiment(f, item)
                if dates is not None:
                    schedules.append((f.path, item, *dates))
        # Two experiments on one slot at the same time: each visitor's page shows the
        # earlier one's variant, and the later one's results mean little.
        for i, (file, exp, start, end) in enumerate(schedules):
            for efile, earlier, estart, eend in schedules[:i]:
                shared = sorted(set(exp.slots()) & set(earlier.slots()))
                if not shared:
                    continue
                lo = max(
                    start if start is not None else -math.inf,
                    estart if estart is not None else -math.inf,
                )
                hi = min(
                    end if end is not None else math.inf, eend if eend is not None else math.inf
                )
                if lo >= hi:
                    continue
                where = (
                    f"line {earlier.span.line}" if efile == file else f"{efile}:{earlier.span.line}"
                )
                self.report(
                    exp.name.span,
                    "SEG411",
                    f"experiments `{earlier.name.value}` ({where}) and `{exp.name.value}` both "
                    f"act on slot `{shared[0]}` at the same time",
                    "give them dates that do not overlap (`from`/`until`), or test different slots",
                    file=file,
                )
                break

    def experiment(
        self, f: ast.RuleFile, item: ast.Experiment
    ) -> tuple[float | None, float | None] | None:
        """Check one experiment; its (from, until) epoch seconds when they are valid."""
        name = item.name.value
        self.reserved(item.name, "an experiment")
        if not self.declare_once(
            f,
            item,
            "experiment",
            self.sym.experiments,
            self._experiment_files,
            "rename this experiment: its name keys the visitors' assignments",
        ):
            return None
        seen: dict[str, ast.Span] = {}
        variants: dict[str, ast.Variant] = {}
        goals: dict[str, ast.ExperimentGoal] = {}
        dates: dict[str, float] = {}
        for part in item.body:
            if isinstance(part, ast.Eligibility):
                self.setting_once(seen, "when", part.span, "experiment")
            elif isinstance(part, ast.Traffic):
                self.setting_once(seen, "traffic", part.span, "experiment")
                share = part.share
                if not 0 < share.value <= 1:
                    self.report(
                        share.span,
                        "SEG315",
                        f"a traffic share of {number_text(share)} is not a share between 0% "
                        "(excluded) and 100%",
                        f"write `traffic {number_text(share)}%`"
                        if share.value > 1 and not share.percent
                        else "write a percentage such as `traffic 50%`, or leave it out for "
                        "everyone eligible",
                    )
            elif isinstance(part, ast.Variant):
                vname = part.name.value
                self.reserved(part.name, "a variant")
                if vname in variants:
                    self.report(
                        part.name.span,
                        "SEG205",
                        f"variant `{vname}` is already defined at line {variants[vname].span.line}",
                        "rename this variant",
                    )
                    continue
                variants[vname] = part
                weight = part.weight
                if not weight.value > 0:
                    self.report(
                        weight.span,
                        "SEG316",
                        f"variant `{vname}` has weight {number_text(weight)}: a weight is a "
                        "relative share, above 0",
                        "give it a positive weight such as 1, or remove the variant",
                    )
            elif isinstance(part, ast.ExperimentGoal):
                gname = part.name.value
                if gname in goals:
                    self.report(
                        part.name.span,
                        "SEG205",
                        f"goal `{gname}` is already listed at line {goals[gname].span.line}",
                        "remove this line",
                    )
                    continue
                goals[gname] = part
                if gname not in self.sym.goals:
                    self.report(
                        part.name.span,
                        "SEG207",
                        f"unknown goal `{gname}`",
                        _did_you_mean(gname, self.sym.goals)
                        or f'define it: `goal {gname} = event "…"`',
                    )
            elif isinstance(part, ast.Schedule):
                self.setting_once(seen, part.kind, part.span, "experiment")
                day = part.date.moment()
                if day is None:
                    self.report(
                        part.date.span,
                        "SEG318",
                        f"`{part.date.text}` is not a date",
                        "write a UTC date as YYYY-MM-DD, such as 2026-12-01",
                    )
                else:
                    dates[part.kind] = day.timestamp()
        if len(variants) < 2:
            self.report(
                item.name.span,
                "SEG317",
                f"experiment `{name}` has {len(variants) or 'no'} variant"
                f"{'' if len(variants) == 1 else 's'}: it needs at least two to compare",
                "add a control, `variant control 1`, and a variant with actions",
            )
        if not item.goals:
            self.report(
                item.name.span,
                "SEG413",
                f"experiment `{name}` names no goal, so the report cannot tell which variant wins",
                "add `goal NAME` lines (the first is the primary goal)",
            )
        start, end = dates.get("from"), dates.get("until")
        if start is not None and end is not None and end <= start:
            until = item.schedule("until")
            assert until is not None
            self.report(
                until.span,
                "SEG319",
                "`until` is not after `from`: the experiment would never run",
                "`until` is exclusive: give a later date",
            )
            return None
        return start, end

    def order_slot(self, action: ast.OrderSlot) -> None:
        g = action.group.value
        if g not in self.sym.groups:
            owners = self.segment_owners(g)
            help = (
                f"`{g}` is a segment; order by its group: `by {owners[0]}`"
                if owners
                else _did_you_mean(g, self.sym.groups)
            )
            self.report(action.group.span, "SEG202", f"unknown group `{g}`", help)

    def survey(self, rule: ast.Rule, action: ast.ShowSurvey, cond: _Condition | None) -> None:
        about = action.about
        subject: str | None = None
        if about is not None:
            if about.segment is not None:
                if self.resolve_segment_ref(about).kind != "error":
                    subject = about.dotted
            else:
                g = about.group.value
                if g in self.sym.groups:
                    subject = g
                else:
                    owners = self.segment_owners(g)
                    help = (
                        f"write `about {owners[0]}.{g}` for a yes/no question"
                        if owners
                        else _did_you_mean(g, self.sym.groups)
                    )
                    self.report(about.span, "SEG202", f"unknown group `{g}`", help)
        else:
            mentioned = list(cond.segments) if cond is not None else []
            if len(mentioned) == 1:
                subject = mentioned[0]
            elif cond is not None and not cond.ok and not mentioned:
                pass  # the condition has errors already; do not pile on
            else:
                if not mentioned:
                    message = (
                        "this survey does not say what it asks about, and its rule's "
                        "condition mentions no segment"
                    )
                    example = next(iter(self.sym.segments), "Industry.Legal")
                    help = f"add `about {example}` (a yes/no question) or `about " + (
                        f"{example.split('.')[0]}` (one button per segment)"
                    )
                else:
                    listed = ", ".join(f"`{s}`" for s in mentioned)
                    message = (
                        "this survey does not say what it asks about, and its rule's "
                        f"condition mentions several segments: {listed}"
                    )
                    help = f"add `about {mentioned[0]}` (or the one it asks about)"
                self.report(action.question.span, "SEG310", message, help)
        if subject is None:
            return
        self.sym.survey_about[id(action)] = subject
        if cond is None or not cond.ok or cond.never:
            return
        group = subject.split(".", 1)[0]
        not_known: logic.Node = ("bool", ("known", group), False, None)
        if not self.reasoner.sat([cond.nnf, not_known]):
            self.report(
                action.span,
                "SEG408",
                f"this survey is never shown: the rule fires only when `known({group})` "
                "holds, and a survey is not shown once its group is known",
                f"ask when the visitor is not certain yet, e.g. "
                f"`when confidence({subject if '.' in subject else group + '.Segment'}) > 30%`",
            )

    # ================================================================= 6. extras
    def segment_warnings(self) -> None:
        asked: set[str] = set(self.sym.survey_about.values())
        for f in self.ruleset.files:
            self.file = f.path
            for item in f.items:
                if not isinstance(item, ast.Group):
                    continue
                for seg in item.segments:
                    dotted = f"{item.name.value}.{seg.name.value}"
                    if seg.signals or dotted in asked or item.name.value in asked:
                        continue
                    self.report(
                        seg.name.span,
                        "SEG405",
                        f"segment `{dotted}` has no signal, and no survey asks about it: "
                        "no visitor can ever be in it",
                        "add an `explicit` or `implicit` signal inside its braces",
                    )

    def detached_actions(self) -> None:
        """An indented bare action right under a one-action `when` rule: a missing `{ }`."""
        for f in self.ruleset.files:
            self.file = f.path
            previous: ast.Item | None = None
            for item in f.items:
                if (
                    isinstance(item, ast.Rule)
                    and item.condition is None
                    and item.span.column > 1
                    and isinstance(previous, ast.Rule)
                    and previous.condition is not None
                    and not previous.block
                    and item.span.line - previous.span.end_line <= 1
                ):
                    self.report(
                        item.span,
                        "SEG409",
                        "this action is not part of the `when` rule above: a rule without "
                        "braces has one action, so this one applies to every visitor",
                        "put the rule's actions in braces, `when … { show slot a  hide slot b }`, "
                        "or start this line in column 1 if it should always apply",
                    )
                previous = item

    def unused_audiences(self) -> None:
        for name, aud in self.sym.audiences.items():
            uses = self.audience_uses.get(name, ())
            if aud.synced:
                continue  # used by being sent to the CRM (SPEC §7)
            if name in self.suggested or any(
                not _inside(u, aud, self.sym.defined_at[name][0]) for u in uses
            ):
                continue
            self.report(
                aud.name.span,
                "SEG406",
                f"audience `{name}` is not used by any rule",
                f"use it in a condition (`when {name} …`), or remove it",
                file=self.sym.defined_at[name][0],
            )

    def synced_audiences(self) -> None:
        """SEG414: a `sync audience` whose condition reads the page being viewed
        (`viewing`, also through the audiences it names) changes membership from page
        to page, and every change of an identified visitor queues a webhook."""
        sym = self.sym
        own: dict[str, ast.Span | None] = {}  # audience → its own first `viewing(…)`
        for name, aud in sym.audiences.items():
            if not aud.synced:
                continue
            found = self._reads_the_page(name, set(), own)
            if found is None:
                continue
            direct = found[0] == name
            via = "" if direct else f" (through audience `{found[0]}`)"
            self.report(
                found[1] if direct else aud.name.span,
                "SEG414",
                f"sync audience `{name}` depends on the page being viewed{via}: its "
                "membership changes from page to page, and each change of an identified "
                "visitor sends the CRM a webhook",
                "base it on what the visitor did (signals, `count`, `since`, segments); "
                "test the page in the rules that use it instead",
                file=sym.defined_at[name][0],
            )

    def _reads_the_page(
        self, name: str, seen: set[str], own: dict[str, ast.Span | None]
    ) -> tuple[str, ast.Span] | None:
        """(audience, span of its `viewing(…)`) the first one found, or None; `own`
        keeps each audience's own answer for the run (a shared dependency is walked once)."""
        seen.add(name)
        aud = self.sym.audiences.get(name)
        if aud is None:
            return None
        if name not in own:
            own[name] = next(
                (
                    e.span
                    for e in ast.walk(aud.condition)
                    if isinstance(e, ast.Call) and e.func.value == "viewing"
                ),
                None,
            )
        span = own[name]
        if span is not None:
            return name, span
        for dep in sorted(self.sym.audience_deps.get(name, ())):
            if dep not in seen:
                found = self._reads_the_page(dep, seen, own)
                if found is not None:
                    return found
        return None

    def budget(self) -> None:
        # Runs even when other errors were found: the size model takes any parsed
        # rule set, and a partial one can only be smaller, so an overflow is real.
        # The layout it measures is kept in the symbols: the compiler needs the same one.
        try:
            from . import budget as budget_module
        except ImportError:
            return  # built without the engine: nothing to compare against
        limit = int(getattr(budget_module, "COOKIE_LIMIT", 4096))
        largest: tuple[str, int] | None = None
        try:
            report = getattr(budget_module, "worst_case_report", None)
            if report is not None:
                result = self.budget_report(report)
                total, largest = int(result.total), result.largest()
            else:
                total = int(budget_module.worst_case_cookie_bytes(self.ruleset))
        except Exception:
            return  # the engine's own load reports its failure; the checker must not crash
        if total <= limit:
            return
        part = largest[0] if largest else ""
        file, span = self.budget_culprit(part)
        detail = f"; the largest part is {part} (about {largest[1]} bytes)" if largest else ""
        self.report(
            span,
            "SEG501",
            f"the visitor state these rules need can take {total} bytes in the cookie, "
            f"over the limit of {limit}{detail}",
            _BUDGET_HELP.get(part, "use fewer distinct counters, tags and windows"),
            file=file,
        )

    def budget_report(self, report: Callable[[Any], Any]) -> Any:
        """`budget.worst_case_report` of this rule set's state layout, which the symbols
        keep for the compiler (a hook: the language server's incremental check reuses
        the previous result when nothing it reads changed, and compiles nothing)."""
        from .state import Layout

        layout = self.sym.layout = Layout.from_ruleset(self.ruleset)
        return report(layout)

    def budget_culprit(self, part: str) -> tuple[str, ast.Span]:
        """Where to point a SEG501: the first use of what takes the most room."""

        def wanted(e: ast.Expr | ast.MatcherArg) -> bool:
            if not isinstance(e, ast.Call) or not e.args:
                return False
            arg, name = e.args[0], e.func.value
            if part == "window timestamps":
                return name == "count" and isinstance(arg, ast.MatcherArg) and bool(arg.within)
            if part == "counts":
                return name == "count"
            if part == "since":
                return name == "since"
            if part == "tags":
                return name == "tagged"
            return False

        for f, item in self.ruleset.items():
            if part in ("evidence", "facts") and isinstance(item, ast.Group):
                return f.path, item.name.span
            if (
                part == "survey dismissals"
                and isinstance(item, ast.Rule)
                and any(isinstance(a, ast.ShowSurvey) for a in item.actions)
            ):
                return f.path, _head_span(item)
            cond = item.condition if isinstance(item, (ast.Rule, ast.Audience)) else None
            if cond is not None:
                for e in ast.walk(cond):
                    if wanted(e):
                        return f.path, e.span
        items = self.ruleset.items()
        if items:
            return items[0][0].path, _head_span(items[0][1])
        first = self.ruleset.files[0].path if self.ruleset.files else ""
        return first, ast.Span(1, 1, 1, 1)


_BUDGET_HELP = {
    "window timestamps": "each `count(… within D)` compared with N keeps up to N+1 "
    "timestamps: use fewer distinct windowed counts, smaller thresholds, or drop `within`",
    "evidence": "each implicit signal keeps its own evidence: merge signals or segments",
    "tags": "each tag `tagged()` asks about is kept: ask about fewer tags",
    "inbound attributes": 'each attribute("…") the rules read keeps the latest inbound '
    "value (up to 64 characters): read fewer distinct attributes",
    "counts": "each distinct `count(…)` keeps a counter: use fewer distinct matchers",
    "since": "each distinct `since(…)` keeps a time: use fewer distinct matchers",
    "facts": "each segment keeps its latest answers: use fewer segments",
    "survey dismissals": "each survey subject keeps a dismissal time: ask about fewer subjects",
}


def _inside(use: tuple[str, ast.Span], aud: ast.Audience, file: str) -> bool:
    """Is this use of an audience inside the audience's own definition?"""
    ufile, span = use
    return ufile == file and aud.span.start <= span.start < aud.span.end


def _const(e: ast.Expr) -> float | str | None:
    if isinstance(e, ast.Number):
        return e.value
    if isinstance(e, ast.Duration):
        return e.seconds
    if isinstance(e, ast.String):
        return e.value
    return None


def _comparable(a: Type, b: Type, op: str) -> bool:
    numeric = ("number", "any")
    if op in ("==", "!="):
        if a.kind == "any" or b.kind == "any":
            return {a.kind, b.kind} <= {"any", "number", "string"}
        return a.kind == b.kind and a.kind in ("number", "duration", "string", "bool")
    if a.kind in numeric and b.kind in numeric:
        return True
    return a.kind == b.kind == "duration"


def _action_text(action: ast.Action) -> str:
    match action:
        case ast.ShowSlot():
            return f"show slot {action.slot.value}"
        case ast.HideSlot():
            return f"hide slot {action.slot.value}"
        case ast.ReplaceText() | ast.ReplaceTemplate():
            return f"replace slot {action.slot.value} with …"
        case ast.OrderSlot():
            return f"order slot {action.slot.value} by {action.group.value}"
        case ast.ShowSurvey():
            return f"show survey {quote(action.question.value)}"
    return "an action"


def _head_span(item: ast.Item) -> ast.Span:
    """The first line of an item: `when COND` (or the action of a bare rule)."""
    span = item.span
    if isinstance(item, ast.Rule):
        end = (
            item.condition.span
            if item.condition is not None
            else item.actions[0].span
            if item.actions
            else span
        )
        if end.line == span.line:
            return ast.Span(
                span.line, span.column, end.end_line, end.end_column, span.start, end.end
            )
    if span.end_line != span.line:
        return ast.Span(
            span.line, span.column, span.line, span.column + 1, span.start, span.start + 1
        )
    return span


# ================================================================ suppression

_IGNORE = re.compile(r"smartseg:\s*ignore\[([^\]]*)\]")


def suppressions(file: ast.RuleFile) -> dict[int, set[str]]:
    """Line → codes silenced there by `# smartseg: ignore[...]` (own line and the next)."""
    out: dict[int, set[str]] = {}
    for comment in file.comments:
        m = _IGNORE.search(comment.text)
        if m is None:
            continue
        codes = {c.strip().upper() for c in m.group(1).split(",") if c.strip()}
        for line in (comment.span.line, comment.span.line + 1):
            out.setdefault(line, set()).update(codes)
    return out


def apply_suppressions(diagnostics: Iterable[Diagnostic], ruleset: ast.RuleSet) -> list[Diagnostic]:
    """Drop diagnostics silenced by an ignore comment (never syntax or limit errors)."""
    table = {f.path: suppressions(f) for f in ruleset.files if f.comments}
    kept = []
    for d in diagnostics:
        codes = table.get(d.file, {}).get(d.line)
        if codes and d.code in codes and d.code[3:4] not in UNSUPPRESSIBLE_CLASSES:
            continue
        kept.append(d)
    return kept


# ============================================================== entry points


def _run(
    ruleset: ast.RuleSet, syntax_errors: bool, skipped_names: Collection[str] | None = None
) -> _Checker:
    checker = _Checker(ruleset, syntax_errors, skipped_names)
    checker.run()
    return checker


class Checked(list[Diagnostic]):
    """What `check` returns: the diagnostics (a list), and in `symbols` what the same
    run of the checker resolved, for `compiler.compile_ruleset(ruleset, symbols)`."""

    __slots__ = ("symbols",)

    def __init__(self, diagnostics: Iterable[Diagnostic], symbols: Symbols) -> None:
        super().__init__(diagnostics)
        self.symbols = symbols


def check(
    ruleset: ast.RuleSet,
    *,
    syntax_errors: bool = False,
    skipped_names: Collection[str] | None = None,
) -> Checked:
    """Every SEG2xx–SEG5xx diagnostic of a parsed rule set, suppressions applied; the
    list also carries the run's `Symbols` (`Checked.symbols`), so a loader checks once.

    With `syntax_errors` some definitions may be missing (the parser skipped
    them), so "unknown name" diagnostics are left out; everything else stays.
    Given `skipped_names` (the words of the skipped text, `ParseResult.skipped_names`),
    only those about one of these names are left out.
    """
    checker = _run(ruleset, syntax_errors, skipped_names)
    return Checked(apply_suppressions(checker.diagnostics, ruleset), checker.sym)


def resolve(ruleset: ast.RuleSet) -> Symbols:
    """Names, types, audience order, survey subjects and layout of a rule set (for the
    compiler), without the diagnostics."""
    return _run(ruleset, False).sym
