"""Checking a rule set again after a keystroke: only the work the edit can affect.

`CheckMemo.check(results)` returns exactly what `loader.check_parsed(results)` returns
as diagnostics. It runs the checker's passes as they are (`checker._Checker`), but the
costly parts remember their results from the previous run and reuse them where the
inputs they read are provably the same:

* typing a condition (`_Checker.condition`): keyed by the item's text (the parse
  reuses items by text, `reparse.BlockParser`) and valid while every name the
  condition mentions means the same (audience or not, a group's segments, the groups
  owning a segment); a condition with an unknown-name diagnostic (whose "did you
  mean" looks at every name) also needs every name of the rule set unchanged. The
  replay reports the same diagnostics, records the same audience uses and segments,
  moved to where the item is now;
* the logic of a condition (`_Checker.analyse`, SEG401/SEG402): valid while its typing
  was reused and the audiences it inlines (their text, whether they are cyclic,
  never true or broken, recursively) and the segments of the groups it constrains are
  unchanged;
* satisfiability questions (`Reasoner.sat`, also behind shadowing SEG403/SEG412 and
  SEG408), keyed by the identity of the reused condition nodes, valid while the
  groups they constrain keep their segments;
* a group's own checks (`_Checker.group_body`: settings, segments, signals), for the
  very group object of the previous run;
* the cookie budget (SEG501): recomputed only when what it reads changes — the
  items other than rules, and of each rule the state its condition and surveys need
  (`state._Uses`), not its slots or thresholds; a file parsed as before (the same
  object) gives the same input, and a recomputed layout takes each rule's uses from
  the same cache (`state.Layout.from_ruleset(…, rule_uses)`).

What makes an unchanged item cost almost nothing:

* a condition node that is the very object of the previous run (the items of files
  not edited, and those before the edit in the edited file) keeps its condition
  object, with its analysis in it (`_Same`, `_Tables.applied`): nothing is copied,
  shifted or set again, only its diagnostics are reported again;
* validity is settled once per run, not per condition, while nothing changed: the
  state of every name (`_IncrementalChecker.env`) and of every audience (`sig`) is
  compared with the previous run's, and when equal, a typing or analysis found valid
  then is valid now (`type_token`, `logic_token`); else each is checked as above.

Everything else (declarations across items, cycles, slots and shadowing order,
experiments, warnings, suppressions) runs in full: it is cheap once the above is
reused. A run's reference cycles are broken at its end (`untie`): its objects are
freed at once, not by a collection that would walk them after the next keystroke.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import ast, logic
from ..checker import _Checker, apply_suppressions
from ..diagnostics import Diagnostic
from ..loader import check_parsed
from ..parser import ParseResult
from .reparse import shift

__all__ = ["CheckMemo"]

#: codes whose help may name any name of the rule set ("did you mean …")
_SUGGESTING = frozenset({"SEG201", "SEG202", "SEG204"})
#: audience chains deeper than this make the logic depend on the order of expansion
#: (`_Checker.audience_nnf` stops at 32): no reuse of the logic then
_MAX_DEPTH = 30
_GROUP_KEYS = frozenset({"conf", "score", "ml", "certain", "known"})
#: one `_Checker.report` call as recorded: span, code, message, help, file
_Report = tuple[ast.Span, str, str, str | None, str | None]


class _RecordingSet(set):  # type: ignore[type-arg]
    def __init__(self, base: set[str], log: list[str]) -> None:
        super().__init__(base)
        self.log = log

    def add(self, x: str) -> None:
        self.log.append(x)
        super().add(x)


class _Typed:
    """A condition's typing as it happened: replayed where the condition is now."""

    __slots__ = (
        "env", "facts", "hash", "line", "ok", "reports", "segments", "start", "suggested",
        "token", "uses", "words",
    )  # fmt: skip

    def __init__(self) -> None:
        self.reports: list[_Report] = []
        self.uses: list[tuple[str, ast.Span]] = []
        self.suggested: list[str] = []
        self.segments: dict[str, ast.Span] = {}
        self.ok = True
        self.facts: tuple[object, ...] = ()
        self.words: tuple[str, ...] = ()
        self.hash = 0
        self.env: object = None
        self.line = 0
        self.start = 0
        #: the names' state (`_Tables.type_token`) this typing was last found valid in
        self.token: object = None


