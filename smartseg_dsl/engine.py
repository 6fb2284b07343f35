"""The pure engine: `(visitor state, request) → (new state, decisions)` (SPEC §1.2–1.5, §2).

No HTTP and no HTML here: the middleware describes a request with `RequestInfo`
and applies the `Decision`s; `smartseg simulate` and `smartseg test` feed it
journey steps. `Engine.step` never mutates the state it is given.

One step, in order (SPEC §1.2: everything a request fires is recorded before
the rules are evaluated, and "now" is the request's time):

1. `now` is the request time truncated to the whole second (never earlier
   than the state's last update: a visitor's time does not run backwards).
2. A page view (`path` set) keeps the session alive or starts a new one
   (> 30 min since the previous page view), and is a *reload* when its path
   equals the previous page view's; a non-reload counts in `pageviews`, fires
   `page`, `category` and implicit `query` signals, and records the first
   touch (landing; first external referrer). Explicit signals fire on reloads.
3. Events fire `event` signals (each occurrence), tags fire `tag` signals, an
   explicit `query` signal fires on any request.
4. Survey answers and dismissals are recorded, answers last: an answer given
   in the same request as a tag is the later fact.
5. Confidences (SPEC §1.2), audiences, then rules in order: for each slot the
   first rule that holds and acts on it wins. A survey that is suppressed
   (`known(G)`, its segment excluded, dismissed < 30 days ago) does not take
   its slot, so a later rule may fill it. An experiment acts at its position
   like a rule whose actions are the visitor's variant's (SPEC §1.7): on a page
   view, for a visitor not in the holdout, within its dates and `when`; the
   first assignment is kept in the state. A control takes no slot.
6. Exposure needs the page: `Engine.expose(outcome, page_slots)` marks the
   experiments whose slots (not taken by an earlier rule) are on the page.

Global Privacy Control (`gpc=True`) records no behavioural data: no page view
bookkeeping, no first touch, no implicit evidence, no counters; answers,
dismissals, tags and explicit signals from tags and query parameters are
still recorded (they are the visitor's or the site's explicit statements).

Evidence decays lazily: each accumulator stores its points at the time it was
last fed, and reads apply `0.5 ** (age / half_life)`; nothing ever needs a
background job.
"""

from __future__ import annotations

import base64
import math
import secrets
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .compiler import CompiledExperiment, CompiledRuleSet, Ctx, Decision, MatcherSlot
from .frozen import fast_init
from .measure.buckets import bucket, in_holdout, pick_variant
from .state import (
    DISMISS_SECONDS,
    MAX_COUNT,
    MAX_EVIDENCE,
    SESSION_GAP,
    EvidenceSpec,
    VisitorState,
    canonical,
    complete_assignment,
    decayed,
    replace_state,
)
from .symbols import NO, OTHER, YES, answer_choices

__all__ = [
    "Answer",
    "Contribution",
    "Decision",
    "Engine",
    "Exposure",
    "GoalHit",
    "GroupView",
    "Outcome",
    "RequestInfo",
    "RuleTrace",
    "Trace",
    "VisitorView",
    "classify_device",
]

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Answer:
    """A survey answer: `about="Industry.Legal"`, `value="yes"|"no"`, or
    `about="Industry"`, `value="Legal"|"other"`."""

    about: str
    value: str


@fast_init
@dataclass(frozen=True, slots=True)
class RequestInfo:
    """One request as the engine sees it (the middleware or a journey step builds it)."""

    time: float  # epoch seconds, UTC
    path: str | None = None  # set only for a page view; query string excluded
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    referrer: str | None = None
    host: str = "localhost"
    user_agent: str = ""
    categories: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str | float | int | bool | None] = field(default_factory=dict)
    answers: tuple[Answer, ...] = ()
    dismissals: tuple[str, ...] = ()
    gpc: bool = False
    preview_as: str | None = None
    #: preview: experiment name → variant name to show (validated by the caller)
    preview_variants: Mapping[str, str] = field(default_factory=dict)
    #: inbound data applied on this request (SPEC §7): tags (explicit signals), events
    #: with their own times (epoch seconds), attributes (None clears a value)
    inbound_tags: tuple[str, ...] = ()
    inbound_events: tuple[tuple[str, float], ...] = ()
    inbound_attributes: Mapping[str, str | float | int | None] = field(default_factory=dict)
    #: the visitor identified on this request (`identify`): remembered in the state
    identified: bool = False
    #: the slot names on the page this view renders, when the caller has the page (the
    #: middleware after the app's render): the step then exposes as `Engine.expose`
    #: would, in the same state update. Called at most once, only when an enrolled
    #: visitor is not yet exposed. None: the page is not known (exposure pending).
    page_slots: Callable[[], Collection[str]] | None = None

    @property
    def preview(self) -> bool:
        return self.preview_as is not None or bool(self.preview_variants)


# ------------------------------------------------------------------------ results


@fast_init
@dataclass(frozen=True, slots=True)
class GroupView:
    """A group's state for one request: confidences by segment name (declaration order)."""

    name: str
    label: str
    confidences: Mapping[str, float]
    scores: Mapping[str, float]
    most_likely: str | None
    certain: str | None
    known: bool
    other: bool  # "None of these" is in effect
    excluded: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoalHit:
    """A goal reached on this request (`first`), or a further firing of a value goal."""

    goal: str
    value: float | None
    first: bool


class Exposure(NamedTuple):
    """An enrolled visitor who may be exposed on this page view (SPEC §1.7): when
    one of `slots` (the experiment's, not taken by an earlier rule) is on the page.
    (A named tuple: built on the request path, it costs a quarter of a dataclass.)"""

    experiment: str
    variant: str
    key: str  # the experiment's state key
    slots: frozenset[str]


