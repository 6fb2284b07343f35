"""An in-memory set kept fresh by polling the answer bank: the scaffolding shared by
:class:`~smartseg_dsl.answers.ForgottenIds` and
:class:`~smartseg_dsl.inbound_items.PendingInbound`.

Each decides what to read and how to merge it; :class:`PolledSet` owns the rest: one
refresh at a time (the others give up, or wait ``wait`` seconds), a store without the
reader marks the set unsupported, a failing read is logged once per outage (and its end
once), and staleness (never loaded, or not refreshed for two intervals). Imports no other
smartseg module.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PolledSet"]


class PolledSet:
    """The refresh lock and bookkeeping of a set polled from a store.

    A subclass names the store method to read (``reader``), the log lines of an outage
    (``failing``, with one ``%s`` for the error, and ``recovered``), and implements
    :meth:`_read` (call the reader), :meth:`_merge` (apply what it returned, before the
    set counts as refreshed) and, optionally, :meth:`_refreshed` (after) and
    :meth:`_unsupported` (the store has no reader).
    """

    reader = ""
    failing = ""
    recovered = ""

    def __init__(
        self,
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._log = log
        self._refreshing = threading.Lock()  # one refresh at a time
        self.loaded = False
        self.supported = True  # False: the store cannot be polled for this set
        #: monotonic time at or after which the next refresh is due (set by the caller)
        self.next_refresh = 0.0
        self._good_at = -math.inf  # monotonic start of the last successful refresh
        self._failing = False

    def stale(self, now: float) -> bool:
        """Never loaded, or not refreshed for two intervals (an idle server): the next
        decision should wait for a refresh rather than trust the set."""
        return now - self._good_at > 2 * self.interval

    def refresh(self, store: Any, *, wait: float = 0.0) -> bool:
        """Poll ``store`` (blocking; run in a worker thread). Never raises: a store that
        is down is logged (once per outage) and the set kept as it is. Returns False when
        it did not refresh (failed, unsupported, or another refresh was still running
        after ``wait`` seconds)."""
        acquired = (
            self._refreshing.acquire(timeout=wait)
            if wait > 0
            else self._refreshing.acquire(blocking=False)
        )
        if not acquired:
            return False
        try:
            started = self._clock()
            reader = getattr(store, self.reader, None)
            if reader is None:
                self._unsupported(store)
                self.supported = False
                return False
            try:
                result = self._read(reader)
            except Exception as exc:
                if not self._failing:
                    self._log.warning(self.failing, exc)
                self._failing = True
                return False
            if self._failing:
                self._log.info(self.recovered)
            self._failing = False
            self._merge(result)
            self.loaded = True
            self._good_at = started
            self._refreshed(store, result)
            return True
        finally:
            self._refreshing.release()

    # -- what a subclass supplies
    def _read(self, reader: Callable[..., Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _merge(self, result: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _refreshed(self, store: Any, result: Any) -> None:
        """After a successful refresh (the set is fresh already)."""

    def _unsupported(self, store: Any) -> None:
        """The store has no ``reader`` method (called before ``supported`` turns False)."""
