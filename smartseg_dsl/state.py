"""The visitor state (SPEC §2.2), its layout for a rule set, and its compact encoding.

Three things live here because they must agree byte for byte:

* `Layout.from_ruleset(ruleset)` — *feature analysis*: what the rules can observe,
  hence what the state must hold. A rule set that never mentions
  `count(page …)` stores no page timestamps; one that never reads `visits` keeps
  no session bookkeeping. Every stored item has a short *key* derived from a
  hash of its identity (`+Industry.Legal`, an implicit signal, a matcher…), so a
  cookie written under yesterday's rules still loads under today's: items whose
  identity is unchanged keep their data, the rest is dropped.
* `VisitorState` — an immutable value. Times are whole **seconds** since the
  Unix epoch (UTC). The engine truncates each request's time to the second,
  which keeps every SPEC rule exact: half-open windows `now − t < D`, the
  30-minute session gap, the 30-day dismissal, `within 30s`. (Minutes would not
  be: a firing at 10:00:59 and a read at 10:30:30 are 29 min 31 s apart, but
  29 or 30 whole minutes depending on rounding.)
* `encode_state` / `decode_state` — the JSON-ready form that goes into the
  cookie: short keys, every time written as an *age* in seconds relative to
  the state's last update (recent things are small numbers), window timestamps
  delta-encoded, only non-zero values. `decode_state` validates everything
  (types, ranges, lengths) and raises `StateError` with a reason otherwise.

`budget.py` builds the worst-case encoded state with `worst_case_document` from
the same layout, so the checker's SEG5xx bound and the engine's cookie agree.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .frozen import fast_init

__all__ = [
    "DISMISS_SECONDS",
    "MAX_AGE",
    "MAX_COUNT",
    "MAX_EVIDENCE",
    "MAX_WINDOW_LIMIT",
    "SCHEMA_VERSION",
    "SESSION_GAP",
    "EvidenceSpec",
    "Layout",
    "MatcherId",
    "StateError",
    "VisitorState",
    "WindowSpec",
    "canonical",
    "decayed",
    "decode_state",
    "encode_state",
    "replace_state",
    "worst_case_document",
]

#: Bumped whenever the encoded form changes incompatibly; an old cookie is then a new visitor.
SCHEMA_VERSION = 1
#: A page view more than this many seconds after the previous one starts a new session.
SESSION_GAP = 30 * 60
#: A dismissal suppresses its survey while `now − t < DISMISS_SECONDS`.
DISMISS_SECONDS = 30 * 86400
#: Ages saturate here (~31.7 years): every time in the cookie has at most 9 digits.
MAX_AGE = 999_999_999
#: Counters (visits, page views, `count(M)` without a window) saturate here.
MAX_COUNT = 999_999_999
#: An evidence accumulator saturates here; values are kept to 0.001 point (the cookie
#: holds integer milli-points).
MAX_EVIDENCE = 999_999.999
#: A windowed counter keeps at most this many timestamps (comparisons up to 9,999).
MAX_WINDOW_LIMIT = 10_000
#: Default window depth when a count is not compared with a constant: exact up to 50.
DEFAULT_WINDOW_LIMIT = 51
#: Bounds on a decoded state, far above anything the engine writes: absurd → refused.
_MAX_ITEMS = 20_000
_MIN_EPOCH = 946_684_800  # 2000-01-01
_MAX_EPOCH = 9_999_999_999
#: Visitor ids are `secrets.token_urlsafe(12)`: 16 characters (the size model counts 16).
VISITOR_ID_LENGTH = 16
#: A journey may name its visitor (SPEC §5: the id decides holdout and experiment
#: buckets); anything longer than this is refused.
MAX_VISITOR_ID_LENGTH = 64
_VISITOR_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

_EMPTY: Mapping[str, Any] = {}
#: An inbound text attribute (SPEC §7) has at most this many characters (UTF-16 code
#: units): the cookie's worst case counts each as a 6-byte `\uXXXX` escape.
INBOUND_TEXT_CHARS = 64


class StateError(ValueError):
    """A decoded cookie payload is not a valid state; the message is the reason."""


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class MatcherId:
    """What a matcher looks at, without its source position: `page "/blog/**"`."""

    kind: str
    pattern: str
    param: str | None = None

    @property
    def ident(self) -> str:
        return f"{self.kind}:{self.param or ''}:{self.pattern}"

    def __str__(self) -> str:
        if self.kind == "query":
            return f'query {self.param} "{self.pattern}"'
        return f'{self.kind} "{self.pattern}"'

    @classmethod
    def of(cls, matcher: ast.Matcher) -> MatcherId:
        return cls(
            matcher.kind,
            matcher.pattern.value,
            matcher.param.value if matcher.param is not None else None,
        )


@fast_init  # built twice per implicit signal whenever a layout is made (SEG501, LSP)
@dataclass(frozen=True, slots=True)
class EvidenceSpec:
    """One implicit signal's accumulator."""

    key: str
    group: str
    segment: str
    matcher: MatcherId
    weight: float
    cap: float | None
    half_life: float | None  # seconds; None: no decay
    line: int = 0
    file: str = ""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Timestamps of a matcher's firings, for `count(M within D)`.

    `retention` is the longest window any rule asks for (seconds); `limit` the
    number of most recent timestamps kept, enough to decide every comparison
    the rules make (a count compared with `c` needs `floor(c) + 1`).
    """

    key: str
    matcher: MatcherId
    retention: float
    limit: int


@functools.lru_cache(maxsize=1 << 16)  # a language server asks again on every keystroke
def _hash_key(identity: str) -> str:
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def _assign_keys(identities: Iterable[str]) -> dict[str, str]:
    """Short, stable keys: 3 characters of the identity's hash, longer only on a clash.

    A key depends only on its own identity and on the (rare) identities it clashes
    with, so editing one rule does not move every other item's key.
    """
    full = {ident: _hash_key(ident) for ident in dict.fromkeys(identities)}
    # The shortest unique prefix is one longer than the longest prefix shared with
    # any other hash, and that longest one is always a neighbour in sorted order:
    # O(n log n) instead of comparing every pair (SEG501 runs on 10,000-line sets).
    ordered = sorted(full.items(), key=lambda item: item[1])
    keys: dict[str, str] = {}
    for i, (ident, h) in enumerate(ordered):
        shared = 0
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered):
                shared = max(shared, _common_prefix(h, ordered[j][1]))
        keys[ident] = h[: min(len(h), max(3, shared + 1))]
    return keys


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class Layout:
    """What a rule set's visitor state holds, and under which keys.

    Built by `Layout.from_ruleset`; tolerant of rule sets the checker would reject
    (unknown names, wrong arities are simply not features), so the checker can
    ask `budget.py` for the size of any parsed rule set.
    """

    #: `+G.S` / `-G.S` (positive / negative fact of a segment), `~G` (other) → key
    fact_keys: Mapping[str, str]
    evidence: tuple[EvidenceSpec, ...]
    counts: Mapping[MatcherId, str]  # `count(M)` without a window
    since: Mapping[MatcherId, str]  # `since(M)`
    windows: tuple[WindowSpec, ...]
    tags: Mapping[str, str]  # tags `tagged()` asks about
    dismissals: Mapping[str, str]  # survey subjects ("G.S" or "G")
    goals: Mapping[str, str]  # goal name → key of "reached" (SPEC §1.7)
    sessions: bool  # `visits` or `session_time`, or measurement (session events)
    pageviews: bool
    reloads: bool  # something a reload must not count: keep the last path's hash
    landing: bool
    referrer: bool
    # Reverse maps for decoding and for tooling.
    evidence_by_key: Mapping[str, EvidenceSpec] = field(default_factory=dict)
    window_by_key: Mapping[str, WindowSpec] = field(default_factory=dict)
    fact_by_key: Mapping[str, str] = field(default_factory=dict)
    count_keys: frozenset[str] = frozenset()
    since_keys: frozenset[str] = frozenset()
    tag_keys: frozenset[str] = frozenset()
    dismissal_keys: frozenset[str] = frozenset()
    goal_keys: frozenset[str] = frozenset()
    #: experiment name → key; (experiment, variant) → key (SPEC §1.7 assignments)
    experiments: Mapping[str, str] = field(default_factory=dict)
    variants: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: experiment key → the keys of its variants (a cookie naming another is re-assigned)
    variant_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    decaying_keys: frozenset[str] = frozenset()  # evidence keys whose group decays
    #: attribute names `attribute("…")` reads → key of the inbound value kept (SPEC §1.8)
    attributes: Mapping[str, str] = field(default_factory=dict)
    attribute_keys: frozenset[str] = frozenset()
    #: `sync audience` names → key of "the visitor is in it" (SPEC §7 activation)
    synced: Mapping[str, str] = field(default_factory=dict)
    synced_keys: frozenset[str] = frozenset()
    #: activation can happen (segments to become certain of, or synced audiences): keep
    #: whether the visitor identified
    identifies: bool = False

    @classmethod
    def from_ruleset(
        cls,
        ruleset: ast.RuleSet,
        rule_uses: Callable[[ast.Rule, set[str]], _Uses | None] | None = None,
    ) -> Layout:
        """`rule_uses(rule, audience names)`, if given, may answer what walking a rule's
        condition would find (a `_Uses` of that condition alone), or None to walk it: the
        language server keeps them per rule text between keystrokes."""
        return _analyze(ruleset, rule_uses)


#: matcher kinds a reload must not count twice (`Layout.reloads`)
_RELOAD_KINDS = frozenset({"page", "category", "query", "landing", "referrer"})


def _analyze(
    ruleset: ast.RuleSet,
    rule_uses: Callable[[ast.Rule, set[str]], _Uses | None] | None = None,
) -> Layout:
    audience_names = {a.name.value for a in ruleset.audiences}

    fact_idents: list[str] = []
    evidence: list[tuple[str, EvidenceSpec]] = []
    #: the kinds of matcher read, by signals and by rules
    kinds: set[str] = set()
    seen_groups: set[str] = set()
    for file, item in ruleset.items():
        if not isinstance(item, ast.Group) or item.name.value in seen_groups:
            continue
        group = item
        seen_groups.add(group.name.value)
        half_life = group.decay.half_life.seconds if group.decay is not None else None
        if half_life is not None and half_life <= 0:
            half_life = None
        fact_idents.append(f"~{group.name.value}")
        seen_segments: set[str] = set()
        for segment in group.segments:
            if segment.name.value in seen_segments:
                continue
            seen_segments.add(segment.name.value)
            dotted = f"{group.name.value}.{segment.name.value}"
            fact_idents += [f"+{dotted}", f"-{dotted}"]
            occurrences: dict[str, int] = {}
            for signal in segment.signals:
                mid = MatcherId.of(signal.matcher)
                kinds.add(mid.kind)
                if signal.explicit:
                    continue
                n = occurrences.get(mid.ident, 0)
                occurrences[mid.ident] = n + 1
                ident = f"e:{dotted}:{mid.ident}#{n}"
                weight = signal.weight.value if signal.weight is not None else 1.0
                cap = signal.cap.value if signal.cap is not None else None
                evidence.append(
                    (
                        ident,
                        EvidenceSpec(
                            "",
                            group.name.value,
                            segment.name.value,
                            mid,
                            weight,
                            cap,
                            half_life,
                            signal.span.line,
                            file.path,
                        ),
                    )
                )

    uses = _Uses()
    survey_subjects_early: list[str] = []
    for audience in ruleset.audiences:
        uses.walk(audience.condition, audience_names)
    goal_names: list[str] = []
    for goal in ruleset.goals:
        if not isinstance(goal.condition, ast.Matcher):
            uses.walk(goal.condition, audience_names)
        if goal.value is not None:
            uses.walk(goal.value, audience_names)
        goal_names.append(goal.name.value)
    experiment_variants: dict[str, list[str]] = {}
    for experiment in ruleset.experiments:
        if experiment.name.value in experiment_variants:
            continue
        experiment_variants[experiment.name.value] = list(
            dict.fromkeys(v.name.value for v in experiment.variants)
        )
        when = experiment.when
        if when is not None:
            uses.walk(when, audience_names)
        for variant in experiment.variants:
            for action in variant.actions:
                if isinstance(action, ast.ShowSurvey):
                    subject = survey_subject(action, when)
                    if subject is not None:
                        survey_subjects_early.append(subject)
    # Measurement records a session event per session with the visitor's page views
    # (SPEC §6), so a measuring rule set keeps both counters.
    if goal_names or ruleset.holdouts or experiment_variants:
        uses.sessions = uses.pageviews = True
    survey_subjects: list[str] = survey_subjects_early
    for _file, rule in ruleset.rules():
        if rule.condition is not None:
            known = rule_uses(rule, audience_names) if rule_uses is not None else None
            if known is None:
                uses.walk(rule.condition, audience_names)
            else:
                uses.merge(known)
        for action in rule.actions:
            if isinstance(action, ast.ShowSurvey):
                subject = survey_subject(action, rule.condition)
                if subject is not None:
                    survey_subjects.append(subject)

    kinds.update(mid.kind for mid in [*uses.counts, *uses.since, *uses.windows])
    landing = "landing" in kinds
    referrer = "referrer" in kinds
    reloads = bool(uses.pageviews) or not kinds.isdisjoint(_RELOAD_KINDS)

    fact_keys = _assign_keys(fact_idents)
    ev_keys = _assign_keys(ident for ident, _ in evidence)
    evidence_specs = tuple(
        EvidenceSpec(
            ev_keys[ident],
            s.group,
            s.segment,
            s.matcher,
            s.weight,
            s.cap,
            s.half_life,
            s.line,
            s.file,
        )
        for ident, s in evidence
    )
    count_keys = _assign_keys(f"n:{m.ident}" for m in uses.counts)
    since_keys = _assign_keys(f"l:{m.ident}" for m in uses.since)
    window_keys = _assign_keys(f"w:{m.ident}" for m in uses.windows)
    tag_keys = _assign_keys(f"t:{t}" for t in uses.tags)
    dismissal_keys = _assign_keys(f"d:{s}" for s in survey_subjects)
    goal_keys = _assign_keys(f"o:{g}" for g in dict.fromkeys(goal_names))
    experiment_keys = _assign_keys(f"x:{e}" for e in experiment_variants)
    attribute_keys = _assign_keys(f"q:{a}" for a in uses.attributes)
    synced_names = list(
        dict.fromkeys(a.name.value for a in ruleset.audiences if getattr(a, "synced", False))
    )
    synced_keys = _assign_keys(f"m:{a}" for a in synced_names)
    variant_keys = _assign_keys(
        f"v:{e}:{v}" for e, names in experiment_variants.items() for v in names
    )

    counts = {m: count_keys[f"n:{m.ident}"] for m in uses.counts}
    since = {m: since_keys[f"l:{m.ident}"] for m in uses.since}
    windows = tuple(
        WindowSpec(window_keys[f"w:{m.ident}"], m, retention, limit)
        for m, (retention, limit) in uses.windows.items()
    )
    tags = {t: tag_keys[f"t:{t}"] for t in uses.tags}
    dismissals = {s: dismissal_keys[f"d:{s}"] for s in dict.fromkeys(survey_subjects)}
    return Layout(
        fact_keys={ident: fact_keys[ident] for ident in fact_idents},
        evidence=evidence_specs,
        counts=counts,
        since=since,
        windows=windows,
        tags=tags,
        dismissals=dismissals,
        goals={g: goal_keys[f"o:{g}"] for g in dict.fromkeys(goal_names)},
        sessions=uses.sessions,
        pageviews=uses.pageviews,
        reloads=reloads,
        landing=landing,
        referrer=referrer,
        evidence_by_key={s.key: s for s in evidence_specs},
        window_by_key={w.key: w for w in windows},
        fact_by_key={k: ident for ident, k in fact_keys.items()},
        count_keys=frozenset(counts.values()),
        since_keys=frozenset(since.values()),
        tag_keys=frozenset(tags.values()),
        dismissal_keys=frozenset(dismissals.values()),
        goal_keys=frozenset(goal_keys.values()),
        experiments={e: experiment_keys[f"x:{e}"] for e in experiment_variants},
        variants={
            (e, v): variant_keys[f"v:{e}:{v}"]
            for e, names in experiment_variants.items()
            for v in names
        },
        variant_keys={
            experiment_keys[f"x:{e}"]: frozenset(variant_keys[f"v:{e}:{v}"] for v in names)
            for e, names in experiment_variants.items()
        },
        decaying_keys=frozenset(s.key for s in evidence_specs if s.half_life),
        attributes={a: attribute_keys[f"q:{a}"] for a in uses.attributes},
        attribute_keys=frozenset(attribute_keys.values()),
        synced={a: synced_keys[f"m:{a}"] for a in synced_names},
        synced_keys=frozenset(synced_keys.values()),
        identifies=bool(fact_idents) or bool(synced_names),
    )


def survey_subject(action: ast.ShowSurvey, condition: ast.Expr | None) -> str | None:
    """A survey's REF: its `about`, else the one segment its rule's condition mentions."""
    if action.about is not None:
        return action.about.dotted
    mentioned = segments_mentioned(condition) if condition is not None else []
    return mentioned[0] if len(mentioned) == 1 else None


def segments_mentioned(expr: ast.Expr) -> list[str]:
    """Distinct `G.S` references written in a condition (audiences are not expanded)."""
    found: dict[str, None] = {}
    for node in ast.walk(expr):
        if isinstance(node, ast.Ref) and node.segment is not None:
            found[node.dotted] = None
    return list(found)


class _Uses:
    """Collects the state features conditions use."""

    def __init__(self) -> None:
        self.counts: dict[MatcherId, None] = {}
        self.since: dict[MatcherId, None] = {}
        self.windows: dict[MatcherId, tuple[float, int]] = {}
        self.tags: dict[str, None] = {}
        self.attributes: dict[str, None] = {}
        self.sessions = False
        self.pageviews = False

    def walk(self, expr: ast.Expr, audiences: set[str]) -> None:
        limits: dict[int, int] = {}  # id(count Call) → timestamps needed
        for node in ast.walk(expr):
            if isinstance(node, ast.Compare):
                for call, other in ((node.left, node.right), (node.right, node.left)):
                    if _is_windowed_count(call) and isinstance(other, ast.Number):
                        need = max(1, math.floor(other.value) + 1) if other.value >= 0 else 1
                        need = min(need, MAX_WINDOW_LIMIT)
                        limits[id(call)] = max(limits.get(id(call), 0), need)
        for node in ast.walk(expr):
            if isinstance(node, ast.Ref) and node.segment is None:
                name = node.group.value
                if name in ("visits", "session_time") and name not in audiences:
                    self.sessions = True
                elif name == "pageviews" and name not in audiences:
                    self.pageviews = True
            elif isinstance(node, ast.Call):
                func = node.func.value
                if func == "tagged" and len(node.args) == 1:
                    arg = node.args[0]
                    if isinstance(arg, ast.String):
                        self.tags[arg.value] = None
                elif func == "attribute" and len(node.args) == 1:
                    arg = node.args[0]
                    if isinstance(arg, ast.String):
                        self.attributes[arg.value] = None
                elif func in ("count", "since") and len(node.args) == 1:
                    arg = node.args[0]
                    if not isinstance(arg, ast.MatcherArg):
                        continue
                    mid = MatcherId.of(arg.matcher)
                    if func == "since":
                        self.since[mid] = None
                    elif arg.within is None:
                        self.counts[mid] = None
                    else:
                        need = limits.get(id(node), DEFAULT_WINDOW_LIMIT)
                        retention, limit = self.windows.get(mid, (0.0, 0))
                        # beyond MAX_AGE a window is "ever" in practice: ages saturate there
                        within = min(max(0.0, arg.within.seconds), float(MAX_AGE))
                        self.windows[mid] = (max(retention, within), max(limit, need))

    def merge(self, other: _Uses) -> None:
        """What walking, after the conditions walked so far, the conditions `other`
        walked (from a fresh `_Uses`) would have found: the same features in the same
        order, windows kept at the largest retention and limit."""
        self.counts.update(other.counts)
        self.since.update(other.since)
        windows = self.windows
        for mid, (retention, limit) in other.windows.items():
            old_retention, old_limit = windows.get(mid, (0.0, 0))
            windows[mid] = (max(old_retention, retention), max(old_limit, limit))
        self.tags.update(other.tags)
        self.attributes.update(other.attributes)
        self.sessions = self.sessions or other.sessions
        self.pageviews = self.pageviews or other.pageviews


def _is_windowed_count(node: object) -> bool:
    return (
        isinstance(node, ast.Call)
        and node.func.value == "count"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.MatcherArg)
        and node.args[0].within is not None
    )


# ------------------------------------------------------------------------------ state


@fast_init
@dataclass(frozen=True, slots=True)
class VisitorState:
    """Everything smartseg remembers about a visitor (SPEC §2.2). Never mutated once
    handed out (`complete_assignment` finishes a state its builder still holds).

    All times are whole seconds since the epoch. Maps are keyed by the layout's
    short keys; they are plain dicts for speed, but the engine never mutates a
    state it was given (it copies what it changes).
    """

    visitor_id: str
    first_seen: int
    updated: int  # time of the latest change: ages in the cookie are relative to it
    visits: int = 0
    session_start: int = 0  # meaningful when visits > 0
    last_pageview: int = 0  # meaningful when visits > 0
    last_path: str = ""  # hash of the previous page view's path, for reload detection
    pageviews: int = 0
    landing_done: bool = False
    referrer_done: bool = False
    #: (fact key, time), in the order they were recorded (ties in time keep that order)
    facts: tuple[tuple[str, int], ...] = ()
    #: implicit signal key → (accumulated points at `time`, time); time 0 without decay
    evidence: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    last_fired: Mapping[str, int] = field(default_factory=dict)
    #: window key → firing times, most recent first
    windows: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    dismissed: Mapping[str, int] = field(default_factory=dict)
    #: keys of the goals this visitor has reached (each counts once, SPEC §1.7)
    goals: frozenset[str] = frozenset()
    #: experiment key → variant key: the visitor's (sticky) assignment
    variants: Mapping[str, str] = field(default_factory=dict)
    #: keys of the experiments this visitor has been exposed to (once each)
    exposed: frozenset[str] = frozenset()
    #: attribute key → the latest value received as inbound data (SPEC §1.8, §7)
    inbound: Mapping[str, str | int | float] = field(default_factory=dict)
    #: keys of the `sync audience`s the visitor was in when last evaluated (SPEC §7)
    synced: frozenset[str] = frozenset()
    #: the visitor identified (`identify`): membership changes are sent to the CRM
    identified: bool = False


def canonical(state: VisitorState, layout: Layout) -> VisitorState:
    """Drop what can never be observed again (returns `state` itself when nothing is).

    Window timestamps older than the window's retention or beyond its limit,
    dismissals older than 30 days, and ages beyond `MAX_AGE` (first-seen is
    then moved forward). All of it is invisible to every rule, so this never
    changes a decision; it only bounds the cookie.
    """
    now = state.updated
    windows = state.windows
    if windows:
        new_windows: dict[str, tuple[int, ...]] | None = None
        for key, times in windows.items():
            spec = layout.window_by_key.get(key)
            if spec is None:
                keep: tuple[int, ...] = ()
            else:
                n = 0
                limit, retention = spec.limit, spec.retention
                for t in times:
                    if n >= limit or now - t >= retention:
                        break
                    n += 1
                keep = times[:n]
            if len(keep) != len(times):
                if new_windows is None:
                    new_windows = dict(windows)
                if keep:
                    new_windows[key] = keep
                else:
                    del new_windows[key]
        if new_windows is not None:
            windows = new_windows
    dismissed = state.dismissed
    if dismissed and any(now - t >= DISMISS_SECONDS for t in dismissed.values()):
        dismissed = {k: t for k, t in dismissed.items() if now - t < DISMISS_SECONDS}
    first_seen = state.first_seen
    if now - first_seen > MAX_AGE:
        first_seen = now - MAX_AGE
    if windows is state.windows and dismissed is state.dismissed and first_seen == state.first_seen:
        return state
    return replace_state(state, windows=windows, dismissed=dismissed, first_seen=first_seen)


_STATE_FIELDS: tuple[str, ...] = VisitorState.__slots__  # type: ignore[attr-defined]
_STATE_INDEX = {name: i for i, name in enumerate(_STATE_FIELDS)}
_STATE_VALUES = operator.attrgetter(*_STATE_FIELDS)


def decayed(value: float, t: int, now: int, half_life: float | None) -> float:
    """An accumulator's points at `now`, from `value` stored at `t` (SPEC §1.2 decay)."""
    if not half_life or t == now:
        return value
    return value * 0.5 ** ((now - t) / half_life)


