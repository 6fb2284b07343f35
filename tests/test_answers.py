"""The answer bank (smartseg_dsl.answers): recording, identify, forget, the outbox
operations, validation and the degraded-store behaviour — against SQLite and PostgreSQL
alike (the ``store`` fixture is parametrized over both backends)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from answers_fixtures import (
    ROOT,
    SNAPSHOT,
    backend_of,
)

from smartseg_dsl.answers import (
    AnswerBankError,
    Event,
    GuardedStore,
    InvalidEmailError,
    InvalidInputError,
    Store,
    StoreUnavailableError,
    UnknownAboutError,
    ValueTooLargeError,
    check_answer,
    mask_email,
    normalize_email,
    open_store,
)

NOW = 1_800_000_000.0
SCHEMA = json.loads((ROOT / "docs" / "webhook.schema.json").read_text())
GROUPS = {"Industry": ["Legal", "RealEstate"], "Size": ["Small", "Large"]}


def bodies(store: Store) -> list[dict]:
    """Every queued delivery's body, oldest first (claims them: for inspection only)."""
    claimed = store.claim("inspector", 1000, now=time.time() + 1, claim_ttl=60)
    return [json.loads(d.body) for d in claimed]


# --------------------------------------------------------------------------- recording


def test_records_are_appended_with_visitor_and_time(store: Store) -> None:
    store.record_answer("v1", "Industry.Legal", "yes", NOW)
    store.record_dismissal("v1", "Size", NOW + 1)
    store.record_tag("v1", "lawyer", NOW + 2)
    store.record_answer("v1", "Industry.Legal", "no", NOW + 3)  # a change of mind is kept too
    store.record_answer("v2", "Size", "Small", NOW)
    assert store.history("v1") == [
        Event("answer", "Industry.Legal", "yes", NOW),
        Event("dismissal", "Size", None, NOW + 1),
        Event("tag", "lawyer", None, NOW + 2),
        Event("answer", "Industry.Legal", "no", NOW + 3),
    ]
    assert store.history("v2") == [Event("answer", "Size", "Small", NOW)]
    assert store.history("nobody") == []


def test_nothing_is_queued_before_identify(store: Store) -> None:
    assert store.record_answer("v1", "Industry.Legal", "yes", NOW) is None
    assert store.record_tag("v1", "lawyer", NOW) is None
    status = store.status(now=NOW)
    assert (status.pending, status.in_flight, status.delivered, status.failed) == (0, 0, 0, 0)


def test_identify_queues_one_sync_of_everything_known(store: Store) -> None:
    store.record_answer("v1", "Industry.Legal", "yes", NOW)
    store.record_tag("v1", "lawyer", NOW + 1)
    store.record_dismissal("v1", "Size", NOW + 2)
    key = store.identify("v1", "  Jane.Doe@Example.COM ", SNAPSHOT, NOW + 3)
    assert store.status(now=time.time()).pending == 1
    [body] = bodies(store)
    jsonschema.validate(body, SCHEMA)
    assert body["id"] == key
    assert body["type"] == "identify"
    assert body["email"] == "jane.doe@example.com"
    assert body["visitor_id"] == "v1"
    assert body["visitor_ids"] == ["v1"]
    assert [(a["about"], a["value"]) for a in body["answers"]] == [("Industry.Legal", "yes")]
    assert [t["tag"] for t in body["tags"]] == ["lawyer"]
    assert body["groups"] == {
        "Industry": {"most_likely": "Legal", "confidence": 0.42, "certain": False}
    }
    assert body["occurred_at"] == "2027-01-15T08:00:03.000Z"


