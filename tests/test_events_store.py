"""Measurement events in the answer bank's database (SPEC §6): the schema migration, the
store's write / export / retention / forget / drop-count methods, and `parse_event` —
against SQLite and PostgreSQL alike (the ``store`` fixture covers both backends)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from answers_fixtures import backend_of
from hypothesis import given, settings
from hypothesis import strategies as st

from smartseg_dsl.answers import (
    EventDrops,
    GuardedStore,
    InvalidInputError,
    Store,
    StoreUnavailableError,
    open_store,
)
from smartseg_dsl.answers import postgres as answers_postgres
from smartseg_dsl.answers import sqlite as answers_sqlite
from smartseg_dsl.measure.events import TABLE, Event, EventFormatError, parse_event

NOW = 1_800_000_000.0


def session(visitor: str, at: float, **kw: Any) -> Event:
    return Event(
        "session", visitor, at, kw.pop("holdout", False), {"Industry": "Legal"}, (), pageviews=1
    )


def mixed(count: int, *, start: float = NOW, visitors: int = 7) -> list[Event]:
    """Events of every type, several sharing a time (ties are ordered by id)."""
    out: list[Event] = []
    for i in range(count):
        at = start + (i // 3)  # three events per second: ties
        vid = f"v{i % visitors}"
        segs = {"Industry": "Legal" if i % 2 else None, "Size": "Small"}
        kind = i % 3
        if kind == 0:
            out.append(Event("session", vid, at, i % 5 == 0, segs, (), pageviews=i + 1))
        elif kind == 1:
            value = None if i % 2 else i * 1.25
            out.append(
                Event("goal", vid, at, False, segs, ("Size.Small",), goal="Trial", value=value)
            )
        else:
            out.append(
                Event(
                    "exposure",
                    vid,
                    at,
                    True,
                    {},
                    ("Industry.Legal", "Size.Small"),
                    experiment="Hero",
                    variant="b",
                )
            )
    return out


def count_rows(store: Store) -> int:
    return sum(1 for _ in store.export_events())


# --------------------------------------------------------------------------- migration


def _raw_execute(url: str, statements: list[str], params: list[tuple[Any, ...]]) -> None:
    if backend_of(url) == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            for sql, p in zip(statements, params, strict=True):
                conn.execute(sql, p)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for sql, p in zip(statements, params, strict=True):
            conn.execute(sql.replace("?", "%s"), p)


def test_a_version_1_database_migrates_and_keeps_its_rows(store_url: str) -> None:
    module = answers_sqlite if backend_of(store_url) == "sqlite" else answers_postgres
    [v1] = [statements for version, statements in module.MIGRATIONS if version == 1]
    assert module.SCHEMA_VERSION == 4
    statements = [
        *v1,
        "CREATE TABLE smartseg_meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO smartseg_meta (key, value) VALUES ('schema_version', '1')",
        "INSERT INTO smartseg_events (visitor_id, kind, subject, value, at) "
        "VALUES (?, 'answer', 'Industry.Legal', 'yes', ?)",
        "INSERT INTO smartseg_identities (visitor_id, email, at) VALUES (?, ?, ?)",
    ]
    params: list[tuple[Any, ...]] = [()] * (len(v1) + 2) + [
        ("old", NOW),
        ("old", "old@example.com", NOW),
    ]
    _raw_execute(store_url, statements, params)

    store = open_store(store_url)
    try:
        assert store.schema_version() == 4  # type: ignore[attr-defined]
        assert [(e.kind, e.subject, e.value) for e in store.history("old")] == [
            ("answer", "Industry.Legal", "yes")
        ]
        assert store.write_events([session("old", NOW)]) == 1
        assert list(store.export_events()) == [session("old", NOW)]
        assert store.forget("old") == 3  # the answer, the identity link, the event
    finally:
        store.close()


# --------------------------------------------------------------------------- write / export


def test_round_trip_equals_the_input_in_time_order(store: Store) -> None:
    events = mixed(40)
    shuffled = events[1::2] + events[::2]  # written out of order, in two batches
    assert store.write_events(shuffled[:20]) == 20
    assert store.write_events(shuffled[20:]) == 20
    assert store.write_events([]) == 0
    exported = list(store.export_events(batch=4))  # batch boundaries fall inside ties
    # by time, then by write order (id) among events of the same time
    expected = sorted(shuffled, key=lambda e: e.at)
    assert exported == expected
    assert [e.to_json() for e in exported] == [e.to_json() for e in expected]
    assert list(store.export_events(batch=1)) == expected
    assert list(store.export_events(batch=1000)) == expected


def test_export_period_is_inclusive_then_exclusive(store: Store) -> None:
    events = [session(f"v{i}", NOW + i) for i in range(10)]
    store.write_events(events)
    assert list(store.export_events(since=NOW + 3, until=NOW + 6, batch=2)) == events[3:6]
    assert list(store.export_events(since=NOW + 8)) == events[8:]
    assert list(store.export_events(until=NOW + 2)) == events[:2]
    assert list(store.export_events(since=NOW + 5, until=NOW + 5)) == []
    with pytest.raises(InvalidInputError):
        list(store.export_events(batch=0))


def test_export_reads_one_batch_at_a_time(store: Store) -> None:
    store.write_events([session(f"v{i}", NOW + i) for i in range(10)])
    stream = store.export_events(batch=4)
    first = next(stream)
    assert first.visitor == "v0"
    # Everything is deleted now: only the batch already read can still come out.
    assert store.delete_events_before(NOW + 100) == 10
    assert [e.visitor for e in stream] == ["v1", "v2", "v3"]


def test_a_batch_is_one_transaction(store: Store) -> None:
    bad = Event("bogus", "v1", NOW, False)  # type: ignore[arg-type]  # the CHECK refuses it
    with pytest.raises(StoreUnavailableError):
        store.write_events([session("v0", NOW), bad, session("v2", NOW)])
    assert count_rows(store) == 0
    assert store.write_events([session("v3", NOW)]) == 1  # the store still works


# --------------------------------------------------------------------------- retention


@contextmanager
def counting_writes(store: Store) -> Iterator[list[int]]:
    calls = [0]
    original = store._write  # type: ignore[attr-defined]

    @contextmanager
    def counted() -> Iterator[Any]:
        calls[0] += 1
        with original() as tx:
            yield tx

    store._write = counted  # type: ignore[attr-defined]
    try:
        yield calls
    finally:
        del store._write  # type: ignore[attr-defined]


def test_retention_deletes_exactly_the_old_rows_in_batches(store: Store) -> None:
    old = [session(f"old{i}", NOW - 1000 + i) for i in range(9)]
    edge = session("edge", NOW)  # at == cutoff: kept
    new = [session(f"new{i}", NOW + i + 1) for i in range(4)]
    store.write_events(new[:2] + old + [edge] + new[2:])
    with counting_writes(store) as calls:
        assert store.delete_events_before(NOW, batch=3) == 9
    # 3 + 3 + 3, then one that finds nothing: one short transaction each
    assert calls[0] == 4
    assert list(store.export_events()) == [edge, *new]
    assert store.delete_events_before(NOW) == 0
    with pytest.raises(InvalidInputError):
        store.delete_events_before(NOW, batch=0)


def test_forget_deletes_the_visitors_events_only(store: Store) -> None:
    store.record_answer("v1", "Industry.Legal", "yes", NOW)
    store.write_events([session("v1", NOW), session("v2", NOW + 1), session("v1", NOW + 2)])
    assert store.forget("v1") == 3  # one answer, two measurement events
    assert [e.visitor for e in store.export_events()] == ["v2"]
    assert store.forget("v1") == 0


# --------------------------------------------------------------------------- drops


def test_drop_counts_add_up_across_writers(store: Store) -> None:
    assert store.event_drops() == EventDrops(0, 0)
    store.add_event_drops(queue_full=2, database=0)

    def add() -> None:
        for _ in range(25):
            store.add_event_drops(queue_full=1, database=3)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drops = store.event_drops()
    assert drops == EventDrops(queue_full=102, database=300)
    assert drops.total == 402
    with pytest.raises(InvalidInputError):
        store.add_event_drops(queue_full=-1, database=0)


def test_guarded_store_passes_event_methods_through(store_url: str) -> None:
    guarded = GuardedStore(store_url)
    try:
        assert guarded.write_events([session("v1", NOW)]) == 1
        assert [e.visitor for e in guarded.export_events()] == ["v1"]
        guarded.add_event_drops(queue_full=1, database=2)
        assert guarded.event_drops() == EventDrops(1, 2)
        assert guarded.delete_events_before(NOW + 1) == 1
    finally:
        guarded.close()


def test_guarded_store_refuses_events_while_down(tmp_path: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    guarded = GuardedStore(str(blocker / "x.db"))
    with pytest.raises(StoreUnavailableError):
        guarded.write_events([session("v1", NOW)])
    with pytest.raises(StoreUnavailableError):
        guarded.event_drops()


def test_table_name_is_the_one_the_report_reads(store_url: str) -> None:
    store = open_store(store_url)
    store.write_events([session("v1", NOW)])
    store.close()
    if backend_of(store_url) == "sqlite":
        with sqlite3.connect(store_url.removeprefix("sqlite://")) as conn:
            row = conn.execute(f"SELECT visitor, holdout, segments FROM {TABLE}").fetchone()
    else:
        import psycopg

        with psycopg.connect(store_url) as conn:
            row = conn.execute(f"SELECT visitor, holdout, segments FROM {TABLE}").fetchone()
    assert tuple(row) == ("v1", 0, '{"Industry":"Legal"}')


# --------------------------------------------------------------------------- parse_event

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
VISITORS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# Millisecond times from 2001 to 2099: what the JSON form carries exactly.
TIMES = st.integers(1_000_000_000_000, 4_000_000_000_000).map(lambda ms: ms / 1000)
COMMON = {
    "visitor": VISITORS,
    "at": TIMES,
    "holdout": st.booleans(),
    "segments": st.dictionaries(NAMES, st.none() | NAMES, max_size=5),
    "certain": st.lists(st.builds(lambda g, s: f"{g}.{s}", NAMES, NAMES), max_size=4).map(tuple),
}


def _event(kind: str, **fields: object) -> Event:
    # a plain function: `st.builds(Event, …)` would invent values for the optional fields
    return Event(kind, **fields)  # type: ignore[arg-type]


EVENTS = st.one_of(
    st.builds(_event, st.just("session"), pageviews=st.integers(1, 10**6), **COMMON),
    st.builds(
        _event,
        st.just("goal"),
        goal=NAMES,
        value=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        **COMMON,
    ),
    st.builds(_event, st.just("exposure"), experiment=NAMES, variant=NAMES, **COMMON),
)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_json_round_trip(event: Event) -> None:
    assert parse_event(json.loads(json.dumps(event.to_json()))) == event
    assert Event.from_row(event.to_row()) == event


GOOD = {
    "type": "goal",
    "visitor": "v1",
    "at": "2026-12-01T10:00:00Z",
    "holdout": False,
    "segments": {"Industry": "Legal", "Size": None},
    "certain": ["Industry.Legal"],
    "goal": "Trial",
    "value": 12.5,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "click"}, "`type`"),
        ({"visitor": "has space"}, "`visitor`"),
        ({"visitor": ""}, "`visitor`"),
        ({"at": "yesterday"}, "`at`"),
        ({"at": "2026-12-01T10:00:00"}, "`at`"),  # no zone
        ({"at": 1_800_000_000}, "`at`"),
        ({"holdout": 0}, "`holdout`"),
        ({"segments": ["Industry"]}, "`segments`"),
        ({"segments": {"Industry": "Le gal"}}, "`segments`"),
        ({"segments": {"1x": None}}, "`segments`"),
        ({"certain": ["Industry"]}, "`certain`"),
        ({"certain": "Industry.Legal"}, "`certain`"),
        ({"goal": "not a name"}, "`goal`"),
        ({"value": "12"}, "`value`"),
        ({"value": math.inf}, "`value`"),
        ({"value": True}, "`value`"),
        ({"pageviews": 3}, "pageviews"),  # a field of another type
    ],
)
def test_parse_event_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    assert parse_event(GOOD) == Event(
        "goal",
        "v1",
        1796119200.0,
        False,
        {"Industry": "Legal", "Size": None},
        ("Industry.Legal",),
        goal="Trial",
        value=12.5,
    )
    with pytest.raises(EventFormatError, match=field):
        parse_event({**GOOD, **change})


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"type": "session", "pageviews": 0}, "`pageviews`"),
        ({"type": "session", "pageviews": 1.5}, "`pageviews`"),
        ({"type": "session"}, "`pageviews`"),
        ({"type": "exposure", "experiment": "Hero"}, "`variant`"),
        ({"type": "exposure", "variant": "b"}, "`experiment`"),
    ],
)
def test_parse_event_checks_each_types_fields(doc: dict[str, Any], field: str) -> None:
    base = {k: v for k, v in GOOD.items() if k not in ("goal", "value")}
    with pytest.raises(EventFormatError, match=field):
        parse_event({**base, **doc})
    with pytest.raises(EventFormatError, match="JSON object"):
        parse_event([base])
