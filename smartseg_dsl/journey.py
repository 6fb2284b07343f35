"""Visitor journeys (SPEC §5): parse the JSON format and play it through the engine.

Shared by `smartseg simulate` and `smartseg test`. A journey is

    {"start": "2026-01-01T00:00:00Z", "host": "localhost", "steps": [step, …]}

and each step one request: `after` (a duration, default "0s", added to the
previous step's time), `path` (a page view; its query string becomes the
request's query), `referrer`, `categories`, `events`, `tags`, `attributes`,
`user_agent`, `answer` ({"about", "value"}), `dismiss`, `gpc`, and for
`smartseg test` an `expect` object. Any mistake — unknown key, bad duration,
an answer about a segment the rules do not have — is a `JourneyError` naming
the file and the step number.

Playing a journey goes through the real cookie codec with a fixed test key:
after each step whose state changed the "browser" keeps the new cookie, and
the next step starts from decoding it, exactly as with the middleware. The
visitor id is the journey's `visitor` (default `simulated`, SPEC §5) so output is
reproducible and the holdout and experiment buckets are those of that id.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .compiler import CompiledRuleSet
from .cookie import CookieCodec
from .engine import Answer, Engine, Outcome, RequestInfo
from .state import VisitorState, replace_state

__all__ = [
    "ACTIONS",
    "TEST_KEY",
    "Expect",
    "Journey",
    "JourneyError",
    "Mismatch",
    "PlayedStep",
    "Step",
    "check_expect",
    "load_journey",
    "parse_journey",
    "play",
    "validate_journey",
]

#: The key journeys sign their cookies with (tests only: never a real site's key).
TEST_KEY = "smartseg-journey-test-key"
DEFAULT_START = "2026-01-01T00:00:00Z"
_VISITOR = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
#: The action names of SPEC §5 (`slots` in simulate's JSON and in `expect`).
ACTIONS = ("replace", "show", "hide", "order", "survey")
JOURNEY_VISITOR_ID = "simulated"  # SPEC §5's default

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TOP_KEYS = {"start", "host", "visitor", "steps"}
_STEP_KEYS = {
    "after",
    "path",
    "referrer",
    "categories",
    "events",
    "tags",
    "attributes",
    "user_agent",
    "answer",
    "dismiss",
    "gpc",
    "expect",
}
_EXPECT_KEYS = {
    "most_likely",
    "certain",
    "confidence",
    "audiences",
    "slots",
    "holdout",
    "goals",
    "experiments",
}


class JourneyError(ValueError):
    """A journey file that cannot be played; the message names the file and step."""


@dataclass(frozen=True, slots=True)
class Expect:
    """What `smartseg test` checks after a step; `None` fields are not checked.

    `certain` and `audiences` are the exact sets expected (`[]`: none at all);
    `most_likely`, `confidence` and `slots` check only the names they list.
    """

    most_likely: Mapping[str, str | None] | None = None
    certain: tuple[str, ...] | None = None
    confidence: Mapping[str, tuple[float, float]] | None = None
    audiences: tuple[str, ...] | None = None
    slots: Mapping[str, str | None] | None = None
    holdout: bool | None = None
    #: the goals reached on this step, exactly (`[]`: none)
    goals: tuple[str, ...] | None = None
    #: experiment → the variant the visitor is enrolled in on this step (None: not)
    experiments: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    number: int  # 1-based
    after: float  # seconds
    path: str | None = None  # as written, query string included
    referrer: str | None = None
    categories: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str | float | int | bool | None] = field(default_factory=dict)
    user_agent: str = ""
    answer: Answer | None = None
    dismiss: str | None = None
    gpc: bool = False
    expect: Expect | None = None

    def describe(self) -> str:
        """A one-line summary of what the step does."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(f"page {self.path}")
        if self.referrer:
            parts.append(f"from {self.referrer}")
        if self.categories:
            parts.append("categories " + ", ".join(self.categories))
        if self.events:
            parts.append("events " + ", ".join(self.events))
        if self.tags:
            parts.append("tags " + ", ".join(self.tags))
        if self.attributes:
            parts.append(
                "attributes " + ", ".join(f"{k}={v!r}" for k, v in self.attributes.items())
            )
        if self.answer is not None:
            parts.append(f"answer {self.answer.about} = {self.answer.value}")
        if self.dismiss is not None:
            parts.append(f"dismiss {self.dismiss}")
        if self.gpc:
            parts.append("GPC")
        return " · ".join(parts) if parts else "(nothing: time passes)"