def test_answers_and_tags_after_identify_queue_their_own_sync(store: Store) -> None:
    store.identify("v1", "jane@example.com", None, NOW)
    certain = {"groups": {"Industry": {"most_likely": "Legal", "confidence": 1, "certain": True}}}
    answer_key = store.record_answer("v1", "Industry.Legal", "yes", NOW + 1, certain)
    tag_key = store.record_tag("v1", "vip", NOW + 2)
    store.record_dismissal("v1", "Size", NOW + 3)  # a dismissal is not CRM material
    assert answer_key and tag_key and answer_key != tag_key
    payloads = bodies(store)
    for body in payloads:
        jsonschema.validate(body, SCHEMA)
    assert [b["type"] for b in payloads] == ["identify", "answer", "tag"]
    answer = payloads[1]
    assert answer["id"] == answer_key and answer["email"] == "jane@example.com"
    assert answer["answers"] == [
        {"about": "Industry.Legal", "value": "yes", "at": "2027-01-15T08:00:01.000Z"}
    ]
    assert answer["groups"]["Industry"]["certain"] is True
    assert payloads[2]["tags"][0]["tag"] == "vip" and payloads[2]["answers"] == []


def test_two_devices_one_email_sync_both_histories(store: Store) -> None:
    store.record_answer("phone", "Industry.Legal", "yes", NOW)
    store.identify("phone", "jane@example.com", SNAPSHOT, NOW + 1)
    store.record_answer("laptop", "Size", "Large", NOW + 2)
    store.record_tag("laptop", "lawyer", NOW + 3)
    store.identify("laptop", "JANE@example.com", SNAPSHOT, NOW + 4)
    first, second = bodies(store)
    assert first["visitor_ids"] == ["phone"]
    assert second["visitor_id"] == "laptop"
    assert set(second["visitor_ids"]) == {"phone", "laptop"}
    assert [(a["about"], a["value"]) for a in second["answers"]] == [
        ("Industry.Legal", "yes"),
        ("Size", "Large"),
    ]
    assert [t["tag"] for t in second["tags"]] == ["lawyer"]


def test_forget_deletes_rows_and_every_delivery_carrying_them(store: Store) -> None:
    store.record_answer("phone", "Industry.Legal", "yes", NOW)
    store.identify("phone", "jane@example.com", SNAPSHOT, NOW + 1)
    store.record_answer("laptop", "Size", "Large", NOW + 2)
    store.identify("laptop", "jane@example.com", SNAPSHOT, NOW + 3)  # carries phone's answer
    store.record_answer("other", "Size", "Small", NOW)
    store.identify("other", "bob@example.com", SNAPSHOT, NOW)
    assert store.status(now=time.time()).pending == 3

    deleted = store.forget("phone")
    assert deleted > 0
    assert store.history("phone") == []
    # laptop's own history stays, but its queued sync contained phone's data: gone too.
    assert [e.kind for e in store.history("laptop")] == ["answer", "identify"]
    assert store.status(now=time.time()).pending == 1
    [remaining] = bodies(store)
    assert remaining["email"] == "bob@example.com"
    # identify after forget no longer links to the forgotten device
    store.identify("laptop", "jane@example.com", None, NOW + 5)
    latest = bodies(store)[-1]
    assert latest["visitor_ids"] == ["laptop"]
    assert store.forget("never-seen") == 0


def test_forget_removes_delivered_and_failed_rows_too(store: Store) -> None:
    store.identify("v1", "jane@example.com", None, NOW)
    store.identify("v1", "jane@example.com", None, NOW + 1)
    first, second = store.claim("w", 10, now=time.time(), claim_ttl=60)
    store.mark_delivered(first.id, now=time.time())
    store.mark_failed(second.id, second.claim_token, error="boom", now=time.time())
    store.forget("v1")
    status = store.status(now=time.time())
    assert (status.delivered, status.failed, status.pending) == (0, 0, 0)


# --------------------------------------------------------------------------- outbox


