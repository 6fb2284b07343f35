"""SQLite backend of the answer bank (the embedded default; see ``__init__.py``).

One file, WAL mode (readers never block the writer), a small pool of connections,
``BEGIN IMMEDIATE`` for every write so that concurrent writers — threads of one app or
several worker processes — queue on SQLite's lock instead of failing half-way. The
outbox claim is a single ``UPDATE … RETURNING`` inside that write lock, so two workers
can never claim the same row. The schema is versioned in ``smartseg_meta`` and migrated
forward on open.

The store remembers which file it opened (device and inode) and checks, with one
``stat`` of the path before every commit and read, that the path still leads to it: a
file removed or replaced while the app runs would otherwise go on taking writes that
nobody will ever read (SQLite keeps writing to an unlinked file). Such a write is rolled
back and refused with :class:`StoreFileLostError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from smartseg_dsl.answers.sql import SqlStore
from smartseg_dsl.answers.store import StoreFileLostError, StoreUnavailableError
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
    # Forgotten visitor ids (their cookies are refused on every server: ForgottenIds), and
    # the idempotency key of answers posted with a form token (a replay adds no row).
    (
        3,
        [
            """CREATE TABLE smartseg_forgotten (
                visitor_id TEXT PRIMARY KEY,
                at REAL NOT NULL
            )""",
            "CREATE INDEX smartseg_forgotten_at ON smartseg_forgotten (at)",
            "ALTER TABLE smartseg_events ADD COLUMN dedupe_key TEXT",
            "CREATE UNIQUE INDEX smartseg_events_dedupe ON smartseg_events (dedupe_key)",
        ],
    ),
    # Inbound data (SPEC §7): the items as received (idempotent by item_id), and one
    # row per visitor an item applies to; `seq` is the change feed PendingInbound polls.
    (
        4,
        [
            """CREATE TABLE smartseg_inbound (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                item_id TEXT NOT NULL UNIQUE,
                visitor_id TEXT,
                email TEXT,
                at REAL NOT NULL,
                stored_at REAL NOT NULL,
                content TEXT NOT NULL
            )""",
            "CREATE INDEX smartseg_inbound_email ON smartseg_inbound (email) "
            "WHERE email IS NOT NULL",
            "CREATE INDEX smartseg_inbound_visitor ON smartseg_inbound (visitor_id) "
            "WHERE visitor_id IS NOT NULL",
            """CREATE TABLE smartseg_inbound_pending (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                item_seq INTEGER NOT NULL,
                visitor_id TEXT NOT NULL,
                due_at REAL NOT NULL,
                applied_at REAL,
                UNIQUE (visitor_id, item_seq)
            )""",
        ],
    ),
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
        #: (st_dev, st_ino) of the file the first connection opened; None before that
        self._file_id: tuple[int, int] | None = None
        if not self.path.parent.is_dir():
            raise StoreUnavailableError(
                f"cannot create {self.path}: directory {self.path.parent} does not exist",
                reopen=True,
            )
        if self.path.is_dir():
            raise StoreUnavailableError(f"{self.path} is a directory, not a database file")
        self._migrate()

    @property
    def file_identity(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the database file this store opened."""
        return self._file_id

    def _check_file(self) -> None:
        """Raise :class:`StoreFileLostError` when the path no longer leads to the file
        this store opened (one ``stat``: about a microsecond)."""
        expected = self._file_id
        if expected is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreFileLostError(
                f"{self.path} was removed while the answer bank had it open: writes are "
                "refused until it is put back (they would go to the deleted file)",
                path=self.path,
                removed=True,
            ) from None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot stat {self.path}: {exc}", reopen=True) from exc
        if (st.st_dev, st.st_ino) != expected:
            raise StoreFileLostError(
                f"{self.path} was replaced by another file while the answer bank had it "
                "open: writes are refused (they would go to the old, unlinked file) until "
                "the store is reopened on the new one",
                path=self.path,
                removed=False,
            )

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
        first = self._file_id is None
        if not first:
            # A later connection must open the same file, never create a new one where
            # ours was removed (mode=rw fails instead of creating).
            self._check_file()
        try:
            conn = sqlite3.connect(
                self.path if first else f"{self.path.as_uri()}?mode=rw",
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # used by one thread at a time, any thread
                uri=not first,
            )
        except sqlite3.Error as exc:
            if not first:
                self._check_file()  # removed meanwhile: say so rather than "cannot open"
            raise self._translate(exc) from exc
        try:
            # WAL is persistent in the file; setting it again is a no-op. NORMAL (the
            # default) survives an app crash or restart; only an OS crash or power cut
            # may lose the last commits. FULL fsyncs every commit (power-cut safe) at a
            # cost that depends on the disk — see docs/answer-bank.md.
            self._enable_wal(conn)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from exc
        try:
            if first:
                st = os.stat(self.path)
                with self._lock:
                    if self._file_id is None:
                        self._file_id = (st.st_dev, st.st_ino)
            self._check_file()
        except OSError as exc:
            conn.close()
            raise StoreUnavailableError(f"cannot stat {self.path}: {exc}", reopen=True) from exc
        except StoreUnavailableError:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL while another connection (thread or process) is
        # opening it too fails at once with "database is locked": SQLite does not run
        # the busy handler for it. Retry within busy_timeout; once one of them has
        # switched, it is a no-op for the others.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.002)

    def _release(self, conn: sqlite3.Connection, *, broken: bool = False) -> None:
        with self._lock:
            if not (broken or self._closed or conn.in_transaction) and len(self._idle) < 8:
                self._idle.append(conn)
                return
        with suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool for one transaction: SQLite errors become
        `StoreUnavailableError`, a broken connection is closed instead of pooled, and
        the WAL is salvaged when the file was lost."""
        conn = self._acquire()
        broken = False
        try:
            yield conn
        except StoreUnavailableError as exc:
            broken = exc.reopen
            if isinstance(exc, StoreFileLostError):
                self._salvage(conn)
            raise
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
    def _write(self) -> Iterator[_Tx]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(conn)
                # Last thing before COMMIT: a file removed or replaced while we ran must
                # not take (and acknowledge) this write.
                self._check_file()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[_Tx]:
        with self._connection() as conn:
            self._check_file()  # the file we read is the store's file
            conn.execute("BEGIN")  # one snapshot for multi-query reads
            try:
                yield _Tx(conn)
            finally:
                if conn.in_transaction:
                    conn.rollback()

    def _salvage(self, conn: sqlite3.Connection) -> None:
        """The file went while we had it open: move what the WAL holds into it (through
        our open descriptor) and empty the WAL. The -wal and -shm files stay at the path
        and belong to the *old* database: left full, SQLite would replay their pages
        into whatever file is put there next, a restored backup included."""
        with suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.rollback()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
