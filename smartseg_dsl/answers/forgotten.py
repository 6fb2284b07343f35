"""The visitor ids forgotten on any server, in memory (:class:`ForgottenIds`)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from smartseg_dsl.polled import PolledSet

log = logging.getLogger("smartseg.answers")


#: Each refresh re-reads the ids forgotten in this many seconds before it started, so a
#: row committed late, or stamped by a server whose clock is a little behind, is not
#: missed (the set de-duplicates).
FORGOTTEN_LOOKBACK = 300.0


class ForgottenIds(PolledSet):
    """The visitor ids forgotten on any server (``POST /smartseg/forget``), in memory.

    A forgotten visitor's cookie must never bring them back, on any app server, and the
    check must not cost a query per request: so every server keeps this set, loads it
    once (everything forgotten within ``retention``) and then polls the store for ids
    forgotten since (the last ``FORGOTTEN_LOOKBACK`` seconds) every ``interval`` seconds.
    The middleware decides when to call :meth:`refresh` (see docs/answer-bank.md,
    "Forget"); membership (``vid in ids``) is a dict lookup, safe from any thread.

    Ids older than ``retention`` (the cookie's max_age and a margin: a cookie signed
    before the forget has expired by then) are dropped from memory and, about once an
    hour, from the store.
    """

    PURGE_EVERY = 3600.0
    reader = "forgotten_since"
    failing = (
        "smartseg: could not read forgotten visitor ids from the answer bank (%s); cookies "
        "of visitors forgotten on other servers may be honoured until it works"
    )
    recovered = "smartseg: forgotten visitor ids are read again"

    def __init__(
        self,
        *,
        interval: float = 2.0,
        retention: float = 366 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(interval=interval, clock=clock, log=log)
        self.retention = retention
        self._wall = wall
        self._ids: dict[str, float] = {}
        self._ids_lock = threading.Lock()  # add() vs the purge's swap
        self._next_purge = 0.0  # wall clock

    def __contains__(self, visitor_id: object) -> bool:
        return visitor_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, visitor_id: str, at: float | None = None) -> None:
        """This server just forgot ``visitor_id``: refuse its cookie at once."""
        with self._ids_lock:
            self._ids[visitor_id] = self._wall() if at is None else at

    # -- the refresh (PolledSet.refresh): read, merge, then purge now and then
    def _read(self, reader: Callable[[float], list[tuple[str, float]]]) -> Any:
        wall = self._wall()
        first = not self.loaded
        since = wall - (self.retention if first else FORGOTTEN_LOOKBACK)
        return wall, first, reader(since)

    def _merge(self, result: Any) -> None:
        _, first, rows = result
        with self._ids_lock:
            for vid, at in rows:
                if at > self._ids.get(vid, -math.inf):
                    self._ids[vid] = at
        if first:
            log.debug("smartseg: %d forgotten visitor ids loaded", len(rows))

    def _refreshed(self, store: Any, result: Any) -> None:
        wall = result[0]
        if wall >= self._next_purge:
            self._next_purge = wall + self.PURGE_EVERY
            self._purge(store, wall - self.retention)

    def _unsupported(self, store: Any) -> None:
        if self.supported:
            log.warning(
                "answer bank %s cannot list forgotten visitors (no forgotten_since): "
                "a forgotten visitor's saved cookie is honoured by other servers",
                getattr(store, "description", type(store).__name__),
            )

    def _purge(self, store: Any, before: float) -> None:
        with self._ids_lock:
            if any(at < before for at in self._ids.values()):
                self._ids = {vid: at for vid, at in self._ids.items() if at >= before}
        purge = getattr(store, "purge_forgotten", None)
        if purge is None:
            return
        try:
            purge(before)
        except Exception as exc:  # retried at the next purge; nothing is at stake
            log.warning("smartseg: could not purge old forgotten visitor ids: %s", exc)