def test_claim_is_exclusive_and_expires(store: Store) -> None:
    store.identify("v1", "a@example.com", None, NOW)
    store.identify("v2", "b@example.com", None, NOW)
    now = time.time()
    first = store.claim("w1", 10, now=now, claim_ttl=30)
    assert len(first) == 2 and all(d.attempts == 1 for d in first)
    assert store.claim("w2", 10, now=now + 29, claim_ttl=30) == []
    status = store.status(now=now + 1)
    assert (status.in_flight, status.pending) == (2, 0)
    # The worker died: after claim_ttl the rows are due again, counted as pending.
    assert store.status(now=now + 31).pending == 2
    again = store.claim("w2", 10, now=now + 31, claim_ttl=30)
    assert [d.id for d in again] == [d.id for d in first]
    assert all(d.attempts == 2 for d in again)
    assert {d.key for d in again} == {d.key for d in first}  # Idempotency-Key is stable
    # The first worker's late outcome cannot clobber the new claim…
    stale = first[0]
    assert not store.mark_retry(stale.id, stale.claim_token, next_attempt_at=0, error="x", now=0)
    assert not store.mark_failed(stale.id, stale.claim_token, error="x", now=now)
    # …but a success is a success, whoever reports it.
    assert store.mark_delivered(stale.id, now=now + 32)
    assert not store.mark_delivered(stale.id, now=now + 33)
    assert not store.mark_retry(
        again[0].id, again[0].claim_token, next_attempt_at=0, error="x", now=0
    )


def test_retry_schedule_and_failure_are_kept_and_listed(store: Store) -> None:
    store.identify("v1", "jane@example.com", None, NOW)
    store.identify("v2", "bob@example.com", None, NOW)
    now = time.time()
    a, b = store.claim("w", 10, now=now, claim_ttl=30)
    assert store.mark_retry(
        a.id, a.claim_token, next_attempt_at=now + 100, error="HTTP 500", now=now
    )
    assert store.mark_failed(b.id, b.claim_token, error="HTTP 400 from x", now=now)
    assert store.claim("w", 10, now=now + 99, claim_ttl=30) == []
    status = store.status(now=now)
    assert (status.pending, status.failed, status.in_flight) == (1, 1, 0)
    assert status.next_attempt_at == pytest.approx(now + 100)
    [failure] = status.failures
    assert failure.id == b.id and failure.last_error == "HTTP 400 from x"
    assert failure.email_masked == "b***@example.com"
    assert store.requeue_failed(now=now + 1) == 1
    assert [d.id for d in store.claim("w", 10, now=now + 2, claim_ttl=300)] == [b.id]
    assert [d.id for d in store.claim("w", 10, now=now + 100, claim_ttl=30)] == [a.id]


def test_due_by_limits_a_run_to_rows_due_when_it_started(store: Store) -> None:
    store.identify("v1", "jane@example.com", None, NOW)
    now = time.time()
    [d] = store.claim("w", 10, now=now, claim_ttl=30)
    store.mark_retry(d.id, d.claim_token, next_attempt_at=now + 1, error="x", now=now)
    assert store.claim("w", 10, now=now + 2, claim_ttl=30, due_by=now) == []
    assert len(store.claim("w", 10, now=now + 2, claim_ttl=30)) == 1


