"""`smartseg events export` (SPEC §5, §6): JSON lines on stdout that parse back into the
recorded events, the period options, the summary (and drop) line on stderr, and exit 2
with one line for every usage or IO error — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smartseg_dsl.answers import open_store
from smartseg_dsl.cli import main
from smartseg_dsl.measure.events import Event, parse_event, parse_time

DAY = parse_time("2026-12-01T00:00:00Z")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["events", "export", *args], catch_exceptions=False)


def sample() -> list[Event]:
    return [
        Event("session", "v1", DAY - 1, False, {"Industry": None}, (), pageviews=1),
        Event("session", "v1", DAY, False, {"Industry": "Legal"}, (), pageviews=2),
        Event("goal", "v1", DAY + 3600.5, True, {}, ("Industry.Legal",), goal="Trial", value=9.5),
        Event("goal", "v2", DAY + 7200, False, {}, (), goal="Trial", value=None),
        Event("exposure", "v2", DAY + 86400, False, {}, (), experiment="Hero", variant="b"),
        Event("exposure", "v3", DAY + 86400.25, False, {}, (), experiment="Hero", variant="a"),
    ]


def fill(url: str, events: list[Event], drops: tuple[int, int] = (0, 0)) -> None:
    store = open_store(url)
    try:
        store.write_events(events[::-1])  # written out of order: exported by time
        if any(drops):
            store.add_event_drops(queue_full=drops[0], database=drops[1])
    finally:
        store.close()


def parsed(result: Result) -> list[Event]:
    return [parse_event(json.loads(line)) for line in result.stdout.splitlines()]


def test_export_parses_back_to_the_recorded_events(store_url: str) -> None:
    events = sample()
    fill(store_url, events)
    result = run("--db", store_url)
    assert result.exit_code == 0, result.stderr
    assert parsed(result) == events
    lines = result.stdout.splitlines()
    assert lines[2] == (
        '{"type":"goal","visitor":"v1","at":"2026-12-01T01:00:00.500Z","holdout":true,'
        '"segments":{},"certain":["Industry.Legal"],"goal":"Trial","value":9.5}'
    )
    assert result.stderr == "smartseg: exported 6 events\n"


def test_period_options(store_url: str) -> None:
    events = sample()
    fill(store_url, events)
    result = run("--db", store_url, "--from", "2026-12-01", "--until", "2026-12-02")
    assert result.exit_code == 0
    assert parsed(result) == events[1:4]  # from is inclusive, until exclusive
    result = run("--db", store_url, "--from", "2026-12-01T02:00:00+01:00")
    assert parsed(result) == events[2:]
    result = run("--db", store_url, "--until", "2026-12-01")
    assert parsed(result) == events[:1]
    assert result.stderr == "smartseg: exported 1 event\n"


def test_drops_are_reported(tmp_path: Path) -> None:
    url = str(tmp_path / "bank.db")
    fill(url, sample(), drops=(0, 1234))
    result = run("--db", url)
    assert result.exit_code == 0
    assert len(parsed(result)) == 6
    assert result.stderr == (
        "smartseg: exported 6 events; 1,234 events were dropped while recording "
        "(queue full: 0, database unavailable: 1,234)\n"
    )


def test_an_empty_database_exports_nothing(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'bank.db'}"
    open_store(url).close()
    result = run("--db", url)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "smartseg: exported 0 events\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--db URL is required"),
        (("--db", "mysql://db/app"), "unsupported answer bank URL scheme 'mysql'"),
        (("--db", "{missing}"), "no database at"),
        (("--db", "{db}", "--from", "2026-13-01"), "`--from`"),
        (("--db", "{db}", "--until", "yesterday"), "`--until`"),
        (("--db", "{db}", "--from", "2026-12-01T10:00:00"), "no time zone"),
        (("--db", "{db}", "--from", "2026-12-02", "--until", "2026-12-01"), "later than"),
        (("--db", "postgresql://u:secret@127.0.0.1:9/x"), "cannot reach PostgreSQL"),
    ],
)
def test_usage_and_io_errors_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    db = tmp_path / "bank.db"
    fill(str(db), sample())
    values = {"db": str(db), "missing": str(tmp_path / "nope.db")}
    result = run(*(a.format(**values) for a in args))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.startswith("smartseg events export: error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr  # the password never shows
    assert not (tmp_path / "nope.db").exists()  # a mistyped path is not created
