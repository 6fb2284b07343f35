"""Inbound data (SPEC §7): how fast items are stored, and what the pending set costs a
page (issue 16).

    python bench/bench_inbound.py [--items 4000] [--visitors 400] [--rounds 5]

PostgreSQL is measured when ``SMARTSEG_TEST_POSTGRES`` points at a server (a throw-away
schema is created and dropped).

1. **Storing**: ``POST /smartseg/inbound`` through ``SmartSegMiddleware``, in-process ASGI
   calls (signature check, JSON parse, validation, one transaction per body), items
   stored per second — bodies of 100 items (an ESP's batch webhook), and single items
   sent by 8 concurrent senders.
2. **Pages**: the demo home page for many distinct returning visitors (each with its own
   cookie, so the decoded-cookie cache does not flatter anything), interleaved rounds:
   ``app`` (no smartseg), ``smartseg, no pending set`` (the same middleware with its
   pending set removed: as before issue 16), ``smartseg`` (nothing pending anywhere: the
   pending set is empty), ``smartseg, others pending`` (10,000 *other* visitors have
   items pending: each request decodes its cookie and does one dict lookup). Best round
   each.
3. **Applying**: requests of visitors with one item pending (a tag, a purchase event at
   an earlier time and a lead score) against the same requests of visitors without:
   the median added time is the claim (one transaction) plus applying the item.
4. **The pending set**: memory per pending visitor, and one poll of the change feed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_middleware import build_smartseg, call, cookie_from, site_app  # noqa: E402

from smartseg_dsl.cookie import CookieCodec  # noqa: E402
from smartseg_dsl.inbound_items import PendingInbound, parse_item, sign_body  # noqa: E402
from smartseg_dsl.loader import load_ruleset  # noqa: E402
from smartseg_dsl.middleware import SmartSegMiddleware  # noqa: E402

SECRET = "bench-secret"
INBOUND = "bench-inbound-secret"
PAGES = ("/blog/trust-accounting-basics", "/pricing", "/")


@contextlib.contextmanager
def store_urls() -> Iterator[list[tuple[str, str]]]:
    import tempfile

    pg = os.environ.get("SMARTSEG_TEST_POSTGRES")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="smartseg-bench-inbound-"))
        urls = [("SQLite", f"sqlite://{tmp}/inbound.db")]
        if pg:
            from smartseg_dsl.answers.postgres import scratch_schema

            urls.append(("PostgreSQL", stack.enter_context(scratch_schema(pg, "bench"))))
        yield urls


def inbound_scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/smartseg/inbound",
        "raw_path": b"/smartseg/inbound",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-smartseg-signature", sign_body(body, INBOUND).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("bench.example", 80),
    }


async def post(mw: Any, body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await mw(inbound_scope(body), receive, send)
    return status


def item(n: int, run: str) -> dict[str, Any]:
    return {
        "id": f"{run}-{n}",
        "email" if n % 2 else "visitor": f"p{n}@example.com" if n % 2 else f"v{n}",
        "tags": ["lawyer"],
        "events": ["purchase"],
        "attributes": {"lead_score": n % 100},
    }


async def storing(url: str, count: int) -> tuple[float, float]:
    """(items/s in bodies of 100, items/s single items from 8 concurrent senders)."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:  # never reached
        raise AssertionError

    from site_example.app import make_env

    mw = SmartSegMiddleware(
        inner,
        rules=load_ruleset(ROOT / "rules"),
        templates=make_env(),  # the rules' partials are checked at start (SEG208)
        secret_key=SECRET,
        store=url,
        inbound_secret=INBOUND,
        events=False,
    )
    run = uuid.uuid4().hex[:6]
    bodies = [
        json.dumps([item(n, run) for n in range(start, start + 100)]).encode()
        for start in range(0, count, 100)
    ]
    assert await post(mw, bodies[0]) == 202  # opens the store
    t0 = time.perf_counter()
    for body in bodies[1:]:
        assert await post(mw, body) == 202
    batched = 100 * (len(bodies) - 1) / (time.perf_counter() - t0)

    run = uuid.uuid4().hex[:6]
    singles = [json.dumps(item(n, run)).encode() for n in range(count // 2)]

    async def sender(part: list[bytes]) -> None:
        for body in part:
            assert await post(mw, body) == 202

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(sender, singles[i::8])
    single = len(singles) / (time.perf_counter() - t0)
    mw._store.close()  # type: ignore[union-attr]
    return batched, single


async def pages(visitors: int, rounds: int) -> dict[str, Any]:
    bare, env, rules_path, _path, _source = site_app()
    rules = load_ruleset(rules_path)
    mw = build_smartseg(bare, env, rules, events=False, inbound_refresh_interval=3600)
    codec = CookieCodec(rules, SECRET)
    cookies: list[str] = []
    for _ in range(visitors):
        cookie = None
        for path in PAGES:
            cookie = cookie_from(await call(mw, path, cookie), cookie)
        assert cookie
        cookies.append(cookie)
    await call(mw, "/", cookies[0])  # loads the (empty) pending set
    assert mw.pending is not None and not mw.pending

    async def rate(app: Any) -> float:
        t0 = time.perf_counter()
        for cookie in cookies:
            await call(app, "/", cookie)
        return len(cookies) / (time.perf_counter() - t0)

    others = {f"other-{n}": 0.0 for n in range(10_000)}
    results: dict[str, list[float]] = {
        "app": [],
        "smartseg, no pending set": [],
        "smartseg": [],
        "smartseg, others pending": [],
    }
    pending = mw.pending
    for _ in range(rounds):
        results["app"].append(await rate(bare))
        mw.pending = None  # the middleware as it was before inbound data existed
        results["smartseg, no pending set"].append(await rate(mw))
        mw.pending = pending
        mw.pending._due.clear()
        results["smartseg"].append(await rate(mw))
        mw.pending._due.update(others)
        results["smartseg, others pending"].append(await rate(mw))
        mw.pending._due.clear()

    # Applying: half the visitors get an item (stored 6 s ago), the other half none;
    # requests alternate between the two halves.
    store = mw._store
    assert store is not None
    now = time.time()
    vids = []
    for cookie in cookies:
        state, _ = codec.loads(cookie, now)
        assert state is not None
        vids.append(state.visitor_id)
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600))
    pending_half = [
        parse_item(
            {
                "id": f"apply-{vid}",
                "visitor": vid,
                "tags": ["lawyer"],
                "events": ["purchase"],
                "at": an_hour_ago,
                "attributes": {"lead_score": 85},
            }
        )
        for vid in vids[::2]
    ]
    store.store_inbound(pending_half, now=now - 6)  # type: ignore[attr-defined]
    mw.pending.refresh(store)
    assert len(mw.pending) == len(pending_half)
    with_item: list[float] = []
    without: list[float] = []
    for i, cookie in enumerate(cookies):
        t0 = time.perf_counter()
        await call(mw, "/", cookie)
        (with_item if i % 2 == 0 else without).append(time.perf_counter() - t0)
    status = store.inbound_status()  # type: ignore[attr-defined]
    assert status["pending"] == 0, status
    return {
        "rates": {k: max(v) for k, v in results.items()},
        "apply_ms": (statistics.median(with_item) - statistics.median(without)) * 1000,
        "with_ms": statistics.median(with_item) * 1000,
        "without_ms": statistics.median(without) * 1000,
        "store": store,
    }