@dataclass(frozen=True, slots=True)
class Journey:
    name: str
    start: float
    host: str
    steps: tuple[Step, ...]
    visitor: str = JOURNEY_VISITOR_ID


def parse_duration(text: object) -> float:
    if not isinstance(text, str):
        raise ValueError(f'a duration is a string such as "5m", not {json.dumps(text)}')
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a duration (write 30s, 15m, 24h, 7d or 2w)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{what}` must be a list of strings")
    return tuple(value)


def _names_or_null(raw: dict[str, object], key: str, what: str) -> dict[str, str | None] | None:
    """``raw[key]`` checked to be an object whose values are names or null (None: no key)."""
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, dict) or not all(
        v is None or isinstance(v, str) for v in value.values()
    ):
        raise ValueError(f"`expect.{key}` must map {what} or null")
    return dict(value)


def _parse_expect(raw: object) -> Expect:
    if not isinstance(raw, dict):
        raise ValueError("`expect` must be an object")
    unknown = sorted(set(raw) - _EXPECT_KEYS)
    if unknown:
        raise ValueError(
            f"unknown key(s) in `expect`: {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(_EXPECT_KEYS))})"
        )
    most_likely = _names_or_null(raw, "most_likely", "groups to a segment name")
    confidence = None
    if "confidence" in raw:
        conf = raw["confidence"]
        if not isinstance(conf, dict):
            raise ValueError('`expect.confidence` must map "G.S" to [low, high]')
        confidence = {}
        for ref, bounds in conf.items():
            if (
                not isinstance(bounds, list)
                or len(bounds) != 2
                or not all(type(b) in (int, float) for b in bounds)
                or bounds[0] > bounds[1]
            ):
                raise ValueError(f"`expect.confidence.{ref}` must be [low, high] with low ≤ high")
            confidence[ref] = (float(bounds[0]), float(bounds[1]))
    slots = None
    if "slots" in raw:
        sl = raw["slots"]
        if not isinstance(sl, dict):
            raise ValueError("`expect.slots` must map slot names to an action")
        for slot, action in sl.items():
            if action is not None and action not in ACTIONS:
                raise ValueError(
                    f"`expect.slots.{slot}`: {action!r} is not an action "
                    f"({', '.join(ACTIONS)}, or null for no action)"
                )
        slots = dict(sl)
    holdout = raw.get("holdout")
    if holdout is not None and not isinstance(holdout, bool):
        raise ValueError("`expect.holdout` must be true or false")
    experiments = _names_or_null(raw, "experiments", "experiments to a variant name")
    return Expect(
        most_likely=most_likely,
        certain=_strings(raw["certain"], "expect.certain") if "certain" in raw else None,
        confidence=confidence,
        audiences=_strings(raw["audiences"], "expect.audiences") if "audiences" in raw else None,
        slots=slots,
        holdout=holdout,
        goals=_strings(raw["goals"], "expect.goals") if "goals" in raw else None,
        experiments=experiments,
    )


def _parse_step(raw: object, number: int) -> Step:
    if not isinstance(raw, dict):
        raise ValueError("a step must be an object")
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_STEP_KEYS))})"
        )
    after = parse_duration(raw.get("after", "0s"))
    path = raw.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ValueError('`path` must be a string starting with "/"')
    referrer = raw.get("referrer")
    if referrer is not None and not isinstance(referrer, str):
        raise ValueError("`referrer` must be a string")
    attributes = raw.get("attributes", {})
    if not isinstance(attributes, dict) or not all(
        v is None or type(v) in (str, int, float, bool) for v in attributes.values()
    ):
        raise ValueError("`attributes` must map names to a string, number, boolean or null")
    user_agent = raw.get("user_agent", "")
    if not isinstance(user_agent, str):
        raise ValueError("`user_agent` must be a string")
    answer = None
    if "answer" in raw:
        a = raw["answer"]
        if (
            not isinstance(a, dict)
            or set(a) != {"about", "value"}
            or not all(isinstance(v, str) for v in a.values())
        ):
            raise ValueError(
                '`answer` must be {"about": "Group.Segment", "value": "yes"|"no"} '
                'or {"about": "Group", "value": "Segment"|"other"}'
            )
        answer = Answer(a["about"], a["value"])
    dismiss = raw.get("dismiss")
    if dismiss is not None and not isinstance(dismiss, str):
        raise ValueError('`dismiss` must be "Group.Segment" or "Group"')
    gpc = raw.get("gpc", False)
    if not isinstance(gpc, bool):
        raise ValueError("`gpc` must be true or false")
    return Step(
        number=number,
        after=after,
        path=path,
        referrer=referrer,
        categories=_strings(raw.get("categories", []), "categories"),
        events=_strings(raw.get("events", []), "events"),
        tags=_strings(raw.get("tags", []), "tags"),
        attributes=dict(attributes),
        user_agent=user_agent,
        answer=answer,
        dismiss=dismiss,
        gpc=gpc,
        expect=_parse_expect(raw["expect"]) if "expect" in raw else None,
    )


def parse_journey(data: object, name: str = "<journey>") -> Journey:
    """Validate the structure of a decoded journey document."""
    if not isinstance(data, dict):
        raise JourneyError(f"{name}: a journey is a JSON object with a `steps` list")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise JourneyError(
            f"{name}: unknown key(s) {', '.join(unknown)} (allowed: start, host, visitor, steps)"
        )
    start_text = data.get("start", DEFAULT_START)
    try:
        if not isinstance(start_text, str):
            raise ValueError
        start_dt = datetime.fromisoformat(start_text)
    except ValueError:
        raise JourneyError(
            f"{name}: `start` must be an ISO 8601 time such as {DEFAULT_START}"
        ) from None
    if start_dt.tzinfo is None:
        start_dt = start_dt.replace(tzinfo=UTC)
    host = data.get("host", "localhost")
    if not isinstance(host, str) or not host:
        raise JourneyError(f"{name}: `host` must be a host name such as example.com")
    visitor = data.get("visitor", JOURNEY_VISITOR_ID)
    if not isinstance(visitor, str) or not _VISITOR.match(visitor):
        raise JourneyError(
            f"{name}: `visitor` must be a visitor id: 1 to 64 letters, digits, - or _"
        )
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise JourneyError(f"{name}: `steps` must be a non-empty list")
    steps = []
    for number, raw in enumerate(steps_raw, 1):
        try:
            steps.append(_parse_step(raw, number))
        except ValueError as exc:
            raise JourneyError(f"{name}: step {number}: {exc}") from None
    return Journey(name, start_dt.timestamp(), host, tuple(steps), visitor)


def load_journey(path: str | Path) -> Journey:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise JourneyError(f"{name}: the file is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JourneyError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return parse_journey(data, name)


def validate_journey(journey: Journey, engine: Engine) -> None:
    """Check names against the rules: answers, dismissals and expectations."""
    rules = engine.rules
    audiences = set(rules.audience_index)
    for step in journey.steps:

        def fail(message: str, step: Step = step) -> JourneyError:
            return JourneyError(f"{journey.name}: step {step.number}: {message}")

        if step.answer is not None:
            problem = engine.validate_answer(step.answer)
            if problem:
                raise fail(f"bad answer: {problem}")
        if step.dismiss is not None:
            problem = engine.validate_dismissal(step.dismiss)
            if problem:
                raise fail(f"bad dismiss: {problem}")
        e = step.expect
        if e is None:
            continue
        for group, seg in (e.most_likely or {}).items():
            if group not in rules.group_index:
                raise fail(f"expect.most_likely: unknown group {group!r}")
            if seg is not None and f"{group}.{seg}" not in rules.segment_index:
                raise fail(f"expect.most_likely: {group} has no segment {seg!r}")
        for ref in [*(e.certain or ()), *(e.confidence or {})]:
            if ref not in rules.segment_index:
                raise fail(f"expect: unknown segment {ref!r} (write Group.Segment)")
        for name in e.audiences or ():
            if name not in audiences:
                raise fail(f"expect.audiences: unknown audience {name!r}")
        goals = [g.name for g in rules.goals]
        for name in e.goals or ():
            if name not in goals:
                raise fail(f"expect.goals: unknown goal {name!r}")
        for name, variant in (e.experiments or {}).items():
            if name not in rules.experiment_index:
                raise fail(f"expect.experiments: unknown experiment {name!r}")
            if variant is not None:
                problem = engine.validate_variant(name, variant)
                if problem:
                    raise fail(f"expect.experiments: {problem}")


# ---------------------------------------------------------------------- playing


@dataclass(frozen=True, slots=True)
class PlayedStep:
    step: Step
    time: float
    request: RequestInfo
    outcome: Outcome
    cookie: str | None  # the cookie the browser holds after this step
    cookie_reason: str | None  # why the incoming cookie was not used (None: it was)


def to_request(step: Step, time: float, host: str) -> RequestInfo:
    path: str | None = None
    query: dict[str, list[str]] = {}
    if step.path is not None:
        parts = urlsplit(step.path)
        path = parts.path or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
    return RequestInfo(
        time=time,
        path=path,
        query=query,
        referrer=step.referrer,
        host=host,
        user_agent=step.user_agent,
        categories=step.categories,
        events=step.events,
        tags=step.tags,
        attributes=dict(step.attributes),
        answers=(step.answer,) if step.answer is not None else (),
        dismissals=(step.dismiss,) if step.dismiss is not None else (),
        gpc=step.gpc,
    )


def play(
    journey: Journey,
    rules: CompiledRuleSet,
    *,
    engine: Engine | None = None,
    codec: CookieCodec | None = None,
) -> list[PlayedStep]:
    """Play every step, round-tripping the state through the real cookie codec."""
    engine = engine or Engine(rules)
    codec = codec or CookieCodec(rules, TEST_KEY)
    validate_journey(journey, engine)
    played: list[PlayedStep] = []
    cookie: str | None = None
    time = journey.start
    for step in journey.steps:
        time += step.after
        state: VisitorState | None
        reason: str | None = None
        if cookie is None:
            state, reason = None, "no cookie"
        else:
            state, reason = codec.loads(cookie, time)
        if state is None:
            state = replace_state(engine.new_state(time), visitor_id=journey.visitor)
        request = to_request(step, time, journey.host)
        outcome = engine.step(state, request)
        if request.path is not None:
            # a simulated page contains every slot (SPEC §1.7)
            outcome = engine.expose(outcome)
        if outcome.changed:
            cookie = codec.dumps(outcome.state)
        played.append(PlayedStep(step, time, request, outcome, cookie, reason))
    return played


# ------------------------------------------------------------------ expectations


@dataclass(frozen=True, slots=True)
class Mismatch:
    what: str  # e.g. "most_likely(Industry)"
    expected: str
    actual: str


def _fmt_conf(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") if x else "0"


def check_expect(expect: Expect, outcome: Outcome) -> list[Mismatch]:
    out: list[Mismatch] = []
    view = outcome.view
    for group, seg in (expect.most_likely or {}).items():
        actual = view.most_likely(group)
        if actual != seg:
            out.append(Mismatch(f"most_likely({group})", str(seg or "none"), str(actual or "none")))
    if expect.certain is not None:
        actual_certain = sorted(
            f"{name}.{g.certain}" for name, g in outcome.groups.items() if g.certain
        )
        if sorted(set(expect.certain)) != actual_certain:
            out.append(
                Mismatch(
                    "certain",
                    "[" + ", ".join(sorted(set(expect.certain))) + "]",
                    "[" + ", ".join(actual_certain) + "]",
                )
            )
    for ref, (lo, hi) in (expect.confidence or {}).items():
        x = view.confidence(ref)
        # a tolerance far below any meaningful difference absorbs float noise
        if not (lo - 1e-9 <= x <= hi + 1e-9) or math.isnan(x):
            out.append(
                Mismatch(f"confidence({ref})", f"{_fmt_conf(lo)}..{_fmt_conf(hi)}", _fmt_conf(x))
            )
    if expect.audiences is not None:
        want, got = sorted(set(expect.audiences)), sorted(outcome.audiences)
        if want != got:
            out.append(
                Mismatch("audiences", "[" + ", ".join(want) + "]", "[" + ", ".join(got) + "]")
            )
    if expect.holdout is not None and expect.holdout != outcome.holdout:
        out.append(Mismatch("holdout", str(expect.holdout).lower(), str(outcome.holdout).lower()))
    if expect.goals is not None:
        want, got = sorted(set(expect.goals)), reached_goals(outcome)
        if want != got:
            out.append(Mismatch("goals", "[" + ", ".join(want) + "]", "[" + ", ".join(got) + "]"))
    for name, variant in (expect.experiments or {}).items():
        actual_variant = outcome.experiments.get(name)
        if actual_variant != variant:
            out.append(
                Mismatch(
                    f"experiment {name}", str(variant or "none"), str(actual_variant or "none")
                )
            )
    for slot, action in (expect.slots or {}).items():
        d = outcome.decisions.get(slot)
        actual_action = d.action if d is not None else None
        if actual_action != action:
            shown = f"{actual_action} ({d.rule})" if d is not None else "no action"
            out.append(Mismatch(f"slot {slot}", str(action or "no action"), shown))
    return out


def reached_goals(outcome: Outcome) -> list[str]:
    """The goals first reached on this step (value goals firing again are not new)."""
    return sorted({hit.goal for hit in outcome.goals if hit.first})


def journey_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand directories to their `*.json` files (sorted); keep files as given."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*.json") if x.is_file()))
        else:
            found.append(p)
    return found