@dataclass(frozen=True, slots=True)
class Contribution:
    """One implicit signal's share of a segment's score, after decay and cap."""

    segment: str  # "G.S"
    signal: str  # 'implicit category "law" weight 3 max 12'
    where: str  # file:line
    points: float  # what it adds to score(G.S)
    decayed: float  # the accumulator after decay, before the cap


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule: str  # file:line
    index: int
    text: str
    held: bool
    won: tuple[str, ...]  # slots this rule decided
    lost: tuple[str, ...]  # slots an earlier rule had already taken
    suppressed: tuple[str, ...]  # survey slots not shown (known, excluded or dismissed)


@dataclass(frozen=True, slots=True)
class Trace:
    rules: tuple[RuleTrace, ...]
    contributions: tuple[Contribution, ...]
    audiences: Mapping[str, bool]


class VisitorView:
    """Read-only view of a visitor for handlers and templates (SPEC §3.4).

    `.confidence("G.S")`, `.score("G.S")`, `.certain("G.S")`, `.most_likely("G")`
    (segment name or None), `.known("G")`, `.audience(name)`, `.tagged(t)` (only
    tags some rule mentions are remembered), `.groups`, `.audiences`.
    Unknown names raise `KeyError` so typos in templates show up.
    """

    __slots__ = ("_ctx", "_groups", "_rules", "_state")

    def __init__(
        self,
        rules: CompiledRuleSet,
        state: VisitorState,
        ctx: Ctx,
        groups: Mapping[str, GroupView] | None = None,
    ) -> None:
        self._rules = rules
        self._state = state
        self._ctx = ctx
        self._groups = groups

    def _segment(self, ref: str) -> int:
        try:
            return self._rules.segment_index[ref]
        except KeyError:
            raise KeyError(f"no segment {ref!r} (write Group.Segment)") from None

    def _group(self, name: str) -> int:
        try:
            return self._rules.group_index[name]
        except KeyError:
            raise KeyError(f"no group {name!r}") from None

    @property
    def visitor_id(self) -> str:
        return self._state.visitor_id

    @property
    def state(self) -> VisitorState:
        return self._state

    def confidence(self, ref: str) -> float:
        return float(self._ctx.conf[self._segment(ref)])

    def score(self, ref: str) -> float:
        return float(self._ctx.score[self._segment(ref)])

    def certain(self, ref: str) -> bool:
        i = self._segment(ref)
        return bool(self._ctx.cert[self._rules.segment_group[i]] == i)

    def likely(self, ref: str) -> bool:
        i = self._segment(ref)
        return bool(self._ctx.ml[self._rules.segment_group[i]] == i)

    def excluded(self, ref: str) -> bool:
        return bool(self._ctx.excluded[self._segment(ref)])

    def most_likely(self, group: str) -> str | None:
        i = self._ctx.ml[self._group(group)]
        return None if i is None else self._rules.segment_names[i].partition(".")[2]

    def known(self, group: str) -> bool:
        return bool(self._ctx.known[self._group(group)])

    def segments(self) -> tuple[dict[str, str | None], tuple[str, ...]]:
        """Most likely segment per group, and the certain `G.S`: what a measurement
        event records. Read straight from the evaluation (no `GroupView`s built)."""
        rules, ctx = self._rules, self._ctx
        names = rules.segment_names
        likely: dict[str, str | None] = {}
        certain: list[str] = []
        for g in rules.groups:
            i = ctx.ml[g.index]
            likely[g.name] = None if i is None else g.segments[i - g.first]
            c = ctx.cert[g.index]
            if c is not None:
                certain.append(names[c])
        return likely, tuple(certain)

    def audience(self, name: str) -> bool:
        try:
            return bool(self._ctx.aud[self._rules.audience_index[name]])
        except KeyError:
            raise KeyError(f"no audience {name!r}") from None

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(a.name for a in self._rules.audiences if self._ctx.aud[a.index])

    def tagged(self, tag: str) -> bool:
        key = self._rules.tag_keys.get(tag)
        return key is not None and key in self._state.tags

    @property
    def visits(self) -> int:
        return int(self._ctx.visits)

    @property
    def pageviews(self) -> int:
        return int(self._ctx.pageviews)

    @property
    def groups(self) -> Mapping[str, GroupView]:
        if self._groups is None:
            self._groups = _group_views(self._rules, self._ctx)
        return self._groups

    def contributions(self, ref: str | None = None) -> tuple[Contribution, ...]:
        """Each implicit signal's points (after decay and cap), for one segment or all."""
        found = _contributions(self._rules, self._state, self._ctx.now)
        return found if ref is None else tuple(c for c in found if c.segment == ref)

    def __repr__(self) -> str:
        return f"<VisitorView {self._state.visitor_id}>"


