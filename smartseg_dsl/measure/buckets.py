"""Deterministic buckets (SPEC §1.7): who is in the holdout, and (for experiments)
which variant a visitor gets — the same answer on every server, for ever.

`bucket(key, visitor_id)` is the first 8 bytes of SHA-256 of `key + ":" + visitor_id`
(UTF-8), read as a big-endian unsigned integer and divided by 2**64: a number in
[0, 1) that is uniform over visitor ids and independent between keys.
"""

from __future__ import annotations

import hashlib

__all__ = ["HOLDOUT_KEY", "bucket", "in_holdout"]

#: The key of the holdout's bucket.
HOLDOUT_KEY = "holdout"
_SCALE = 2.0**64


def bucket(key: str, visitor_id: str) -> float:
    digest = hashlib.sha256(f"{key}:{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(share: float | None, visitor_id: str) -> bool:
    """Is this visitor in a holdout of `share` (None: the rule set has none)?"""
    return share is not None and bucket(HOLDOUT_KEY, visitor_id) < share
