"""The CRM outbox worker (smartseg_dsl.sync) and `smartseg sync`, against a real HTTP
receiver on 127.0.0.1 and real worker processes, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import itertools
import json
import logging
import random
import signal
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from answers_fixtures import (
    DROP,
    DROP_EARLY,
    FAIL_500,
    FAIL_503,
    HOLD,
    OK,
    REJECT_400,
    SECRET,
    TIMEOUT,
    Receiver,
    queue_identifies,
    start_worker,
    wait_until,
)
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.answers import Delivery, GuardedStore, Store, open_store
from smartseg_dsl.cli.sync import sync_command
from smartseg_dsl.sync import (
    SyncConfig,
    SyncConfigError,
    backoff_delay,
    deliver_once,
    parse_retry_after,
    sign,
    sync_worker,
    verify_signature,
)

FAST = {"timeout": 0.5, "backoff_base": 0.02, "backoff_cap": 0.1, "claim_ttl": 5.0}


def fast_config(url: str, **overrides: object) -> SyncConfig:
    return SyncConfig(url=url, secret=SECRET, **{**FAST, **overrides})  # type: ignore[arg-type]


def drain(store: Store, config: SyncConfig, timeout: float = 20.0) -> int:
    """Run deliver_once until nothing is pending or in flight; return the runs it took."""
    runs = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliver_once(store, config)
        runs += 1
        status = store.status(now=time.time())
        if status.pending == 0 and status.in_flight == 0:
            return runs
        time.sleep(0.02)
    raise AssertionError(f"outbox not drained in {timeout}s: {store.status(now=time.time())}")


# --------------------------------------------------------------------------- the request


def test_request_is_signed_keyed_and_byte_stable(store: Store) -> None:
    [key] = queue_identifies(store, 1)
    with Receiver(lambda n, k: FAIL_500 if n == 0 else OK) as receiver:
        drain(store, fast_config(receiver.url))
    first, second = receiver.headers
    for headers in (first, second):
        assert headers["Idempotency-Key"] == key
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Smartseg-Event"] == "identify"
    assert (first["X-Smartseg-Attempt"], second["X-Smartseg-Attempt"]) == ("1", "2")
    assert first["X-Smartseg-Signature"] == second["X-Smartseg-Signature"]  # same bytes
    body = receiver.bodies[key]
    assert json.loads(body)["id"] == key
    assert first["X-Smartseg-Signature"] == sign(body, SECRET)
    assert receiver.bad_signatures == 0
    assert store.status(now=time.time()).delivered == 1


def test_signature_helpers() -> None:
    body = b'{"a":1}'
    header = sign(body, "k2")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, ["k1", "k2"])  # secret rotation on the receiver
    assert not verify_signature(body + b" ", header, "k2")
    assert not verify_signature(body, header, "k1")
    assert not verify_signature(body, None, "k2")


# --------------------------------------------------------------------------- unreliable receiver


def flaky_plan(first_failures: int):  # type: ignore[no-untyped-def]
    def plan(n: int, key: str) -> str:
        if n < first_failures:
            return FAIL_500
        if n % 5 == 0:
            return TIMEOUT
        if n % 7 == 0:
            return DROP
        if n % 11 == 0:
            return DROP_EARLY
        if n % 13 == 0:
            return FAIL_500
        return OK

    return plan


@pytest.mark.slow
def test_every_event_reaches_an_unreliable_receiver(store: Store) -> None:
    keys = set(queue_identifies(store, 30))
    with Receiver(flaky_plan(first_failures=12), hold=1.0) as receiver:
        config = fast_config(receiver.url, timeout=0.3, claim_ttl=3.0, batch_size=10)
        runs = drain(store, config)
        actions = [action for _, action in receiver.actions]
    assert runs > 1
    for kind in (FAIL_500, TIMEOUT, DROP, DROP_EARLY):
        assert kind in actions, f"the plan never exercised {kind}"
    assert receiver.unique == keys  # de-duplicated set == queued set
    assert all(receiver.received[key] >= 1 for key in keys)
    assert receiver.bad_signatures == 0 and receiver.overlaps == 0
    status = store.status(now=time.time())
    assert (status.delivered, status.pending, status.in_flight, status.failed) == (30, 0, 0, 0)


def test_permanent_rejection_is_failed_kept_listed_and_requeueable(store: Store) -> None:
    [key] = queue_identifies(store, 1)
    with Receiver(lambda n, k: REJECT_400 if n == 0 else OK) as receiver:
        config = fast_config(receiver.url)
        stats = deliver_once(store, config)
        assert (stats.failed, stats.retried, stats.delivered) == (1, 0, 0)
        status = store.status(now=time.time())
        assert status.failed == 1 and status.pending == 0
        [failure] = status.failures
        assert failure.key == key and "HTTP 400" in (failure.last_error or "")
        assert "token=abc" not in (failure.last_error or "")  # the URL's secret stays out
        assert deliver_once(store, config).claimed == 0  # not retried by itself
        assert store.requeue_failed(now=time.time()) == 1
        assert deliver_once(store, config).delivered == 1
    assert receiver.unique == {key}


def test_gives_up_after_max_age_and_keeps_the_delivery(store: Store) -> None:
    [key] = queue_identifies(store, 1)
    with Receiver(lambda n, k: FAIL_500) as receiver:
        config = fast_config(receiver.url, max_age=0.4, backoff_base=0.05, backoff_cap=0.1)
        drain(store, config, timeout=10)
    status = store.status(now=time.time())
    assert (status.failed, status.pending, status.delivered) == (1, 0, 0)
    [failure] = status.failures
    assert failure.key == key and "max_age" in (failure.last_error or "")
    assert failure.attempts >= 2  # it was retried before giving up
    assert len(receiver.actions) == failure.attempts


def test_retry_after_is_honoured(store: Store) -> None:
    queue_identifies(store, 1)
    with Receiver(lambda n, k: FAIL_503, retry_after="5") as receiver:
        before = time.time()
        stats = deliver_once(store, fast_config(receiver.url, backoff_cap=60))
    assert stats.retried == 1
    next_at = store.status(now=time.time()).next_attempt_at
    assert next_at is not None and next_at >= before + 5


def test_a_worker_claim_that_expires_mid_batch_is_not_double_recorded(store: Store) -> None:
    queue_identifies(store, 1)
    [d] = store.claim("dead-worker", 1, now=time.time(), claim_ttl=0.01)
    time.sleep(0.05)  # the claim expires: that worker is presumed dead
    with Receiver() as receiver:
        stats = deliver_once(store, fast_config(receiver.url))
    assert stats.delivered == 1
    assert not store.mark_retry(d.id, d.claim_token, next_attempt_at=0, error="late", now=0)
    assert store.status(now=time.time()).delivered == 1


def test_nothing_is_sent_to_nowhere(store: Store) -> None:
    queue_identifies(store, 2)
    # A port nobody listens on: connection refused, retried, nothing lost.
    config = fast_config("http://127.0.0.1:1/hook")
    stats = deliver_once(store, config)
    assert (stats.claimed, stats.retried, stats.delivered) == (2, 2, 0)
    status = store.status(now=time.time())
    assert status.pending == 2 and status.failed == 0


# --------------------------------------------------------------------------- processes


@pytest.mark.slow
def test_sigkilled_worker_loses_nothing_and_leaves_nothing_claimed(store_url: str) -> None:
    store = open_store(store_url)
    keys = set(queue_identifies(store, 4))
    # Activation deliveries (SPEC §7) travel the same outbox with the same guarantees.
    for i in range(4):
        change = ("audience.entered", "HotLead") if i % 2 else ("segment.certain", "Industry.Legal")
        keys.update(store.queue_activation(f"v{i}", [change], None, time.time()))
    assert len(keys) == 8
    # The receiver holds the first batch (it has processed it, but has not answered) while
    # the worker is killed: those rows stay claimed until the claim expires.
    with Receiver(lambda n, k: HOLD if n < 4 else OK, hold=1.0) as receiver:
        settings = {
            "db": store_url,
            "url": receiver.url,
            "mode": "forever",
            "timeout": 1.0,
            "claim_ttl": 2.5,
            "batch_size": 4,
            "concurrency": 4,
            "poll_interval": 0.1,
            "backoff_base": 0.05,
            "backoff_cap": 0.2,
        }
        victim = start_worker(settings)
        try:
            # Kill once the receiver has processed (not yet answered) an event.
            assert receiver.first_processed.wait(15), victim.stderr.read() if victim.stderr else ""
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        finally:
            if victim.poll() is None:
                victim.kill()
        assert victim.returncode == -signal.SIGKILL
        stuck = store.status(now=time.time())
        assert stuck.in_flight >= 1 and stuck.delivered == 0  # killed mid-delivery

        survivor = start_worker(settings)
        try:
            assert wait_until(lambda: store.status(now=time.time()).delivered == 8, 20)
        finally:
            survivor.send_signal(signal.SIGTERM)
            out, err = survivor.communicate(timeout=15)
        assert survivor.returncode == 0, err  # graceful stop on SIGTERM
        assert json.loads(out.strip().splitlines()[-1])["delivered"] >= 4
    status = store.status(now=time.time())
    assert (status.delivered, status.pending, status.in_flight, status.failed) == (8, 0, 0, 0)
    assert receiver.unique == keys
    kinds = Counter(json.loads(body)["type"] for body in receiver.bodies.values())
    assert kinds == {"identify": 4, "segment.certain": 2, "audience.entered": 2}
    # The held batch was processed by the receiver before the kill and delivered again
    # after it: at least once, de-duplicated by key.
    assert sum(receiver.received.values()) > len(keys)
    assert receiver.overlaps == 0
    store.close()


@pytest.mark.slow
def test_two_worker_processes_share_the_outbox_without_overlap(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    keys = set(queue_identifies(store, 40))
    with Receiver(delay=0.05) as receiver:
        common = {
            "db": store_url,
            "url": receiver.url,
            "mode": "drain",
            "timeout": 5.0,
            "claim_ttl": 30.0,
            "batch_size": 3,
            "concurrency": 3,
            "go": str(tmp_path / "go"),
        }
        workers = [start_worker({**common, "ready": str(tmp_path / f"ready{i}")}) for i in range(2)]
        assert wait_until(lambda: all((tmp_path / f"ready{i}").exists() for i in range(2)), 20)
        (tmp_path / "go").write_text("go")
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    assert receiver.overlaps == 0  # never the same event twice at the same time
    assert receiver.unique == keys
    assert all(count == 1 for count in receiver.received.values())  # nor twice at all
    assert sum(r["delivered"] for r in results) == 40
    assert all(r["delivered"] > 0 for r in results), results  # both really worked
    status = store.status(now=time.time())
    assert (status.delivered, status.pending, status.in_flight) == (40, 0, 0)
    store.close()


# --------------------------------------------------------------------------- lifespan worker


def test_lifespan_worker_delivers_new_events_and_stops_promptly(store: Store) -> None:
    with Receiver() as receiver:
        config = fast_config(receiver.url, poll_interval=0.05)

        async def main() -> float:
            async with sync_worker(store, config):
                await anyio.to_thread.run_sync(lambda: queue_identifies(store, 3))
                with anyio.fail_after(10):
                    while store.status(now=time.time()).delivered < 3:
                        await anyio.sleep(0.02)
                stopping = time.monotonic()
            return time.monotonic() - stopping

        stop_time = anyio.run(main)
    assert len(receiver.unique) == 3
    assert stop_time < 1.0


def test_lifespan_worker_survives_a_store_that_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "smartseg.db"
    path.write_bytes(b"garbage" * 1000)
    guarded = GuardedStore(str(path), retry_interval=0.1)
    config = fast_config("http://127.0.0.1:1/hook", poll_interval=0.05)

    async def main() -> None:
        async with sync_worker(guarded, config):
            await anyio.sleep(0.5)

    with caplog.at_level(logging.ERROR, logger="smartseg.sync"):
        anyio.run(main)  # neither raises nor hangs
    messages = [r.getMessage() for r in caplog.records if r.name == "smartseg.sync"]
    assert len([m for m in messages if "answer bank unavailable" in m]) == 1  # once, not spam


# --------------------------------------------------------------------------- policy & config


@given(
    attempts=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=100),
    factor=st.floats(min_value=1, max_value=1000),
    seed=st.integers(),
)
def test_backoff_is_exponential_jittered_and_capped(
    attempts: int, base: float, factor: float, seed: int
) -> None:
    cap = base * factor
    delay = backoff_delay(attempts, base, cap, random.Random(seed))
    ceiling = min(cap, base * 2 ** (attempts - 1))
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 1000.0, rng) for n in range(1, 8)]
    assert all(later > earlier for earlier, later in itertools.pairwise(delays[1:]))
    assert delays[-1] >= 32


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None


def test_config_validation() -> None:
    with pytest.raises(SyncConfigError, match="SMARTSEG_WEBHOOK_URL"):
        SyncConfig(url="", secret="s")
    with pytest.raises(SyncConfigError, match="http:// or https://"):
        SyncConfig(url="ftp://example.com/x", secret="s")
    with pytest.raises(SyncConfigError, match="SMARTSEG_WEBHOOK_SECRET"):
        SyncConfig(url="https://crm.example.com/hook", secret="")
    with pytest.raises(SyncConfigError, match="claim_ttl"):
        SyncConfig(url="https://x.example/h", secret="s", timeout=10, claim_ttl=5)
    config = SyncConfig(url="https://x.example/h", secret="s", timeout=10, batch_size=20)
    assert config.claim_ttl > 3 * 10  # derived: longer than the longest batch
    env = {
        "SMARTSEG_WEBHOOK_URL": "https://crm.example.com/hook",
        "SMARTSEG_WEBHOOK_SECRET": "s",
        "SMARTSEG_WEBHOOK_TIMEOUT": "3",
    }
    from_env = SyncConfig.from_env(env, max_age=60.0, secret=None)
    assert (from_env.url, from_env.secret, from_env.timeout, from_env.max_age) == (
        "https://crm.example.com/hook",
        "s",
        3.0,
        60.0,
    )
    with pytest.raises(SyncConfigError, match="SMARTSEG_WEBHOOK_TIMEOUT"):
        SyncConfig.from_env({**env, "SMARTSEG_WEBHOOK_TIMEOUT": "soon"})


def test_logs_carry_no_email_and_no_url_secret(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.identify("v1", "jane.secret@example.com", None, time.time())
    with (
        caplog.at_level(logging.DEBUG, logger="smartseg"),
        Receiver(lambda n, k: FAIL_500 if n == 0 else REJECT_400 if n == 1 else OK) as receiver,
    ):
        config = fast_config(receiver.url)
        deliver_once(store, config)
        time.sleep(0.15)
        deliver_once(store, config)
    assert "delivery #1" in caplog.text  # it did log the retry and the failure
    assert "failed for good" in caplog.text
    assert "jane.secret" not in caplog.text
    assert "token=abc" not in caplog.text


# --------------------------------------------------------------------------- CLI


def run_cli(args: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    base_env = {"SMARTSEG_DB": "", "SMARTSEG_WEBHOOK_URL": "", "SMARTSEG_WEBHOOK_SECRET": ""}
    return runner.invoke(sync_command, args, env={**base_env, **(env or {})})


def test_cli_status_text_and_json(store_url: str) -> None:
    store = open_store(store_url)
    queue_identifies(store, 3)
    [d, *_] = store.claim("w", 1, now=time.time(), claim_ttl=60)
    store.mark_failed(d.id, d.claim_token, error="HTTP 400 from crm", now=time.time())
    store.close()
    text = run_cli(["--db", store_url, "--status"])
    assert text.exit_code == 0, text.output
    assert "pending      2" in text.output and "failed       1" in text.output
    assert "p***@example.com" in text.output and "HTTP 400 from crm" in text.output
    assert "person0@example.com" not in text.output
    result = run_cli(["--status", "--format", "json"], env={"SMARTSEG_DB": store_url})
    info = json.loads(result.output)
    assert (info["pending"], info["failed"], info["delivered"], info["in_flight"]) == (2, 1, 0, 0)
    assert info["oldest_pending_age_seconds"] >= 0
    assert info["failures"][0]["last_error"] == "HTTP 400 from crm"


def test_cli_once_exit_codes(store_url: str) -> None:
    store = open_store(store_url)
    queue_identifies(store, 2)
    store.close()
    with Receiver(lambda n, k: FAIL_500 if n == 0 else OK) as receiver:
        env = {"SMARTSEG_WEBHOOK_URL": receiver.url, "SMARTSEG_WEBHOOK_SECRET": SECRET}
        failing = run_cli(["--db", store_url, "--once"], env)
        assert failing.exit_code == 1, failing.output
        assert "delivered 1, retrying 1" in failing.output
        store = open_store(store_url)
        # make the retry due now instead of in ~30 s (the CLI's default backoff)
        [d] = store.claim("test", 1, now=time.time() + 3600, claim_ttl=1)
        store.mark_retry(d.id, d.claim_token, next_attempt_at=0, error="x", now=0)
        store.close()
        ok = run_cli(["--db", store_url, "--once", "--format", "json"], env)
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["status"]["delivered"] == 2
    assert len(receiver.unique) == 2


def test_cli_errors_are_clear_and_never_tracebacks(tmp_path: Path) -> None:
    db = str(tmp_path / "bank.db")
    missing_url = run_cli(["--db", db, "--once"])
    assert missing_url.exit_code == 2
    assert "SMARTSEG_WEBHOOK_URL" in missing_url.output and "Traceback" not in missing_url.output
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"garbage" * 1000)
    broken = run_cli(["--db", str(corrupt), "--status"])
    assert broken.exit_code == 2
    assert "not a valid SQLite database" in broken.output
    assert "Traceback" not in broken.output
    assert broken.exception is None or isinstance(broken.exception, SystemExit)
    unsupported = run_cli(["--db", "mysql://x/y", "--status"])
    assert unsupported.exit_code == 2 and "unsupported answer bank URL" in unsupported.output
    both = run_cli(["--db", db, "--status", "--once"])
    assert both.exit_code == 2
    bad_age = run_cli(
        ["--db", db, "--once", "--url", "http://127.0.0.1:1/h", "--secret", "s", "--max-age", "x"]
    )
    assert bad_age.exit_code == 2 and "bad duration" in bad_age.output


def test_cli_retry_failed(tmp_path: Path) -> None:
    db = str(tmp_path / "bank.db")
    store = open_store(db)
    queue_identifies(store, 1)
    [d] = store.claim("w", 1, now=time.time(), claim_ttl=60)
    store.mark_failed(d.id, d.claim_token, error="HTTP 401", now=time.time())
    store.close()
    result = run_cli(["--db", db, "--retry-failed"])
    assert result.exit_code == 0 and "requeued 1 failed delivery" in result.output
    store = open_store(db)
    assert store.status(now=time.time()).pending == 1
    store.close()


def test_cli_is_wired_into_the_smartseg_group() -> None:
    from smartseg_dsl.cli import main

    result = CliRunner().invoke(main, ["sync", "--help"])
    assert result.exit_code == 0 and "--once" in result.output


# --------------------------------------------------------------------------- example receiver


def test_documented_example_receiver(store: Store, tmp_path: Path) -> None:
    import importlib.util
    import sqlite3

    import httpx

    from smartseg_dsl.sync import request_headers

    spec = importlib.util.spec_from_file_location(
        "example_receiver", Path(__file__).resolve().parent.parent / "docs/examples/receiver.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.create_app(["old-secret", SECRET], str(tmp_path / "receiver.db"))

    store.record_answer("phone", "Industry.Legal", "yes", time.time())
    store.identify("phone", "jane@example.com", None, time.time())
    store.record_tag("phone", "vip", time.time())
    deliveries = store.claim("w", 10, now=time.time(), claim_ttl=60)
    first = deliveries[0]

    async def post(d: Delivery, body: bytes, secret: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            return await client.post("/smartseg", content=body, headers=request_headers(d, secret))

    async def main() -> None:
        for d in deliveries:
            ok = await post(d, d.body, SECRET)
            assert ok.status_code == 200 and ok.json() == {"ok": True}
        again = await post(first, first.body, SECRET)
        assert again.json() == {"ok": True, "duplicate": True}
        forged = await post(first, first.body.replace(b"jane", b"mallory"), SECRET)
        assert forged.status_code == 401
        assert (await post(first, first.body, "nope")).status_code == 401

    anyio.run(main)
    with sqlite3.connect(tmp_path / "receiver.db") as db:
        [(data,)] = db.execute("SELECT data FROM contacts").fetchall()
    contact = json.loads(data)
    assert [a["about"] for a in contact["answers"]] == ["Industry.Legal"]  # not doubled
    assert [t["tag"] for t in contact["tags"]] == ["vip"]
