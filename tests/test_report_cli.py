"""`smartseg report` end to end (SPEC §5, §6): inputs, formats, exit codes, bad input.

The rules are a small `.seg` file with the groups, goals and holdout of
`report_fixtures.SPEC`; the events are `small_events()` in a scratch SQLite
database or a JSON-lines export. Text output is snapshotted (syrupy).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from report_fixtures import DAY, SPEC, small_events, sqlite_db, write_jsonl

from smartseg_dsl.cli import main
from smartseg_dsl.loader import load_ruleset
from smartseg_dsl.measure.spec import ReportSpec

RULES = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
    }
    segment Healthcare "Healthcare" {
        explicit tag "doctor"
    }
    segment Retail "Retail" {
        explicit tag "shop"
    }
}

group Size "Company size" {
    segment Small "Small" {
        explicit tag "small"
    }
    segment Large "Large" {
        explicit tag "large"
    }
}

goal Trial "Started a free trial" = event "trial_started"
goal Revenue "Order value" = event "purchase" value attribute("order_total")

holdout 10%
"""
PERIOD = ["--from", "2026-05-28", "--until", "2026-06-27"]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.seg"
    path.write_text(RULES, encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return sqlite_db(tmp_path / "events.db", small_events())


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["report", *map(str, args)], catch_exceptions=False)


def test_the_rules_give_the_report_spec(rules: Path) -> None:
    spec = ReportSpec.from_ruleset(load_ruleset(rules))
    assert spec.groups == SPEC.groups
    assert spec.goals == SPEC.goals
    assert spec.holdout == pytest.approx(0.1)


def test_text_report_snapshot(rules: Path, db: Path, snapshot: Any) -> None:
    result = run(rules, "--db", db, *PERIOD)
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot


def test_json_report(rules: Path, db: Path) -> None:
    result = run(rules, "--db", f"sqlite:///{db}", *PERIOD, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["period"] == {"from": "2026-05-28T00:00:00Z", "until": "2026-06-27T00:00:00Z"}
    assert doc["visitors"] == 600
    assert set(doc) >= {"period", "visitors", "goals", "segments", "holdout", "experiments"}
    assert doc["goals"]["Revenue"] == {"label": "Order value", "value": True}
    trial = doc["holdout"]["goals"]["Trial"]
    assert set(trial) >= {"holdout", "personalized", "lift", "ci95", "p_value", "chance_to_beat"}
    assert set(trial["holdout"]) == {"visitors", "conversions", "rate"}
    assert set(doc["holdout"]["goals"]["Revenue"]["holdout"]) == {
        "visitors",
        "conversions",
        "rate",
        "value_per_visitor",
    }


def test_events_file_gives_the_same_report(rules: Path, db: Path, tmp_path: Path) -> None:
    export = write_jsonl(tmp_path / "events.jsonl", small_events())
    from_db = run(rules, "--db", db, *PERIOD, "--format", "json")
    from_file = run(rules, "--events", export, *PERIOD, "--format", "json")
    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.stdout) == json.loads(from_db.stdout)


def test_html_to_a_file(rules: Path, db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run(rules, "--db", db, *PERIOD, "--format", "html", "-o", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_bad_lines_are_named_with_their_numbers(rules: Path, tmp_path: Path) -> None:
    export = write_jsonl(tmp_path / "events.jsonl", small_events()[:5])
    lines = export.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "{not json")
    lines.insert(3, json.dumps({"type": "click", "visitor": "a"}))
    good = json.loads(lines[4])
    good["at"] = "2026-06-01 10:00"
    lines[4] = json.dumps(good)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(rules, "--events", export, *PERIOD)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"smartseg report: error: {export}:2: not JSON")
    assert errors[1] == f"{export}:4: `type` must be one of session, goal, exposure, not 'click'"
    assert errors[2].startswith(f"{export}:5: `at`: '2026-06-01 10:00' has no time zone")
    assert len(errors) == 3