@fast_init
@dataclass(frozen=True)
class Outcome:
    """What one step produced. `changed`: the state differs from the input (so the
    encoded cookie does too): the middleware sets a cookie only then."""

    state: VisitorState
    changed: bool
    decisions: Mapping[str, Decision]
    groups: Mapping[str, GroupView]
    audiences: tuple[str, ...]
    view: VisitorView
    held: tuple[bool, ...]  # each rule's condition, in rule order
    _rules: CompiledRuleSet = field(repr=False, compare=False)
    _suppressed: tuple[tuple[int, str], ...] = field(default=(), repr=False, compare=False)
    #: in the holdout (SPEC §1.7): scored and reaching goals, but no decisions
    holdout: bool = False
    #: goals reached on this request, and further firings of value goals
    goals: tuple[GoalHit, ...] = ()
    #: this request is the first page view of a new session (a `session` event)
    session_started: bool = False
    #: every experiment → the variant the visitor is enrolled in on this page view
    experiments: Mapping[str, str | None] = field(default_factory=dict)
    #: enrolled, not yet exposed: `Engine.expose` decides with the page's slots
    pending_exposures: tuple[Exposure, ...] = ()
    #: exposed on this request: (experiment, variant), set by `Engine.expose`
    exposures: tuple[tuple[str, str], ...] = ()
    #: activation (SPEC §7): ("audience.entered" | "audience.left", audience) for each
    #: `sync audience` entered or left, ("segment.certain", "G.S") for each segment the
    #: visitor became certain of, on this request. The middleware sends them to the CRM
    #: only for identified visitors (`state.identified`).
    activation: tuple[tuple[str, str], ...] = ()

    def ranking(self, group: str) -> dict[str, float] | None:
        """What an `order` action on `group` sorts by: "Group.Segment" → the visitor's
        confidence (`groups[group].confidences`, without building the group's view);
        None for a group the rule set does not have."""
        return self.groups.ranking(group)  # type: ignore[attr-defined,no-any-return]

    @property
    def trace(self) -> Trace:
        """Every rule's condition result and slots, every signal's contribution."""
        won: dict[int, list[str]] = {}
        claimed: dict[str, int] = {}
        for rule in self._rules.rules:
            for d in rule.decisions:
                # decisions are shared objects: identity tells which rule won the slot
                if self.decisions.get(d.slot) is d and d.slot not in claimed:
                    claimed[d.slot] = rule.index
        for slot, index in claimed.items():
            won.setdefault(index, []).append(slot)
        suppressed: dict[int, list[str]] = {}
        for index, slot in self._suppressed:
            suppressed.setdefault(index, []).append(slot)
        traces = []
        for rule, held in zip(self._rules.rules, self.held, strict=True):
            mine = won.get(rule.index, [])
            sup = suppressed.get(rule.index, [])
            decisions, text = rule.decisions, rule.text
            if rule.experiment is not None:
                # only the visitor's variant acts: the others neither win nor lose
                name = self.experiments.get(rule.experiment.name)
                variant = next((v for v in rule.experiment.variants if v.name == name), None)
                decisions = variant.decisions if variant is not None else ()
                text += f" (variant {name})" if name is not None else " (not enrolled)"
            lost = [d.slot for d in decisions if held and d.slot not in mine and d.slot not in sup]
            traces.append(
                RuleTrace(rule.where, rule.index, text, held, tuple(mine), tuple(lost), tuple(sup))
            )
        audiences = {a.name: a.name in self.audiences for a in self._rules.audiences}
        return Trace(tuple(traces), self.view.contributions(), audiences)


class _ExperimentActions(tuple):  # type: ignore[type-arg]
    """An experiment's place among the rules' actions: empty until the visitor's variant
    is known (`Engine.step` recognises it by its class)."""

    experiment: CompiledExperiment

    def __new__(cls, experiment: CompiledExperiment) -> _ExperimentActions:
        self = super().__new__(cls)
        self.experiment = experiment
        return self


# ----------------------------------------------------------------------- helpers

_MOBILE = ("Mobi", "iPhone", "iPod", "Windows Phone", "BlackBerry", "Opera Mini", "IEMobile")
_TABLET = ("iPad", "Tablet", "Kindle", "Silk/", "PlayBook", "Nexus 7", "Nexus 10")


@lru_cache(maxsize=512)
def classify_device(user_agent: str) -> str:
    """`"mobile"`, `"tablet"` or `"desktop"` from a User-Agent (coarse, by tokens)."""
    ua = user_agent or ""
    if any(t in ua for t in _TABLET):
        return "tablet"
    if "Android" in ua:
        return "mobile" if "Mobile" in ua else "tablet"
    if any(t in ua for t in _MOBILE):
        return "mobile"
    return "desktop"


@lru_cache(maxsize=4096)  # a site serves few distinct paths, each on every request
def path_hash(path: str) -> str:
    """32 bits of a checksum of the path: enough to tell a reload from another page
    (a collision, 1 in 4 billion, would only make one page view count as a reload)."""
    digest = zlib.crc32(path.encode("utf-8", "surrogatepass")).to_bytes(4, "big")
    return base64.urlsafe_b64encode(digest)[:6].decode("ascii")


@lru_cache(maxsize=1024)
def _hostname(url_or_host: str, is_url: bool) -> str | None:
    try:
        parts = urlsplit(url_or_host if is_url else f"//{url_or_host}")
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower()


def _contributions(
    rules: CompiledRuleSet, state: VisitorState, now: int
) -> tuple[Contribution, ...]:
    out: list[Contribution] = []
    for spec in rules.layout.evidence:
        entry = state.evidence.get(spec.key)
        if entry is None:
            continue
        value, t = entry
        now_value = decayed(value, t, now, spec.half_life)
        points = min(now_value, spec.cap) if spec.cap is not None else now_value
        text = f"implicit {spec.matcher} weight {_num(spec.weight)}"
        if spec.cap is not None:
            text += f" max {_num(spec.cap)}"
        out.append(
            Contribution(
                f"{spec.group}.{spec.segment}", text, f"{spec.file}:{spec.line}", points, now_value
            )
        )
    return tuple(out)


