"""Answer bank and CRM sync benchmark: one command, prints

* answers recorded per second (one thread, and 8 threads), SQLite and PostgreSQL;
* the median / p95 time ``record_answer`` adds to a request, measured the way the
  middleware calls it (``await anyio.to_thread.run_sync(...)`` from the event loop) —
  the budget is < 2 ms at the median on SQLite;
* deliveries per second from the outbox to a local receiver that answers at once
  (uvicorn in its own process, so the receiver does not share our GIL).

PostgreSQL runs when ``SMARTSEG_BENCH_POSTGRES`` or ``SMARTSEG_TEST_POSTGRES`` points at a
server (tables go to a throw-away schema); otherwise it is reported as skipped.

    python bench/bench_answers.py [--answers 3000] [--deliveries 2000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402

from smartseg_dsl.answers import Store, open_store  # noqa: E402
from smartseg_dsl.sync import SyncConfig, deliver_once  # noqa: E402

SNAPSHOT = {"groups": {"Industry": {"most_likely": "Legal", "confidence": 0.4, "certain": False}}}


# --------------------------------------------------------------------------- receiver


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The fastest honest receiver: read the body, answer 200."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def receiver_process() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(__file__).resolve().parent),
            "bench_answers:receiver_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- stores


@contextlib.contextmanager
def backends(pg_url: str | None) -> Iterator[list[tuple[str, str | None]]]:
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="smartseg-bench-"))
        found: list[tuple[str, str | None]] = [
            ("SQLite", f"sqlite://{tmp}/bench.db"),  # synchronous=NORMAL, the default
            ("SQLite, synchronous=FULL", f"sqlite://{tmp}/bench-full.db?synchronous=full"),
        ]
        if pg_url:
            from smartseg_dsl.answers.postgres import scratch_schema

            found.append(("PostgreSQL", stack.enter_context(scratch_schema(pg_url, "bench"))))
        else:
            found.append(("PostgreSQL", None))
        yield found


def reset(url: str) -> Store:
    store = open_store(url)
    with store._write() as tx:  # type: ignore[attr-defined]
        for table in ("smartseg_events", "smartseg_identities", "smartseg_outbox"):
            tx.q(f"DELETE FROM {table}")
        tx.q("DELETE FROM smartseg_outbox_visitors")
    return store


# --------------------------------------------------------------------------- measurements


def answers_per_second(store: Store, count: int, threads: int) -> float:
    per_thread = count // threads
    now = time.time()

    def work(n: int) -> None:
        for i in range(per_thread):
            store.record_answer(f"b{n}x{i}", "Industry.Legal", "yes", now)

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per_thread * threads / (time.perf_counter() - started)


def added_latency_ms(store: Store, count: int, identified: bool) -> tuple[float, float]:
    """Median and p95 of one awaited record_answer, as the middleware makes it."""
    if identified:
        store.identify("lat", "lat@example.com", SNAPSHOT, time.time())

    async def main() -> list[float]:
        samples = []
        for i in range(count):
            vid = "lat" if identified else f"lat{i}"
            started = time.perf_counter()
            await anyio.to_thread.run_sync(
                lambda v=vid: store.record_answer(v, "Industry.Legal", "yes", time.time(), SNAPSHOT)
            )
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    samples = anyio.run(main)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[18]


def deliveries_per_second(store: Store, url: str, count: int) -> float:
    now = time.time()
    for i in range(count):
        store.identify(f"d{i}", f"person{i}@example.com", SNAPSHOT, now)
    config = SyncConfig(url=url, secret="bench", timeout=10, batch_size=50, concurrency=16)
    started = time.perf_counter()
    stats = deliver_once(store, config)
    elapsed = time.perf_counter() - started
    if stats.delivered != count:
        raise SystemExit(f"bench: only {stats.delivered} of {count} delivered: {stats}")
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--latency", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pg_url = os.environ.get("SMARTSEG_BENCH_POSTGRES") or os.environ.get("SMARTSEG_TEST_POSTGRES")
    results: dict[str, Any] = {}
    with backends(pg_url) as found, receiver_process() as hook:
        for name, url in found:
            if url is None:
                results[name] = "skipped (set SMARTSEG_BENCH_POSTGRES or SMARTSEG_TEST_POSTGRES)"
                continue
            store = reset(url)
            row: dict[str, Any] = {
                "answers_per_s_1_thread": answers_per_second(store, args.answers, 1),
                "answers_per_s_8_threads": answers_per_second(store, args.answers, 8),
            }
            med, p95 = added_latency_ms(store, args.latency, identified=False)
            row["added_ms_median"], row["added_ms_p95"] = med, p95
            med, p95 = added_latency_ms(store, args.latency, identified=True)
            row["added_ms_median_identified"], row["added_ms_p95_identified"] = med, p95
            store.close()
            store = reset(url)
            row["deliveries_per_s"] = deliveries_per_second(store, hook, args.deliveries)
            store.close()
            results[name] = row
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("answer bank & CRM sync (higher is better, except latency)")
    for name, row in results.items():
        if isinstance(row, str):
            print(f"  {name}: {row}")
            continue
        print(
            f"  {name}:\n"
            f"    answers recorded/s   {row['answers_per_s_1_thread']:8.0f} (1 thread)  "
            f"{row['answers_per_s_8_threads']:8.0f} (8 threads)\n"
            f"    added to the POST    median {row['added_ms_median']:.3f} ms, "
            f"p95 {row['added_ms_p95']:.3f} ms "
            f"(identified visitor, answer queued for sync: median "
            f"{row['added_ms_median_identified']:.3f} ms, p95 "
            f"{row['added_ms_p95_identified']:.3f} ms)\n"
            f"    deliveries/s         {row['deliveries_per_s']:8.0f} (local receiver, "
            "batch 50, 16 concurrent)"
        )
    sqlite = results.get("SQLite")
    if isinstance(sqlite, dict):
        verdict = "OK" if sqlite["added_ms_median"] < 2.0 else "OVER BUDGET"
        print(f"  budget: < 2 ms median added per answer on SQLite — {verdict}")
        return 0 if verdict == "OK" else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
