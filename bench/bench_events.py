"""Measurement events benchmark (SPEC §6): one command, prints

* events written per second through ``Store.write_events`` in batches of 1,000, from
  one process and from two processes writing the same database at once (the recorder
  of each app worker process does exactly this) — SQLite with the store's default
  ``synchronous=NORMAL`` (WAL) and, for reference, ``FULL``; PostgreSQL when
  ``SMARTSEG_BENCH_POSTGRES`` or ``SMARTSEG_TEST_POSTGRES`` points at a server (tables go
  to a throw-away schema). Target: >= 20,000 events/s on SQLite from two processes;
* what ``EventRecorder.record`` costs on the request path, per event (µs), for the
  usual call (a few events) and when the queue is full (dropping).

    python bench/bench_events.py [--events 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartseg_dsl.answers import open_store  # noqa: E402
from smartseg_dsl.measure.events import Event  # noqa: E402
from smartseg_dsl.measure.recorder import EventRecorder  # noqa: E402

BATCH = 1000
TARGET = 20_000


def make_events(count: int, prefix: str) -> list[Event]:
    """Realistic events: three groups, one certain segment, all three types."""
    now = time.time()
    out = []
    for i in range(count):
        segments = {"Industry": "Legal" if i % 3 else None, "Size": "Small", "Role": "Owner"}
        common = {
            "visitor": f"{prefix}{i % 5000:05d}x{uuid.uuid4().hex[:16]}",
            "at": now + i / 1000,
            "holdout": i % 10 == 0,
            "segments": segments,
            "certain": ("Size.Small",),
        }
        kind = i % 4
        if kind in (0, 1):
            out.append(Event("session", pageviews=1 + i % 20, **common))
        elif kind == 2:
            out.append(Event("goal", goal="Trial", value=None if i % 8 else 49.0, **common))
        else:
            out.append(Event("exposure", experiment="Hero", variant="b", **common))
    return out


def _writer(url: str, count: int, prefix: str, ready: Any, go: Any, results: Any) -> None:
    store = open_store(url)
    events = make_events(count, prefix)
    ready.set()
    go.wait()
    start = time.perf_counter_ns()
    for i in range(0, count, BATCH):
        store.write_events(events[i : i + BATCH])
    end = time.perf_counter_ns()
    store.close()
    results.put((count, start, end))


def events_per_second(url: str, count: int, processes: int) -> float:
    """All processes build their events first, then start writing together."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    results = ctx.Queue()
    readies = [ctx.Event() for _ in range(processes)]
    workers = [
        ctx.Process(target=_writer, args=(url, count, f"p{n}", readies[n], go, results))
        for n in range(processes)
    ]
    for w in workers:
        w.start()
    for r in readies:
        r.wait(60)
    go.set()
    rows = [results.get(timeout=300) for _ in workers]
    for w in workers:
        w.join()
    total = sum(r[0] for r in rows)
    # perf_counter_ns is CLOCK_MONOTONIC on Linux: comparable across processes.
    span = (max(r[2] for r in rows) - min(r[1] for r in rows)) / 1e9
    return total / span


class _NullStore:
    """Accepts every batch at once: only the recorder's own cost is left."""

    def write_events(self, events: Any) -> int:
        return len(events)

    def add_event_drops(self, **counts: int) -> None:
        pass

    def delete_events_before(self, cutoff: float, **kw: Any) -> int:
        return 0


def record_cost_us(per_call: int, full: bool, rounds: int = 200) -> float:
    """Per event, with the flush task running as in the app: the queue is filled to
    one batch (1,000 events; the last call wakes the flusher), the loop lets the task
    take it, and so on. Only the ``record`` calls are timed."""
    import logging

    import anyio

    logging.getLogger("smartseg.events").setLevel(logging.CRITICAL)  # the full-queue log
    events = make_events(per_call, "r")
    calls = -(-BATCH // per_call)  # enough to fill a batch: the last call wakes the task

    async def measure() -> float:
        recorder = EventRecorder(
            _NullStore(), max_queue=1 if full else 10**6, flush_interval=3600, retention=None
        )
        spent = 0
        async with anyio.create_task_group() as tg:
            await tg.start(recorder.run)
            if full:
                recorder.record(events[:1])
            for _ in range(rounds):
                start = time.perf_counter_ns()
                for _ in range(calls):
                    recorder.record(events)
                spent += time.perf_counter_ns() - start
                while not full and recorder.stats()["queued"]:
                    await anyio.sleep(0.0005)
            await recorder.aclose()
        return spent / (rounds * calls * per_call) / 1000

    return anyio.run(measure)


def sqlite_url(directory: str, name: str, synchronous: str) -> str:
    return f"sqlite://{Path(directory) / name}?synchronous={synchronous}"


def postgres_url() -> str | None:
    return os.environ.get("SMARTSEG_BENCH_POSTGRES") or os.environ.get("SMARTSEG_TEST_POSTGRES")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per process")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--dir",
        help="where the SQLite files go (default: a temporary directory; use a "
        "real disk, not tmpfs, for honest synchronous=full numbers)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"write_events_per_second": {}, "record_us_per_event": {}}
    writes = results["write_events_per_second"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for sync in ("normal", "full"):
            for procs in (1, 2):
                url = sqlite_url(tmp, f"{sync}{procs}.db", sync)
                open_store(url).close()  # created and migrated before the clock starts
                writes[f"sqlite synchronous={sync}, {procs} process(es)"] = events_per_second(
                    url, args.events, procs
                )
    base = postgres_url()
    if base:
        from smartseg_dsl.answers.postgres import scratch_schema

        with scratch_schema(base, "bench") as url:
            open_store(url).close()
            for procs in (1, 2):
                writes[f"postgresql, {procs} process(es)"] = events_per_second(
                    url, args.events, procs
                )
    else:
        writes["postgresql"] = None
    costs = results["record_us_per_event"]
    costs["record(1 event)"] = record_cost_us(1, full=False)
    costs["record(3 events)"] = record_cost_us(3, full=False)
    costs["record(3 events), queue full"] = record_cost_us(3, full=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"measurement events ({args.events:,} per process, batches of {BATCH:,})")
    print("  written per second (higher is better):")
    for name, value in writes.items():
        shown = "skipped (set SMARTSEG_TEST_POSTGRES)" if value is None else f"{value:,.0f}"
        print(f"    {name}: {shown}")
    two = writes["sqlite synchronous=normal, 2 process(es)"]
    verdict = "met" if two >= TARGET else "MISSED"
    print(f"    target: >= {TARGET:,}/s on SQLite from two processes — {verdict}")
    print("  EventRecorder.record on the request path (lower is better):")
    for name, value in costs.items():
        print(f"    {name}: {value:.3f} µs per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
