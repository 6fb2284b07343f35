"""`smartseg report` over 10 million measurement events, on SQLite and PostgreSQL.

100,000 visitors × 100 events each (by default): mostly `session` events, a few
goal events (a trial, orders with values), one exposure for the half of the
visitors enrolled in an experiment, spread over 28 days with segments that
sharpen as visitors come back. The events are loaded fast (SQLite: one
`executemany` in one transaction, indexes built afterwards; PostgreSQL: `COPY`),
then `smartseg report` runs in a child process, timed, with its peak RSS read
from `os.wait4`.

Targets (SPEC §6 brief): SQLite < 30 s, PostgreSQL < 10 s, peak RSS < 200 MB.

    python bench/bench_report.py [--visitors N] [--per-visitor N] [--runs N]
                                 [--postgres URL] [--index SQL]...

PostgreSQL uses `--postgres` or `SMARTSEG_TEST_POSTGRES`, in a throw-away schema;
without either, only SQLite runs. `--index` adds an index (SQL with `{table}`)
after loading, to measure whether it helps.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartseg_dsl.measure.events import COLUMNS, POSTGRES_DDL, SQLITE_DDL, TABLE  # noqa: E402

DAY = 86_400.0
START = 1_780_000_000.0  # 2026-05-28T20:26:40Z
UNTIL = START + 30 * DAY
RULES = """\
group Industry "Industry" {
    segment Legal "Legal services" { explicit tag "lawyer" }
    segment Healthcare "Healthcare" { explicit tag "doctor" }
    segment Retail "Retail" { explicit tag "shop" }
}
group Size "Company size" {
    segment Small "Small" { explicit tag "small" }
    segment Large "Large" { explicit tag "large" }
}
goal Trial "Started a free trial" = event "trial_started"
goal Demo "Booked a demo" = page "/demo/thanks"
goal Revenue "Order value" = event "purchase" value attribute("order_total")
holdout 10%
"""
GOALS = ("Trial", "Demo", "Revenue")
# What `smartseg report RULES --db DB --from 2026-05-01 --until 2026-07-01` runs, with
# the experiment added to the spec while the language has no `experiment` yet.
CHILD = """
import sys
from smartseg_dsl.cli.report import _load_spec, parse_moment, render_report
from smartseg_dsl.measure.spec import ExperimentSpec, VariantSpec
rules, db, fmt = sys.argv[1:]
spec = _load_spec([rules])
if not spec.experiments:
    variants = (VariantSpec("control", 1, True), VariantSpec("plain"), VariantSpec("proof"))
    experiment = ExperimentSpec("Headline", variants, ("Trial", "Revenue"))
    spec = type(spec)(spec.groups, spec.goals, spec.holdout, (experiment,))
lo, hi = parse_moment("2026-05-01", "--from"), parse_moment("2026-07-01", "--until")
sys.stdout.write(render_report(spec, db, None, lo, hi, fmt))
"""
EXPERIMENT_VARIANTS = ("control", "plain", "proof")


def rows(visitors: int, per_visitor: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Events as `COLUMNS` tuples, visitor by visitor (times increase per visitor)."""
    rng = random.Random(seed)
    industries = ("Legal", "Healthcare", "Retail")
    for _ in range(visitors):
        vid = uuid.UUID(int=rng.getrandbits(128)).hex
        holdout = 1 if rng.random() < 0.1 else 0
        t = START + rng.random() * 2 * DAY
        step = 26 * DAY / per_visitor
        industry, size = rng.choice(industries), rng.choice(("Small", "Large"))
        goal_at = {
            rng.randrange(per_visitor): g
            for g in GOALS
            if rng.random() < (0.3 if g == "Revenue" else 0.05)
        }
        exposed_at = rng.randrange(per_visitor) if not holdout and rng.random() < 0.5 else -1
        for n in range(per_visitor):
            t += rng.random() * 2 * step
            known = n >= 3  # the first few events: segments not known yet
            segments = (
                f'{{"Industry":"{industry}","Size":"{size}"}}'
                if known
                else '{"Industry":null,"Size":null}'
            )
            certain = f'["Industry.{industry}"]' if known and n > 50 else "[]"
            base = (vid, t, holdout, segments, certain)
            if n == exposed_at:
                variant = EXPERIMENT_VARIANTS[rng.randrange(3)]
                yield ("exposure", *base, None, None, None, "Headline", variant)
            elif n in goal_at:
                goal = goal_at[n]
                value = round(rng.uniform(20, 400), 2) if goal == "Revenue" else None
                yield ("goal", *base, None, goal, value, None, None)
            else:
                yield ("session", *base, n + 1, None, None, None, None)


