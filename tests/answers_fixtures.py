"""Shared fixtures and helpers for the answer bank / sync / links tests.

Imported by ``test_answers.py`` and ``test_sync.py`` (``tests/conftest.py`` belongs to
the whole suite); the fixture functions carry a ``_fixture`` suffix and register under
the short name, so importing them does not shadow the test arguments. Provides:

* ``store_url`` / ``store`` — parametrized over both backends: SQLite in a temporary
  file, and PostgreSQL in a throw-away schema of the server that
  ``SMARTSEG_TEST_POSTGRES`` points at (skipped without it — except in CI, where that
  is a failure);
* :class:`Receiver` — a real HTTP webhook receiver on 127.0.0.1 that checks signatures,
  de-duplicates by Idempotency-Key and can be told to fail, hang or drop connections;
* :func:`worker_main` — the entry point of worker *processes* started by the tests.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from smartseg_dsl.answers import Store, open_store  # noqa: E402
from smartseg_dsl.sync import verify_signature  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ENV = "SMARTSEG_TEST_POSTGRES"
SECRET = "test-webhook-secret"


# --------------------------------------------------------------------------- stores


@pytest.fixture(name="pg_base_url", scope="session")
def pg_base_url_fixture() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        message = (
            f"{PG_ENV} is not set: the PostgreSQL half of the answer bank suite needs a "
            'server (run `eval "$(.ci/start-postgres.sh)"`)'
        )
        if IN_CI:
            pytest.fail(message + " — in CI this half must run, not skip")
        pytest.skip(message)
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # Set but unreachable is a broken environment, never a skip.
        pytest.fail(f"{PG_ENV} is set but the server is unreachable: {exc}")
    return url


@contextlib.contextmanager
def pg_schema_url(base: str) -> Iterator[str]:
    """A fresh, empty schema on the test server for one test (dropped afterwards)."""
    from smartseg_dsl.answers.postgres import scratch_schema

    with scratch_schema(base, "t") as url:
        yield url


@pytest.fixture(
    name="store_url",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'answers.db'}"
        return
    base = request.getfixturevalue("pg_base_url")
    with pg_schema_url(base) as url:
        yield url


@pytest.fixture(name="store")
def store_fixture(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def backend_of(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"


SNAPSHOT = {"groups": {"Industry": {"most_likely": "Legal", "confidence": 0.42, "certain": False}}}


def queue_identifies(store: Store, count: int, *, prefix: str = "v") -> list[str]:
    """Queue ``count`` identify deliveries (one visitor each); return their keys."""
    now = time.time()
    keys = []
    for i in range(count):
        vid = f"{prefix}{i}"
        store.record_answer(vid, "Industry.Legal", "yes", now)
        keys.append(store.identify(vid, f"person{i}@example.com", SNAPSHOT, now))
    return keys


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --------------------------------------------------------------------------- receiver

# What the receiver does with the n-th request (0-based, across all keys):
OK = "ok"  # 200
HOLD = "hold"  # process it (counts as received), wait `hold` seconds, then 200
FAIL_500 = "500"
FAIL_503 = "503"  # with Retry-After: <retry_after>
REJECT_400 = "400"
TIMEOUT = "timeout"  # read it, say nothing for `hold` seconds, close: the client times out
DROP = "drop"  # read it, then reset the connection without answering
DROP_EARLY = "drop-early"  # reset the connection before even reading the body


class Receiver:
    """A webhook receiver on 127.0.0.1, in threads, doing what ``plan`` says."""

    def __init__(
        self,
        plan: Callable[[int, str], str] | None = None,
        *,
        secret: str = SECRET,
        delay: float = 0.0,
        hold: float = 1.0,
        retry_after: str = "1",
    ) -> None:
        self.plan = plan or (lambda n, key: OK)
        self.secret = secret
        self.delay = delay
        self.hold = hold
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.requests = 0
        self.actions: list[tuple[str, str]] = []  # (key, action) per request
        self.received: Counter[str] = Counter()  # keys processed (2xx decided)
        self.bodies: dict[str, bytes] = {}
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        self.overlaps = 0  # a key arriving while the same key was still in flight
        self.in_flight: Counter[str] = Counter()
        self.first_request = threading.Event()
        self.first_processed = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # dropped connections are the point of several tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def unique(self) -> set[str]:
        with self.lock:
            return set(self.received)

    def _reset(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        # SO_LINGER 0: close with a TCP RST, like a crashed load balancer.
        sock = handler.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        handler.close_connection = True
        handler.wfile = open(os.devnull, "wb")  # noqa: SIM115 - swallow the final flush

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        key = handler.headers.get("Idempotency-Key", "")
        with self.lock:
            n = self.requests
            self.requests += 1
            action = self.plan(n, key)
            self.actions.append((key, action))
            self.headers.append(dict(handler.headers.items()))
            self.in_flight[key] += 1
            if self.in_flight[key] > 1:
                self.overlaps += 1
        self.first_request.set()
        try:
            if action == DROP_EARLY:
                self._reset(handler)
                return
            length = int(handler.headers.get("Content-Length", "0"))
            body = handler.rfile.read(length)
            if not verify_signature(body, handler.headers.get("X-Smartseg-Signature"), self.secret):
                with self.lock:
                    self.bad_signatures += 1
                self._reply(handler, 401, b'{"error": "bad signature"}')
                return
            if self.delay:
                time.sleep(self.delay)
            if action == DROP:
                self._reset(handler)
            elif action == TIMEOUT:
                # Not "in flight" any more: the sender gives up long before we close, and
                # its retry may arrive meanwhile without being a concurrent delivery.
                with self.lock:
                    self.in_flight[key] -= 1
                    key = ""
                time.sleep(self.hold)
                self._reset(handler)
            elif action in (FAIL_500, REJECT_400):
                self._reply(handler, int(action), b'{"error": "planned failure"}')
            elif action == FAIL_503:
                self._reply(handler, 503, b"busy", {"Retry-After": self.retry_after})
            else:
                with self.lock:  # processed: this is what de-duplication is about
                    self.received[key] += 1
                    self.bodies[key] = body
                self.first_processed.set()
                if action == HOLD:
                    time.sleep(self.hold)
                self._reply(handler, 200, b'{"ok": true}')
        finally:
            with self.lock:
                self.in_flight[key] -= 1

    @staticmethod
    def _reply(
        handler: http.server.BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        with contextlib.suppress(OSError):
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)


# --------------------------------------------------------------------------- worker processes


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(TESTS), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def start_worker(settings: dict[str, Any]) -> subprocess.Popen[str]:
    """A worker *process* (see :func:`worker_main`) with these settings."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import answers_fixtures as f; f.worker_main()",
            json.dumps(settings),
        ],
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker_main() -> None:
    """Run a sync worker as told by the JSON in argv[1]:

    ``mode`` "forever": ``run_worker`` until SIGTERM; "drain": ``deliver_once`` in a
    loop until the outbox has nothing pending or in flight, then print the totals.
    ``ready``/``go``: files for a start barrier (write ready, wait for go).
    """
    import signal

    import anyio

    from smartseg_dsl.sync import SyncConfig, SyncStats, deliver_once, run_worker

    settings = json.loads(sys.argv[1])
    store = open_store(settings.pop("db"))
    mode = settings.pop("mode")
    ready, go = settings.pop("ready", None), settings.pop("go", None)
    config = SyncConfig(secret=SECRET, **settings)
    if ready:
        Path(ready).write_text("ready")
        while not Path(go).exists():
            time.sleep(0.005)
    total = SyncStats()
    if mode == "drain":
        while True:
            total.add(deliver_once(store, config))
            status = store.status(now=time.time())
            if status.pending == 0 and status.in_flight == 0:
                break
            time.sleep(0.02)
    else:

        async def main() -> SyncStats:
            stop = anyio.Event()

            async def watch() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for _ in signals:
                        stop.set()
                        return

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                stats = await run_worker(store, config, stop)
                tg.cancel_scope.cancel()
            return stats

        total = anyio.run(main)
    store.close()
    print(json.dumps(total.as_dict()), flush=True)