def replace_state(state: VisitorState, **changes: Any) -> VisitorState:
    """A copy of `state` with some fields changed (`dataclasses.replace`, but faster:
    the engine calls it on the request path, e.g. for a first experiment assignment)."""
    values = list(_STATE_VALUES(state))
    for name, value in changes.items():
        values[_STATE_INDEX[name]] = value
    return VisitorState(*values)


_SET_VARIANTS = VisitorState.variants.__set__  # type: ignore[attr-defined]
_SET_EXPOSED = VisitorState.exposed.__set__  # type: ignore[attr-defined]


def complete_assignment(
    state: VisitorState, variants: Mapping[str, str], exposed: frozenset[str]
) -> None:
    """Set the experiment fields of a state that its caller has just built and not yet
    handed to anyone: the one exception to "never mutated", for `Engine.step`'s page
    that enrols a visitor (a `replace_state` copy there costs ≈ 2 µs). Through the
    slots' descriptors, as the generated ``__init__`` would."""
    _SET_VARIANTS(state, variants)
    _SET_EXPOSED(state, exposed)


# --------------------------------------------------------------------------- encoding


def _age(now: int, t: int) -> int:
    age = now - t
    if age < 0:
        return 0
    return age if age < MAX_AGE else MAX_AGE


def encode_state(state: VisitorState, layout: Layout) -> dict[str, Any]:
    """The JSON-ready compact form (see the module docstring).

    Lossless for states the engine produces (`canonical`, points rounded to
    0.001): evidence is written as integer milli-points.
    """
    # What `canonical` drops is dropped here too, inline (one pass, no copy).
    now = state.updated
    first = state.first_seen if now - state.first_seen <= MAX_AGE else now - MAX_AGE
    doc: dict[str, Any] = {"v": SCHEMA_VERSION, "i": state.visitor_id, "t": first}
    if now != first:
        doc["u"] = now - first
    if state.visits:
        doc["s"] = [
            state.visits if state.visits < MAX_COUNT else MAX_COUNT,
            _age(now, state.session_start),
            _age(now, state.last_pageview),
        ]
    if state.last_path:
        doc["h"] = state.last_path
    if state.pageviews:
        doc["p"] = state.pageviews if state.pageviews < MAX_COUNT else MAX_COUNT
    if state.landing_done or state.referrer_done or state.identified:
        doc["x"] = (
            (1 if state.landing_done else 0)
            | (2 if state.referrer_done else 0)
            | (4 if state.identified else 0)
        )
    if state.facts:
        facts: list[str | int] = []
        for key, t in state.facts:
            facts.append(key)
            facts.append(_age(now, t))
        doc["f"] = facts
    if state.evidence:
        ev: dict[str, Any] = {}
        decays = layout.decaying_keys
        for key, (value, t) in state.evidence.items():
            milli = round(value * 1000)
            if milli <= 0:
                continue
            if milli > _MAX_MILLI:
                milli = _MAX_MILLI
            ev[key] = [milli, _age(now, t)] if key in decays else milli
        if ev:
            doc["e"] = ev
    if state.counts:
        doc["n"] = {k: (n if n < MAX_COUNT else MAX_COUNT) for k, n in state.counts.items()}
    if state.last_fired:
        doc["l"] = {k: _age(now, t) for k, t in state.last_fired.items()}
    if state.windows:
        windows: dict[str, list[int]] = {}
        specs = layout.window_by_key
        for key, times in state.windows.items():
            spec = specs.get(key)
            if spec is None:
                continue
            limit, retention = spec.limit, spec.retention
            prev = now
            deltas = []
            for t in times:
                if len(deltas) >= limit or now - t >= retention:
                    break
                deltas.append(prev - t if prev > t else 0)
                prev = t
            if deltas:
                windows[key] = deltas
        if windows:
            doc["w"] = windows
    if state.tags:
        doc["g"] = sorted(state.tags)
    if state.dismissed:
        dismissed = {k: now - t for k, t in state.dismissed.items() if now - t < DISMISS_SECONDS}
        if dismissed:
            doc["d"] = {k: (age if age > 0 else 0) for k, age in dismissed.items()}
    if state.goals:
        doc["o"] = sorted(state.goals)
    if state.variants:
        doc["a"] = dict(state.variants)
    if state.exposed:
        doc["z"] = sorted(state.exposed)
    if state.inbound:
        doc["q"] = dict(state.inbound)
    if state.synced:
        doc["m"] = sorted(state.synced)
    return doc


