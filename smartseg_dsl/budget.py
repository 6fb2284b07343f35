"""The ONE cookie size model (SPEC §2.2): worst case for the checker, trimming for the codec.

The `Set-Cookie` header value is

    NAME=VALUE; Path=/; Max-Age=N; HttpOnly; SameSite=Lax[; Secure]

and VALUE is itsdangerous' URL-safe timed format:

    base64(payload) "." base64(timestamp) "." base64(HMAC-SHA256)

where the payload is the compact JSON of `state.encode_state`, zlib-compressed
(and prefixed with ".") only when that is shorter. So the longest VALUE is the
one of the longest *uncompressed* JSON, which `state.worst_case_document`
builds from the rule set's layout with every number at its longest.

`worst_case_cookie_bytes(ruleset)` is what the checker compares with 4,096
(SEG501). It counts the default attributes including `Secure`, the default
name and maximum age. `trim` is what the codec uses when a state would still
outgrow the budget (longer cookie name, a rule set compiled without the
checker): it drops the least valuable data first — the oldest window
timestamps, then the smallest evidence accumulators, then the oldest
`since` times, the smallest counts, dismissals and tags — and never facts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import ast
from .state import (
    DISMISS_SECONDS,
    Layout,
    VisitorState,
    decayed,
    replace_state,
    worst_case_document,
)

__all__ = [
    "COOKIE_LIMIT",
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_MAX_AGE",
    "SIGNATURE_CHARS",
    "TIMESTAMP_CHARS",
    "BudgetReport",
    "attributes",
    "header_bytes",
    "trim",
    "value_bytes",
    "worst_case_cookie_bytes",
    "worst_case_report",
]

#: The whole `Set-Cookie` header value never exceeds this (RFC 6265's common floor).
COOKIE_LIMIT = 4096
DEFAULT_COOKIE_NAME = "smartseg"
DEFAULT_MAX_AGE = 365 * 86400
#: base64 of a 32-byte HMAC-SHA256, unpadded.
SIGNATURE_CHARS = 43
#: base64 of the 4-byte timestamp itsdangerous writes (until the year 2106).
TIMESTAMP_CHARS = 6


def attributes(*, max_age: int = DEFAULT_MAX_AGE, secure: bool = True, path: str = "/") -> str:
    """The attribute part of the header, exactly as `cookie.set_cookie_header` writes it."""
    text = f"; Path={path}; Max-Age={int(max_age)}; HttpOnly; SameSite=Lax"
    return text + "; Secure" if secure else text


def b64_len(n: int) -> int:
    """Length of unpadded base64 of `n` bytes."""
    return (4 * n + 2) // 3


def value_bytes(payload_bytes: int, *, compressed: bool = False) -> int:
    """Cookie VALUE length for a (possibly compressed) payload of `payload_bytes`."""
    return (
        (1 if compressed else 0)
        + b64_len(payload_bytes)
        + 1
        + TIMESTAMP_CHARS
        + 1
        + SIGNATURE_CHARS
    )


def header_bytes(
    value_len: int,
    *,
    name: str = DEFAULT_COOKIE_NAME,
    max_age: int = DEFAULT_MAX_AGE,
    secure: bool = True,
) -> int:
    """Whole header value length for a cookie VALUE of `value_len` characters."""
    return len(name) + 1 + value_len + len(attributes(max_age=max_age, secure=secure))


@dataclass(frozen=True, slots=True)
class BudgetReport:
    """The worst case, and which parts of the state it comes from (approximate bytes)."""

    total: int
    limit: int
    parts: tuple[tuple[str, int], ...]

    @property
    def fits(self) -> bool:
        return self.total <= self.limit

    def largest(self) -> tuple[str, int] | None:
        return max(self.parts, key=lambda p: p[1]) if self.parts else None


def worst_case_report(
    ruleset: ast.RuleSet | Layout,
    *,
    name: str = DEFAULT_COOKIE_NAME,
    max_age: int = DEFAULT_MAX_AGE,
) -> BudgetReport:
    layout = ruleset if isinstance(ruleset, Layout) else Layout.from_ruleset(ruleset)
    text, parts = worst_case_document(layout)
    json_len = len(text.encode("utf-8"))
    total = header_bytes(value_bytes(json_len), name=name, max_age=max_age, secure=True)
    # Parts are JSON bytes; in the cookie each costs 4/3 of that after base64.
    scaled = tuple((label, math.ceil(n * 4 / 3)) for label, n in parts.items())
    return BudgetReport(total, COOKIE_LIMIT, scaled)


def worst_case_cookie_bytes(ruleset: ast.RuleSet) -> int:
    """Length of the whole `Set-Cookie` header value for the worst-case visitor of
    these rules, with the default name (`smartseg`) and attributes (1 year, Secure).

    SEG501 is an error when this exceeds `COOKIE_LIMIT`.
    """
    return worst_case_report(ruleset).total


# ------------------------------------------------------------------------- trimming


def trim(
    state: VisitorState,
    layout: Layout,
    too_big: Callable[[VisitorState], int],
) -> VisitorState:
    """Drop the least valuable data until `too_big(state)` (excess bytes) is ≤ 0.

    `too_big` encodes and measures; it is called a logarithmic number of times
    per kind of data (items are dropped in growing batches). Facts, the visitor
    id and session bookkeeping are never dropped. Raises `ValueError` if even
    that minimum does not fit (only possible for a rule set SEG501 rejects).
    """
    excess = too_big(state)
    if excess <= 0:
        return state
    now = state.updated

    # 1. window timestamps, globally oldest first
    stamps = sorted(
        ((t, key) for key, times in state.windows.items() for t in times), key=lambda x: x[0]
    )

    def drop_stamps(n: int) -> VisitorState:
        gone: dict[str, int] = {}
        for _t, key in stamps[:n]:
            gone[key] = gone.get(key, 0) + 1
        windows = {}
        for key, times in state.windows.items():
            keep = times[: len(times) - gone.get(key, 0)]  # most recent first: drop the tail
            if keep:
                windows[key] = keep
        return replace_state(state, windows=windows)

    # 2. evidence, smallest current contribution first
    def contribution(key: str) -> float:
        value, t = state.evidence[key]
        spec = layout.evidence_by_key.get(key)
        points = decayed(value, t, now, spec.half_life if spec else None)
        if spec is not None and spec.cap is not None:
            points = min(points, spec.cap)
        return points

    by_size = sorted(state.evidence, key=lambda k: (contribution(k), k))

    def drop_evidence(n: int) -> VisitorState:
        gone = set(by_size[:n])
        return replace_state(
            state, evidence={k: v for k, v in state.evidence.items() if k not in gone}
        )

    since = sorted(state.last_fired, key=lambda k: (state.last_fired[k], k))

    def drop_since(n: int) -> VisitorState:
        gone = set(since[:n])
        return replace_state(
            state, last_fired={k: v for k, v in state.last_fired.items() if k not in gone}
        )

    counts = sorted(state.counts, key=lambda k: (state.counts[k], k))

    def drop_counts(n: int) -> VisitorState:
        gone = set(counts[:n])
        return replace_state(state, counts={k: v for k, v in state.counts.items() if k not in gone})

    dismissed = sorted(state.dismissed, key=lambda k: (state.dismissed[k], k))

    def drop_dismissals(n: int) -> VisitorState:
        gone = set(dismissed[:n])
        kept = {
            k: v for k, v in state.dismissed.items() if k not in gone and now - v < DISMISS_SECONDS
        }
        return replace_state(state, dismissed=kept)

    tags = sorted(state.tags)

    def drop_tags(n: int) -> VisitorState:
        return replace_state(state, tags=frozenset(tags[n:]))

    for items, drop in (
        (stamps, drop_stamps),
        (by_size, drop_evidence),
        (since, drop_since),
        (counts, drop_counts),
        (dismissed, drop_dismissals),
        (tags, drop_tags),
    ):
        if not items:
            continue
        # Smallest n in 1..len(items) whose result fits: exponential then binary search.
        full = drop(len(items))
        if too_big(full) > 0:
            state = full
            # everything of this kind is gone; recompute the later kinds on the new state
            return trim(state, layout, too_big)
        lo, hi = 0, len(items)
        n = 1
        while n < hi and too_big(drop(n)) > 0:
            lo, n = n, min(hi, n * 2)
        hi = n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if too_big(drop(mid)) > 0:
                lo = mid
            else:
                hi = mid
        return drop(hi)
    raise ValueError(
        f"the visitor state needs {excess} more bytes than the cookie budget even with "
        "only facts and bookkeeping left (a rule set SEG501 rejects)"
    )
