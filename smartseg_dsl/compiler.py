"""Compiling a checked rule set into plain Python callables, once per load.

`compile_ruleset(ruleset, symbols)` returns a `CompiledRuleSet` the engine runs per
request without ever walking the AST again. `symbols` is what the checker resolved
(`symbols.Symbols`: first definitions, every expression's type, the audiences in
dependency order, survey subjects, the state layout); the compiler reads them
there rather than working them out again:

* **Feature analysis** (`state.Layout.from_ruleset`, which the checker already ran
  for the cookie budget: `Symbols.layout`): which facts, evidence accumulators,
  counters, windows, tags and dismissals the visitor state must hold — only what
  the rules can observe.
* **Matchers** become dispatch tables: exact page paths and categories are
  dictionary look-ups, page globs compiled regular expressions, events and tags
  dictionaries of name → matcher, so a request only touches matchers that fire.
* **Conditions** (rules and audiences) become Python source, compiled with
  `compile()` into one lambda per condition plus one function that evaluates
  every rule's condition in a single list display. Every value of the source
  comes from the AST through `repr()` or an index into a table, so no rule text
  ever reaches the code as code. Comparisons whose operand types are known
  statically (confidence vs. a number…) are emitted as bare Python operators;
  the rest go through small helpers that implement SPEC §1.4's rules (an
  ordering comparison with `none` is false, a boolean never equals a number).
* **Actions** become ready-made `Decision` values: the engine hands out the same
  immutable objects on every request.

The compiled conditions read an evaluation context (`Ctx`, below): per-segment
confidence and score lists, per-group certain/most-likely/known lists, the
audiences already evaluated, the state's counters, and the request's path,
attributes and device.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import ast
from .checker import resolve
from .measure.buckets import cumulative_bounds
from .state import (
    EvidenceSpec,
    Layout,
    MatcherId,
    segments_mentioned,
)
from .symbols import Symbols, Type

__all__ = [
    "CompileError",
    "CompiledAudience",
    "CompiledExperiment",
    "CompiledGoal",
    "CompiledGroup",
    "CompiledRule",
    "CompiledRuleSet",
    "CompiledVariant",
    "Ctx",
    "Decision",
    "MatcherSlot",
    "compile_ruleset",
    "glob_regex",
    "host_matcher",
]

DecisionKind = Literal["show", "hide", "replace", "template", "order", "survey"]


class CompileError(ValueError):
    """The rule set cannot be compiled (the checker should have reported it)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The winning action for a slot (SPEC §1.5). `rule` is `file:line`."""

    slot: str
    kind: DecisionKind
    rule: str
    text: str | None = None  # replace with "text"
    template: str | None = None  # replace with template "path"
    group: str | None = None  # order: children ranked by this group's confidences
    question: str | None = None  # survey
    about: str | None = None  # survey: "G.S" (yes/no) or "G" (choice)
    options: tuple[tuple[str, str], ...] = ()  # survey about G: (segment, label)

    @property
    def action(self) -> str:
        """The action name of `smartseg simulate --format json` (SPEC §5)."""
        return "replace" if self.kind == "template" else self.kind


# ------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class CompiledGroup:
    name: str
    label: str
    prior: float
    half_life: float | None
    segments: tuple[str, ...]
    labels: tuple[str, ...]
    first: int  # global index of the first segment
    index: int
    qualified: tuple[str, ...] = ()  # "Group.Segment" of each segment

    @property
    def indices(self) -> range:
        return range(self.first, self.first + len(self.segments))


@dataclass(frozen=True, slots=True)
class MatcherSlot:
    """What happens when one matcher fires: facts, evidence, counters."""

    matcher: MatcherId
    explicit_facts: tuple[str, ...]  # positive fact keys of explicit signals
    explicit_lines: tuple[str, ...]  # "file:line" of those signals, for tooling
    evidence: tuple[EvidenceSpec, ...]  # implicit signals
    count_key: str | None
    since_key: str | None
    window_key: str | None
    window_limit: int = 0


@dataclass(frozen=True, slots=True)
class CompiledAudience:
    name: str
    index: int
    test: Callable[[Any], Any]
    where: str
    source: str  # generated Python, for debugging


@dataclass(frozen=True, slots=True)
class CompiledGoal:
    """A goal (SPEC §1.7): reached on the first request where it holds.

    A goal whose condition is a bare matcher holds when this request fired it
    (`fired`: the index of that matcher's `MatcherSlot`); otherwise `test` is its
    compiled condition. `value` computes a value goal's number per firing.
    """

    name: str
    label: str | None
    index: int
    key: str  # the state's key for "reached"
    where: str
    fired: int | None
    test: Callable[[Any], Any] | None
    value: Callable[[Any], Any] | None
    source: str

    @property
    def has_value(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class CompiledVariant:
    """One variant of an experiment: its actions as decisions; none makes it a control."""

    name: str
    weight: float
    key: str  # the state's key for "assigned to this variant"
    where: str
    decisions: tuple[Decision, ...]
    survey_checks: tuple[tuple[int, int, str | None] | None, ...]

    @property
    def control(self) -> bool:
        return not self.decisions


@dataclass(frozen=True, slots=True)
class CompiledExperiment:
    """An experiment (SPEC §1.7), acting at its position in the rule order.

    `bounds`: the cumulative normalised weights (`measure.buckets.pick_variant`);
    `start`/`end`: epoch seconds of `from` (inclusive) and `until` (exclusive).
    """

    name: str
    label: str | None
    index: int  # among experiments
    key: str  # the state's key of this experiment
    where: str
    traffic: float
    variants: tuple[CompiledVariant, ...]
    bounds: tuple[float, ...]
    goals: tuple[str, ...]
    start: float | None
    end: float | None
    slots: frozenset[str]  # every slot some variant acts on
    variant_index: Mapping[str, int]  # variant key → index

    def running(self, now: float) -> bool:
        """Is `now` within the experiment's dates?"""
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    where: str  # file:line
    test: Callable[[Any], Any] | None  # None: a bare action, always applies
    decisions: tuple[Decision, ...]
    #: per decision: (group index, segment global index or -1, dismissal key or None)
    #: for surveys, None for other actions
    survey_checks: tuple[tuple[int, int, str | None] | None, ...]
    source: str
    text: str  # the rule as a short human description
    #: an experiment in the rule order: `test` is its `when`, `decisions` every
    #: variant's (the engine applies the visitor's variant only)
    experiment: CompiledExperiment | None = None


@dataclass(frozen=True)
class CompiledRuleSet:
    """A rule set ready to run: built once by `compile_ruleset`, shared by requests."""

    ruleset: ast.RuleSet
    layout: Layout
    groups: tuple[CompiledGroup, ...]
    group_index: Mapping[str, int]
    segment_index: Mapping[str, int]  # "G.S" → global index
    segment_group: tuple[int, ...]  # global segment index → group index
    segment_names: tuple[str, ...]  # global index → "G.S"
    audiences: tuple[CompiledAudience, ...]
    audience_order: tuple[int, ...]  # evaluation order (dependencies first)
    audience_index: Mapping[str, int]
    rules: tuple[CompiledRule, ...]
    evaluate_rules: Callable[[Any], list[Any]]
    # matcher dispatch
    slots: tuple[MatcherSlot, ...]
    page_exact: Mapping[str, tuple[int, ...]]
    page_globs: tuple[tuple[Callable[[str], Any], int], ...]
    categories: Mapping[str, tuple[int, ...]]  # casefolded category → slots
    queries: Mapping[str, tuple[tuple[Callable[[str], Any], int], ...]]
    events: Mapping[str, tuple[int, ...]]
    tags: Mapping[str, tuple[int, ...]]
    landings: tuple[tuple[Callable[[str], Any], int], ...]
    referrers: tuple[tuple[Callable[[str], bool], int], ...]
    # fact key → (group index, segment global index or -1, kind 0 pos / 1 neg / 2 other)
    fact_info: Mapping[str, tuple[int, int, int]]
    # evidence key → (segment global index, half-life or 0.0, cap or inf)
    evidence_info: Mapping[str, tuple[int, float, float]]
    tag_keys: Mapping[str, str]
    dismissal_keys: Mapping[str, str]
    surveys: tuple[str, ...] = field(default=())
    goals: tuple[CompiledGoal, ...] = field(default=())
    #: share of visitors in the holdout (`holdout 10%` → 0.1), None without one
    holdout: float | None = None
    experiments: tuple[CompiledExperiment, ...] = field(default=())
    experiment_index: Mapping[str, int] = field(default_factory=dict)

    @property
    def measuring(self) -> bool:
        """Does this rule set record measurement events (goals, a holdout, experiments)?"""
        return bool(self.goals) or self.holdout is not None or bool(self.experiments)

    @property
    def segment_count(self) -> int:
        return len(self.segment_names)


# -------------------------------------------------------------------------- globs


def glob_regex(glob: str) -> re.Pattern[str]:
    """SPEC §1.1 path globs: `*` any run without `/`, `**` any run, `?` one char but `/`."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _is_plain(glob: str) -> bool:
    return not any(ch in glob for ch in "*?")


def host_matcher(pattern: str) -> Callable[[str], bool]:
    """`"x.com"`: x.com or any subdomain; `"*.x.com"`: subdomains only; case-insensitive.

    `host` is given lower-cased, without port or trailing dot.
    """
    p = pattern.strip().lower().rstrip(".")
    if p.startswith("*."):
        suffix = p[1:]
        return lambda host: host.endswith(suffix) and len(host) > len(suffix)
    if "*" in p or "?" in p:
        rx = re.compile(
            "".join("[^.]*" if ch == "*" else "[^.]" if ch == "?" else re.escape(ch) for ch in p)
        )
        return lambda host: rx.fullmatch(host) is not None
    dotted = "." + p
    return lambda host: host == p or host.endswith(dotted)


# ---------------------------------------------------------------------- context


class Ctx:
    """What compiled conditions read: one per evaluation, filled by the engine.

    The code `_Compiler` generates reads these fields as `c.<field>` (and the
    helpers below as `c.now`, `c.windows`, `c.last_fired`); tests/test_compiler.py
    checks that every field it names is one of these slots.
    """

    __slots__ = (
        "attrs",
        "aud",
        "cert",
        "conf",
        "counts",
        "device",
        "excluded",
        "known",
        "last_fired",
        "ml",
        "now",
        "other",
        "pageviews",
        "path",
        "score",
        "session_time",
        "tags",
        "visits",
        "windows",
    )

    conf: list[float]
    score: list[float]
    cert: list[int | None]
    ml: list[int | None]
    known: list[bool]
    other: list[bool]
    excluded: list[bool]
    aud: list[bool]


# ------------------------------------------------------------------- compilation


def compile_ruleset(ruleset: ast.RuleSet, symbols: Symbols | None = None) -> CompiledRuleSet:
    """Compile a checked rule set. Raises `CompileError` for what the checker rejects.

    `symbols`: what the checker resolved for this very `ruleset` (`load_ruleset` passes
    those of its `checker.check` run); without them the checker runs here first.
    """
    if symbols is None:
        symbols = resolve(ruleset)
    elif symbols.ruleset is not ruleset:
        raise ValueError("the symbols were resolved for another rule set")
    return _Compiler(ruleset, symbols).build()


#: What the generated code may assume of a value (`optnum`: a number or None).
_Type = Literal["num", "optnum", "bool", "seg", "str", "none", "any"]

#: The checker's type kinds as the code generator's; an `error` (never in a rule set
#: the loader accepts) is compiled as any value, through the helpers.
_KINDS: dict[str, _Type] = {
    "bool": "bool",
    "string": "str",
    "segment": "seg",
    "none": "none",
    "any": "any",
    "error": "any",
}


def _kind(t: Type) -> _Type:
    if t.kind in ("number", "duration"):
        return "optnum" if t.nullable else "num"
    return _KINDS[t.kind]


_BUILTIN_VALUES: dict[str, str] = {
    "visits": "c.visits",
    "pageviews": "c.pageviews",
    "session_time": "c.session_time",
    "device": "c.device",
}


def _lit(value: float) -> str:
    if math.isfinite(value):
        return repr(float(value))
    return "_INF" if value > 0 else "-_INF"


def _rule_text(rule: ast.Rule) -> str:
    if not rule.actions:
        return "(no action)"
    first = rule.actions[0]
    slot = ast.action_slot(first)
    kind = type(first).__name__
    words = {
        "ShowSlot": "show slot",
        "HideSlot": "hide slot",
        "ReplaceText": "replace slot",
        "ReplaceTemplate": "replace slot",
        "OrderSlot": "order slot",
        "ShowSurvey": "survey in slot",
    }
    text = f"{words.get(kind, kind)} {slot}"
    if len(rule.actions) > 1:
        text += f" (+{len(rule.actions) - 1} more)"
    return text


class _Compiler:
    def __init__(self, ruleset: ast.RuleSet, symbols: Symbols) -> None:
        self.ruleset = ruleset
        self.sym = symbols
        layout = symbols.layout
        self.layout = layout if layout is not None else Layout.from_ruleset(ruleset)
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self.regex_count = 0

    # ------------------------------------------------------------------ groups
    def _groups(self) -> None:
        groups: list[CompiledGroup] = []
        seg_index: dict[str, int] = {}
        seg_group: list[int] = []
        names: list[str] = []
        for g in self.sym.groups.values():  # first definitions
            segs: list[str] = []
            labels: list[str] = []
            for s in g.segments:
                if s.name.value in segs:
                    continue
                segs.append(s.name.value)
                labels.append(s.label.value if s.label is not None else s.name.value)
            first = len(names)
            for s in segs:
                qualified = f"{g.name.value}.{s}"
                seg_index[qualified] = len(names)
                names.append(qualified)
                seg_group.append(len(groups))
            prior = g.prior.value.value if g.prior is not None else 10.0
            half = g.decay.half_life.seconds if g.decay is not None else None
            groups.append(
                CompiledGroup(
                    g.name.value,
                    g.label.value if g.label is not None else g.name.value,
                    prior,
                    half if half and half > 0 else None,
                    tuple(segs),
                    tuple(labels),
                    first,
                    len(groups),
                    tuple(names[first:]),
                )
            )
        self.groups = tuple(groups)
        self.group_index = {g.name: g.index for g in groups}
        self.seg_index = seg_index
        self.seg_group = tuple(seg_group)
        self.seg_names = tuple(names)

    # ---------------------------------------------------------------- matchers
    def _matchers(self) -> None:
        layout = self.layout
        explicit: dict[MatcherId, list[tuple[str, str]]] = {}
        seen_groups: set[str] = set()
        for file, item in self.ruleset.items():
            if not isinstance(item, ast.Group) or item.name.value in seen_groups:
                continue
            seen_groups.add(item.name.value)
            for seg in item.segments:
                for sig in seg.signals:
                    if sig.explicit:
                        key = layout.fact_keys.get(f"+{item.name.value}.{seg.name.value}")
                        if key is not None:
                            explicit.setdefault(MatcherId.of(sig.matcher), []).append(
                                (key, f"{file.path}:{sig.span.line}")
                            )
        evidence: dict[MatcherId, list[EvidenceSpec]] = {}
        for spec in layout.evidence:
            evidence.setdefault(spec.matcher, []).append(spec)
        windows = {w.matcher: w for w in layout.windows}
        # a goal reached by a bare matcher needs to know when that matcher fires
        goal_ids = [
            MatcherId.of(g.condition)
            for g in self.ruleset.goals
            if isinstance(g.condition, ast.Matcher)
        ]
        all_ids = list(
            dict.fromkeys(
                [*explicit, *evidence, *layout.counts, *layout.since, *windows, *goal_ids]
            )
        )
        self.slot_of = {mid: i for i, mid in enumerate(all_ids)}
        slots: list[MatcherSlot] = []
        for mid in all_ids:
            w = windows.get(mid)
            facts = explicit.get(mid, [])
            slots.append(
                MatcherSlot(
                    mid,
                    tuple(dict.fromkeys(k for k, _ in facts)),
                    tuple(line for _, line in facts),
                    tuple(evidence.get(mid, ())),
                    layout.counts.get(mid),
                    layout.since.get(mid),
                    w.key if w is not None else None,
                    w.limit if w is not None else 0,
                )
            )
        self.slots = tuple(slots)
        page_exact: dict[str, list[int]] = {}
        page_globs: list[tuple[Callable[[str], Any], int]] = []
        categories: dict[str, list[int]] = {}
        queries: dict[str, list[tuple[Callable[[str], Any], int]]] = {}
        events: dict[str, list[int]] = {}
        tags: dict[str, list[int]] = {}
        landings: list[tuple[Callable[[str], Any], int]] = []
        referrers: list[tuple[Callable[[str], bool], int]] = []
        for i, slot in enumerate(slots):
            m = slot.matcher
            if m.kind == "page":
                if _is_plain(m.pattern):
                    page_exact.setdefault(m.pattern, []).append(i)
                else:
                    page_globs.append((glob_regex(m.pattern).fullmatch, i))
            elif m.kind == "category":
                categories.setdefault(m.pattern.strip().casefold(), []).append(i)
            elif m.kind == "query":
                queries.setdefault(m.param or "", []).append((glob_regex(m.pattern).fullmatch, i))
            elif m.kind == "event":
                events.setdefault(m.pattern, []).append(i)
            elif m.kind == "tag":
                tags.setdefault(m.pattern, []).append(i)
            elif m.kind == "landing":
                landings.append((glob_regex(m.pattern).fullmatch, i))
            elif m.kind == "referrer":
                referrers.append((host_matcher(m.pattern), i))
        self.page_exact = {k: tuple(v) for k, v in page_exact.items()}
        self.page_globs = tuple(page_globs)
        self.categories = {k: tuple(v) for k, v in categories.items()}
        self.queries = {k: tuple(v) for k, v in queries.items()}
        self.events = {k: tuple(v) for k, v in events.items()}
        self.tags = {k: tuple(v) for k, v in tags.items()}
        self.landings = tuple(landings)
        self.referrers = tuple(referrers)

    # -------------------------------------------------------------- conditions
    def _expr(self, e: ast.Expr | ast.MatcherArg) -> tuple[str, _Type]:
        """Python source for an expression, and its type (the checker's, `Symbols.types`)."""
        return self._source(e), _kind(self.sym.type_of(e))

    def _source(self, e: ast.Expr | ast.MatcherArg) -> str:
        if isinstance(e, ast.Number):
            return _lit(e.value)
        if isinstance(e, ast.Duration):
            return _lit(e.seconds)
        if isinstance(e, ast.String | ast.Boolean):
            return repr(e.value)  # 'a text', True or False
        if isinstance(e, ast.NoneLit):
            return "None"
        if isinstance(e, ast.Ref):
            return self._ref(e)
        if isinstance(e, ast.Not):
            src, _ = self._expr(e.operand)
            return f"(not {src})"
        if isinstance(e, ast.BoolOp):
            parts = [self._truth(o) for o in e.operands]
            return "(" + f" {e.op} ".join(parts) + ")"
        if isinstance(e, ast.Compare):
            return self._compare(e.op, e.left, e.right)
        if isinstance(e, ast.Is):
            left, lt = self._expr(e.left)
            right, rt = self._expr(e.right)
            if lt == "none" or rt == "none":
                other = right if lt == "none" else left
                src = f"({other} is None)"
            elif lt in ("seg", "num", "str") and lt == rt:
                src = f"({left} == {right})"
            else:
                src = f"_eq({left}, {right})"
            return f"(not {src})" if e.negated else src
        if isinstance(e, ast.Call):
            return self._call(e)
        raise CompileError(f"cannot compile {type(e).__name__} here")

    def _truth(self, e: ast.Expr) -> str:
        src, t = self._expr(e)
        return src if t == "bool" else f"bool({src})"

    def _segment(self, ref: ast.Expr | ast.MatcherArg) -> int:
        if not isinstance(ref, ast.Ref) or ref.segment is None:
            raise CompileError("expected a segment such as Industry.Legal")
        index = self.seg_index.get(ref.dotted)
        if index is None:
            raise CompileError(f"unknown segment {ref.dotted}")
        return index

    def _group(self, ref: ast.Expr | ast.MatcherArg) -> int:
        if not isinstance(ref, ast.Ref) or ref.segment is not None:
            raise CompileError("expected a group name")
        index = self.group_index.get(ref.group.value)
        if index is None:
            raise CompileError(f"unknown group {ref.group.value}")
        return index

    def _ref(self, ref: ast.Ref) -> str:
        if ref.segment is not None:
            return str(self._segment(ref))
        name = ref.group.value
        if name in self.audience_index:
            return f"c.aud[{self.audience_index[name]}]"
        if name in _BUILTIN_VALUES:
            return _BUILTIN_VALUES[name]
        raise CompileError(f"unknown name {name}")

    def _regex(self, pattern: str) -> str:
        name = f"_rx{self.regex_count}"
        self.regex_count += 1
        self.namespace[name] = glob_regex(pattern).fullmatch
        return name

    def _call(self, call: ast.Call) -> str:
        func = call.func.value
        args = call.args
        if func in ("confidence", "score", "certain", "likely") and len(args) == 1:
            i = self._segment(args[0])
            g = self.seg_group[i]
            if func == "confidence":
                return f"c.conf[{i}]"
            if func == "score":
                return f"c.score[{i}]"
            if func == "certain":
                return f"(c.cert[{g}] == {i})"
            return f"(c.ml[{g}] == {i})"
        if func in ("most_likely", "known") and len(args) == 1:
            g = self._group(args[0])
            return f"c.ml[{g}]" if func == "most_likely" else f"c.known[{g}]"
        if func == "tagged" and len(args) == 1 and isinstance(args[0], ast.String):
            key = self.layout.tags.get(args[0].value)
            return f"({key!r} in c.tags)" if key else "False"
        if func == "viewing" and len(args) == 1 and isinstance(args[0], ast.String):
            rx = self._regex(args[0].value)
            return f"(c.path is not None and {rx}(c.path) is not None)"
        if func == "attribute" and len(args) == 1 and isinstance(args[0], ast.String):
            return f"c.attrs.get({args[0].value!r})"
        if func in ("count", "since") and len(args) == 1 and isinstance(args[0], ast.MatcherArg):
            mid = MatcherId.of(args[0].matcher)
            within = args[0].within
            if func == "since":
                return f"_since(c, {self.layout.since[mid]!r})"
            if within is None:
                return f"c.counts.get({self.layout.counts[mid]!r}, 0)"
            key = next(w.key for w in self.layout.windows if w.matcher == mid)
            return f"_win(c, {key!r}, {_lit(within.seconds)})"
        raise CompileError(f"unknown function {func}() or wrong arguments")

    def _compare(self, op: str, left_e: ast.Expr, right_e: ast.Expr) -> str:
        left, lt = self._expr(left_e)
        right, rt = self._expr(right_e)
        if op in ("==", "!="):
            if lt == rt and lt in ("num", "str", "seg"):
                return f"({left} {op} {right})"
            if "none" in (lt, rt):
                other = right if lt == "none" else left
                return f"({other} {'is' if op == '==' else 'is not'} None)"
            eq = f"_eq({left}, {right})"
            return eq if op == "==" else f"(not {eq})"
        if lt == rt and lt in ("num", "str"):
            return f"({left} {op} {right})"
        return f"{_ORDER[op]}({left}, {right})"

    def _condition(self, expr: ast.Expr, where: str) -> tuple[str, Callable[[Any], Any]]:
        src = self._truth(expr)
        try:
            code = compile(f"lambda c: {src}", f"<smartseg {where}>", "eval")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise CompileError(f"{where}: condition too complex to compile ({exc})") from exc
        return src, eval(code, self.namespace)

    # --------------------------------------------------------------- audiences
    def _audiences(self) -> None:
        sym = self.sym
        if sym.cyclic_audiences:
            raise CompileError("audiences refer to each other in a cycle")
        # first definitions, indexed in definition order; evaluated in the checker's
        # dependency order (an audience after those it uses)
        self.audience_index = {name: i for i, name in enumerate(sym.audiences)}
        compiled: list[CompiledAudience] = []
        for name, item in sym.audiences.items():
            where = f"{sym.defined_at[name][0]}:{item.span.line}"
            src, fn = self._condition(item.condition, where)
            compiled.append(CompiledAudience(name, len(compiled), fn, where, src))
        self.audiences = tuple(compiled)
        self.audience_order = tuple(self.audience_index[name] for name in sym.audience_order)

    # ------------------------------------------------------------------ rules
    def _rules(self) -> None:
        rules: list[CompiledRule] = []
        sources: list[str] = []
        surveys: list[str] = []
        experiments: list[CompiledExperiment] = []
        seen_experiments: set[str] = set()
        for index, (file, item) in enumerate(self.ruleset.deciders()):
            if isinstance(item, ast.Experiment):
                if item.name.value in seen_experiments:
                    # a duplicate (SEG205): never acts; kept so indices match the order
                    sources.append("False")
                    rules.append(
                        CompiledRule(
                            index,
                            f"{file.path}:{item.span.line}",
                            None,
                            (),
                            (),
                            "False",
                            f"experiment {item.name.value} (duplicate)",
                        )
                    )
                    continue
                seen_experiments.add(item.name.value)
                compiled, src, fn = self._experiment(file, item, len(experiments))
                experiments.append(compiled)
                for v in compiled.variants:
                    surveys.extend(d.about for d in v.decisions if d.kind == "survey" and d.about)
                sources.append(src)
                rules.append(
                    CompiledRule(
                        index,
                        compiled.where,
                        fn,
                        tuple(d for v in compiled.variants for d in v.decisions),
                        tuple(c for v in compiled.variants for c in v.survey_checks),
                        src,
                        f"experiment {compiled.name}",
                        compiled,
                    )
                )
                continue
            rule = item
            where = f"{file.path}:{rule.span.line}"
            if rule.condition is None:
                src, fn = "True", None
            else:
                # compiled with every other rule in `evaluate_rules` below; a function of
                # its own only when something asks (10,000 compiles cost 0.3 s at load)
                src = self._truth(rule.condition)
                fn = _LazyCondition(src, where, self.namespace)
            sources.append(src)
            decisions, checks = self._actions(rule.actions, rule.condition, where)
            surveys.extend(d.about for d in decisions if d.kind == "survey" and d.about)
            rules.append(CompiledRule(index, where, fn, decisions, checks, src, _rule_text(rule)))
        self.rules = tuple(rules)
        self.experiments = tuple(experiments)
        self.surveys = tuple(dict.fromkeys(surveys))
        body = ", ".join(sources) if sources else ""
        try:
            code = compile(f"lambda c: [{body}]", "<smartseg rules>", "eval")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise CompileError(f"the rules are too complex to compile together ({exc})") from exc
        self.evaluate_rules = eval(code, self.namespace)

    def _actions(
        self, actions: Sequence[ast.Action], condition: ast.Expr | None, where: str
    ) -> tuple[tuple[Decision, ...], tuple[tuple[int, int, str | None] | None, ...]]:
        """The decisions of a rule's (or a variant's) actions, and each one's survey check."""
        compiled = [self._action(action, condition, where) for action in actions]
        return tuple(d for d, _ in compiled), tuple(check for _, check in compiled)

    def _action(
        self, action: ast.Action, condition: ast.Expr | None, where: str
    ) -> tuple[Decision, tuple[int, int, str | None] | None]:
        if isinstance(action, ast.ShowSlot):
            return Decision(action.slot.value, "show", where), None
        if isinstance(action, ast.HideSlot):
            return Decision(action.slot.value, "hide", where), None
        if isinstance(action, ast.ReplaceText):
            return Decision(action.slot.value, "replace", where, text=action.text.value), None
        if isinstance(action, ast.ReplaceTemplate):
            return (
                Decision(action.slot.value, "template", where, template=action.template.value),
                None,
            )
        if isinstance(action, ast.OrderSlot):
            if action.group.value not in self.group_index:
                raise CompileError(f"{where}: unknown group {action.group.value}")
            return Decision(action.slot.value, "order", where, group=action.group.value), None
        if isinstance(action, ast.ShowSurvey):
            about = self.sym.about(action)
            if about is None:
                mentioned = segments_mentioned(condition) if condition else []
                raise CompileError(
                    f"{where}: the survey needs `about`: its condition mentions "
                    f"{len(mentioned)} segments"
                )
            group, _, segment = about.partition(".")
            if group not in self.group_index:
                raise CompileError(f"{where}: unknown group {group}")
            g = self.groups[self.group_index[group]]
            seg = -1
            options: tuple[tuple[str, str], ...] = ()
            if segment:
                if about not in self.seg_index:
                    raise CompileError(f"{where}: unknown segment {about}")
                seg = self.seg_index[about]
            else:
                options = tuple(zip(g.segments, g.labels, strict=True))
            decision = Decision(
                action.slot_name,
                "survey",
                where,
                question=action.question.value,
                about=about,
                options=options,
            )
            return decision, (g.index, seg, self.layout.dismissals.get(about))
        raise CompileError(f"{where}: unknown action {type(action).__name__}")

    def _experiment(
        self, file: ast.RuleFile, item: ast.Experiment, index: int
    ) -> tuple[CompiledExperiment, str, Callable[[Any], Any] | None]:
        where = f"{file.path}:{item.span.line}"
        name = item.name.value
        when = item.when
        if when is None:
            src, fn = "True", None
        else:
            src, fn = self._condition(when, where)
        variants: list[CompiledVariant] = []
        seen: set[str] = set()
        for v in item.variants:
            if v.name.value in seen:
                continue
            seen.add(v.name.value)
            vwhere = f"{file.path}:{v.span.line}"
            decisions, checks = self._actions(v.actions, when, vwhere)
            weight = v.weight.value
            if not (math.isfinite(weight) and weight > 0):
                raise CompileError(f"{vwhere}: variant weight {weight} is not above 0")
            variants.append(
                CompiledVariant(
                    v.name.value,
                    weight,
                    self.layout.variants[(name, v.name.value)],
                    vwhere,
                    decisions,
                    checks,
                )
            )
        if not variants:
            raise CompileError(f"{where}: experiment {name} has no variant")
        traffic = item.traffic.value if item.traffic is not None else 1.0
        if not 0 < traffic <= 1:
            raise CompileError(f"{where}: traffic {traffic} is outside (0, 1]")
        start, end = item.schedule("from"), item.schedule("until")
        compiled = CompiledExperiment(
            name,
            item.label.value if item.label is not None else None,
            index,
            self.layout.experiments[name],
            where,
            traffic,
            tuple(variants),
            cumulative_bounds(tuple(v.weight for v in variants)),
            tuple(dict.fromkeys(g.name.value for g in item.goals)),
            _epoch(start, where) if start is not None else None,
            _epoch(end, where) if end is not None else None,
            frozenset(item.slots()),
            {v.key: i for i, v in enumerate(variants)},
        )
        return compiled, src, fn

    # ------------------------------------------------------------------ goals
    def _goals(self) -> None:
        goals: list[CompiledGoal] = []
        seen: set[str] = set()
        for file, item in self.ruleset.items():
            if not isinstance(item, ast.Goal) or item.name.value in seen:
                continue
            seen.add(item.name.value)
            where = f"{file.path}:{item.span.line}"
            fired: int | None = None
            test: Callable[[Any], Any] | None = None
            if isinstance(item.condition, ast.Matcher):
                fired = self.slot_of[MatcherId.of(item.condition)]
                src = f"fired {item.condition.kind} {item.condition.pattern.value!r}"
            else:
                src, test = self._condition(item.condition, where)
            value: Callable[[Any], Any] | None = None
            if item.value is not None:
                vsrc, _ = self._expr(item.value)
                try:
                    code = compile(f"lambda c: {vsrc}", f"<smartseg {where}>", "eval")
                except (SyntaxError, RecursionError, MemoryError) as exc:
                    raise CompileError(f"{where}: value too complex to compile ({exc})") from exc
                value = eval(code, self.namespace)
            goals.append(
                CompiledGoal(
                    item.name.value,
                    item.label.value if item.label is not None else None,
                    len(goals),
                    self.layout.goals[item.name.value],
                    where,
                    fired,
                    test,
                    value,
                    src,
                )
            )
        self.goals = tuple(goals)
        holdouts = self.ruleset.holdouts
        self.holdout = holdouts[0].share.value if holdouts else None
        if self.holdout is not None and not 0 < self.holdout <= 1:
            raise CompileError(f"holdout {self.holdout} is outside (0, 1]")

    # ------------------------------------------------------------------ build
    def build(self) -> CompiledRuleSet:
        self._groups()
        self._matchers()
        self._audiences()
        self._rules()
        self._goals()
        layout = self.layout
        fact_info: dict[str, tuple[int, int, int]] = {}
        for g in self.groups:
            key = layout.fact_keys.get(f"~{g.name}")
            if key:
                fact_info[key] = (g.index, -1, 2)
            for i in g.indices:
                dotted = self.seg_names[i]
                pos = layout.fact_keys.get(f"+{dotted}")
                neg = layout.fact_keys.get(f"-{dotted}")
                if pos:
                    fact_info[pos] = (g.index, i, 0)
                if neg:
                    fact_info[neg] = (g.index, i, 1)
        evidence_info = {
            s.key: (
                self.seg_index[f"{s.group}.{s.segment}"],
                s.half_life or 0.0,
                s.cap if s.cap is not None else math.inf,
            )
            for s in layout.evidence
        }
        return CompiledRuleSet(
            ruleset=self.ruleset,
            layout=layout,
            groups=self.groups,
            group_index=self.group_index,
            segment_index=self.seg_index,
            segment_group=self.seg_group,
            segment_names=self.seg_names,
            audiences=self.audiences,
            audience_order=self.audience_order,
            audience_index=self.audience_index,
            rules=self.rules,
            evaluate_rules=self.evaluate_rules,
            slots=self.slots,
            page_exact=self.page_exact,
            page_globs=self.page_globs,
            categories=self.categories,
            queries=self.queries,
            events=self.events,
            tags=self.tags,
            landings=self.landings,
            referrers=self.referrers,
            fact_info=fact_info,
            evidence_info=evidence_info,
            tag_keys=dict(layout.tags),
            dismissal_keys=dict(layout.dismissals),
            surveys=self.surveys,
            goals=self.goals,
            holdout=self.holdout,
            experiments=self.experiments,
            experiment_index={e.name: e.index for e in self.experiments},
        )


def _epoch(date: ast.Date, where: str) -> float:
    day = date.moment()
    if day is None:
        raise CompileError(f"{where}: {date.text!r} is not a date (YYYY-MM-DD)")
    return day.timestamp()


class _LazyCondition:
    """A rule's condition as a function, compiled on its first call."""

    __slots__ = ("_fn", "_namespace", "_src", "_where")

    def __init__(self, src: str, where: str, namespace: dict[str, Any]) -> None:
        self._src, self._where, self._namespace = src, where, namespace
        self._fn: Callable[[Any], Any] | None = None

    def __call__(self, c: Any) -> Any:
        fn = self._fn
        if fn is None:
            code = compile(f"lambda c: {self._src}", f"<smartseg {self._where}>", "eval")
            fn = self._fn = eval(code, self._namespace)
        return fn(c)


# ------------------------------------------------------------------------ helpers
# Called from generated code. Each implements one SPEC §1.4 rule and never raises.


def _win(c: Any, key: str, within: float) -> int:
    """`count(M within D)`: firings with `now − t < D` (timestamps most recent first)."""
    times = c.windows.get(key)
    if not times:
        return 0
    now = c.now
    n = 0
    for t in times:
        if now - t >= within:
            break
        n += 1
    return n


def _since(c: Any, key: str) -> float | None:
    t = c.last_fired.get(key)
    return None if t is None else float(c.now - t)


def _eq(a: object, b: object) -> bool:
    # A boolean never equals a number (Python's True == 1 would say otherwise).
    if (type(a) is bool) != (type(b) is bool):
        return False
    return a == b


def _number(x: object) -> bool:
    return type(x) in (int, float)


def _ordered(a: object, b: object) -> bool:
    """Both numbers, or both strings: anything else (none, mixed) makes `<` false."""
    if _number(a):
        return _number(b)
    return type(a) is str and type(b) is str


def _lt(a: Any, b: Any) -> bool:
    return _ordered(a, b) and a < b


def _le(a: Any, b: Any) -> bool:
    return _ordered(a, b) and a <= b


def _gt(a: Any, b: Any) -> bool:
    return _ordered(a, b) and a > b


def _ge(a: Any, b: Any) -> bool:
    return _ordered(a, b) and a >= b


_ORDER = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
_HELPERS: dict[str, Any] = {
    "__builtins__": {"bool": bool},
    "_win": _win,
    "_since": _since,
    "_eq": _eq,
    "_lt": _lt,
    "_le": _le,
    "_gt": _gt,
    "_ge": _ge,
    "_INF": math.inf,
}
