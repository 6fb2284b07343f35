"""SQLite backend of the answer bank (the embedded default; see ``answers.py``).

One file, WAL mode (readers never block the writer), a small pool of connections,
``BEGIN IMMEDIATE`` for every write so that concurrent writers — threads of one app or
several worker processes — queue on SQLite's lock instead of failing half-way. The
outbox claim is a single ``UPDATE … RETURNING`` inside that write lock, so two workers
can never claim the same row. The schema is versioned in ``smartseg_meta`` and migrated
forward on open.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from smartseg_dsl.answers import SqlStore, StoreUnavailableError
from smartseg_dsl.measure.events import SQLITE_DDL

# Each entry: (version, statements). Append new versions; never edit a released one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE smartseg_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                visitor_id TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('answer', 'dismissal', 'tag', 'identify')),
                subject TEXT,
                value TEXT,
                at REAL NOT NULL
            )""",
            "CREATE INDEX smartseg_events_visitor ON smartseg_events (visitor_id, at)",
            """CREATE TABLE smartseg_identities (
                visitor_id TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                at REAL NOT NULL
            )""",
            "CREATE INDEX smartseg_identities_email ON smartseg_identities (email)",
            """CREATE TABLE smartseg_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                event_key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                visitor_id TEXT NOT NULL,
                email TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at REAL NOT NULL,
                age_from REAL NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'claimed', 'delivered', 'failed')),
                next_attempt_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                claim_token TEXT,
                claimed_by TEXT,
                last_attempt_at REAL,
                last_error TEXT,
                delivered_at REAL,
                failed_at REAL
            )""",
            "CREATE INDEX smartseg_outbox_due ON smartseg_outbox (next_attempt_at, id) "
            "WHERE status IN ('pending', 'claimed')",
            "CREATE INDEX smartseg_outbox_status ON smartseg_outbox (status, failed_at)",
            """CREATE TABLE smartseg_outbox_visitors (
                outbox_id INTEGER NOT NULL,
                visitor_id TEXT NOT NULL,
                PRIMARY KEY (visitor_id, outbox_id)
            )""",
        ],
    ),
    # Measurement events (SPEC §6): their table and indexes are owned by measure/events.py.
    (2, list(SQLITE_DDL)),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
# SQLite's default limit on `?` in one statement (since 3.32; older: 999)
_MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_ROWS_PER_STATEMENT = 500


class _Tx:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def q(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """`INSERT … VALUES (?, …)` for many rows, as multi-row statements.

        Not `executemany`: sqlite3 releases the GIL around every row's step, and on a
        busy server each re-acquisition waits for the request thread, so a batch of a
        few hundred rows took 100–200 ms of wall time (and the requests paid for the
        hand-offs). One statement per chunk of rows hands the GIL over once.
        """
        head, sep, values = sql.partition(" VALUES ")
        if not sep or not rows:
            self.conn.executemany(sql, rows)
            return
        per = max(1, min(_ROWS_PER_STATEMENT, _MAX_VARIABLES // max(1, len(rows[0]))))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            params = [value for row in chunk for value in row]
            self.conn.execute(head + sep + ",".join([values] * len(chunk)), params)


class SqliteStore(SqlStore):
    """The answer bank in one SQLite file (created on first use)."""

    backend = "sqlite"
    migrations = MIGRATIONS

    def __init__(
        self, path: str | Path, *, synchronous: str = "NORMAL", busy_timeout: float = 10.0
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self.description = f"sqlite://{self.path}"
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self._synchronous = sync
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        if not self.path.parent.is_dir():
            raise StoreUnavailableError(
                f"cannot create {self.path}: directory {self.path.parent} does not exist",
                reopen=True,
            )
        if self.path.is_dir():
            raise StoreUnavailableError(f"{self.path} is a directory, not a database file")
        self._migrate()

    # -- connections
    def _acquire(self) -> sqlite3.Connection:
        # A small pool rather than one connection per thread: the middleware's calls
        # arrive on anyio worker threads that come and go, and per-thread connections
        # would leak a file descriptor for every thread that ever ran.
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("answer bank is closed")
            if self._idle:
                return self._idle.pop()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # used by one thread at a time, any thread
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            # WAL is persistent in the file; setting it again is a no-op. NORMAL (the
            # default) survives an app crash or restart; only an OS crash or power cut
            # may lose the last commits. FULL fsyncs every commit (power-cut safe) at a
            # cost that depends on the disk — see docs/answer-bank.md.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from exc
        return conn

    def _release(self, conn: sqlite3.Connection, *, broken: bool = False) -> None:
        with self._lock:
            if not (broken or self._closed or conn.in_transaction) and len(self._idle) < 8:
                self._idle.append(conn)
                return
        with suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[_Tx]:
        conn = self._acquire()
        broken = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.rollback()
            error = self._translate(exc)
            broken = error.reopen
            raise error from exc
        finally:
            self._release(conn, broken=broken)

    @contextmanager
    def _read(self) -> Iterator[_Tx]:
        conn = self._acquire()
        broken = False
        try:
            conn.execute("BEGIN")  # one snapshot for multi-query reads
            try:
                yield _Tx(conn)
            finally:
                if conn.in_transaction:
                    conn.rollback()
        except sqlite3.Error as exc:
            error = self._translate(exc)
            broken = error.reopen
            raise error from exc
        finally:
            self._release(conn, broken=broken)

    def _translate(self, exc: sqlite3.Error) -> StoreUnavailableError:
        text = str(exc)
        lower = text.lower()
        if "readonly" in lower or "read-only" in lower:
            return StoreUnavailableError(
                f"{self.path} is read-only: make the file and its directory writable by "
                "the app (SQLite also writes -wal and -shm files next to it)",
                reopen=True,
            )
        if "not a database" in lower or "malformed" in lower or "corrupt" in lower:
            return StoreUnavailableError(
                f"{self.path} is not a valid SQLite database (corrupt, or another kind of "
                "file): move it aside and smartseg will create a fresh one on start-up",
                reopen=True,
            )
        if "unable to open" in lower:
            return StoreUnavailableError(
                f"cannot open {self.path}: check that its directory exists and is writable",
                reopen=True,
            )
        if "locked" in lower or "busy" in lower:
            return StoreUnavailableError(
                f"{self.path} stayed locked by another connection for more than "
                f"{self._busy_timeout:g}s"
            )
        if "disk" in lower or "full" in lower or "i/o" in lower:
            return StoreUnavailableError(f"disk error on {self.path}: {text}", reopen=True)
        return StoreUnavailableError(f"SQLite error on {self.path}: {text}", reopen=True)

    def _claim_rows(
        self, tx: _Tx, token: str, worker_id: str, limit: int, now: float, until: float, due: float
    ) -> list[Sequence[Any]]:
        # Claiming pushes next_attempt_at to the claim's expiry: a claim whose worker
        # died simply becomes due again, with no separate sweeper.
        return tx.q(
            "UPDATE smartseg_outbox SET status = 'claimed', claim_token = ?, claimed_by = ?, "
            "next_attempt_at = ?, attempts = attempts + 1, last_attempt_at = ? "
            "WHERE id IN (SELECT id FROM smartseg_outbox "
            "WHERE status IN ('pending', 'claimed') AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, id LIMIT ?) "
            "RETURNING id, event_key, kind, visitor_id, body, created_at, age_from, attempts",
            (token, worker_id, until, now, due, limit),
        ).fetchall()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(sqlite3.Error):
                conn.close()
