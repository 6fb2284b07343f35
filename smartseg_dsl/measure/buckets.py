"""Deterministic buckets (SPEC §1.7): who is in the holdout, and which experiment
variant a visitor gets — the same answer on every server, for ever.

`bucket(key, visitor_id)` is the first 8 bytes of SHA-256 of `key + ":" + visitor_id`
(UTF-8), read as a big-endian unsigned integer and divided by 2**64: a number in
[0, 1) that is uniform over visitor ids and independent between keys.
"""

from __future__ import annotations

import hashlib

__all__ = ["HOLDOUT_KEY", "bucket", "cumulative_bounds", "in_holdout", "pick_variant"]

#: The key of the holdout's bucket.
HOLDOUT_KEY = "holdout"
_SCALE = 2.0**64


def bucket(key: str, visitor_id: str) -> float:
    digest = hashlib.sha256(f"{key}:{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(share: float | None, visitor_id: str) -> bool:
    """Is this visitor in a holdout of `share` (None: the rule set has none)?"""
    return share is not None and bucket(HOLDOUT_KEY, visitor_id) < share


def cumulative_bounds(weights: tuple[float, ...]) -> tuple[float, ...]:
    """Upper ends of each variant's share of [0, 1): the cumulative normalised weights.

    The last bound is exactly 1.0, so rounding never leaves a visitor without a variant.
    """
    total = float(sum(weights))
    bounds: list[float] = []
    running = 0.0
    for w in weights:
        running += w
        bounds.append(running / total)
    if bounds:
        bounds[-1] = 1.0
    return tuple(bounds)


def pick_variant(u: float, traffic: float, bounds: tuple[float, ...]) -> int | None:
    """The variant of an eligible visitor with `u = bucket(experiment, id)` (SPEC §1.7).

    Enrolled when `u < traffic`, in the variant whose share of the cumulative
    normalised weights contains `u / traffic`; None when not enrolled.
    """
    if not u < traffic:
        return None
    x = u / traffic
    for i, bound in enumerate(bounds):
        if x < bound:
            return i
    return len(bounds) - 1 if bounds else None