def _accumulate(
    evidence: dict[str, tuple[float, int]], spec: EvidenceSpec, points: float, now: int
) -> None:
    """Add `points` (as of `now`) to a signal's accumulator, decaying what it held."""
    old = evidence.get(spec.key)
    value = decayed(old[0], old[1], now, spec.half_life) if old is not None else 0.0
    value = round(min(value + points, MAX_EVIDENCE), 3)
    if value > 0:
        # without decay the time is meaningless: 0 keeps states canonical
        evidence[spec.key] = (value, now if spec.half_life else 0)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _group_view(rules: CompiledRuleSet, ctx: Ctx, index: int) -> GroupView:
    g = rules.groups[index]
    first, last = g.first, g.first + len(g.segments)
    segs = g.segments
    cert = ctx.cert[index]
    ml = ctx.ml[index]
    excluded = ctx.excluded[first:last]
    return GroupView(
        g.name,
        g.label,
        dict(zip(segs, ctx.conf[first:last], strict=True)),
        dict(zip(segs, ctx.score[first:last], strict=True)),
        None if ml is None else segs[ml - first],
        None if cert is None else segs[cert - first],
        ctx.known[index],
        ctx.other[index],
        tuple(s for s, x in zip(segs, excluded, strict=True) if x) if any(excluded) else (),
    )


class _GroupViews(Mapping[str, GroupView]):
    """`Outcome.groups`: each `GroupView` is built on first access (most requests
    read one group, if any)."""

    __slots__ = ("_ctx", "_made", "_rules")

    def __init__(self, rules: CompiledRuleSet, ctx: Ctx) -> None:
        self._rules = rules
        self._ctx = ctx
        self._made: dict[str, GroupView] = {}

    def __getitem__(self, name: str) -> GroupView:
        view = self._made.get(name)
        if view is None:
            view = _group_view(self._rules, self._ctx, self._rules.group_index[name])
            self._made[name] = view
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules.group_index)

    def ranking(self, name: str) -> dict[str, float] | None:
        index = self._rules.group_index.get(name)
        if index is None:
            return None
        g = self._rules.groups[index]
        confidences = self._ctx.conf[g.first : g.first + len(g.segments)]
        return dict(zip(g.qualified, confidences, strict=True))

    def __len__(self) -> int:
        return len(self._rules.group_index)

    def __repr__(self) -> str:
        return repr(dict(self))


def _group_views(rules: CompiledRuleSet, ctx: Ctx) -> Mapping[str, GroupView]:
    return _GroupViews(rules, ctx)


# ------------------------------------------------------------------------- engine