def pending_set(store: Any) -> tuple[float, float, float]:
    """(bytes per pending visitor, µs for a poll with nothing new, ms for 1,000 new)."""
    tracemalloc.start()
    pending = PendingInbound()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(100_000):
        pending.add(f"{uuid.uuid4().hex[:16]}", 1.8e9 + n)
    per = (tracemalloc.get_traced_memory()[0] - before) / 100_000
    tracemalloc.stop()
    pending = PendingInbound()
    pending.refresh(store)
    t0 = time.perf_counter()
    for _ in range(50):
        pending.refresh(store)
    idle = (time.perf_counter() - t0) / 50 * 1e6
    store.store_inbound(  # type: ignore[attr-defined]
        [
            parse_item({"id": f"poll-{n}-{time.time()}", "visitor": f"poll{n}", "tags": ["t"]})
            for n in range(1000)
        ]
    )
    t0 = time.perf_counter()
    pending.refresh(store)
    busy = (time.perf_counter() - t0) * 1000
    return per, idle, busy


def main() -> int:
    import logging

    logging.getLogger("smartseg").setLevel(logging.ERROR)  # the bare site's templates
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--visitors", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with store_urls() as urls:
        print("1. storing inbound items through POST /smartseg/inbound")
        for name, url in urls:
            batched, single = anyio.run(storing, url, args.items)
            print(
                f"   {name:<11} {batched:8.0f} items/s in bodies of 100; "
                f"{single:6.0f} items/s one item per request (8 senders)"
            )
        if len(urls) == 1:
            print("   PostgreSQL  (not measured: set SMARTSEG_TEST_POSTGRES)")
    print(f"2. demo home page, {args.visitors} distinct returning visitors, best of {args.rounds}")
    result = anyio.run(pages, args.visitors, args.rounds)
    rates = result["rates"]
    for name, rps in rates.items():
        print(f"   {name:<26} {rps:7.0f} req/s  {rps / rates['app']:.3f} of app")
    print(
        "3. applying one pending item (tag + event an hour ago + lead score): "
        f"+{result['apply_ms']:.2f} ms (median {result['with_ms']:.2f} ms with, "
        f"{result['without_ms']:.2f} ms without)"
    )
    per, idle, busy = pending_set(result["store"])
    print(
        f"4. pending set: {per:.0f} bytes per pending visitor; a poll of the change feed "
        f"(SQLite) {idle:.0f} µs with nothing new, {busy:.1f} ms with 1,000 new rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
