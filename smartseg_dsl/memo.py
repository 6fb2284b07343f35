"""A small, bounded memo for results that are a pure function of a byte range.

The rewriter's expensive answers (where an element ends, which children it has) depend
only on the bytes of that element and on a little context.  Pages are rendered from the
same templates over and over, so the same element bytes come back on every request,
usually at a different offset and surrounded by per-request bytes (CSRF tokens, names).

``SpanMemo`` stores, under a short key (the context plus a few leading bytes), the
*whole* byte range a result was computed from.  A lookup is a hit only when the new
document holds exactly those bytes at the new offset (``bytes.startswith``: one memcmp),
so a hit can never return an answer computed from other bytes.  Nothing a visitor sent
is kept beyond the page bytes themselves, and results are offsets, not content.

Bounded by entry count and total bytes (least recently used first out); lookups and
inserts are safe from several threads (the lock is only taken to change the memo).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["SpanMemo"]

_V = TypeVar("_V")
#: Contents remembered per key (most recent first).
VARIANTS = 4


class SpanMemo(Generic[_V]):
    """Results keyed by ``key`` and verified against the exact bytes they came from."""

    def __init__(
        self, *, max_entries: int = 256, max_bytes: int = 8 << 20, max_span: int = 1 << 20
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_span = max_span
        # key → variants (span, value), most recent first
        self._entries: OrderedDict[Hashable, list[tuple[bytes, _V]]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, doc: bytes, start: int) -> _V | None:
        """The value stored under ``key`` if ``doc`` holds its bytes at ``start``."""
        return self.lookup(key, doc, start)[0]

    def lookup(self, key: Hashable, doc: bytes, start: int) -> tuple[_V | None, int]:
        """``get``, and at most how many bytes it compared (callers that bound their total
        work count it: nested elements make the compared spans overlap)."""
        cost = 0
        variants = self._entries.get(key)
        if variants is not None:
            for span, value in variants:
                cost += len(span)
                if doc.startswith(span, start):
                    self.hits += 1
                    with contextlib.suppress(KeyError):  # dropped by another thread meanwhile
                        self._entries.move_to_end(key)  # least recently *used* goes first
                    return value, cost
        self.misses += 1
        return None, cost

    def put(self, key: Hashable, span: bytes, value: _V) -> None:
        """Remember ``value`` as the answer for ``span`` (too large a span: ignored).
        A key keeps a few variants (the same start tag over different contents)."""
        if len(span) > self.max_span:
            return
        with self._lock:
            variants = self._entries.pop(key, None) or []
            kept = [(span, value)]
            for old in variants:
                if old[0] != span and len(kept) < VARIANTS:
                    kept.append(old)
                else:
                    self._bytes -= len(old[0])
            self._bytes += len(span)
            self._entries[key] = kept
            while self._entries and (
                len(self._entries) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= sum(len(d[0]) for d in dropped)

    def clear(self) -> None:
        self.hits = self.misses = 0
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes


def diff_runs(
    old: bytes, new: bytes, *, max_runs: int = 64, gap: int = 1
) -> list[tuple[int, int]] | None:
    """The ranges ``[a, b)`` where two documents of the same length differ, in order
    (runs fewer than ``gap`` bytes apart merged); None when the lengths differ or there
    are more than ``max_runs`` runs.  Bisects with memcmp (``startswith`` on a
    memoryview) down to blocks of a few hundred bytes, which are XORed as big integers
    and read with a regex: all at C speed, a few dozen calls for two 100 KB pages that
    differ in a couple of tokens."""
    n = len(old)
    if len(new) != n:
        return None
    if old == new:
        return []
    view = memoryview(old)
    same = new.startswith
    runs: list[list[int]] = []
    todo = [(0, n)]
    while todo:
        a, b = todo.pop()
        if same(view[a:b], a):
            continue
        if b - a > _LEAF:
            m = (a + b) // 2
            todo.append((m, b))  # the left half first: runs come out in order
            todo.append((a, m))
            continue
        x = int.from_bytes(old[a:b], "big") ^ int.from_bytes(new[a:b], "big")
        for m in _NONZERO.finditer(x.to_bytes(b - a, "big")):
            i, j = a + m.start(), a + m.end()
            if runs and i - runs[-1][1] < gap:
                runs[-1][1] = j
            else:
                if len(runs) == max_runs:
                    return None
                runs.append([i, j])
    return [(a, b) for a, b in runs]


_LEAF = 512
_NONZERO = re.compile(rb"[^\x00]+")
