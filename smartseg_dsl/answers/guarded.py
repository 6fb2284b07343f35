"""A store for a web app that keeps serving pages while the answer bank is down."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from smartseg_dsl.answers.open import DEFAULT_SQLITE_FILE, open_store
from smartseg_dsl.answers.store import (
    AnswerBankError,
    Delivery,
    Event,
    EventDrops,
    OutboxStatus,
    Store,
    StoreFileLostError,
    StoreUnavailableError,
    redact_url,
)
from smartseg_dsl.measure.events import Event as MeasurementEvent

log = logging.getLogger("smartseg.answers")


class GuardedStore:
    """A store for a web app that must keep serving pages when the store is down.

    Construction never raises. The first failure to open is logged once as a clear
    error (and again when the cause changes); every call while the store is down raises
    :class:`StoreUnavailableError` at once (no waiting on a dead server per request), and
    the store is reopened at most every ``retry_interval`` seconds until it works again.

    Writes are *refused* while the store is down — never buffered in memory, where a
    restart would silently lose them (see docs/answer-bank.md, "When the store is down").
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        retry_interval: float = 30.0,
        opener: Callable[..., Store] = open_store,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self.url = url
        self.description = redact_url(url) if url else f"sqlite:///{DEFAULT_SQLITE_FILE}"
        self._opener = opener
        self._options = options
        self._retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._error: str | None = None
        self._next_try = 0.0
        self._closed = False
        #: (path, (st_dev, st_ino)) of the SQLite file the last store had open, kept when
        #: that store is dropped, to notice a reopen on another file
        self._previous_file: tuple[Path, tuple[int, int]] | None = None
        #: the file was removed while in use: do not reopen (and so create a new, empty
        #: file) until something is put back at that path
        self._missing: Path | None = None
        self.check()

    @property
    def available(self) -> bool:
        return self._store is not None

    @property
    def error(self) -> str | None:
        """Why the store is down (None when it is up)."""
        return self._error

    def check(self) -> bool:
        """Try to (re)open now, regardless of the retry interval. True when usable."""
        with self._lock:
            self._next_try = 0.0
        try:
            self._get()
        except StoreUnavailableError:
            return False
        return True

    def _get(self) -> Store:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            if self._closed:
                raise StoreUnavailableError("answer bank is closed")
            now = self._clock()
            if now < self._next_try:
                raise StoreUnavailableError(self._error or "answer bank unavailable")
            if self._missing is not None and not os.path.lexists(self._missing):
                self._next_try = now + self._retry_interval
                message = (
                    f"answer bank {self.description} unavailable: {self._missing} was removed "
                    "while the app had it open and has not been put back; answers are refused "
                    "until it is (restart the app to start a new, empty answer bank instead)"
                )
                if message != self._error:
                    log.error("%s", message)
                self._error = message
                raise StoreUnavailableError(message)
            try:
                self._store = self._opener(self.url, **self._options)
            except AnswerBankError as exc:
                self._next_try = now + self._retry_interval
                message = f"answer bank {self.description} unavailable: {exc}"
                if message != self._error:
                    log.error(
                        "%s — pages are still served and personalized from the cookie; "
                        "answers and identify are refused until it works (retrying every "
                        "%.0fs)",
                        message,
                        self._retry_interval,
                    )
                self._error = message
                raise StoreUnavailableError(message, reopen=True) from exc
            self._missing = None
            previous, self._previous_file = self._previous_file, None
            identity = _file_identity(self._store)
            if previous is not None and identity is not None and identity[1] != previous[1]:
                # Loud: whatever the old file held (up to the moment it went) is not here.
                log.error(
                    "answer bank %s reopened on a different file than the one it had open: "
                    "%s was removed or replaced while in use (was inode %d, now %d); the "
                    "answers in the old file are not in this one",
                    self.description,
                    identity[0],
                    previous[1][1],
                    identity[1][1],
                )
            elif self._error is not None:
                log.warning("answer bank %s is available again", self.description)
            self._error = None
            if hasattr(self._store, "description"):
                self.description = self._store.description
            return self._store

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        store = self._get()
        try:
            return getattr(store, name)(*args, **kwargs)
        except StoreUnavailableError as exc:
            if exc.reopen:
                with self._lock:
                    if self._store is store:
                        self._store = None
                        self._next_try = self._clock() + self._retry_interval
                        self._previous_file = _file_identity(store) or self._previous_file
                        if isinstance(exc, StoreFileLostError) and exc.removed:
                            self._missing = exc.path
                        self._error = f"answer bank {self.description} unavailable: {exc}"
                        log.error("%s — will retry", self._error)
                try:
                    store.close()
                except Exception:  # closing a broken store must not mask the real error
                    log.debug("closing a broken answer bank failed", exc_info=True)
            raise

    def record_answer(self, *args: Any, **kwargs: Any) -> str | None:
        return self._call("record_answer", *args, **kwargs)

    def record_dismissal(self, *args: Any, **kwargs: Any) -> None:
        return self._call("record_dismissal", *args, **kwargs)

    def record_tag(self, *args: Any, **kwargs: Any) -> str | None:
        return self._call("record_tag", *args, **kwargs)

    def identify(self, *args: Any, **kwargs: Any) -> str:
        return self._call("identify", *args, **kwargs)

    def forget(self, *args: Any, **kwargs: Any) -> int:
        return self._call("forget", *args, **kwargs)

    def forgotten_since(self, *args: Any, **kwargs: Any) -> list[tuple[str, float]]:
        return self._call("forgotten_since", *args, **kwargs)

    def purge_forgotten(self, *args: Any, **kwargs: Any) -> int:
        return self._call("purge_forgotten", *args, **kwargs)

    def history(self, *args: Any, **kwargs: Any) -> list[Event]:
        return self._call("history", *args, **kwargs)

    def store_inbound(self, *args: Any, **kwargs: Any) -> list[bool]:
        return self._call("store_inbound", *args, **kwargs)

    def inbound_changes(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("inbound_changes", *args, **kwargs)

    def claim_inbound(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("claim_inbound", *args, **kwargs)

    def inbound_status(self, *args: Any, **kwargs: Any) -> dict[str, int]:
        return self._call("inbound_status", *args, **kwargs)

    def queue_activation(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._call("queue_activation", *args, **kwargs)

    def write_events(self, *args: Any, **kwargs: Any) -> int:
        return self._call("write_events", *args, **kwargs)

    def export_events(self, *args: Any, **kwargs: Any) -> Iterator[MeasurementEvent]:
        # A generator: the store is checked now, its batches are read as the caller goes.
        return self._call("export_events", *args, **kwargs)

    def delete_events_before(self, *args: Any, **kwargs: Any) -> int:
        return self._call("delete_events_before", *args, **kwargs)

    def add_event_drops(self, *args: Any, **kwargs: Any) -> None:
        return self._call("add_event_drops", *args, **kwargs)

    def event_drops(self, *args: Any, **kwargs: Any) -> EventDrops:
        return self._call("event_drops", *args, **kwargs)

    def claim(self, *args: Any, **kwargs: Any) -> list[Delivery]:
        return self._call("claim", *args, **kwargs)

    def mark_delivered(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_delivered", *args, **kwargs)

    def mark_retry(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_retry", *args, **kwargs)

    def mark_failed(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_failed", *args, **kwargs)

    def requeue_failed(self, *args: Any, **kwargs: Any) -> int:
        return self._call("requeue_failed", *args, **kwargs)

    def status(self, *args: Any, **kwargs: Any) -> OutboxStatus:
        return self._call("status", *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
        if store is not None:
            store.close()


def _file_identity(store: object) -> tuple[Path, tuple[int, int]] | None:
    """(path, (st_dev, st_ino)) of the file a SQLite store has open; None otherwise."""
    identity = getattr(store, "file_identity", None)
    path = getattr(store, "path", None)
    if identity is None or path is None:
        return None
    return Path(path), identity