def _bad(reason: str) -> StateError:
    return StateError(reason)


def _ages(value: object, name: str, known: frozenset[str], now: int) -> dict[str, int]:
    """Decode a `{key: age}` object; unknown keys are dropped."""
    if type(value) is not dict or len(value) > _MAX_ITEMS:
        raise _bad(f"`{name}` is not an object of ages")
    out: dict[str, int] = {}
    for key, age in value.items():
        if type(age) is not int or not 0 <= age <= MAX_AGE:
            raise _bad(f"`{name}`: an age is not an integer in 0..{MAX_AGE}")
        if key in known:
            out[key] = now - age
    return out


def _key_set(value: object, name: str, what: str, known: frozenset[str]) -> frozenset[str]:
    """Decode a list of keys (tags carried, goals reached); unknown keys are dropped."""
    if value is None:
        return frozenset()
    if type(value) is not list or len(value) > _MAX_ITEMS:
        raise _bad(f"`{name}` is not a list")
    if not all(type(k) is str for k in value):
        raise _bad(f"a {what} key is not a string")
    return known.intersection(value)


_TOP_KEYS = frozenset("viutshpxfenlwgdoazqm")
_MAX_MILLI = round(MAX_EVIDENCE * 1000)


def decode_state(doc: object, layout: Layout) -> VisitorState:
    """Validate and decode `encode_state`'s output; raise `StateError` with a reason.

    Items whose keys the layout does not know (rules edited since the cookie was
    written) are dropped; anything of the wrong type or out of range refuses the
    whole cookie.
    """
    if type(doc) is not dict:
        raise _bad("the payload is not an object")
    version = doc.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise _bad(f"schema version {version!r} (expected {SCHEMA_VERSION})")
    if not _TOP_KEYS.issuperset(doc):
        raise _bad(f"unknown field(s) {sorted(set(doc) - _TOP_KEYS)[:3]}")
    vid = doc.get("i")
    if (
        type(vid) is not str
        or not 0 < len(vid) <= MAX_VISITOR_ID_LENGTH
        or not _VISITOR_ID_CHARS.issuperset(vid)
    ):
        raise _bad("bad visitor id")
    first = doc.get("t")
    if type(first) is not int or not _MIN_EPOCH <= first <= _MAX_EPOCH:
        raise _bad("bad first-visit time")
    u = doc.get("u", 0)
    if type(u) is not int or not 0 <= u <= MAX_AGE:
        raise _bad("bad last-update time")
    now = first + u

    visits = session_start = last_pageview = 0
    s = doc.get("s")
    if s is not None:
        if (
            type(s) is not list
            or len(s) != 3
            or not all(type(x) is int and 0 <= x <= MAX_AGE for x in s)
        ):
            raise _bad("`s` is not [visits, session age, last page view age]")
        if layout.sessions:
            visits, session_start, last_pageview = s[0], now - s[1], now - s[2]
    last_path = doc.get("h", "")
    if type(last_path) is not str or len(last_path) > 16:
        raise _bad("bad path hash")
    pageviews = doc.get("p", 0)
    if type(pageviews) is not int or not 0 <= pageviews <= MAX_COUNT:
        raise _bad("bad page view count")
    flags = doc.get("x", 0)
    if type(flags) is not int or not 0 <= flags <= 7:
        raise _bad("bad flags")

    facts: tuple[tuple[str, int], ...] = ()
    raw_facts = doc.get("f")
    if raw_facts is not None:
        if type(raw_facts) is not list or len(raw_facts) % 2 or len(raw_facts) > _MAX_ITEMS:
            raise _bad("`f` is not a list of key, age pairs")
        fact_by_key = layout.fact_by_key
        found: list[tuple[str, int]] = []
        for i in range(0, len(raw_facts), 2):
            key, age = raw_facts[i], raw_facts[i + 1]
            if type(key) is not str or type(age) is not int or not 0 <= age <= MAX_AGE:
                raise _bad("a fact is not a key and an age")
            if key in fact_by_key:
                found.append((key, now - age))
        facts = tuple(found)

    evidence: dict[str, tuple[float, int]] = {}
    raw_ev = doc.get("e")
    if raw_ev is not None:
        if type(raw_ev) is not dict or len(raw_ev) > _MAX_ITEMS:
            raise _bad("`e` is not an object")
        known = layout.evidence_by_key
        decays = layout.decaying_keys
        for key, value in raw_ev.items():
            if type(value) is list:
                if len(value) != 2:
                    raise _bad("an evidence entry is not [points, age]")
                milli, age = value
                if type(age) is not int or not 0 <= age <= MAX_AGE:
                    raise _bad("an evidence age is out of range")
            else:
                milli, age = value, 0
            if type(milli) is not int or not 0 < milli <= _MAX_MILLI:
                raise _bad("evidence points out of range")
            if key in known:
                # a time only matters with decay (0 otherwise, as the engine writes it)
                evidence[key] = (milli / 1000, now - age if key in decays else 0)

    counts: dict[str, int] = {}
    raw_counts = doc.get("n")
    if raw_counts is not None:
        if type(raw_counts) is not dict or len(raw_counts) > _MAX_ITEMS:
            raise _bad("`n` is not an object")
        for key, n in raw_counts.items():
            if type(n) is not int or not 0 <= n <= MAX_COUNT:
                raise _bad("a count is out of range")
            if key in layout.count_keys:
                counts[key] = n
    last_fired = _ages(doc["l"], "l", layout.since_keys, now) if "l" in doc else {}
    windows: dict[str, tuple[int, ...]] = {}
    raw_windows = doc.get("w")
    if raw_windows is not None:
        if type(raw_windows) is not dict or len(raw_windows) > _MAX_ITEMS:
            raise _bad("`w` is not an object")
        for key, deltas in raw_windows.items():
            if type(deltas) is not list or len(deltas) > MAX_WINDOW_LIMIT:
                raise _bad("a window is not a list of ages")
            times: list[int] = []
            t = now
            for d in deltas:
                if type(d) is not int or not 0 <= d <= MAX_AGE:
                    raise _bad("a window delta is out of range")
                t -= d
                times.append(t)
            if times and key in layout.window_by_key:
                windows[key] = tuple(times)
    tags = _key_set(doc.get("g"), "g", "tag", layout.tag_keys)
    dismissed = _ages(doc["d"], "d", layout.dismissal_keys, now) if "d" in doc else {}
    goals = _key_set(doc.get("o"), "o", "goal", layout.goal_keys)
    variants: dict[str, str] = {}
    raw_variants = doc.get("a")
    if raw_variants is not None:
        if type(raw_variants) is not dict or len(raw_variants) > _MAX_ITEMS:
            raise _bad("`a` is not an object")
        for key, variant in raw_variants.items():
            if type(variant) is not str:
                raise _bad("a variant key is not a string")
            # a variant removed since (or an unknown experiment) is dropped: re-assigned
            if variant in layout.variant_keys.get(key, ()):
                variants[key] = variant
    exposed = _key_set(doc.get("z"), "z", "experiment", frozenset(layout.experiments.values()))
    inbound: dict[str, str | int | float] = {}
    raw_inbound = doc.get("q")
    if raw_inbound is not None:
        if type(raw_inbound) is not dict or len(raw_inbound) > _MAX_ITEMS:
            raise _bad("`q` is not an object")
        for key, value in raw_inbound.items():
            if type(value) is str:
                if len(value) > 2 * INBOUND_TEXT_CHARS:
                    raise _bad("an inbound attribute is too long")
            elif type(value) not in (int, float) or not math.isfinite(value):
                raise _bad("an inbound attribute is not a string or a finite number")
            if key in layout.attribute_keys:
                inbound[key] = value
    synced = _key_set(doc.get("m"), "m", "audience", layout.synced_keys)

    state = VisitorState(
        vid,
        first,
        now,
        visits,
        session_start,
        last_pageview,
        last_path if layout.reloads else "",
        pageviews if layout.pageviews else 0,
        bool(flags & 1) and layout.landing,
        bool(flags & 2) and layout.referrer,
        facts,
        evidence,
        counts,
        last_fired,
        windows,
        tags,
        dismissed,
        goals,
        variants,
        exposed,
        inbound,
        synced,
        bool(flags & 4) and layout.identifies,
    )
    # Not canonicalised here: stale window entries and old dismissals are invisible to
    # every rule, and the engine canonicalises the state whenever it changes it.
    return state