@dataclass(slots=True, eq=False)
class _Same:
    """A condition node of the previous run, with its condition object and its typing
    where the node is (reused as they are while the node is the same object)."""

    expr: ast.Expr
    context: tuple[object, ...]
    typed: _Typed
    cond: Any
    key: tuple[object, ...]
    uses: list[tuple[str, ast.Span]]
    reports: list[_Report]


class _Analysed:
    __slots__ = (
        "always", "groups", "keys", "line", "neg", "never", "nnf", "reports", "start", "token",
        "valid",
    )  # fmt: skip

    def __init__(self) -> None:
        self.reports: list[_Report] = []
        #: the audiences' state (`_Tables.logic_token`) this was last found valid in
        self.token: object = None


def _words(expr: ast.Expr) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for node in ast.walk(expr):
        if isinstance(node, ast.Ref):
            found[node.group.value] = None
            if node.segment is not None:
                found[node.segment.value] = None
        elif isinstance(node, ast.Call):
            found[node.func.value] = None
    return tuple(found)


def _groups_of(keys: Collection[object]) -> tuple[str, ...]:
    return tuple(
        sorted(
            {k[1] for k in keys if isinstance(k, tuple) and len(k) > 1 and k[0] in _GROUP_KEYS}  # type: ignore[misc]
        )
    )


class _Facts(dict):  # type: ignore[type-arg]
    """Word → what it names in this rule set: the facts a condition's typing reads."""

    def __init__(self, owner: _IncrementalChecker) -> None:
        super().__init__()
        self.owner = owner

    def __missing__(self, word: str) -> object:
        o = self.owner
        found = self[word] = (word in o.sym.audiences, o.segs(word), o.owners(word))
        return found


class _MemoReasoner(logic.Reasoner):
    def __init__(self, owner: _IncrementalChecker) -> None:
        super().__init__(owner.sym.segments_of, owner.reasoner.devices)
        self.owner = owner

    def sat(self, nodes: Sequence[logic.Node]) -> bool:
        owner = self.owner
        key = tuple(id(n) if id(n) in owner.stable else n for n in nodes)
        memo = owner.memo
        found = memo.last.sat.get(key)
        if found is not None:
            groups, segs, answer, _keep = found
            if owner.segs_of(groups) == segs:
                memo.next.sat[key] = found
                return answer  # type: ignore[no-any-return]
        answer = super().sat(nodes)
        keys: set[object] = set()
        for n in nodes:
            logic.keys_of(n, keys)
        groups = _groups_of(keys)
        memo.next.sat[key] = (groups, owner.segs_of(groups), answer, tuple(nodes))
        return answer


