"""`smartseg events export`: print recorded measurement events as JSON lines (SPEC §6).

    smartseg events export --db URL [--from DATE] [--until DATE] > events.jsonl

One compact JSON object per line (`Event.to_json()`), ordered by time (then by the
order they were written); `--from` is inclusive and `--until` exclusive; a DATE is
`YYYY-MM-DD` (UTC midnight) or an ISO 8601 time with a zone. Events are read from the
database a batch at a time, so any size exports in constant memory.

At the end one line goes to stderr: how many events were exported and, when the
recorders had to drop some (queue full, database down), how many were lost — the
export is then incomplete and a report made from it undercounts.

Exit status: 0 ok; 2 usage error, unusable database or output error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import NoReturn, TextIO

import click

from smartseg_dsl.answers import (
    AnswerBankError,
    EventDrops,
    Store,
    open_store,
    redact_url,
    sqlite_path_from_url,
)
from smartseg_dsl.measure.events import EventFormatError, parse_time

PROG = "smartseg events export"


def _fail(message: str) -> NoReturn:
    click.echo(f"{PROG}: error: {message}", err=True)
    raise SystemExit(2)


def parse_date(text: str, option: str) -> float:
    """`YYYY-MM-DD` (UTC midnight) or an ISO 8601 time with a zone → epoch seconds."""
    if len(text) == 10:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            pass
        else:
            return day.timestamp()
    try:
        return parse_time(text, option)
    except EventFormatError as exc:
        raise click.BadParameter(f"{exc} (or a date such as 2026-12-01)") from None


def _drop_line(exported: int, drops: EventDrops) -> str:
    line = f"smartseg: exported {exported:,} event{'' if exported == 1 else 's'}"
    if drops.total:
        line += (
            f"; {drops.total:,} event{' was' if drops.total == 1 else 's were'} dropped while "
            f"recording (queue full: {drops.queue_full:,}, database unavailable: "
            f"{drops.database:,})"
        )
    return line


def _export(store: Store, since: float | None, until: float | None, out: TextIO) -> int:
    count = 0
    for event in store.export_events(since=since, until=until):
        out.write(json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
        count += 1
    out.flush()
    return count


@click.group("events")
def events_group() -> None:
    """Recorded measurement events (SPEC §6)."""


@events_group.command("export")
@click.option("--db", metavar="URL", help="The answer bank's database (file or URL).")
@click.option("--from", "since", metavar="DATE", help="First day or time (inclusive).")
@click.option("--until", metavar="DATE", help="End day or time (exclusive).")
def export_command(db: str | None, since: str | None, until: str | None) -> None:
    """Print recorded measurement events as JSON lines."""
    if not db:
        _fail("--db URL is required (the answer bank's file path or database URL)")
    try:
        start = None if since is None else parse_date(since, "--from")
        end = None if until is None else parse_date(until, "--until")
    except click.BadParameter as exc:
        _fail(exc.message)
    if start is not None and end is not None and end <= start:
        _fail("--until must be later than --from")
    try:
        path = sqlite_path_from_url(db)
    except ValueError:
        path = None
    # Opening a SQLite path creates the file: a mistyped path must not export "nothing".
    if path is not None and not path.expanduser().is_file():
        _fail(f"no database at {path}")
    try:
        store = open_store(db)
    except AnswerBankError as exc:
        _fail(f"cannot use {redact_url(db)}: {exc}")
    try:
        try:
            exported = _export(store, start, end, sys.stdout)
            drops = store.event_drops()
        except AnswerBankError as exc:
            _fail(f"{store.description}: {exc}")
        except BrokenPipeError:
            sys.stdout = None  # type: ignore[assignment]  # no flush at exit on a closed pipe
            _fail("output closed before the export finished")
        except OSError as exc:
            _fail(f"cannot write the output: {exc.strerror or exc}")
    finally:
        store.close()
    click.echo(_drop_line(exported, drops), err=True)