def test_concurrent_threads_record_and_claim_safely(store_url: str) -> None:
    shared = open_store(store_url)
    errors: list[BaseException] = []

    def record(worker: int) -> None:
        try:
            for i in range(25):
                vid = f"t{worker}x{i}"
                shared.record_answer(vid, "Industry.Legal", "yes", NOW)
                shared.identify(vid, f"p{worker}.{i}@example.com", None, NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert shared.status(now=time.time()).pending == 200

    claimed: list[list[int]] = [[] for _ in range(8)]

    def claim(worker: int) -> None:
        try:
            while batch := shared.claim(f"w{worker}", 7, now=time.time(), claim_ttl=60):
                claimed[worker].extend(d.id for d in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = [i for ids in claimed for i in ids]
    assert len(every) == 200 and len(set(every)) == 200  # each row claimed exactly once
    shared.close()


# --------------------------------------------------------------------------- schema / URLs


def test_reopening_keeps_data_and_schema_version(store_url: str) -> None:
    first = open_store(store_url)
    first.record_answer("v1", "Industry.Legal", "yes", NOW)
    version = first.schema_version()  # type: ignore[attr-defined]
    first.close()
    second = open_store(store_url)
    assert second.schema_version() == version >= 1  # type: ignore[attr-defined]
    assert len(second.history("v1")) == 1
    second.close()


def test_a_newer_schema_is_refused_clearly(store_url: str) -> None:
    open_store(store_url).close()
    if backend_of(store_url) == "sqlite":
        path = store_url.removeprefix("sqlite://")
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE smartseg_meta SET value = '99' WHERE key = 'schema_version'")
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("UPDATE smartseg_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailableError, match=r"schema version 99, newer.*upgrade smartseg"):
        open_store(store_url)


def test_sqlite_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    store = open_store(str(path))
    store.record_answer("v1", "Industry.Legal", "yes", NOW)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_sqlite_durability_option_in_the_url(tmp_path: Path) -> None:
    default = open_store(str(tmp_path / "normal.db"))
    strict = open_store(f"sqlite://{tmp_path}/full.db?synchronous=full")
    # PRAGMA synchronous (per connection, so ask the store's own): 1 = NORMAL, 2 = FULL
    for store, expected in ((default, 1), (strict, 2)):
        with store._read() as tx:  # type: ignore[attr-defined]
            assert tx.q("PRAGMA synchronous").fetchone()[0] == expected
    default.close()
    strict.close()
    with pytest.raises(AnswerBankError, match="unknown SQLite URL option 'journal'"):
        open_store(f"sqlite://{tmp_path}/x.db?journal=off")
    with pytest.raises(AnswerBankError, match="synchronous must be one of"):
        open_store(f"sqlite://{tmp_path}/x.db?synchronous=sometimes")


def test_short_lived_threads_do_not_leak_sqlite_connections(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "bank.db"))
    for n in range(40):  # like anyio's worker threads, which exit when idle
        thread = threading.Thread(
            target=store.record_answer, args=(f"v{n}", "Industry.Legal", "yes", NOW)
        )
        thread.start()
        thread.join()
    assert len(store._idle) == 1  # type: ignore[attr-defined]  # one, reused by all
    open_fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    store.close()
    assert store._idle == []  # type: ignore[attr-defined]
    if open_fds:
        assert len(os.listdir("/proc/self/fd")) < open_fds


def test_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = open_store()
    assert default.description == f"sqlite://{tmp_path / 'smartseg.db'}"
    default.close()
    assert (tmp_path / "smartseg.db").exists()
    for url, name in [
        ("plain.db", "plain.db"),
        (f"sqlite://{tmp_path}/abs.db", "abs.db"),
        (f"sqlite:///{tmp_path}/four-slashes.db", "four-slashes.db"),
    ]:
        opened = open_store(url)
        opened.close()
        assert (tmp_path / name).exists(), url
    with pytest.raises(AnswerBankError, match="unsupported answer bank URL scheme 'mysql'"):
        open_store("mysql://localhost/x")
    with pytest.raises(AnswerBankError, match="real SQLite file"):
        open_store(":memory:")
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        open_store(str(tmp_path / "missing-dir" / "x.db"))


def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        open_store("postgresql://app:s3cret@127.0.0.1:1/bank", connect_timeout=2)
    message = str(caught.value)
    assert "cannot reach PostgreSQL at postgresql://app:***@127.0.0.1:1/bank" in message
    assert "s3cret" not in message


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "plainaddress",
        "two@@example.com",
        "a@b@example.com",
        "@example.com",
        "jane@",
        "jane@localhost",
        "jane@example",
        "jane@-example.com",
        "jane@exa_mple.com",
        "jane@example.c",
        "jane doe@example.com",
        "jane@example.com\r\nBcc: x@y.com",
        ".jane@example.com",
        "jane..doe@example.com",
        '"quoted"@example.com',
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        None,
        42,
    ],
)
def test_malformed_email_is_refused(store: Store, email: object) -> None:
    with pytest.raises(InvalidEmailError):
        store.identify("v1", email, None, NOW)  # type: ignore[arg-type]
    assert store.history("v1") == []
    assert store.status(now=NOW).pending == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Jane@Example.com", "jane@example.com"),
        (" jane+news@mail.example.co.uk ", "jane+news@mail.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("jane@bücher.example", "jane@xn--bcher-kva.example"),
    ],
)
def test_email_normalization(given: str, stored: str) -> None:
    assert normalize_email(given) == stored