class _IncrementalChecker(_Checker):
    def __init__(
        self,
        ruleset: ast.RuleSet,
        syntax_errors: bool,
        skipped_names: Collection[str] | None,
        memo: CheckMemo,
        origins: dict[int, tuple[str, int]],
    ) -> None:
        super().__init__(ruleset, syntax_errors, skipped_names)
        self.memo = memo
        self.origins = origins
        self.reasoner = _MemoReasoner(self)
        #: ids of the condition nodes reused from the previous run (kept alive by the memo)
        self.stable: set[int] = set()
        self._facts = _Facts(self)
        self._env: object = None
        self._owners: dict[str, tuple[str, ...]] | None = None
        self._segs: dict[str, tuple[str, ...]] = {}
        self._cond_keys: dict[int, tuple[object, ...]] = {}
        self._typed_hit: set[int] = set()
        self._sigs: dict[str, object] = {}
        self._pre_sigs: dict[str, object] = {}
        self._deep = False
        self.type_token: object = object()
        self.logic_token: object = object()
        #: the audience names of the budget's key, and the layout's set found equal to them
        self._budget_audiences: frozenset[str] = frozenset()
        self._uses_for: object = None

    def untie(self) -> None:
        """Break the checker's reference cycles: freed at once, not by a collection
        that would walk this run's objects after the keystroke (a few ms)."""
        self.reasoner.owner = None  # type: ignore[assignment]
        self._facts.owner = None  # type: ignore[assignment]

    def recording_report(self, into: list[_Report]) -> Callable[..., None]:
        """`self.report` that also keeps each report in `into`, for a later run's replay."""
        report = self.report

        def recording_report(
            span: ast.Span,
            code: str,
            message: str,
            help: str | None = None,
            *,
            file: str | None = None,
        ) -> None:
            into.append((span, code, message, help, file))
            report(span, code, message, help, file=file)

        return recording_report

    def replay_reports(self, reports: Iterable[_Report]) -> None:
        for span, code, message, help, rfile in reports:
            self.report(span, code, message, help, file=rfile)

    # ---------------------------------------------------------- declarations
    def group_body(self, f: ast.RuleFile, group: ast.Group) -> dict[str, ast.Segment]:
        """A group's own checks, replayed for the very group object of the previous run."""
        memo = self.memo
        found = memo.last.groups.get(id(group))
        if found is not None and found[0] is group and found[1] == f.path:
            memo.next.groups[id(group)] = found
            self.replay_reports(found[3])
            return found[2]  # type: ignore[no-any-return]
        reports: list[_Report] = []
        self.report = self.recording_report(reports)  # type: ignore[method-assign]
        try:
            segments = super().group_body(f, group)
        finally:
            del self.report
        memo.next.groups[id(group)] = (group, f.path, segments, reports)
        return segments

    # ------------------------------------------------------------ the names
    def segs(self, group: str) -> tuple[str, ...] | None:
        found = self._segs.get(group)
        if found is None and group not in self._segs:
            g = self.sym.groups.get(group)
            found = tuple(s.name.value for s in g.segments) if g is not None else None
            self._segs[group] = found  # type: ignore[assignment]
        return found

    def segs_of(self, groups: tuple[str, ...]) -> tuple[object, ...]:
        return tuple(self.segs(g) for g in groups)

    def owners(self, seg: str) -> tuple[str, ...]:
        if self._owners is None:
            table: dict[str, list[str]] = {}
            for g, grp in self.sym.groups.items():
                for s in dict.fromkeys(s.name.value for s in grp.segments):
                    table.setdefault(s, []).append(g)
            self._owners = {s: tuple(gs) for s, gs in table.items()}
        return self._owners.get(seg, ())

    def env(self) -> object:
        if self._env is None:
            self._env = (
                tuple(self.sym.audiences),
                tuple((g, self.segs(g)) for g in self.sym.groups),
            )
        return self._env

    def origin(self) -> tuple[str, int] | None:
        return self.origins.get(id(self.item_span))

    # ---------------------------------------------------------------- typing
    def condition(
        self, expr: ast.Expr, file: str, audience: str | None, where: str | None = None
    ) -> Any:
        memo = self.memo
        same = memo.last.conds.get(id(expr))
        if same is not None and same.expr is expr and same.context == (file, audience, where):
            # the very node of the previous run (not moved): its condition object, as is
            typed = same.typed
            if self.typing_valid(typed):
                memo.next.conds[id(expr)] = same
                memo.next.typed[same.key] = typed
                cond = same.cond
                self.reuse_typing(same, audience)
                self._cond_keys[id(cond)] = same.key
                self._typed_hit.add(id(cond))
                return cond
        origin = self.origin()
        if origin is None:
            return super().condition(expr, file, audience, where)
        item = self.item_span
        key = (file, *origin, expr.span.start - item.start, audience, where)
        typed = memo.last.typed.get(key)
        if typed is not None and self.typing_valid(typed):
            memo.next.typed[key] = typed
            cond = self.replay_typing(typed, expr, file, audience, key, (file, audience, where))
            self._cond_keys[id(cond)] = key
            self._typed_hit.add(id(cond))
            return cond
        typed = _Typed()
        use = self.use_audience

        def recording_use(name: str, span: ast.Span) -> None:
            typed.uses.append((name, span))
            use(name, span)

        suggested = self.suggested
        self.suggested = _RecordingSet(suggested, typed.suggested)
        self.report = self.recording_report(typed.reports)  # type: ignore[method-assign]
        self.use_audience = recording_use  # type: ignore[method-assign]
        try:
            cond = super().condition(expr, file, audience, where)
        finally:
            del self.report, self.use_audience
            suggested.update(self.suggested)
            self.suggested = suggested
        typed.segments = dict(cond.segments)
        typed.ok = cond.ok
        typed.words = _words(expr)
        typed.facts = tuple(map(self._facts.__getitem__, typed.words))
        typed.hash = cond.hash()
        if any(r[1] in _SUGGESTING for r in typed.reports):
            typed.env = self.env()
        typed.line, typed.start = item.line, item.start
        typed.token = self.type_token
        memo.next.typed[key] = typed
        self._cond_keys[id(cond)] = key
        memo.next.conds[id(expr)] = _Same(
            expr, (file, audience, where), typed, cond, key, typed.uses, typed.reports
        )
        return cond

    def typing_valid(self, typed: _Typed) -> bool:
        """Does every name the condition mentions mean what it meant when typed?"""
        token = self.type_token
        if typed.token is token:
            return True  # no name of the rule set changed since it was last found so
        if typed.facts == tuple(map(self._facts.__getitem__, typed.words)) and (
            typed.env is None or typed.env == self.env()
        ):
            typed.token = token
            return True
        return False

    def replay_typing(
        self,
        typed: _Typed,
        expr: ast.Expr,
        file: str,
        audience: str | None,
        key: tuple[object, ...],
        context: tuple[object, ...],
    ) -> Any:
        from ..checker import _Condition

        item = self.item_span
        dl, do = item.line - typed.line, item.start - typed.start
        cond = _Condition(expr, file)
        if dl or do:
            uses = [(name, shift(span, dl, do)) for name, span in typed.uses]
            reports = [(shift(r[0], dl, do), *r[1:]) for r in typed.reports]
            cond.segments = {k: shift(v, dl, do) for k, v in typed.segments.items()}
        else:
            uses, reports = typed.uses, typed.reports
            cond.segments = dict(typed.segments)
        cond.expr_hash = typed.hash
        same = _Same(expr, context, typed, cond, key, uses, reports)  # type: ignore[arg-type]
        self.memo.next.conds[id(expr)] = same
        self.reuse_typing(same, audience)
        return cond

    def reuse_typing(self, same: _Same, audience: str | None) -> None:
        """Replay a condition's typing: its audience uses, suggestions and diagnostics."""
        self.current_audience = audience
        if audience is not None:
            self.sym.audience_deps.setdefault(audience, set())
        self.failed = False
        for name, span in same.uses:
            self.use_audience(name, span)
        typed = same.typed
        if typed.suggested:
            self.suggested.update(typed.suggested)
        self.replay_reports(same.reports)
        cond = same.cond
        cond.ok = typed.ok  # the cycle pass may have changed it in the previous run
        if not cond.ok:  # not analysed in this run: no analysis of an earlier one either
            cond.nnf = cond.neg = logic.UNKNOWN
            cond.keys = set()
            cond.never = cond.always = False
            cond.key_rep = None

    def type_all(self) -> None:
        # the state of every name (`env`): unchanged since the previous run, the typings
        # found valid then are valid now, without looking at their names one by one
        memo = self.memo
        env = self.env()
        self.type_token = memo.last.type_token if env == memo.last.type_env else object()
        memo.next.type_env, memo.next.type_token = env, self.type_token
        super().type_all()

    # ----------------------------------------------------------------- logic
    def logic(self) -> None:
        self._deep = self.depth() > _MAX_DEPTH
        # the audiences (their text, what they use, whether they are cyclic or broken) and
        # the groups unchanged since the previous run: the pass finds the same for each
        # audience (dependencies first), so the analyses found valid then are valid now
        memo = self.memo
        env = (tuple((a, self.sig(a, before=True)) for a in self.sym.audiences), self.env()[1])
        self.logic_token = memo.last.logic_token if env == memo.last.logic_env else object()
        memo.next.logic_env, memo.next.logic_token = env, self.logic_token
        super().logic()

    def depth(self) -> int:
        deps = self.sym.audience_deps
        longest: dict[str, int] = {}
        for name in self.sym.audience_order:  # dependencies first
            longest[name] = 1 + max(
                (longest.get(d, 0) for d in deps.get(name, ()) if d in self.sym.audiences),
                default=0,
            )
        return max(longest.values(), default=0)

    def sig(self, name: str, depth: int = 0, before: bool = False) -> object:
        """What an audience is to the logic of the conditions using it. `before`: as known
        before the logic pass (without whether it can be true, which the pass finds),
        in a cache of its own."""
        sigs = self._pre_sigs if before else self._sigs
        found = sigs.get(name)
        if found is None:
            aud = self.sym.audiences.get(name)
            cond = self.audience_conds.get(name)
            origin = self.origins.get(id(aud.span)) if aud is not None else None
            if aud is None or cond is None or origin is None or depth > _MAX_DEPTH:
                found = ("?", id(aud))  # never equal to a stored one: no reuse
            else:
                cyclic = name in self.sym.cyclic_audiences
                deps = () if cyclic else sorted(self.sym.audience_deps.get(name, ()))
                found = (
                    origin,
                    aud.condition.span.start - aud.span.start,
                    cond.ok,
                    None if before else cond.never,
                    cyclic,
                    tuple(
                        (d, self.sig(d, depth + 1, before)) for d in deps if d in self.sym.audiences
                    ),
                )
            sigs[name] = found
        return found

    def analyse(self, cond: Any, owner: str) -> None:
        key = self._cond_keys.get(id(cond))
        if key is None or self._deep or id(cond) not in self._typed_hit:
            self.analyse_recorded(cond, owner, key)
            return
        memo = self.memo
        entry = memo.last.analysed.get((key, owner))
        if entry is not None and (
            entry.token is self.logic_token or entry.valid == self.validity(cond, entry.groups)
        ):
            entry.token = self.logic_token
            memo.next.analysed[(key, owner)] = entry
            applied = memo.last.applied.get(id(cond))
            if applied is not None and applied[0] is cond and applied[1] is entry:
                # the same condition object, analysed so already: only its diagnostics
                memo.next.applied[id(cond)] = applied
                self.file = cond.file
                self.replay_reports(applied[2])
                self.mark_stable(cond)
                return
            self.replay_analysis(cond, entry)
            return
        self.analyse_recorded(cond, owner, key)

    def validity(self, cond: Any, groups: tuple[str, ...]) -> object:
        words = self.memo.next.typed[self._cond_keys[id(cond)]].words
        return (
            tuple(self.sig(w) for w in words if w in self.sym.audiences),
            self.segs_of(groups),
        )

    def analyse_recorded(self, cond: Any, owner: str, key: tuple[object, ...] | None) -> None:
        entry = _Analysed()
        # a condition object of the previous run holds that run's analysis: start afresh
        cond.nnf = cond.neg = logic.UNKNOWN
        cond.keys = set()
        cond.never = cond.always = False
        cond.key_rep = None
        self.report = self.recording_report(entry.reports)  # type: ignore[method-assign]
        try:
            super().analyse(cond, owner)
        finally:
            del self.report
        self.mark_stable(cond)
        if key is None or self._deep:
            return
        entry.nnf, entry.neg, entry.keys = cond.nnf, cond.neg, set(cond.keys)
        entry.never, entry.always = cond.never, cond.always
        entry.groups = _groups_of(cond.keys)
        entry.line, entry.start = cond.expr.span.line, cond.expr.span.start
        entry.valid = self.validity(cond, entry.groups)
        entry.token = self.logic_token
        self.memo.next.analysed[(key, owner)] = entry
        self.memo.next.applied[id(cond)] = (cond, entry, entry.reports)

    def replay_analysis(self, cond: Any, entry: _Analysed) -> None:
        span = cond.expr.span  # the same text as when recorded: everything moved alike
        dl, do = span.line - entry.line, span.start - entry.start
        cond.nnf, cond.neg, cond.keys = entry.nnf, entry.neg, set(entry.keys)
        cond.never, cond.always = entry.never, entry.always
        cond.key_rep = None
        self.file = cond.file
        reports = (
            [(shift(r[0], dl, do), *r[1:]) for r in entry.reports] if dl or do else entry.reports
        )
        self.replay_reports(reports)
        self.memo.next.applied[id(cond)] = (cond, entry, reports)
        self.mark_stable(cond)

    def mark_stable(self, cond: Any) -> None:
        self.stable.add(id(cond.nnf))
        self.stable.add(id(cond.neg))

    # ---------------------------------------------------------------- budget
    def budget_report(self, report: Callable[[Any], Any]) -> Any:
        memo = self.memo
        key = self.budget_key()
        if memo.last.budget is not None and memo.last.budget[0] == key:
            memo.next.budget = memo.last.budget
            return memo.last.budget[1]
        from ..state import Layout

        # the layout of the rule set, each rule's features as the budget's key found them
        layout = self.sym.layout = Layout.from_ruleset(self.ruleset, self.rule_uses)
        result = report(layout)
        memo.next.budget = (key, result)
        return result

    def rule_uses(self, rule: ast.Rule, audiences: set[str]) -> Any:
        """What a rule's condition uses (`state._Uses`), as the budget's key found it."""
        if audiences is not self._uses_for:
            if audiences != self._budget_audiences:
                return None
            self._uses_for = audiences  # the layout's own set: compared once
        origin = self.origins.get(id(rule.span))
        found = self.memo.next.rule_budget.get((origin, self._budget_audiences))
        return found[0] if found is not None and origin is not None else None

    def budget_key(self) -> object:
        audiences = frozenset(a.name.value for a in self.ruleset.audiences)
        self._budget_audiences = audiences
        memo = self.memo
        parts: list[object] = [audiences]
        for f in self.ruleset.files:
            # a file parsed as before (the same object) reads as before
            cached = memo.last.file_budget.get(id(f))
            if cached is not None and cached[0] is f and cached[1] == audiences:
                memo.next.file_budget[id(f)] = cached
                memo.next.rule_budget.update(cached[3])
                parts.append(cached[2])
                continue
            file_parts, rules = self.file_budget_key(f, audiences)
            memo.next.file_budget[id(f)] = (f, audiences, file_parts, rules)
            parts.append(file_parts)
        return tuple(parts)

    def file_budget_key(
        self, f: ast.RuleFile, audiences: frozenset[str]
    ) -> tuple[tuple[object, ...], dict[object, object]]:
        from ..state import _Uses, survey_subject

        memo = self.memo
        parts: list[object] = []
        rules: dict[object, object] = {}
        for item in f.items:
            origin = self.origins.get(id(item.span))
            if not isinstance(item, ast.Rule):
                # the same text means the same item; else compared by meaning (not spans)
                parts.append(item if origin is None else origin)
                continue
            key = (origin, audiences) if origin is not None else None
            found = memo.last.rule_budget.get(key) if key is not None else None
            if found is None:
                uses = _Uses()
                if item.condition is not None:
                    uses.walk(item.condition, set(audiences))
                found = (
                    uses,
                    (
                        tuple(uses.counts),
                        tuple(uses.since),
                        tuple(uses.windows.items()),
                        tuple(uses.tags),
                        tuple(uses.attributes),
                        uses.sessions,
                        uses.pageviews,
                        tuple(
                            survey_subject(a, item.condition)
                            for a in item.actions
                            if isinstance(a, ast.ShowSurvey)
                        ),
                    ),
                )
            if key is not None:
                rules[key] = found
            parts.append(found[1])
        memo.next.rule_budget.update(rules)
        return tuple(parts), rules


