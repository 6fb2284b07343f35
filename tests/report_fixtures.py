"""Event populations and scratch databases for the report tests (SPEC §6).

* `population(...)` — a seeded visitor population with known true conversion
  rates: a holdout converting at one rate, personalized visitors at another, a
  value goal, segments, and an experiment whose variants convert differently;
* `small_events()` — a tiny fixed data set for the text/HTML snapshots;
* `sqlite_db(path, events)` / `postgres_db(url, events)` — the events table made
  from the DDL in `smartseg_dsl.measure.events` and filled with the events;
* `SPEC` — the `ReportSpec` all of them are written for.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from smartseg_dsl.measure.events import COLUMNS, POSTGRES_DDL, SQLITE_DDL, TABLE, Event
from smartseg_dsl.measure.spec import ExperimentSpec, GoalSpec, ReportSpec, VariantSpec

START = 1_780_000_000.0  # 2026-05-28T20:26:40Z
DAY = 86_400.0

SPEC = ReportSpec(
    groups={"Industry": ("Legal", "Healthcare", "Retail"), "Size": ("Small", "Large")},
    goals=(
        GoalSpec("Trial", "Started a free trial"),
        GoalSpec("Revenue", "Order value", has_value=True),
    ),
    holdout=0.1,
    experiments=(
        ExperimentSpec(
            "Headline",
            (VariantSpec("control", 1, True), VariantSpec("plain", 1), VariantSpec("proof", 2)),
            ("Trial", "Revenue"),
        ),
    ),
)

#: true Trial rates of the population; the variants average the personalized rate
HOLDOUT_RATE = 0.05
PERSONALIZED_RATE = 0.06
VARIANT_RATE = {"control": 0.06, "plain": 0.072, "proof": 0.054}
TRUE_LIFT = PERSONALIZED_RATE / HOLDOUT_RATE - 1  # +20 %


def _segments(rng: random.Random) -> dict[str, str | None]:
    industry = rng.choices(["Legal", "Healthcare", "Retail", None], [3, 2, 2, 3])[0]
    size = rng.choices(["Small", "Large", None], [5, 2, 3])[0]
    return {"Industry": industry, "Size": size}


def population(visitors: int = 40_000, seed: int = 20261201) -> list[Event]:
    """Visitors with 1–3 sessions over ten days, 10 % in the holdout; Trial at the true
    rates above; a value goal; half the personalized visitors in an experiment."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(visitors):
        vid = f"v{i:06d}"
        holdout = rng.random() < 0.1
        t = START + rng.random() * 10 * DAY
        segments = _segments(rng)
        for n in range(rng.randint(1, 3)):
            events.append(Event("session", vid, t, holdout, segments, (), pageviews=1 + 3 * n))
            t += rng.random() * DAY
            segments = _segments(rng) if rng.random() < 0.3 else segments
        rate, exposed = (HOLDOUT_RATE if holdout else PERSONALIZED_RATE), None
        if not holdout and rng.random() < 0.5:
            u = rng.random()
            variant = "control" if u < 0.25 else "plain" if u < 0.5 else "proof"
            exposed = Event(
                "exposure", vid, t, holdout, segments, experiment="Headline", variant=variant
            )
            events.append(exposed)
            rate = VARIANT_RATE[variant]
        if rng.random() < rate:
            # one in ten converts *before* exposure: counted overall, not in the experiment
            early = exposed is not None and rng.random() < 0.1
            events.append(
                Event("goal", vid, t - 3600 if early else t + 60, holdout, segments, goal="Trial")
            )
        if rng.random() < 0.03:
            for k in range(rng.randint(1, 3)):  # first reached, then further firings
                value = rng.choice([12.5, 40.0, 99.75, 250.0])
                events.append(
                    Event("goal", vid, t + 120 + k, holdout, segments, goal="Revenue", value=value)
                )
    events.sort(key=lambda e: e.at)
    return events


def small_events() -> list[Event]:
    """A fixed, readable data set: 600 visitors; every section of the report filled,
    some cells with statistics and some with too few visitors."""
    events: list[Event] = []
    for i in range(600):
        vid = f"s{i:03d}"
        t = START + i * 600
        holdout = i % 10 == 0
        industry = ("Legal", "Healthcare", None, "Retail")[i % 4]
        size = "Small" if i % 3 else "Large"
        segments = {"Industry": industry, "Size": size if i != 7 else None}
        events.append(Event("session", vid, t, holdout, segments, (), pageviews=1))
        variant = None
        if not holdout and i % 2 == 0:
            variant = ("control", "plain", "proof", "proof")[(i // 2) % 4]
            events.append(
                Event(
                    "exposure", vid, t + 1, False, segments, experiment="Headline", variant=variant
                )
            )
        converts = (
            i % 9 == 0
            or i % 13 == 5
            or (industry == "Legal" and i % 3 == 0)
            or (variant == "plain" and i % 3 == 1)
        )
        if converts:
            events.append(Event("goal", vid, t + 5, holdout, segments, goal="Trial"))
        if i % 11 == 0:
            value = 40.0 + (i % 4) * 12.5
            events.append(Event("goal", vid, t + 9, holdout, segments, goal="Revenue", value=value))
    events.append(Event("goal", "s001", START + 700, False, {}, goal="OldSignup"))
    return events


def sqlite_db(path: Path, events: Iterable[Event]) -> Path:
    connection = sqlite3.connect(path)
    with connection:
        for statement in SQLITE_DDL:
            connection.execute(statement)
        connection.executemany(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (e.to_row() for e in events),
        )
    connection.close()
    return path


def postgres_db(url: str, events: Sequence[Event]) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        for statement in POSTGRES_DDL:
            connection.execute(statement)
        with connection.cursor().copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for event in events:
                copy.write_row(event.to_row())
    return url


def write_jsonl(path: Path, events: Iterable[Event]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event.to_json()) + "\n")
    return path
