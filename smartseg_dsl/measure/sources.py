"""Where the report's events come from: a database, or a JSON-lines export.

Both end up as an `EventSource`: a read-only connection plus its SQL dialect, so
the aggregation in `aggregate.py` is one set of queries for every input. An
export file is validated line by line with `parse_event` and loaded into a
temporary SQLite database (one `executemany` in one transaction).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .events import COLUMNS, SQLITE_DDL, TABLE, EventFormatError, parse_event

__all__ = [
    "EventFileError",
    "EventSource",
    "SourceError",
    "open_database",
    "open_events_file",
]

Dialect = Literal["sqlite", "postgres"]
MAX_SHOWN_ERRORS = 20
_BATCH = 50_000
# `:name` parameters, but not the `::type` casts of PostgreSQL
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class SourceError(Exception):
    """The events cannot be read; `exit_code` is 2 for usage/IO, 1 for bad input."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class EventFileError(SourceError):
    """Lines of an export file are not valid events; `problems` are `file:LINE: why`."""

    def __init__(self, problems: list[str], count: int) -> None:
        more = count - len(problems)
        lines = problems + ([f"… and {more} more bad line(s)"] if more > 0 else [])
        super().__init__("\n".join(lines), 1)
        self.problems = problems
        self.count = count


@dataclass
class EventSource:
    """A read-only connection to a database that holds the events table."""

    connection: Any
    dialect: Dialect
    name: str

    def query(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run `sql` written with `:name` parameters on either backend."""
        if self.dialect == "postgres":
            sql = _PARAM.sub(r"%(\1)s", sql)
        cursor = self.connection.execute(sql, dict(params))
        return list(cursor.fetchall())

    def close(self) -> None:
        self.connection.close()


@contextlib.contextmanager
def open_database(url: str) -> Iterator[EventSource]:
    """`sqlite:///path`, a plain path, or `postgresql://…`, opened read-only."""
    if url.startswith(("postgresql://", "postgres://")):
        source = _open_postgres(url)
    else:
        from ..answers import sqlite_path_from_url

        path = sqlite_path_from_url(url)
        if path is None:
            scheme = url.split("://", 1)[0]
            raise SourceError(
                f"unsupported database URL scheme {scheme!r}: use a file path, "
                "sqlite:///path/to/file.db or postgresql://user@host/db",
                2,
            )
        source = _open_sqlite(path)
    try:
        _require_table(source)
        yield source
    finally:
        source.close()


def _open_sqlite(path: Path) -> EventSource:
    if not path.is_file():
        raise SourceError(f"cannot open {path}: no such file", 2)
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open {path} as an SQLite database: {exc}", 2) from None
    return EventSource(connection, "sqlite", str(path))


def _open_postgres(url: str) -> EventSource:
    try:
        import psycopg
    except ImportError:
        raise SourceError("PostgreSQL needs psycopg: pip install 'smartseg[postgres]'", 2) from None
    try:
        connection = psycopg.connect(url, connect_timeout=10, autocommit=True)
        # the report only reads; a read-only session makes that a guarantee
        connection.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"cannot connect to PostgreSQL: {detail}", 2) from None
    return EventSource(connection, "postgres", _redact(url))


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def _require_table(source: EventSource) -> None:
    if source.dialect == "sqlite":
        found = source.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t", {"t": TABLE}
        )
    else:
        found = source.query("SELECT to_regclass(:t) IS NOT NULL", {"t": TABLE})
        found = [row for row in found if row[0]]
    if not found:
        raise SourceError(
            f"no measurement events recorded in {source.name} (is smartseg ≥ 0.2 recording?)",
            1,
        )


@contextlib.contextmanager
def open_events_file(path: str) -> Iterator[EventSource]:
    """Validate a JSON-lines export and load it into a temporary SQLite database."""
    with tempfile.TemporaryDirectory(prefix="smartseg-report-") as scratch:
        db = Path(scratch) / "events.db"
        connection = sqlite3.connect(db)
        try:
            _load_file(path, connection)
            yield EventSource(connection, "sqlite", path)
        finally:
            connection.close()


def _load_file(path: str, connection: sqlite3.Connection) -> None:
    # a scratch database: durability would only cost time
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    for statement in SQLITE_DDL:
        connection.execute(statement)
    insert = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    problems: list[str] = []
    bad = 0
    batch: list[tuple[Any, ...]] = []
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", 2) from None
    with handle, connection:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    batch.append(parse_event(json.loads(line)).to_row())
                except (json.JSONDecodeError, EventFormatError) as exc:
                    bad += 1
                    if len(problems) < MAX_SHOWN_ERRORS:
                        problems.append(f"{path}:{number}: {_why(exc)}")
                    continue
                if len(batch) >= _BATCH:
                    connection.executemany(insert, batch)
                    batch.clear()
        except UnicodeDecodeError:
            raise SourceError(f"{path}: not UTF-8 text", 1) from None
        if bad:
            raise EventFileError(problems, bad)
        connection.executemany(insert, batch)


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at column {exc.colno})"
    return str(exc)