def load_sqlite(path: Path, visitors: int, per_visitor: int, extra: list[str]) -> float:
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute(SQLITE_DDL[0])
    marks = ", ".join("?" * len(COLUMNS))
    with connection:
        connection.executemany(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})",
            rows(visitors, per_visitor),
        )
    for statement in [*SQLITE_DDL[1:], *(e.format(table=TABLE) for e in extra)]:
        connection.execute(statement)
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def load_postgres(url: str, visitors: int, per_visitor: int, extra: list[str]) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        connection.execute(POSTGRES_DDL[0])
        with connection.cursor().copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows(visitors, per_visitor):
                copy.write_row(row)
        for statement in [*POSTGRES_DDL[1:], *(e.format(table=TABLE) for e in extra)]:
            connection.execute(statement)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - started


def run_report(rules: Path, db: str, fmt: str = "json") -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak RSS in MB, the JSON report) of one `smartseg report` process."""
    command = [sys.executable, "-c", CHILD, str(rules), db, fmt]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"smartseg report failed: {err.read().decode()}")
        report = json.loads(out.read())
    return elapsed, usage.ru_maxrss / 1024, report


def _measure(name: str, rules: Path, db: str, runs: int, target: float) -> dict[str, Any]:
    results = [run_report(rules, db) for _ in range(runs)]
    best = min(r[0] for r in results)
    rss = max(r[1] for r in results)
    report = results[0][2]
    exposed = sum(
        v["visitors"] for e in report["experiments"].values() for v in e["variants"].values()
    )
    verdict = "ok" if best < target and rss < 200 else "OVER TARGET"
    print(
        f"{name:<10} report {best:6.2f} s (target < {target:.0f} s)  "
        f"peak RSS {rss:6.1f} MB (target < 200 MB)  visitors {report['visitors']:,}  "
        f"exposed {exposed:,}  [{verdict}]",
        flush=True,
    )
    return {"seconds": best, "rss_mb": rss, "report": report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--per-visitor", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("SMARTSEG_TEST_POSTGRES"))
    parser.add_argument("--index", action="append", default=[], help="extra index SQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--workdir", help="keep the SQLite database here and reuse it when it exists"
    )
    args = parser.parse_args()
    total = args.visitors * args.per_visitor
    print(f"{total:,} events: {args.visitors:,} visitors × {args.per_visitor}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        rules = Path(scratch) / "rules.seg"
        rules.write_text(RULES, encoding="utf-8")
        reports = {}
        if not args.skip_sqlite:
            path = Path(args.workdir or scratch) / "events.db"
            if not path.exists():
                seconds = load_sqlite(path, args.visitors, args.per_visitor, args.index)
                size = path.stat().st_size / 2**20
                print(
                    f"sqlite     load {seconds:6.1f} s "
                    f"({total / seconds:,.0f} events/s, {size:,.0f} MB)"
                )
            reports["sqlite"] = _measure("sqlite", rules, str(path), args.runs, 30)
        if args.postgres:
            from smartseg_dsl.answers.postgres import scratch_schema

            with scratch_schema(args.postgres, "bench") as url:
                seconds = load_postgres(url, args.visitors, args.per_visitor, args.index)
                print(f"postgres   load {seconds:6.1f} s ({total / seconds:,.0f} events/s)")
                reports["postgres"] = _measure("postgres", rules, url, args.runs, 10)
        else:
            print("postgres   skipped (no --postgres and no SMARTSEG_TEST_POSTGRES)")
        if len(reports) == 2:
            same = reports["sqlite"]["report"] == reports["postgres"]["report"]
            print(f"same JSON report on both backends: {same}")
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
