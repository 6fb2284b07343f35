"""`smartseg inbound FILE…`: store inbound data (SPEC §7) from JSON-lines files, as
``POST /smartseg/inbound`` would.

    smartseg inbound --db postgresql://app@db/app clicks.jsonl scores.jsonl
    cat items.jsonl | smartseg inbound -

One item per line (blank lines are skipped); each item is validated exactly as the
endpoint validates it. Every rejected line is reported with its file, line number and
the bad field (``scores.jsonl:7: attributes.lead_score: must be a string, a number or
null``); the valid lines are stored all the same (a file is not all-or-nothing: each
item is idempotent by its ``id``, so re-running the same file after fixing a line stores
only what was missing). A summary goes to stderr.

Exit status: 0 every line stored (or already stored); 1 any line rejected; 2 usage
error, unreadable file or unusable answer bank.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from smartseg_dsl.answers import AnswerBankError, open_store, redact_url
from smartseg_dsl.inbound_items import InboundError, InboundItem, parse_item

PROG = "smartseg inbound"
#: items per transaction
BATCH = 500


def _fail(message: str) -> NoReturn:
    click.echo(f"{PROG}: error: {message}", err=True)
    raise SystemExit(2)


def _lines(name: str) -> Iterator[tuple[int, str]]:
    if name == "-":
        yield from enumerate(sys.stdin, start=1)
        return
    with open(name, encoding="utf-8") as stream:
        yield from enumerate(stream, start=1)


def _item(line: str) -> InboundItem:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise InboundError("", "not valid JSON") from None
    return parse_item(data)


@click.command(name="inbound")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--db",
    "db_url",
    envvar="SMARTSEG_DB",
    default=None,
    metavar="URL",
    help="Answer bank (default: $SMARTSEG_DB, else ./smartseg.db).",
)
def inbound_command(files: tuple[str, ...], db_url: str | None) -> None:
    """Store inbound items (tags, events, attributes) from JSON-lines FILEs ('-': stdin)."""
    try:
        store = open_store(db_url)
    except AnswerBankError as exc:
        _fail(f"answer bank {redact_url(db_url) if db_url else './smartseg.db'}: {exc}")
    rejected = stored = repeated = 0
    batch: list[InboundItem] = []

    def flush() -> None:
        nonlocal stored, repeated
        if not batch:
            return
        results = store.store_inbound(batch)
        stored += sum(results)
        repeated += len(results) - sum(results)
        batch.clear()

    try:
        for name in files:
            try:
                for number, line in _lines(name):
                    if not line.strip():
                        continue
                    try:
                        batch.append(_item(line))
                    except InboundError as exc:
                        click.echo(f"{name}:{number}: {exc}")
                        rejected += 1
                        continue
                    if len(batch) >= BATCH:
                        flush()
            except (OSError, UnicodeDecodeError) as exc:
                _fail(f"cannot read {name}: {exc}")
        flush()
    except AnswerBankError as exc:
        _fail(str(exc))
    finally:
        store.close()
    click.echo(f"{PROG}: {stored} stored, {repeated} already stored, {rejected} rejected", err=True)
    raise SystemExit(1 if rejected else 0)
