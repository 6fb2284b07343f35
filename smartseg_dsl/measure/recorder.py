"""The measurement event recorder (SPEC §6): an in-memory queue the middleware feeds on
the request path, and a background task that writes it to the answer bank's database.

    recorder = EventRecorder(get_store)       # get_store: async () -> Store | None
    recorder.record([event, ...])             # request path: O(1) per event, no I/O
    async with anyio.create_task_group() as tg:
        await tg.start(recorder.run)          # flush task, for the app's lifetime
        ...
        await recorder.aclose()               # flush what is queued (bounded), stop

Recording never blocks or fails a page. ``record`` appends to a ``deque``; when the
queue holds ``max_queue`` events, new ones are dropped and counted. The task takes up
to ``batch_size`` events at a time — every ``flush_interval``, sooner when a batch is
full — and writes each batch with ``Store.write_events`` in a worker thread. A batch the
database refuses (down, read-only, locked too long) is dropped and counted, never kept
in memory to retry: a long outage must not grow the process without bound. Drops are
logged at most once per ``log_interval`` and added to ``smartseg_meta`` on the next
write that works, so ``smartseg events export`` can say how many events were lost.

The same task applies retention: ``delete_events_before(now - retention)`` once the first
batch is written and then every ``retention_interval`` (in its own task, so a long purge
never stalls flushing).

``stats()`` returns ``{"recorded", "queued", "dropped_queue_full", "dropped_db"}``:
events written, waiting, dropped because the queue was full, dropped because the
database failed — counted since this process started.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from smartseg_dsl.measure.events import Event

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from smartseg_dsl.answers import Store

__all__ = ["EventRecorder"]

log = logging.getLogger("smartseg.events")

StoreGetter = Callable[[], Awaitable["Store | None"]]


class EventRecorder:
    """Queue measurement events in memory; write them in batches in the background."""

    def __init__(
        self,
        store: Store | StoreGetter,
        *,
        max_queue: int = 50_000,
        batch_size: int = 1_000,
        flush_interval: float = 1.0,
        retention: float | None = 400 * 86400.0,
        retention_interval: float = 3600.0,
        shutdown_timeout: float = 10.0,
        log_interval: float = 60.0,
        autostart: bool = True,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        if flush_interval <= 0 or shutdown_timeout < 0:
            raise ValueError("flush_interval must be positive, shutdown_timeout not negative")
        if retention is not None and retention <= 0:
            raise ValueError("retention must be positive (or None to keep events forever)")
        self._get_store = _as_getter(store)
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retention = retention
        self.retention_interval = retention_interval
        self.shutdown_timeout = shutdown_timeout
        self.log_interval = log_interval
        #: start the flush task on the first `record` that finds none (servers without
        #: a lifespan); only possible under asyncio, see `_start_lazily`.
        self.autostart = autostart
        self._queue: deque[Event] = deque()
        self._recorded = 0
        self._dropped_queue_full = 0
        self._dropped_db = 0
        # Drops not yet added to smartseg_meta / not yet logged.
        self._unsaved = [0, 0]
        self._unlogged = [0, 0]
        self._last_error = ""
        self._next_log = 0.0
        self._running = False
        self._closed = False
        #: every run still going (a lazily started one may meet the lifespan's), its stop
        #: event → its "stopped" event: `stop` stops them all, `stop_and_wait` waits
        #: for them all
        self._stops: dict[anyio.Event, anyio.Event] = {}
        self._wake: anyio.Event | None = None
        self._have_store: anyio.Event | None = None
        self._loop_thread = 0
        self._lazy_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ request path

    def record(self, events: Iterable[Event]) -> None:
        """Queue events for writing. O(1) per event; never blocks, raises or does I/O."""
        try:
            queue = self._queue
            for event in events:
                if len(queue) >= self.max_queue:
                    self._dropped_queue_full += 1
                    self._unsaved[0] += 1
                    self._unlogged[0] += 1
                else:
                    queue.append(event)
            if not self._running:
                if self.autostart and not self._closed:
                    self._start_lazily()
            elif len(queue) >= self.batch_size:
                self._wake_flusher()
        except Exception:  # a page must never fail because of measurement
            pass

    def stats(self) -> dict[str, int]:
        """Counters since start: written, waiting, and dropped (queue full / database)."""
        return {
            "recorded": self._recorded,
            "queued": len(self._queue),
            "dropped_queue_full": self._dropped_queue_full,
            "dropped_db": self._dropped_db,
        }

    def forget(self, visitor_id: str) -> int:
        """Drop this visitor's queued events (for ``POST /smartseg/forget``, before the
        store's ``forget``, so nothing queued is written after the deletion)."""
        kept = [e for e in self._queue if e.visitor != visitor_id]
        removed = len(self._queue) - len(kept)
        if removed:
            self._queue.clear()
            self._queue.extend(kept)
        return removed

    def _wake_flusher(self) -> None:
        wake = self._wake
        # anyio/asyncio events may only be set from the loop's own thread.
        if wake is not None and threading.get_ident() == self._loop_thread:
            wake.set()

    def _start_lazily(self) -> None:
        # Without a lifespan nobody starts `run`; under asyncio we can start it as a
        # task of the running loop (kept referenced so it is not garbage-collected).
        # Under trio (or outside an event loop) there is no clean way: events stay
        # queued (and are dropped when the queue is full) until `run` is started.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._running = True  # claimed now: the next record must not start another
        self._lazy_task = loop.create_task(self.run(), name="smartseg-events")

    # ------------------------------------------------------------------ background task

    async def run(
        self,
        stop_event: Any | None = None,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Flush (and apply retention) until ``stop_event`` is set or :meth:`stop` is
        called; then write what is still queued, within ``shutdown_timeout``."""
        self._running = True
        self._closed = False
        self._loop_thread = threading.get_ident()
        stop, stopped = anyio.Event(), anyio.Event()
        self._stops[stop] = stopped
        self._have_store = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                if self.retention is not None:
                    tg.start_soon(self._retention_loop)
                if stop_event is not None:
                    tg.start_soon(self._relay_stop, stop_event)
                task_status.started()
                await self._flush_loop(stop)
                tg.cancel_scope.cancel()
        finally:
            # Shielded: a cancelled task (server shutting down) still gets its
            # bounded chance to write the queue.
            with anyio.CancelScope(shield=True):
                await self._drain()
            self._stops.pop(stop, None)
            self._running = bool(self._stops)  # a cancelled lazy task restarts later
            self._lazy_task = None
            stopped.set()

    def stop(self) -> None:
        """Ask the running task to flush and stop (returns at once)."""
        if self._stops:
            for stop in list(self._stops):
                stop.set()
            self._wake_flusher()

    async def aclose(self) -> None:
        """Flush what is queued (bounded by ``shutdown_timeout``) and stop for good: no
        lazy restart afterwards (events recorded later stay queued)."""
        self._closed = True
        await self.stop_and_wait()

    async def stop_and_wait(self) -> None:
        """Flush what is queued and stop the task; a later `record` may start it again."""
        task = self._lazy_task
        if task is not None and not self._stops:  # created but not started yet
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._running, self._lazy_task = False, None
        self.stop()
        running = list(self._stops.values())
        if self._running and running:
            # A write hung in a worker thread cannot be interrupted: give up waiting,
            # so a server's shutdown stays bounded, and count what is left as lost.
            with anyio.move_on_after(self.shutdown_timeout + 2.0):
                for stopped in running:
                    await stopped.wait()
            if self._running and self._queue:
                left = len(self._queue)
                self._queue.clear()
                self._drop(left, "shutdown timed out")
                log.error("smartseg: dropped %d measurement event(s) at shutdown", left)
        if self._queue and not self._running:  # nothing ran (or ran elsewhere): flush here
            await self._drain()

    async def _relay_stop(self, stop_event: Any) -> None:
        await stop_event.wait()
        self.stop()

    async def _flush_loop(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            await self._flush(len(self._queue), stop=stop)
            await self._after_flush()
            if len(self._queue) >= self.batch_size:
                continue  # a full batch is waiting: no pause
            # Woken early by a full batch (`record`) or by `stop`.
            self._wake = wake = anyio.Event()
            if not stop.is_set():  # `stop` may have come while we were writing
                with anyio.move_on_after(self.flush_interval):
                    await wake.wait()
            self._wake = None

    async def _flush(
        self, count: int, deadline: float | None = None, stop: anyio.Event | None = None
    ) -> None:
        """Write ``count`` queued events (those queued now, not those arriving meanwhile,
        so a steady stream cannot keep this loop from pausing)."""
        queue = self._queue
        while count > 0 and queue:
            if stop is not None and stop.is_set():
                return  # stopping: the rest goes to `_drain`, which has a deadline
            size = min(count, self.batch_size, len(queue))
            batch = [queue.popleft() for _ in range(size)]
            count -= size
            if deadline is not None and time.monotonic() >= deadline:
                self._drop(len(batch), "shutdown flush timed out")
                continue
            await self._write(batch, deadline)

    async def _write(self, batch: list[Event], deadline: float | None) -> None:
        written: int | None = None
        # Kept by the worker thread itself: a cancellation can arrive while the thread is
        # still writing (a loop shutting down does not wait for it); putting that batch
        # back would write it twice.
        started, finished = threading.Event(), threading.Event()
        landed: list[int] = []

        def write(store: Any) -> int:
            started.set()
            try:
                n = store.write_events(batch)
                landed.append(n)
                return n
            finally:
                finished.set()

        try:
            store = await self._get_store()
            if store is None:
                raise RuntimeError("the answer bank is disabled")
            if self._have_store is not None:
                self._have_store.set()
            if deadline is None:
                # Not abandoned on cancel: once the thread runs, the write completes and
                # is counted; a cancellation can only strike before it starts.
                written = await anyio.to_thread.run_sync(write, store)
            else:
                with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                    written = await anyio.to_thread.run_sync(write, store, abandon_on_cancel=True)
                if written is None:  # abandoned: it may land, but we cannot tell
                    raise TimeoutError("shutdown flush timed out")
        except anyio.get_cancelled_exc_class():
            if written is None and started.is_set():
                # one batch, bounded: block briefly rather than guess
                finished.wait(self.shutdown_timeout)
            if landed:
                self._recorded += landed[0]
            elif written is None and not started.is_set():
                self._queue.extendleft(reversed(batch))  # back to the front, for the drain
            elif written is None:
                self._drop(len(batch), "write interrupted")
            raise
        except Exception as exc:
            self._drop(len(batch), str(exc) or type(exc).__name__)
        else:
            self._recorded += written

    def _drop(self, count: int, reason: str) -> None:
        self._dropped_db += count
        self._unsaved[1] += count
        self._unlogged[1] += count
        self._last_error = reason

    async def _after_flush(self, *, final: bool = False) -> None:
        """Persist and log drops (logs at most once per ``log_interval``, except at the
        end, when whatever is left is always said)."""
        queue_full, database = self._unsaved
        if queue_full or database:
            try:
                store = await self._get_store()
                if store is not None:
                    await anyio.to_thread.run_sync(
                        lambda: store.add_event_drops(queue_full=queue_full, database=database)
                    )
                    self._unsaved[0] -= queue_full
                    self._unsaved[1] -= database
            except Exception:  # the database is down: the counts wait for a later flush
                pass
        full, db = self._unlogged
        now = time.monotonic()
        if (full or db) and (final or now >= self._next_log):
            self._next_log = now + self.log_interval
            self._unlogged = [0, 0]
            log.error(
                "smartseg: dropped %d measurement event(s) (queue full: %d, database "
                "unavailable: %d)%s; pages are unaffected",
                full + db,
                full,
                db,
                f" — last error: {self._last_error}" if db else "",
            )

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.shutdown_timeout
        try:
            with anyio.move_on_after(self.shutdown_timeout + 1.0):
                await self._flush(len(self._queue), deadline)
                await self._after_flush(final=True)
        except Exception:
            log.exception("smartseg: flushing measurement events at shutdown failed")

    async def _retention_loop(self) -> None:
        assert self.retention is not None and self._have_store is not None
        # Not before the first write: a site that never records an event (or has no
        # traffic yet) gets no database file created just to purge it.
        await self._have_store.wait()
        while True:
            cutoff = time.time() - self.retention
            try:
                store = await self._get_store()
                if store is not None:
                    deleted = await anyio.to_thread.run_sync(
                        store.delete_events_before, cutoff, abandon_on_cancel=True
                    )
                    if deleted:
                        log.info(
                            "smartseg: deleted %d measurement event(s) past retention", deleted
                        )
            except Exception as exc:
                log.warning("smartseg: measurement event retention failed (will retry): %s", exc)
            await anyio.sleep(self.retention_interval)


def _as_getter(store: Any) -> StoreGetter:
    if callable(getattr(store, "write_events", None)):

        async def get() -> Store:
            return store

        return get
    if not callable(store):
        raise TypeError("EventRecorder needs a Store or an async function returning one")
    if not inspect.iscoroutinefunction(store):
        sync_getter = store

        async def get_sync() -> Store | None:
            return sync_getter()

        return get_sync
    return store