class Engine:
    """Runs a compiled rule set. Stateless itself: safe to share across requests."""

    def __init__(self, rules: CompiledRuleSet, *, holdout: bool = True) -> None:
        """`holdout=False` ignores the rule set's holdout (staging, end-to-end tests)."""
        self.rules = rules
        self.holdout = rules.holdout if holdout else None
        self.layout = rules.layout
        n = rules.segment_count
        self._zeros = [0.0] * n
        self._falses = [False] * n
        self._gnone: list[int | None] = [None] * len(rules.groups)
        self._gfalse = [False] * len(rules.groups)
        self._rule_indices = range(len(rules.rules))
        self._actions = tuple(
            _ExperimentActions(r.experiment)
            if r.experiment is not None
            else tuple(zip(r.decisions, r.survey_checks, strict=True))
            for r in rules.rules
        )
        #: experiment name → its position in the rule order
        self._experiment_rule = {
            r.experiment.name: r.index for r in rules.rules if r.experiment is not None
        }
        self._variant_actions = {
            e.index: tuple(
                tuple(zip(v.decisions, v.survey_checks, strict=True)) for v in e.variants
            )
            for e in rules.experiments
        }
        self._no_experiments: Mapping[str, str | None] = dict.fromkeys(
            e.name for e in rules.experiments
        )
        self._answer_facts: dict[tuple[str, str], str] = {}
        self._holdout_of: dict[str, bool] = {}
        lay = rules.layout
        self._attr_names = {key: name for name, key in lay.attributes.items()}
        self._synced = tuple(
            (rules.audience_index[name], key, name)
            for name, key in lay.synced.items()
            if name in rules.audience_index
        )
        for g in rules.groups:
            other = lay.fact_keys.get(f"~{g.name}")
            if other:
                self._answer_facts[(g.name, OTHER)] = other
            for s in g.segments:
                dotted = f"{g.name}.{s}"
                pos, neg = lay.fact_keys[f"+{dotted}"], lay.fact_keys[f"-{dotted}"]
                self._answer_facts[(dotted, YES)] = pos
                self._answer_facts[(dotted, NO)] = neg
                self._answer_facts[(g.name, s)] = pos

    # ---------------------------------------------------------------- public API

    def new_state(self, now: float) -> VisitorState:
        t = math.floor(now)
        return VisitorState(secrets.token_urlsafe(12), t, t)

    def validate_answer(self, answer: Answer) -> str | None:
        about, value = answer.about, answer.value
        group, dot, segment = about.partition(".")
        if group not in self.rules.group_index:
            return f"unknown group {group!r}"
        g = self.rules.groups[self.rules.group_index[group]]
        if dot and segment not in g.segments:
            return f"unknown segment {about!r}"
        choices = answer_choices(about, g.segments)
        if value in choices:
            return None
        if dot:
            return f"the answer to a question about {about} is yes or no, not {value!r}"
        shown = ", ".join(choices)
        return f"the answer to a question about {group} is one of {shown}, not {value!r}"

    def validate_dismissal(self, about: str) -> str | None:
        group, dot, segment = about.partition(".")
        if group not in self.rules.group_index:
            return f"unknown group {group!r}"
        if dot and segment not in self.rules.groups[self.rules.group_index[group]].segments:
            return f"unknown segment {about!r}"
        return None

    def _in_holdout(self, visitor_id: str) -> bool:
        """`in_holdout`, remembered per visitor id (a SHA-256 per request otherwise)."""
        if self.holdout is None:
            return False
        known = self._holdout_of.get(visitor_id)
        if known is None:
            known = in_holdout(self.holdout, visitor_id)
            if len(self._holdout_of) >= 65_536:
                self._holdout_of.clear()
            self._holdout_of[visitor_id] = known
        return known

    def validate_variant(self, experiment: str, variant: str) -> str | None:
        """For a forced preview variant: an error message, or None when it exists."""
        index = self.rules.experiment_index.get(experiment)
        if index is None:
            known = ", ".join(self.rules.experiment_index) or "none"
            return f"unknown experiment {experiment!r} (experiments: {known})"
        names = [v.name for v in self.rules.experiments[index].variants]
        if variant not in names:
            return f"experiment {experiment} has no variant {variant!r} ({', '.join(names)})"
        return None

    def expose(self, outcome: Outcome, page_slots: Collection[str] | None = None) -> Outcome:
        """Mark the pending exposures whose slots are on the page (`None`: every slot,
        as in `smartseg simulate`). Returns `outcome` itself when nobody is exposed."""
        pending = outcome.pending_exposures
        if not pending:
            return outcome
        done = [p for p in pending if page_slots is None or not p.slots.isdisjoint(page_slots)]
        if not done:
            return outcome
        state = replace_state(outcome.state, exposed=outcome.state.exposed | {p.key for p in done})
        # a copy with four fields changed; `dataclasses.replace` would cost 4 µs here
        exposed = object.__new__(Outcome)
        exposed.__dict__.update(
            outcome.__dict__,
            state=state,
            changed=True,
            pending_exposures=(),
            exposures=tuple((p.experiment, p.variant) for p in done),
        )
        return exposed

    def validate_segment(self, ref: str) -> str | None:
        """For `preview_as`: a `Group.Segment` of these rules, or an error message."""
        if ref in self.rules.segment_index:
            return None
        return f"unknown segment {ref!r} (write Group.Segment)"

    def view(self, state: VisitorState, now: float) -> VisitorView:
        """The visitor as of `now`, without a request (no path, attributes or device)."""
        t = max(math.floor(now), state.updated)
        ctx = self._evaluate_groups(state, t)
        self._fill_ctx(ctx, state, t, None, _EMPTY, "desktop")
        self._audiences(ctx)
        return VisitorView(self.rules, state, ctx)

    # ---------------------------------------------------------------------- step

    def step(self, state: VisitorState | None, request: RequestInfo) -> Outcome:
        rules = self.rules
        layout = self.layout
        now = math.floor(request.time)
        fresh = state is None
        if state is None:
            state = self.new_state(now)
        elif now < state.updated:
            now = state.updated
        tracking = not request.gpc
        path = request.path

        # Working copies: created on first write, so an unchanged state is shared.
        visits, session_start, last_pv = state.visits, state.session_start, state.last_pageview
        last_path, pageviews = state.last_path, state.pageviews
        landing_done, referrer_done = state.landing_done, state.referrer_done
        fired: list[tuple[MatcherSlot, int, bool]] = []  # (slot, times, implicit ok)
        new_facts: list[str] = []
        slots = rules.slots

        implicit_pv = False  # a tracked page view that is not a reload
        if path is not None and tracking:
            reload = False
            if layout.reloads:
                h = path_hash(path)
                reload = h == last_path
                last_path = h
            if layout.sessions:
                if visits == 0 or now - last_pv > SESSION_GAP:
                    visits += 1
                    session_start = now
                last_pv = now
            if not reload:
                if layout.pageviews:
                    pageviews += 1
                if layout.landing and not landing_done:
                    landing_done = True
                    for match, i in rules.landings:
                        if match(path) is not None:
                            fired.append((slots[i], 1, True))
                if layout.referrer and not referrer_done and request.referrer:
                    host = _hostname(request.referrer, True)
                    own = _hostname(request.host, False)
                    if host is not None and host != own:
                        referrer_done = True
                        for match_host, i in rules.referrers:
                            if match_host(host):
                                fired.append((slots[i], 1, True))
            implicit_pv = not reload
            hit = rules.page_exact.get(path)
            if hit:
                for i in hit:
                    fired.append((slots[i], 1, implicit_pv))
            for match, i in rules.page_globs:
                if match(path) is not None:
                    fired.append((slots[i], 1, implicit_pv))
            if request.categories and rules.categories:
                seen: set[int] = set()
                for cat in request.categories:
                    for i in rules.categories.get(cat.strip().casefold(), ()):
                        if i not in seen:
                            seen.add(i)
                            fired.append((slots[i], 1, implicit_pv))
        if request.query and rules.queries:
            for param, matchers in rules.queries.items():
                values = request.query.get(param)
                if not values:
                    continue
                if isinstance(values, str):  # a single value given as a plain string
                    values = (values,)
                for match, i in matchers:
                    if any(match(v) is not None for v in values):
                        # explicit: any request; implicit and counts: page views only
                        fired.append((slots[i], 1, implicit_pv))
        if tracking and request.events and rules.events:
            for ev in request.events:
                for i in rules.events.get(ev, ()):
                    fired.append((slots[i], 1, True))
        late: list[tuple[MatcherSlot, int]] = []  # inbound events: (slot, their own time)
        if tracking and request.inbound_events and rules.events:
            for ev, at in request.inbound_events:
                t = min(now, max(0, math.floor(at)))
                for i in rules.events.get(ev, ()):
                    late.append((slots[i], t))
        new_tags: set[str] = set()
        given = request.tags
        if request.inbound_tags:
            given = (*given, *request.inbound_tags)
        if given:
            for tag in given:
                key = rules.tag_keys.get(tag)
                if key is not None and key not in state.tags:
                    new_tags.add(key)
                for i in rules.tags.get(tag, ()):
                    fired.append((slots[i], 1, tracking))

        # Apply the firings.
        evidence: dict[str, tuple[float, int]] | None = None
        counts: dict[str, int] | None = None
        last_fired: dict[str, int] | None = None
        windows: dict[str, tuple[int, ...]] | None = None
        for slot, times, implicit_ok in fired:
            # Under GPC only explicit statements made by tags and links (`?seg=`) count.
            if slot.explicit_facts and (tracking or slot.matcher.kind in ("tag", "query")):
                new_facts.extend(slot.explicit_facts)
            if not implicit_ok or not tracking:
                continue
            for spec in slot.evidence:
                if evidence is None:
                    evidence = dict(state.evidence)
                _accumulate(evidence, spec, spec.weight * times, now)
            if slot.count_key is not None:
                if counts is None:
                    counts = dict(state.counts)
                counts[slot.count_key] = min(counts.get(slot.count_key, 0) + times, MAX_COUNT)
            if slot.since_key is not None:
                if last_fired is None:
                    last_fired = dict(state.last_fired)
                last_fired[slot.since_key] = now
            if slot.window_key is not None:
                if windows is None:
                    windows = dict(state.windows)
                old_times = windows.get(slot.window_key, ())
                windows[slot.window_key] = ((now,) * times + old_times)[: slot.window_limit]
        # Inbound events land at their own time (SPEC §7): decayed by their age, in
        # `since` only when later than what is there, in windows at their place.
        for slot, t in late:
            if slot.explicit_facts:
                new_facts.extend(slot.explicit_facts)
            for spec in slot.evidence:
                if evidence is None:
                    evidence = dict(state.evidence)
                # an event at `t` has decayed since, like the evidence it joins
                _accumulate(evidence, spec, decayed(spec.weight, t, now, spec.half_life), now)
            if slot.count_key is not None:
                if counts is None:
                    counts = dict(state.counts)
                counts[slot.count_key] = min(counts.get(slot.count_key, 0) + 1, MAX_COUNT)
            if slot.since_key is not None:
                if last_fired is None:
                    last_fired = dict(state.last_fired)
                if t > last_fired.get(slot.since_key, -1):
                    last_fired[slot.since_key] = t
            if slot.window_key is not None:
                if windows is None:
                    windows = dict(state.windows)
                merged = sorted((*windows.get(slot.window_key, ()), t), reverse=True)
                windows[slot.window_key] = tuple(merged[: slot.window_limit])
        if late:
            fired = [*fired, *((slot, 1, True) for slot, _t in late)]

        # Inbound attributes (SPEC §1.8): only those the rules read are kept.
        inbound: dict[str, str | int | float] | None = None
        if request.inbound_attributes:
            known = layout.attributes
            for name, value in request.inbound_attributes.items():
                key = known.get(name)
                if key is None:
                    continue
                if inbound is None:
                    inbound = dict(state.inbound)
                if value is None or isinstance(value, bool):
                    inbound.pop(key, None)
                else:
                    inbound[key] = value
            if inbound is not None and inbound == state.inbound:
                inbound = None
        identified = state.identified or (request.identified and layout.identifies)

        # Answers and dismissals (validated; invalid ones are ignored here).
        for answer in request.answers:
            key = self._answer_facts.get((answer.about, answer.value))
            if key is not None:
                new_facts.append(key)
        dismissed: dict[str, int] | None = None
        for about in request.dismissals:
            key = rules.dismissal_keys.get(about)
            if key is not None:
                if dismissed is None:
                    dismissed = dict(state.dismissed)
                dismissed[key] = now

        facts = state.facts
        if new_facts:
            latest = dict.fromkeys(reversed(new_facts))  # last occurrence wins its place
            order = list(reversed(latest))
            facts = tuple(f for f in facts if f[0] not in latest) + tuple((k, now) for k in order)

        changed = (
            fresh
            or visits != state.visits
            or session_start != state.session_start
            or last_pv != state.last_pageview
            or last_path != state.last_path
            or pageviews != state.pageviews
            or landing_done != state.landing_done
            or referrer_done != state.referrer_done
            or facts is not state.facts
            or evidence is not None
            or counts is not None
            or last_fired is not None
            or windows is not None
            or bool(new_tags)
            or dismissed is not None
            or inbound is not None
            or identified != state.identified
        )
        if changed and not (
            fresh and not tracking and not _recorded(new_facts, new_tags, dismissed)
        ):
            new_state = VisitorState(
                visitor_id=state.visitor_id,
                first_seen=state.first_seen,
                updated=now,
                visits=visits,
                session_start=session_start,
                last_pageview=last_pv,
                last_path=last_path,
                pageviews=pageviews,
                landing_done=landing_done,
                referrer_done=referrer_done,
                facts=facts,
                evidence=evidence if evidence is not None else state.evidence,
                counts=counts if counts is not None else state.counts,
                last_fired=last_fired if last_fired is not None else state.last_fired,
                windows=windows if windows is not None else state.windows,
                tags=state.tags | new_tags if new_tags else state.tags,
                dismissed=dismissed if dismissed is not None else state.dismissed,
                goals=state.goals,
                variants=state.variants,
                exposed=state.exposed,
                inbound=inbound if inbound is not None else state.inbound,
                synced=state.synced,
                identified=identified,
            )
            new_state = canonical(new_state, layout)
            # a page view counted is a change `canonical` cannot undo: no need to compare
            changed = fresh or pageviews != state.pageviews or new_state != state
            built = True
        else:
            # Nothing recorded, or a GPC visitor we know nothing about (who gets no
            # cookie at all): the state is the input's.
            new_state, changed, built = state, False, False

        # Preview: evaluate as certain of a segment (or in a variant), store nothing.
        evaluated = new_state
        preview = request.preview
        if request.preview_as is not None:
            pos = layout.fact_keys.get(f"+{request.preview_as}")
            if pos is not None:
                facts = (*(f for f in evaluated.facts if f[0] != pos), (pos, now))
                evaluated = replace_state(evaluated, facts=facts)
        if preview:
            new_state, changed, built = state, False, False

        # Evaluate.
        ctx = self._evaluate_groups(evaluated, now)
        self._fill_ctx(
            ctx,
            evaluated,
            now,
            path,
            request.attributes,
            classify_device(request.user_agent),
        )
        self._audiences(ctx)
        activation: list[tuple[str, str]] = []
        if not preview:
            if self._synced and tracking:
                aud = ctx.aud
                inside = frozenset(key for i, key, _name in self._synced if aud[i])
                if inside != new_state.synced:
                    before = new_state.synced
                    for i, key, name in self._synced:
                        if aud[i] and key not in before:
                            activation.append(("audience.entered", name))
                        elif not aud[i] and key in before:
                            activation.append(("audience.left", name))
                    new_state = replace_state(new_state, synced=inside)
                    evaluated = new_state
                    changed = built = True
            if new_facts:
                # certainty comes from the facts alone: the input state's, as evaluated
                was = self._evaluate_groups(state, now).cert
                names = rules.segment_names
                for g, c in enumerate(ctx.cert):
                    if c is not None and c != was[g]:
                        activation.append(("segment.certain", names[c]))
        goals: tuple[GoalHit, ...] = ()
        if rules.goals and tracking and not preview:
            goals, reached = self._goals(ctx, evaluated, fired)
            if reached:
                new_state = replace_state(new_state, goals=new_state.goals | reached)
                evaluated = new_state
                changed = built = True
        holdout = not preview and self._in_holdout(state.visitor_id)
        held = rules.evaluate_rules(ctx)
        decisions: dict[str, Decision] = {}
        suppressed: list[tuple[int, str]] = []
        pending: list[Exposure] = []
        acting = held
        if request.preview_variants and not holdout:
            # a forced variant shows even where the experiment's `when` does not hold
            acting = list(held)
            for name in request.preview_variants:
                acting[self._experiment_rule[name]] = True
        experiments = self._no_experiments
        assigned: dict[str, str] | None = None
        # The page known (the middleware's final step): exposure is decided here, in the
        # same state update as the assignment; unknown: left pending for `expose`.
        page_slots = request.page_slots
        on_page: Collection[str] | None = None
        exposures: list[tuple[str, str]] = []  # (experiment, variant) exposed now
        exposed_keys: list[str] = []
        # only the rules that hold are visited (most do not)
        for index in compress(self._rule_indices, () if holdout else acting):
            actions = self._actions[index]
            if actions.__class__ is _ExperimentActions:
                # the common path pays one class check per rule that holds
                exp = actions.experiment  # type: ignore[attr-defined]
                if assigned is None:
                    experiments, assigned = dict(experiments), {}
                vi = self._variant(exp, evaluated, request, now, tracking, path, assigned)
                actions = ()
                if vi is not None:
                    variant = exp.variants[vi]
                    experiments[exp.name] = variant.name
                    actions = self._variant_actions[exp.index][vi]
                    if tracking and not preview and exp.key not in evaluated.exposed:
                        # its slots that no earlier rule took (SPEC §1.7)
                        free = exp.slots.difference(decisions)
                        if free and page_slots is None:
                            pending.append(Exposure(exp.name, variant.name, exp.key, free))
                        elif free:
                            if on_page is None:
                                on_page = page_slots()  # type: ignore[misc]
                            if not free.isdisjoint(on_page):
                                exposures.append((exp.name, variant.name))
                                exposed_keys.append(exp.key)
            for d, check in actions:
                if d.slot in decisions:
                    continue
                if check is not None and self._survey_suppressed(ctx, evaluated, now, check):
                    suppressed.append((index, d.slot))
                    continue
                decisions[d.slot] = d
        if assigned or exposed_keys:
            variants = {**new_state.variants, **assigned} if assigned else new_state.variants
            exposed = new_state.exposed.union(exposed_keys) if exposed_keys else new_state.exposed
            if built:
                # a state this step built and nobody holds yet: completed in place (a
                # copy of its 23 fields would cost the enrolling page ≈ 2 µs more)
                complete_assignment(new_state, variants, exposed)
            else:
                new_state = replace_state(new_state, variants=variants, exposed=exposed)
            evaluated = new_state
            changed = True
        groups = _group_views(rules, ctx)
        audiences = tuple(a.name for a in rules.audiences if ctx.aud[a.index])
        return Outcome(
            state=new_state,
            changed=changed,
            decisions=decisions,
            groups=groups,
            audiences=audiences,
            view=VisitorView(rules, evaluated, ctx, groups),
            held=tuple(held),
            _rules=rules,
            _suppressed=tuple(suppressed),
            holdout=holdout,
            goals=goals,
            session_started=visits != state.visits,
            experiments=experiments,
            pending_exposures=tuple(pending),
            exposures=tuple(exposures),
            activation=tuple(activation),
        )

    # ---------------------------------------------------------------- evaluation

    def _variant(
        self,
        exp: CompiledExperiment,
        state: VisitorState,
        request: RequestInfo,
        now: int,
        tracking: bool,
        path: str | None,
        assigned: dict[str, str],
    ) -> int | None:
        """The visitor's variant of `exp` on this request, or None (SPEC §1.7).

        `when` already held. A forced preview variant wins; otherwise only a page view
        within the dates enrols, the stored assignment first. A visitor under GPC/DNT
        keeps an earlier assignment but is never newly enrolled (their state is not
        kept, so a bucket would not stay theirs)."""
        forced = request.preview_variants.get(exp.name)
        if forced is not None:
            return next((i for i, v in enumerate(exp.variants) if v.name == forced), None)
        if request.preview or path is None or not exp.running(now):
            return None
        stored = state.variants.get(exp.key)
        if stored is not None:
            return exp.variant_index.get(stored)
        if not tracking:
            return None
        vi = pick_variant(bucket(exp.name, state.visitor_id), exp.traffic, exp.bounds)
        if vi is not None:
            assigned[exp.key] = exp.variants[vi].key
        return vi

    def _goals(
        self, ctx: Ctx, state: VisitorState, fired: list[tuple[MatcherSlot, int, bool]]
    ) -> tuple[tuple[GoalHit, ...], frozenset[str]]:
        """Goals reached now (once per visitor) and each firing of a value goal."""
        hits: list[GoalHit] = []
        reached: set[str] = set()
        slots = self.rules.slots
        for goal in self.rules.goals:
            done = goal.key in state.goals
            if goal.fired is not None:
                target = slots[goal.fired]
                # page, category and query fire on page views that are not reloads
                times = sum(n for slot, n, ok in fired if slot is target and ok)
                if not times or (done and goal.value is None):
                    continue
            else:
                if done or not goal.test(ctx):  # type: ignore[misc]
                    continue
                times = 1
            value = None
            if goal.value is not None:
                v = goal.value(ctx)
                if type(v) in (int, float) and math.isfinite(v):
                    value = float(v)
            for i in range(times):
                hits.append(GoalHit(goal.name, value, first=not done and i == 0))
            if not done:
                reached.add(goal.key)
        return tuple(hits), frozenset(reached)

    def _survey_suppressed(
        self, ctx: Ctx, state: VisitorState, now: int, check: tuple[int, int, str | None]
    ) -> bool:
        g, seg, key = check
        if ctx.known[g]:
            return True
        if seg >= 0 and ctx.excluded[seg]:
            return True
        if key is not None:
            t = state.dismissed.get(key)
            if t is not None and now - t < DISMISS_SECONDS:
                return True
        return False

    def _evaluate_groups(self, state: VisitorState, now: int) -> Ctx:
        """Scores, confidences, certain, most likely and known for every group (SPEC §1.2)."""
        rules = self.rules
        ctx = Ctx()
        score = list(self._zeros)
        info = rules.evidence_info
        for key, (value, t) in state.evidence.items():
            spec = info.get(key)
            if spec is None:
                continue
            seg, half_life, cap = spec
            if half_life and t != now:
                value *= 0.5 ** ((now - t) / half_life)
            score[seg] += value if value < cap else cap
        ngroups = len(rules.groups)
        cert: list[int | None] = list(self._gnone)
        ml: list[int | None] = list(self._gnone)
        known = list(self._gfalse)
        other = list(self._gfalse)
        excluded = list(self._falses)
        conf = list(self._zeros)
        if state.facts:
            n = len(score)
            pos = [-1] * n
            neg = [-1] * n
            other_at = [-1] * ngroups
            fact_info = rules.fact_info
            for order, (key, _t) in enumerate(state.facts):
                fi = fact_info.get(key)
                if fi is None:
                    continue
                g, s, kind = fi
                if kind == 0:
                    pos[s] = order
                elif kind == 1:
                    neg[s] = order
                else:
                    other_at[g] = order
            for i in range(n):
                excluded[i] = neg[i] > pos[i]
        else:
            pos = neg = other_at = None  # type: ignore[assignment]
        for g in rules.groups:
            first, last = g.first, g.first + len(g.segments)
            if pos is not None:
                best, best_at = -1, -1
                for i in range(first, last):
                    if pos[i] > best_at:
                        best, best_at = i, pos[i]
                if best >= 0 and neg[best] < best_at and other_at[g.index] < best_at:
                    cert[g.index] = best
                    ml[g.index] = best
                    known[g.index] = True
                    conf[best] = 1.0
                    continue
                if other_at[g.index] > best_at:
                    other[g.index] = True
                    known[g.index] = True
                    continue
            total = g.prior
            for i in range(first, last):
                if not excluded[i]:
                    total += score[i]
            top, top_score = None, 0.0
            for i in range(first, last):
                if excluded[i]:
                    continue
                s = score[i]
                if total > 0:
                    conf[i] = s / total
                if s > top_score:
                    top, top_score = i, s
            ml[g.index] = top
        ctx.conf = conf
        ctx.score = score
        ctx.cert = cert
        ctx.ml = ml
        ctx.known = known
        ctx.other = other
        ctx.excluded = excluded
        return ctx

    def _fill_ctx(
        self,
        ctx: Ctx,
        state: VisitorState,
        now: int,
        path: str | None,
        attributes: Mapping[str, Any],
        device: str,
    ) -> None:
        ctx.now = now
        ctx.tags = state.tags
        ctx.visits = state.visits
        ctx.pageviews = state.pageviews
        if state.visits and now - state.last_pageview <= SESSION_GAP:
            ctx.session_time = float(now - state.session_start)
        else:
            ctx.session_time = 0.0
        ctx.counts = state.counts
        ctx.last_fired = state.last_fired
        ctx.windows = state.windows
        ctx.path = path
        if state.inbound:
            # attribute("x"): the app's value for this request, else the inbound one
            names = self._attr_names
            merged: dict[str, Any] = {names[k]: v for k, v in state.inbound.items() if k in names}
            for name, value in attributes.items():
                if value is not None:
                    merged[name] = value
            attributes = merged
        ctx.attrs = attributes
        ctx.device = device

    def _audiences(self, ctx: Ctx) -> None:
        audiences = self.rules.audiences
        aud: list[bool] = [False] * len(audiences)
        ctx.aud = aud
        for i in self.rules.audience_order:
            aud[i] = bool(audiences[i].test(ctx))


def _recorded(facts: list[str], tags: set[str], dismissed: dict[str, int] | None) -> bool:
    return bool(facts or tags or dismissed)
