"""The measurement event recorder (smartseg_dsl.measure.recorder): queueing on the request
path, batched writes in the background, drops counted exactly (queue full, database
down), rate-limited logging, drop counts persisted, shutdown flush, retention."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from smartseg_dsl.answers import EventDrops, GuardedStore, Store, StoreUnavailableError, open_store
from smartseg_dsl.measure.events import Event
from smartseg_dsl.measure.recorder import EventRecorder

NOW = time.time()


def events(count: int, prefix: str = "v", at: float = NOW) -> list[Event]:
    return [
        Event("session", f"{prefix}{i}", at + i / 1000, False, {"G": "S"}, (), pageviews=1)
        for i in range(count)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "events.db"))
    yield opened
    opened.close()


class Flaky:
    """A store whose event writes fail while ``down`` (everything else delegates)."""

    def __init__(self, store: Store, *, down: bool = False, delay: float = 0.0) -> None:
        self.store = store
        self.down = down
        self.delay = delay
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def write_events(self, batch: Sequence[Event]) -> int:
        with self.lock:
            self.batches.append(len(batch))
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise StoreUnavailableError("injected: database down")
        return self.store.write_events(batch)

    def add_event_drops(self, **counts: int) -> None:
        if self.down:
            raise StoreUnavailableError("injected: database down")
        self.store.add_event_drops(**counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def written(store: Store) -> list[Event]:
    return list(store.export_events())


def run_with(recorder: EventRecorder, body: Any) -> None:
    """Run the recorder's task around ``body(recorder)``, then close it (flush)."""

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            await body(recorder)
            await recorder.aclose()

    anyio.run(main)


# --------------------------------------------------------------------------- writing


def test_events_are_written_in_batches_and_flushed_on_close(store: Store) -> None:
    flaky = Flaky(store)
    recorder = EventRecorder(flaky, batch_size=100, flush_interval=30)
    evs = events(250)

    async def body(rec: EventRecorder) -> None:
        rec.record(evs[:120])  # a full batch wakes the flusher at once
        with anyio.fail_after(5):
            while rec.stats()["recorded"] < 100:
                await anyio.sleep(0.01)
        rec.record(evs[120:])

    run_with(recorder, body)
    assert written(store) == evs
    assert recorder.stats() == {
        "recorded": 250,
        "queued": 0,
        "dropped_queue_full": 0,
        "dropped_db": 0,
    }
    assert max(flaky.batches) == 100
    assert sum(flaky.batches) == 250


def test_partial_batches_go_out_every_flush_interval(store: Store) -> None:
    recorder = EventRecorder(store, batch_size=1000, flush_interval=0.05)

    async def body(rec: EventRecorder) -> None:
        rec.record(events(3))
        with anyio.fail_after(5):
            while rec.stats()["recorded"] < 3:
                await anyio.sleep(0.01)
        assert rec.stats()["queued"] == 0

    run_with(recorder, body)
    assert len(written(store)) == 3


def test_a_full_queue_drops_and_counts_exactly(store: Store, caplog: Any) -> None:
    recorder = EventRecorder(store, max_queue=10, autostart=False)
    recorder.record(events(7))
    recorder.record(events(8, prefix="w"))  # 3 fit, 5 are dropped
    recorder.record(events(2, prefix="x"))  # all dropped
    assert recorder.stats() == {
        "recorded": 0,
        "queued": 10,
        "dropped_queue_full": 7,
        "dropped_db": 0,
    }

    async def body(rec: EventRecorder) -> None:
        pass

    with caplog.at_level(logging.ERROR, "smartseg.events"):
        run_with(recorder, body)
    assert recorder.stats()["recorded"] == 10
    assert sorted(e.visitor for e in written(store)) == sorted(
        [f"v{i}" for i in range(7)] + ["w0", "w1", "w2"]
    )
    assert store.event_drops() == EventDrops(queue_full=7, database=0)
    assert "dropped 7 measurement event(s) (queue full: 7, database unavailable: 0)" in caplog.text


def test_database_down_drops_counts_logs_once_and_recovers(store: Store, caplog: Any) -> None:
    flaky = Flaky(store, down=True)
    recorder = EventRecorder(flaky, batch_size=100, flush_interval=0.02, log_interval=60)

    async def body(rec: EventRecorder) -> None:
        for _ in range(3):  # three flushes, each failing
            rec.record(events(150))
            with anyio.fail_after(5):
                while rec.stats()["queued"]:
                    await anyio.sleep(0.01)
        assert rec.stats()["dropped_db"] == 450
        assert rec.stats()["recorded"] == 0
        flaky.down = False  # the database is back: the next batch goes through
        rec.record(events(5, prefix="ok"))
        with anyio.fail_after(5):
            while rec.stats()["recorded"] < 5:
                await anyio.sleep(0.01)

    with caplog.at_level(logging.ERROR, "smartseg.events"):
        run_with(recorder, body)
    assert recorder.stats() == {
        "recorded": 5,
        "queued": 0,
        "dropped_queue_full": 0,
        "dropped_db": 450,
    }
    assert [e.visitor for e in written(store)] == [f"ok{i}" for i in range(5)]
    # the drops were added to the database once it worked again
    assert store.event_drops() == EventDrops(queue_full=0, database=450)
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    # rate-limited: one line for the first failure, one at shutdown for the rest
    assert len(lines) == 2, lines
    assert "injected: database down" in lines[0]
    assert sum(int(line.split("dropped ")[1].split(" ")[0]) for line in lines) == 450