def test_at_most_twenty_bad_lines_then_a_count(rules: Path, tmp_path: Path) -> None:
    export = tmp_path / "events.jsonl"
    export.write_text("[]\n" * 25, encoding="utf-8")
    result = run(rules, "--events", export)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 21
    assert errors[19] == f"{export}:20: an event must be a JSON object"
    assert errors[20] == "… and 5 more bad line(s)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "unsupported database URL scheme 'mysql'"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot connect to PostgreSQL"),
        ("/nonexistent/events.db", "cannot open /nonexistent/events.db: no such file"),
    ],
)
def test_unusable_database_exits_2(rules: Path, url: str, message: str) -> None:
    result = run(rules, "--db", url)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_database_without_events_exits_1(rules: Path, tmp_path: Path) -> None:
    empty = tmp_path / "answers.db"
    sqlite3.connect(empty).execute("CREATE TABLE something (x)").connection.close()
    result = run(rules, "--db", empty)
    assert result.exit_code == 1
    assert f"no measurement events recorded in {empty} (is smartseg ≥ 0.2 recording?)" in (
        result.stderr
    )


def test_the_report_never_writes_to_the_database(rules: Path, db: Path) -> None:
    before = db.read_bytes()
    assert run(rules, "--db", db).exit_code == 0
    assert db.read_bytes() == before


def test_empty_period(rules: Path, db: Path) -> None:
    result = run(rules, "--db", db, "--from", "2020-01-01", "--until", "2020-02-01")
    assert result.exit_code == 0
    assert "No visitors in this period." in result.stdout


def test_renamed_goal_is_a_note(rules: Path, db: Path) -> None:
    result = run(rules, "--db", db, *PERIOD)
    assert (
        "events for unknown goal OldSignup (1 visitor) — renamed or removed from the rules?"
        in result.stdout
    )


def test_default_period_is_the_last_30_days(rules: Path, db: Path) -> None:
    doc = json.loads(run(rules, "--db", db, "--format", "json").stdout)
    from smartseg_dsl.measure.events import parse_time

    lo, hi = parse_time(doc["period"]["from"]), parse_time(doc["period"]["until"])
    assert hi - lo == pytest.approx(30 * DAY)
    assert hi == pytest.approx(time.time(), abs=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from: 'yesterday' is not a date"),
        (["--from", "2026-06-02", "--until", "2026-06-01"], "--from must be before --until"),
        (["--events", "x.jsonl"], "give exactly one of --db URL or --events FILE"),
        ([], "give exactly one of --db URL or --events FILE"),
    ],
)
def test_usage_errors_exit_2(rules: Path, db: Path, args: list[str], message: str) -> None:
    extra = [] if args == [] else ["--db", str(db)]
    result = run(rules, *extra, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_rules_with_errors_exit_1(tmp_path: Path, db: Path) -> None:
    bad = tmp_path / "bad.seg"
    bad.write_text('goal Trial = event "x"\ngoal Trial = event "y"\n', encoding="utf-8")
    result = run(bad, "--db", db)
    assert result.exit_code == 1
    assert "bad.seg:2:" in result.stderr
    assert "no report was made" in result.stderr


def test_answer_bank_and_its_export_give_the_same_report(rules: Path, tmp_path: Path) -> None:
    """Round trip with the answer bank: events the store wrote, reported from the database
    and from `smartseg events export`, give the identical report."""
    from smartseg_dsl.answers import open_store

    bank = tmp_path / "answers.db"
    store = open_store(str(bank))
    try:
        store.write_events(small_events())
    finally:
        store.close()
    runner = CliRunner()
    exported = runner.invoke(main, ["events", "export", "--db", str(bank), *PERIOD])
    assert exported.exit_code == 0, exported.output
    export = tmp_path / "export.jsonl"
    export.write_text(exported.stdout, encoding="utf-8")
    from_db = run(rules, "--db", bank, *PERIOD, "--format", "json")
    from_file = run(rules, "--events", export, *PERIOD, "--format", "json")
    assert from_db.exit_code == 0 and from_file.exit_code == 0
    assert json.loads(from_db.stdout) == json.loads(from_file.stdout)
    assert json.loads(from_db.stdout)["visitors"] == 600