def test_mask_email() -> None:
    assert mask_email("jane@example.com") == "j***@example.com"
    assert mask_email(None) == "***"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.record_answer("v1", "Industry.Legal", "x" * 257, NOW), ValueTooLargeError),
        (lambda s: s.record_answer("v1", "Industry.Legal", "é" * 129, NOW), ValueTooLargeError),
        (lambda s: s.record_answer("v1", "Industry.Legal", "", NOW), InvalidInputError),
        (lambda s: s.record_answer("v1", "Industry.Legal", "a\x00b", NOW), InvalidInputError),
        (lambda s: s.record_answer("v1", "Industry.Legal", 3, NOW), InvalidInputError),
        (lambda s: s.record_answer("v1", "Industry..Legal", "yes", NOW), UnknownAboutError),
        (lambda s: s.record_answer("v1", "Industry.Legal.X", "yes", NOW), UnknownAboutError),
        (lambda s: s.record_answer("v1", "1ndustry", "yes", NOW), UnknownAboutError),
        (lambda s: s.record_answer("v1", "<script>", "yes", NOW), UnknownAboutError),
        (lambda s: s.record_answer("v1", "G" * 65, "yes", NOW), ValueTooLargeError),
        (lambda s: s.record_dismissal("v1", "", NOW), UnknownAboutError),
        (lambda s: s.record_tag("v1", "t" * 101, NOW), ValueTooLargeError),
        (lambda s: s.record_tag("v1", "a\nb", NOW), InvalidInputError),
        (lambda s: s.record_answer("bad id!", "Industry.Legal", "yes", NOW), InvalidInputError),
        (lambda s: s.record_answer("x" * 65, "Industry.Legal", "yes", NOW), InvalidInputError),
        (lambda s: s.record_answer("v1", "Industry.Legal", "yes", float("nan")), InvalidInputError),
        (lambda s: s.record_answer("v1", "Industry.Legal", "yes", "now"), InvalidInputError),
        (
            lambda s: s.identify("v1", "a@example.com", {"groups": [], "x": 1}, NOW),
            InvalidInputError,
        ),
        (
            lambda s: s.identify(
                "v1", "a@example.com", {"groups": {"G": {"confidence": 1.5}}}, NOW
            ),
            InvalidInputError,
        ),
        (
            lambda s: s.identify(
                "v1", "a@example.com", {"groups": {"G": {"most_likely": "no such"}}}, NOW
            ),
            InvalidInputError,
        ),
        (
            lambda s: s.identify(
                "v1",
                "a@example.com",
                {"groups": {f"G{i}": {} for i in range(65)}},
                NOW,
            ),
            ValueTooLargeError,
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_is_recorded(store: Store, call, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as caught:
        call(store)
    assert isinstance(caught.value, AnswerBankError) and str(caught.value)
    assert store.history("v1") == []


def test_largest_allowed_values_are_kept_intact(store: Store) -> None:
    value = "é" * 128  # 256 bytes: exactly the limit
    store.record_answer("v1", "Industry.Legal", value, NOW)
    store.record_tag("v1", "t" * 100, NOW)
    answer, tag = store.history("v1")
    assert answer.value == value and tag.subject == "t" * 100


def test_check_answer_against_the_rule_set() -> None:
    check_answer("Industry.Legal", "yes", GROUPS)
    check_answer("Industry.Legal", "no", GROUPS)
    check_answer("Industry", "RealEstate", GROUPS)
    check_answer("Industry", "other", GROUPS)
    with pytest.raises(UnknownAboutError, match="unknown group 'Sector'"):
        check_answer("Sector.Legal", "yes", GROUPS)
    with pytest.raises(UnknownAboutError, match=r"unknown segment 'Industry\.Medical'"):
        check_answer("Industry.Medical", "yes", GROUPS)
    with pytest.raises(InvalidInputError, match="must be 'yes' or 'no'"):
        check_answer("Industry.Legal", "maybe", GROUPS)
    with pytest.raises(InvalidInputError, match="one of: Legal, RealEstate, other"):
        check_answer("Industry", "Small", GROUPS)


# --------------------------------------------------------------------------- degraded store


def _corrupt(path: Path) -> None:
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)


def test_corrupt_sqlite_file_is_a_clear_error_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "smartseg.db"
    _corrupt(path)
    with pytest.raises(StoreUnavailableError, match=r"not a valid SQLite database.*move it aside"):
        open_store(str(path))
    assert path.read_bytes().startswith(b"this is not a database")  # never clobbered


def _open_as_unprivileged(path: Path) -> str:
    """Try open_store(path) as a user who may read but not write it; return the error."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            open_store(str(path))
        except StoreUnavailableError as exc:
            return str(exc)
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)
        return "opened"
    # Root writes anything: drop to `nobody` in a forked child (modules already imported).
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                open_store(str(path))
                message = "opened"
            except StoreUnavailableError as exc:
                message = str(exc)
            except BaseException as exc:
                message = f"unexpected {exc!r}"
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        return pipe.read().decode()


def test_read_only_sqlite_file_is_a_clear_error_at_start_up() -> None:
    # Not tmp_path: pytest's base directory is private to its user, and the
    # unprivileged opener must be able to reach the file to find it read-only.
    directory = Path(tempfile.mkdtemp(prefix="smartseg-ro-"))
    try:
        directory.chmod(0o755)
        path = directory / "smartseg.db"
        open_store(str(path)).close()
        message = _open_as_unprivileged(path)
        assert "is read-only" in message or "cannot open" in message, message
        assert str(path) in message
    finally:
        shutil.rmtree(directory)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_guarded_store_keeps_serving_refuses_writes_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "smartseg.db"
    _corrupt(path)
    clock = _Clock()
    with caplog.at_level(logging.WARNING, logger="smartseg.answers"):
        guarded = GuardedStore(str(path), retry_interval=30, clock=clock)  # never raises
    assert not guarded.available
    assert "not a valid SQLite database" in (guarded.error or "")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert str(path) in record.getMessage() and "answers and identify are refused" in (
        record.getMessage()
    )
    caplog.clear()
    with pytest.raises(StoreUnavailableError, match="not a valid SQLite database"):
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # logged once
    path.unlink()  # the operator moved the broken file aside
    clock.now = 10
    with pytest.raises(StoreUnavailableError):  # not retried before the interval
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
    clock.now = 31
    with caplog.at_level(logging.WARNING, logger="smartseg.answers"):
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
    assert guarded.available and guarded.error is None
    assert "available again" in caplog.text
    assert [e.value for e in guarded.history("v1")] == ["yes"]
    guarded.close()


def test_guarded_store_drops_a_store_that_breaks_at_run_time() -> None:
    calls: list[str] = []

    class Breaking:
        description = "fake://"

        def record_answer(self, *args: object, **kwargs: object) -> None:
            calls.append("record")
            raise StoreUnavailableError("disk error", reopen=True)

        def close(self) -> None:
            calls.append("close")

    clock = _Clock()
    guarded = GuardedStore("fake://", opener=lambda url: Breaking(), clock=clock)  # type: ignore[arg-type, return-value]
    assert guarded.available
    with pytest.raises(StoreUnavailableError, match="disk error"):
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
    assert calls == ["record", "close"] and not guarded.available
    with pytest.raises(StoreUnavailableError):
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
    assert calls == ["record", "close"]  # refused at once, not hammered


def test_guarded_store_with_unreachable_postgres(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="smartseg.answers"):
        guarded = GuardedStore("postgresql://app:s3cret@127.0.0.1:1/bank", connect_timeout=1)
    assert not guarded.available
    assert "cannot reach PostgreSQL" in caplog.text and "s3cret" not in caplog.text
    with pytest.raises(StoreUnavailableError):
        guarded.identify("v1", "jane@example.com", None, NOW)


def test_invalid_input_through_the_guard_is_still_a_400_not_an_outage(tmp_path: Path) -> None:
    guarded = GuardedStore(str(tmp_path / "bank.db"))
    with pytest.raises(InvalidEmailError):
        guarded.identify("v1", "not-an-email", None, NOW)
    assert guarded.available  # bad input does not take the store down
    guarded.close()