# ------------------------------------------------------------------------ worst case


def _max_digits_sum(count: int, total: int) -> int:
    """Most decimal digits `count` non-negative integers summing to ≤ `total` can take.

    Used for delta-encoded window timestamps: the first age and the deltas add up
    to less than the window's retention. Greedy by digit level is optimal because
    each extra digit costs more than the previous one.
    """
    if count <= 0:
        return 0
    digits = count  # every number has at least one digit
    budget = total
    level = 1
    while True:
        step_cost = 10**level - 10 ** (level - 1) if level > 1 else 10
        upgrades = min(count, budget // step_cost) if step_cost else count
        if upgrades <= 0:
            return digits
        digits += upgrades
        budget -= upgrades * step_cost
        if upgrades < count:
            return digits
        level += 1


def worst_case_document(layout: Layout) -> tuple[str, dict[str, int]]:
    """The longest JSON text `encode_state` can produce for this layout.

    Returns the text and, per part of the state, how many bytes of it that part
    takes (for the SEG5xx message). Every number is at its longest; window
    lists are full, with the most digits their retention allows.
    """
    import json

    parts: dict[str, int] = {}
    doc: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "i": "x" * VISITOR_ID_LENGTH,
        "t": _MAX_EPOCH,
        "u": MAX_AGE,
    }
    if layout.sessions:
        doc["s"] = [MAX_COUNT, MAX_AGE, MAX_AGE]
    if layout.reloads:
        doc["h"] = "x" * 6
    if layout.pageviews:
        doc["p"] = MAX_COUNT
    if layout.landing or layout.referrer or layout.identifies:
        doc["x"] = 7  # first touches done, identified
    base = len(json.dumps(doc, separators=(",", ":")))
    parts["visitor id, times and sessions"] = base

    def measure(name: str, value: Any, label: str) -> None:
        if not value:
            return
        doc[name] = value
        parts[label] = len(json.dumps({name: value}, separators=(",", ":"))) - 1

    facts: list[Any] = []
    for key in layout.fact_keys.values():
        facts += [key, MAX_AGE]
    measure("f", facts, "facts")
    measure(
        "e",
        {s.key: ([_MAX_MILLI, MAX_AGE] if s.half_life else _MAX_MILLI) for s in layout.evidence},
        "evidence",
    )
    measure("n", dict.fromkeys(layout.counts.values(), MAX_COUNT), "counts")
    measure("l", dict.fromkeys(layout.since.values(), MAX_AGE), "since")
    windows: dict[str, Any] = {}
    for w in layout.windows:
        total = max(0, math.ceil(w.retention) - 1)
        digits = _max_digits_sum(w.limit, min(total, MAX_AGE * w.limit))
        # a placeholder of the right printed length: `digits` digits, limit-1 commas
        windows[w.key] = _Raw("[" + "9" * digits + "," * (w.limit - 1) + "]")
    if windows:
        doc["w"] = windows
        parts["window timestamps"] = len(_dumps({"w": windows})) - 1
    measure("g", sorted(layout.tags.values()), "tags")
    measure(
        "d", dict.fromkeys(layout.dismissals.values(), DISMISS_SECONDS - 1), "survey dismissals"
    )
    measure("o", sorted(layout.goals.values()), "goals reached")
    longest: dict[str, str] = {}
    for (experiment, _variant), key in layout.variants.items():
        ekey = layout.experiments[experiment]
        if len(key) > len(longest.get(ekey, "")):
            longest[ekey] = key
    measure("a", longest, "experiment assignments")
    measure("z", sorted(layout.experiments.values()), "experiment exposures")
    inbound = {
        key: _Raw('"' + "x" * (6 * INBOUND_TEXT_CHARS) + '"') for key in layout.attributes.values()
    }
    if inbound:
        doc["q"] = inbound
        parts["inbound attributes"] = len(_dumps({"q": inbound})) - 1
    measure("m", sorted(layout.synced.values()), "synced audiences")
    text = _dumps(doc)
    return text, parts


class _Raw(str):
    """A pre-rendered JSON fragment (only for measuring lengths)."""


def _dumps(doc: Mapping[str, Any]) -> str:
    """`json.dumps` that splices `_Raw` fragments in as-is."""
    import json

    def render(value: Any) -> str:
        if isinstance(value, _Raw):
            return str(value)
        if isinstance(value, dict):
            return "{" + ",".join(json.dumps(k) + ":" + render(v) for k, v in value.items()) + "}"
        return json.dumps(value, separators=(",", ":"))

    return render(doc)
