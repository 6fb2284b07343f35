"""`smartseg report RULES (--db URL | --events FILE) [--from DATE] [--until DATE]
[--format text|json|html] [-o FILE]` — the measurement report (SPEC §5, §6).

Exit codes: 0 a report was written (an empty period included), 1 bad input (a
rule set with errors, bad lines in an events file, a database without events),
2 usage or I/O (both or neither of --db/--events, a bad date, an unknown URL
scheme, an unreachable database). Never a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click

__all__ = ["report_command"]

EXIT_BAD_INPUT, EXIT_USAGE = 1, 2
DEFAULT_DAYS = 30


def _fail(message: str, code: int) -> None:
    click.echo(f"smartseg report: error: {message}", err=True)
    sys.exit(code)


def parse_moment(text: str, option: str) -> float:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 time with a zone → epoch seconds."""
    from ..measure.events import EventFormatError, parse_time

    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        pass
    else:
        return day.replace(tzinfo=UTC).timestamp()
    try:
        return parse_time(text, option)
    except EventFormatError:
        raise click.UsageError(
            f"{option}: {text!r} is not a date (2026-12-01) or a time (2026-12-01T10:00:00Z)"
        ) from None


def _period(since: str | None, until: str | None) -> tuple[float, float]:
    hi = parse_moment(until, "--until") if until else time.time()
    lo = (
        parse_moment(since, "--from")
        if since
        else (datetime.fromtimestamp(hi, UTC) - timedelta(days=DEFAULT_DAYS)).timestamp()
    )
    if lo >= hi:
        raise click.UsageError("--from must be before --until")
    return lo, hi


def _load_spec(rules: Sequence[str]) -> Any:
    from ..loader import RuleSetError, load_ruleset
    from ..measure.spec import ReportSpec

    try:
        compiled = load_ruleset(list(rules))
    except RuleSetError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        lines = [
            f"{d.file}:{d.line}:{d.column}: {d.severity} {d.code} {d.message}"
            for d in exc.diagnostics
        ]
        click.echo("\n".join(lines), err=True)
        _fail(f"the rule set has {len(errors)} error(s): no report was made", EXIT_BAD_INPUT)
    return ReportSpec.from_ruleset(compiled)


def _render(report: dict[str, Any], spec: Any, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        from ..measure.render_html import render_html

        return render_html(report, spec)
    from ..measure.render_text import render_text

    return render_text(report, spec)


def run_report(
    rules: Sequence[str],
    db: str | None,
    events: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
) -> str:
    """The rendered report; exits with a message on any problem."""
    if (db is None) == (events is None):
        raise click.UsageError("give exactly one of --db URL or --events FILE")
    lo, hi = _period(since, until)
    return render_report(_load_spec(rules), db, events, lo, hi, fmt)


def render_report(
    spec: Any, db: str | None, events: str | None, lo: float, hi: float, fmt: str
) -> str:
    """Aggregate the events of [lo, hi) for `spec` and render them as `fmt`."""
    from ..measure.aggregate import aggregate
    from ..measure.report import build_report
    from ..measure.sources import SourceError, open_database, open_events_file

    try:
        opened = open_database(db) if db is not None else open_events_file(str(events))
        with opened as source:
            counts = aggregate(source, spec, lo, hi)
    except SourceError as exc:
        _fail(str(exc), exc.exit_code)
    return _render(build_report(spec, counts, lo, hi), spec, fmt)


@click.command("report")
@click.argument("rules", nargs=-1, required=True, type=click.Path())
@click.option("--db", help="Database URL: a path, sqlite:///path or postgresql://…")
@click.option("--events", "events", type=click.Path(), help="JSON-lines export of events.")
@click.option("--from", "since", metavar="DATE", help="Start (inclusive); default 30 days ago.")
@click.option("--until", metavar="DATE", help="End (exclusive); default now.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("-o", "--output", type=click.Path(), help="Write to this file instead of stdout.")
def report_command(
    rules: tuple[str, ...],
    db: str | None,
    events: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Goals per segment, holdout and experiments, with honest statistics."""
    try:
        text = run_report(rules, db, events, since, until, fmt)
    except click.UsageError:
        raise
    except Exception as exc:  # never a traceback: one line, usage/IO exit code
        _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_USAGE)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)
    else:
        click.echo(text, nl=False)