def test_an_unopenable_database_drops_and_counts(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    guarded = GuardedStore(str(blocker / "x.db"))
    recorder = EventRecorder(guarded, flush_interval=0.02)

    async def body(rec: EventRecorder) -> None:
        rec.record(events(30))

    run_with(recorder, body)
    assert recorder.stats()["dropped_db"] == 30
    assert recorder.stats()["recorded"] == 0


def test_shutdown_flush_is_bounded(store: Store) -> None:
    slow = Flaky(store, delay=1.5)
    recorder = EventRecorder(slow, batch_size=10, flush_interval=30, shutdown_timeout=0.3)

    async def body(rec: EventRecorder) -> None:
        rec.record(events(25))  # woken at once: the first slow batch starts now
        await anyio.sleep(0.05)

    started = time.monotonic()
    run_with(recorder, body)
    assert time.monotonic() - started < 3.0
    stats = recorder.stats()
    # every event is accounted for: written (the batch in flight) or dropped
    assert stats["queued"] == 0
    assert stats["recorded"] + stats["dropped_db"] == 25
    assert stats["dropped_db"] >= 10


def test_record_never_raises(store: Store) -> None:
    recorder = EventRecorder(store, autostart=False)

    def broken() -> Iterator[Event]:
        yield from events(2)
        raise RuntimeError("a bad iterable")

    recorder.record(broken())  # no exception
    recorder.record(None)  # type: ignore[arg-type]
    assert recorder.stats()["queued"] == 2


def test_forget_removes_a_visitors_queued_events(store: Store) -> None:
    recorder = EventRecorder(store, autostart=False)
    recorder.record(events(3) + events(2, prefix="keep"))
    assert recorder.forget("v1") == 1
    assert recorder.forget("nobody") == 0
    assert recorder.stats()["queued"] == 4


# --------------------------------------------------------------------------- lifecycle


def test_started_lazily_under_asyncio_without_run(store: Store) -> None:
    recorder = EventRecorder(store, flush_interval=0.02)

    async def main() -> None:
        recorder.record(events(4))
        with anyio.fail_after(5):
            while recorder.stats()["recorded"] < 4:
                await asyncio.sleep(0.01)
        recorder.record(events(2, prefix="late"))
        # the loop ends without aclose: the task is cancelled and still flushes

    asyncio.run(main())
    assert recorder.stats()["recorded"] == 6
    assert len(written(store)) == 6

    async def again() -> None:
        recorder.record(events(1, prefix="next"))  # a new loop: started again
        await recorder.aclose()

    asyncio.run(again())
    assert recorder.stats()["recorded"] == 7
    recorder.record(events(1, prefix="after"))  # closed for good: stays queued
    assert recorder.stats()["queued"] == 1


def test_retention_deletes_old_events_after_the_first_write(store: Store) -> None:
    old = events(3, prefix="old", at=NOW - 10 * 86400)
    store.write_events(old)
    recorder = EventRecorder(store, retention=86400.0, flush_interval=0.02)

    async def body(rec: EventRecorder) -> None:
        await anyio.sleep(0.1)
        assert len(written(store)) == 3  # nothing written yet: no purge either
        rec.record(events(2))
        with anyio.fail_after(5):
            while any(e.visitor.startswith("old") for e in written(store)):
                await anyio.sleep(0.02)

    run_with(recorder, body)
    assert [e.visitor for e in written(store)] == ["v0", "v1"]


def test_retention_none_keeps_everything(store: Store) -> None:
    store.write_events(events(2, prefix="old", at=NOW - 1000 * 86400))
    recorder = EventRecorder(store, retention=None, flush_interval=0.02)

    async def body(rec: EventRecorder) -> None:
        rec.record(events(1))
        await anyio.sleep(0.2)

    run_with(recorder, body)
    assert len(written(store)) == 3


def test_bad_settings_are_refused(store: Store) -> None:
    for kwargs in ({"max_queue": 0}, {"batch_size": 0}, {"flush_interval": 0}, {"retention": 0}):
        with pytest.raises(ValueError):
            EventRecorder(store, **kwargs)
    with pytest.raises(TypeError):
        EventRecorder(42)  # type: ignore[arg-type]


def test_two_runs_at_once_both_stop_and_nothing_is_lost(store: Store) -> None:
    """A lazily started task may meet the lifespan's: one `stop` ends both, neither
    finds the other's state swapped under it, and every event is written once."""
    recorder = EventRecorder(store, batch_size=10, flush_interval=0.05)
    evs = events(35)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            await tg.start(recorder.run)  # the second one, as a lazy start would be
            recorder.record(evs[:20])
            await anyio.sleep(0.2)
            recorder.record(evs[20:])
            with anyio.fail_after(5):  # a hang here is the bug
                await recorder.aclose()

    anyio.run(main)
    assert sorted(e.visitor for e in written(store)) == sorted(e.visitor for e in evs)
    assert recorder.stats()["recorded"] == 35 and recorder.stats()["queued"] == 0


def test_stop_and_wait_waits_for_every_run(store: Store) -> None:
    """With two runs at once, `stop_and_wait` returns only when both have finished:
    not when the newer one did while the older was still writing a batch."""
    slow = Flaky(store, delay=0.3)
    recorder = EventRecorder(slow, batch_size=5, flush_interval=0.02)
    evs = events(10)
    seen: dict[str, object] = {}

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            await tg.start(recorder.run)
            recorder.record(evs)
            await anyio.sleep(0.1)  # a batch is being written (0.3 s) by one run
            with anyio.fail_after(10):
                await recorder.stop_and_wait()
            seen["running"] = len(recorder._stops)
            seen["written"] = len(written(store))

    anyio.run(main)
    assert seen == {"running": 0, "written": 10}
