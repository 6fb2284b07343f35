"""The middleware's measurement event lifecycle (SPEC §6): the recorder runs in the
lifespan, events reach the answer bank's database, shutdown flushes the queue, a
database that is down or a full queue drop and count — and pages never notice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import SECRET, exported_events, pages_routes, template_env, write_rules
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from smartseg_dsl.answers import EventDrops, GuardedStore, open_store
from smartseg_dsl.measure.events import Event
from smartseg_dsl.middleware import SmartSegMiddleware


def batch(n: int, prefix: str) -> list[Event]:
    now = time.time()
    return [
        Event("goal", f"{prefix}{i}", now + i / 1000, False, {"G": None}, (), goal="Trial")
        for i in range(n)
    ]


def build(rules: Path, store: Any, **options: Any) -> SmartSegMiddleware:
    """The middleware around an app whose `/record?n=N&p=P` records N events, the way
    the request path will (on the event loop, through ``mw.events.record``)."""
    holder: dict[str, SmartSegMiddleware] = {}

    async def record(request: Request) -> Response:
        recorder = holder["mw"].events
        assert recorder is not None
        recorder.record(batch(int(request.query_params["n"]), request.query_params["p"]))
        return PlainTextResponse("recorded")

    app = Starlette(routes=[*pages_routes(), Route("/record", record)])
    mw = SmartSegMiddleware(
        app, rules=rules, secret_key=SECRET, templates=template_env(), store=store, **options
    )
    holder["mw"] = mw
    return mw


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def exported(url: str) -> list[str]:
    return sorted(e.visitor for e in exported_events(url))


def test_events_are_written_and_flushed_on_shutdown(rules: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "bank.db")
    mw = build(rules, url)
    assert mw.events is not None
    with TestClient(mw) as c:
        assert c.get("/record?n=3&p=a").text == "recorded"
        assert c.get("/?seg=legal").status_code == 200
        assert c.get("/record?n=2&p=b").text == "recorded"
    # the lifespan's shutdown wrote what was still queued
    assert exported(url) == ["a0", "a1", "a2", "b0", "b1"]
    assert mw.events.stats() == {
        "recorded": 5,
        "queued": 0,
        "dropped_queue_full": 0,
        "dropped_db": 0,
    }


def test_events_are_written_without_a_lifespan(rules: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "bank.db")
    mw = build(rules, url)
    c = TestClient(mw)  # not a context manager: no lifespan, a fresh event loop per request
    assert c.get("/record?n=4&p=a").text == "recorded"
    assert c.get("/record?n=1&p=b").text == "recorded"
    assert exported(url) == ["a0", "a1", "a2", "a3", "b0"]


def test_events_and_sync_share_the_lifespan(rules: Path, tmp_path: Path) -> None:
    from smartseg_dsl.sync import SyncConfig

    url = str(tmp_path / "bank.db")
    config = SyncConfig(url="http://127.0.0.1:9/hook", secret="s", poll_interval=0.05)
    mw = build(rules, url, sync=config)
    with TestClient(mw) as c:
        c.get("/record?n=2&p=s")
    assert exported(url) == ["s0", "s1"]


def test_database_down_pages_still_served_drops_counted(rules: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    mw = build(rules, str(blocker / "bank.db"))  # a directory that cannot exist
    assert mw.events is not None
    with TestClient(mw) as c:
        assert c.get("/record?n=6&p=a").text == "recorded"
        assert c.get("/?seg=legal").status_code == 200
    assert mw.events.stats()["dropped_db"] == 6
    assert mw.events.stats()["recorded"] == 0


@pytest.mark.timeout(60)
def test_unreachable_postgres_drops_and_counts(rules: Path) -> None:
    store = GuardedStore("postgresql://smartseg@127.0.0.1:9/none", connect_timeout=1)
    mw = build(rules, store)
    assert mw.events is not None
    with TestClient(mw) as c:
        assert c.get("/record?n=5&p=a").text == "recorded"
        assert c.get("/").status_code == 200
    assert mw.events.stats()["dropped_db"] == 5
    store.close()


def test_a_full_queue_drops_counts_and_persists(rules: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "bank.db")
    mw = build(rules, url, events_queue=4)
    assert mw.events is not None
    with TestClient(mw) as c:
        assert c.get("/record?n=7&p=a").text == "recorded"  # one request, 3 over the limit
    assert mw.events.stats()["dropped_queue_full"] == 3
    assert exported(url) == ["a0", "a1", "a2", "a3"]
    store = open_store(url)
    assert store.event_drops() == EventDrops(queue_full=3, database=0)
    store.close()


def test_options(rules: Path, tmp_path: Path) -> None:
    assert build(rules, False).events is None
    assert build(rules, str(tmp_path / "a.db"), events=False).events is None
    recorder = build(rules, str(tmp_path / "a.db"), events_retention_days=None).events
    assert recorder is not None and recorder.retention is None
    recorder = build(rules, str(tmp_path / "a.db"), events_retention_days=30).events
    assert recorder is not None and recorder.retention == 30 * 86400
    default = build(rules, str(tmp_path / "a.db")).events
    assert default is not None and default.max_queue == 50_000
    assert default.retention == 400 * 86400


def test_no_database_file_until_an_event_is_written(rules: Path, tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    with TestClient(build(rules, str(path))) as c:
        assert c.get("/api").status_code == 200
    assert not path.exists()  # neither the recorder nor retention opened the store


def test_queue_is_written_before_the_server_hears_shutdown_complete(
    rules: Path, tmp_path: Path
) -> None:
    """A server may exit as soon as it gets `lifespan.shutdown.complete`."""
    import anyio

    url = str(tmp_path / "bank.db")
    mw = build(rules, url)
    assert mw.events is not None
    seen_at_complete: list[list[str]] = []

    async def main() -> None:
        started = anyio.Event()
        inbox = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> dict[str, Any]:
            message = next(inbox)
            if message["type"] == "lifespan.shutdown":
                await started.wait()
            return message

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                assert mw.events is not None
                mw.events.record(batch(3, "z"))  # queued; the 1 s flush has not come yet
                started.set()
            elif message["type"] == "lifespan.shutdown.complete":
                seen_at_complete.append(exported(url))

        await mw({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    anyio.run(main)
    assert seen_at_complete == [["z0", "z1", "z2"]]