class _Tables:
    """One run's reusable work, keyed for the next run to look up."""

    __slots__ = (
        "analysed", "applied", "budget", "conds", "file_budget", "groups", "logic_env",
        "logic_token", "rule_budget", "sat", "type_env", "type_token", "typed",
    )  # fmt: skip

    def __init__(self) -> None:
        self.typed: dict[tuple[object, ...], _Typed] = {}
        #: id(condition node) → the node, its condition object and typing (`_Same`)
        self.conds: dict[int, _Same] = {}
        #: id(condition object) → (it, the `_Analysed` its fields hold, its diagnostics there)
        self.applied: dict[int, tuple[Any, _Analysed, list[Any]]] = {}
        self.analysed: dict[tuple[object, ...], _Analysed] = {}
        self.sat: dict[tuple[object, ...], tuple[Any, ...]] = {}
        self.rule_budget: dict[object, object] = {}
        #: id(group) → (the group, its file, its segments by `G.S`, its own diagnostics)
        self.groups: dict[int, tuple[Any, ...]] = {}
        #: id(file) → (the file, the audiences, its part of the budget's key)
        self.file_budget: dict[int, tuple[Any, ...]] = {}
        self.budget: tuple[object, Any] | None = None
        #: the names and audiences of the run, and a token for each state
        self.type_env: object = None
        self.type_token: object = object()
        self.logic_env: object = None
        self.logic_token: object = object()


class CheckMemo:
    """What the previous check of a rule set found, for the next one."""

    def __init__(self) -> None:
        #: the previous run's tables (read) and the running one's (written)
        self.last = _Tables()
        self.next = _Tables()

    def check(
        self, results: Sequence[ParseResult], origins: dict[int, tuple[str, int]]
    ) -> tuple[Diagnostic, ...]:
        """`check_parsed(results).diagnostics`, reusing the previous run's work."""

        def run(
            ruleset: ast.RuleSet,
            *,
            syntax_errors: bool = False,
            skipped_names: Collection[str] | None = None,
        ) -> list[Diagnostic]:
            checker = _IncrementalChecker(ruleset, syntax_errors, skipped_names, self, origins)
            try:
                return apply_suppressions(checker.run(), ruleset)
            finally:
                checker.untie()

        self.next = _Tables()
        try:
            found = check_parsed(results, check=run).diagnostics
        except BaseException:
            self.last = _Tables()  # a half-made memo is never reused
            raise
        self.last, self.next = self.next, _Tables()
        return found
