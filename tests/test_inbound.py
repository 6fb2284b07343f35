"""Inbound data (SPEC §7): the item parser, ``POST /smartseg/inbound``, ``smartseg
inbound``, ``smartseg_dsl.inbound()`` and the answer bank's storage (both backends)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from answers_fixtures import backend_of
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from middleware_helpers import SECRET, client, make_app, write_rules

import smartseg_dsl
from smartseg_dsl.answers import Store, open_store
from smartseg_dsl.answers import postgres as answers_postgres
from smartseg_dsl.answers import sqlite as answers_sqlite
from smartseg_dsl.cli import main
from smartseg_dsl.inbound_items import (
    MAX_BODY_BYTES,
    InboundError,
    InboundItem,
    parse_body,
    parse_item,
    sign_body,
    signature_ok,
)
from smartseg_dsl.sync import SyncConfig

INBOUND_SECRET = "inbound-secret"
NOW = 1_800_000_000.0


def post(c: Any, payload: Any, *, secret: str = INBOUND_SECRET, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    return c.post(
        "/smartseg/inbound",
        content=body,
        headers={
            "X-Smartseg-Signature": sign_body(body, secret),
            "Content-Type": "application/json",
        },
    )


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


@pytest.fixture
def app_db(tmp_path: Path) -> str:
    return str(tmp_path / "answers.db")


# --------------------------------------------------------------------------- parser

names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20
).filter(lambda s: s.strip() and "\x85" not in s)
attr_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
attr_values = st.one_of(
    st.none(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30).filter(
        lambda s: "\u2028" not in s and "\u2029" not in s and "\x85" not in s
    ),
)


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {"id": draw(st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True))}
    if draw(st.booleans()):
        item["visitor"] = draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
    else:
        item["email"] = draw(st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.example", fullmatch=True))
    if draw(st.booleans()):
        item["at"] = "2026-12-01T10:00:00Z"
    tags = draw(st.lists(names, max_size=3))
    events = draw(st.lists(names, max_size=3))
    attributes = draw(st.dictionaries(attr_names, attr_values, max_size=3))
    if not (tags or events or attributes):
        tags = ["t"]
    if tags:
        item["tags"] = tags
    if events:
        item["events"] = events
    if attributes:
        item["attributes"] = attributes
    return item


@given(items())
def test_every_valid_item_parses_to_what_it_says(item: dict[str, Any]) -> None:
    parsed = parse_item(item, now=NOW)
    assert parsed.id == item["id"]
    assert parsed.visitor == item.get("visitor")
    assert parsed.email == item.get("email")
    assert parsed.tags == tuple(item.get("tags", ()))
    assert parsed.events == tuple(item.get("events", ()))
    assert dict(parsed.attributes) == item.get("attributes", {})
    assert (parsed.at is None) == ("at" not in item)
    # what the answer bank keeps reads back as the same content
    assert json.loads(parsed.content())["attributes"] == item.get("attributes", {})
    # a list of the same item is the same item
    assert parse_body(json.dumps([item]).encode(), now=NOW) == [parsed]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(json_values)
def test_any_json_is_parsed_or_refused_with_a_field(value: Any) -> None:
    try:
        parse_item(value, now=NOW)
    except InboundError as exc:
        assert str(exc)
        assert exc.field or not isinstance(value, dict)
    with contextlib.suppress(InboundError):
        parse_body(json.dumps(value).encode(), now=NOW)


@given(items(), st.sampled_from(["id", "visitor", "at", "tags", "events", "attributes"]))
def test_a_wrong_type_names_its_field(item: dict[str, Any], key: str) -> None:
    bad: dict[str, Any] = dict(item)
    if key == "visitor":
        bad.pop("email", None)
    bad[key] = 12345 if key != "attributes" else ["lead_score"]
    with pytest.raises(InboundError) as caught:
        parse_item(bad, now=NOW)
    assert caught.value.field == key


BAD_FIELDS = [
    ({"id": 7, "visitor": "v1", "tags": ["a"]}, "id", "must be a string"),
    ({"visitor": "v1", "tags": ["a"]}, "id", "missing"),
    ({"id": "x", "tags": ["a"]}, "visitor", "exactly one"),
    ({"id": "x", "visitor": "v1", "email": "a@b.example", "tags": ["a"]}, "visitor", "exactly"),
    ({"id": "x", "visitor": "not an id!", "tags": ["a"]}, "visitor", "visitor id"),
    ({"id": "x", "email": "nope", "tags": ["a"]}, "email", "'@'"),
    ({"id": "x", "visitor": "v1", "at": 12, "tags": ["a"]}, "at", "ISO 8601"),
    ({"id": "x", "visitor": "v1", "at": "yesterday", "tags": ["a"]}, "at", "ISO 8601"),
    ({"id": "x", "visitor": "v1", "at": "2999-01-01T00:00:00Z", "tags": ["a"]}, "at", "future"),
    ({"id": "x", "visitor": "v1", "tags": "a"}, "tags", "list of strings"),
    ({"id": "x", "visitor": "v1", "tags": ["a", 3]}, "tags[1]", "must be a string"),
    ({"id": "x", "visitor": "v1", "events": [""]}, "events[0]", "empty"),
    ({"id": "x", "visitor": "v1", "attributes": [1]}, "attributes", "an object"),
    ({"id": "x", "visitor": "v1", "attributes": {"s": True}}, "attributes.s", "boolean"),
    ({"id": "x", "visitor": "v1", "attributes": {"s": [1]}}, "attributes.s", "a list"),
    ({"id": "x", "visitor": "v1", "attributes": {"s": "x" * 65}}, "attributes.s", "64"),
    ({"id": "x", "visitor": "v1", "attributes": {"9s": 1}}, "attributes.9s", "attribute name"),
    ({"id": "x", "visitor": "v1", "colour": "red", "tags": ["a"]}, "colour", "unknown field"),
    ({"id": "x", "visitor": "v1"}, "item", "carries nothing"),
]


@pytest.mark.parametrize(("item", "field", "words"), BAD_FIELDS)
def test_each_bad_field_is_named(item: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InboundError) as caught:
        parse_item(item, now=NOW)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_bad_item_in_a_list_is_named_by_its_index() -> None:
    body = json.dumps([{"id": "a", "visitor": "v", "tags": ["x"]}, {"id": "b", "tags": ["x"]}])
    with pytest.raises(InboundError, match=r"^items\[1\]\.visitor: give exactly one"):
        parse_body(body.encode(), now=NOW)
    with pytest.raises(InboundError, match="not valid JSON"):
        parse_body(b"{", now=NOW)
    with pytest.raises(InboundError, match="empty"):
        parse_body(b"[]", now=NOW)


def test_times_and_signatures() -> None:
    base = {"id": "a", "visitor": "v", "tags": ["t"]}
    offset = parse_item({**base, "at": "2027-01-15T09:00:00+01:00"}, now=NOW * 2)
    naive = parse_item({**base, "at": "2027-01-15T08:00:00"}, now=NOW * 2)  # naive: UTC
    assert offset.at == naive.at
    body = b'{"id": "a"}'
    assert signature_ok(body, sign_body(body, "s2"), ["s1", "s2"])  # rotation
    assert not signature_ok(body, sign_body(body, "s3"), ["s1", "s2"])
    assert not signature_ok(body + b" ", sign_body(body, "s1"), ["s1"])
    assert not signature_ok(body, None, ["s1"])


# --------------------------------------------------------------------------- endpoint


def test_endpoint_stores_once_per_id_and_answers_202(rules: Path, app_db: str) -> None:
    with client(make_app(rules, store=app_db, inbound_secret=INBOUND_SECRET)) as c:
        item = {"id": "esp-1", "email": "Jane@Example.com", "tags": ["lawyer"]}
        first = post(c, item)
        assert first.status_code == 202
        assert first.json() == {"ok": True, "received": 1, "stored": 1, "repeated": 0}
        again = post(c, [item, {"id": "esp-2", "visitor": "v1", "events": ["purchase"]}])
        assert again.status_code == 202
        assert again.json() == {"ok": True, "received": 2, "stored": 1, "repeated": 1}
    store = open_store(app_db)
    try:
        assert store.inbound_status() == {"items": 2, "pending": 1, "applied": 0}  # type: ignore[attr-defined]
    finally:
        store.close()


def test_endpoint_refuses_bad_signatures(rules: Path, app_db: str) -> None:
    app = make_app(rules, store=app_db, inbound_secret=["old-secret", INBOUND_SECRET])
    item = {"id": "esp-1", "visitor": "v1", "tags": ["lawyer"]}
    body = json.dumps(item).encode()
    with client(app) as c:
        assert post(c, item, secret="wrong").status_code == 401
        missing = c.post("/smartseg/inbound", content=body)
        assert missing.status_code == 401
        assert "X-Smartseg-Signature" in missing.json()["error"]
        tampered = c.post(
            "/smartseg/inbound",
            content=body.replace(b"lawyer", b"realtor"),
            headers={"X-Smartseg-Signature": sign_body(body, INBOUND_SECRET)},
        )
        assert tampered.status_code == 401
        # the webhook's secret or the cookie's is not the inbound secret
        assert post(c, item, secret=SECRET).status_code == 401
        assert post(c, item, secret="old-secret").status_code == 202  # rotation
        assert c.get("/smartseg/inbound").status_code == 405
    store = open_store(app_db)
    try:
        assert store.inbound_status()["items"] == 1  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize(("item", "field", "words"), BAD_FIELDS)
def test_endpoint_400_names_the_bad_field(
    rules: Path, app_db: str, item: dict[str, Any], field: str, words: str
) -> None:
    with client(make_app(rules, store=app_db, inbound_secret=INBOUND_SECRET)) as c:
        answer = post(c, [{"id": "fine", "visitor": "v1", "tags": ["a"]}, item])
        assert answer.status_code == 400
        expected = "items[1]" if field == "item" else f"items[1].{field}"
        assert answer.json()["field"] == expected
        assert words in answer.json()["error"]
    store = open_store(app_db)
    try:  # nothing of a body with a bad item is stored
        assert store.inbound_status()["items"] == 0  # type: ignore[attr-defined]
    finally:
        store.close()


def test_endpoint_refuses_bodies_over_one_mib(rules: Path, app_db: str) -> None:
    with client(make_app(rules, store=app_db, inbound_secret=INBOUND_SECRET)) as c:
        big = json.dumps(
            [{"id": f"i{n}", "visitor": "v1", "tags": ["x" * 90] * 12} for n in range(1000)]
        ).encode()
        assert len(big) > MAX_BODY_BYTES
        answer = post(c, None, raw=big)
        assert answer.status_code == 413
        # streamed without a Content-Length: still cut off at the limit

        def chunks() -> Any:
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        streamed = c.post(
            "/smartseg/inbound",
            content=chunks(),
            headers={"X-Smartseg-Signature": sign_body(big, INBOUND_SECRET)},
        )
        assert streamed.status_code == 413
        assert post(c, json.loads(big)[:100]).status_code == 202  # a smaller batch is fine


def test_endpoint_is_off_without_an_inbound_secret(rules: Path, app_db: str) -> None:
    with client(make_app(rules, store=app_db)) as c:
        assert post(c, {"id": "a", "visitor": "v", "tags": ["t"]}).status_code == 404


def test_the_inbound_secret_must_differ_from_the_webhook_secret(rules: Path) -> None:
    sync = SyncConfig(url="http://127.0.0.1:9/hook", secret="same")
    app = make_app(rules, inbound_secret="same", sync=sync)
    with pytest.raises(ValueError, match="differ from the webhook secret"):
        client(app).get("/")


def test_unknown_visitor_and_email_are_stored_and_applied_when_they_identify(
    rules: Path, app_db: str
) -> None:
    store = open_store(app_db)
    try:
        stored = store.store_inbound(  # type: ignore[attr-defined]
            [
                parse_item({"id": "a", "visitor": "nobody-yet", "tags": ["lawyer"]}),
                parse_item({"id": "b", "email": "later@example.com", "tags": ["lawyer"]}),
            ],
            now=time.time() - 10,
        )
        assert stored == [True, True]
        assert store.inbound_status() == {"items": 2, "pending": 1, "applied": 0}  # type: ignore[attr-defined]
        store.identify("laptop", "later@example.com", None, time.time())
        assert store.inbound_status()["pending"] == 2  # type: ignore[attr-defined]
        items, nxt = store.claim_inbound("laptop", time.time())  # type: ignore[attr-defined]
        assert [i.id for i in items] == ["b"] and nxt is None
        store.identify("laptop", "later@example.com", None, time.time())  # again: nothing new
        assert store.claim_inbound("laptop", time.time()) == ([], None)  # type: ignore[attr-defined]
    finally:
        store.close()


# --------------------------------------------------------------------------- store


def test_store_is_idempotent_and_claims_exactly_once(store: Store) -> None:
    now = time.time()
    item = parse_item({"id": "x1", "visitor": "v1", "tags": ["t"], "at": "2026-01-01T00:00:00Z"})
    assert store.store_inbound([item, item], now=now - 6) == [True, False]  # type: ignore[attr-defined]
    assert store.store_inbound([item], now=now) == [False]  # type: ignore[attr-defined]
    # not due before 5 s have passed since it was stored
    assert store.claim_inbound("v1", now - 2) == ([], now - 1)  # type: ignore[attr-defined]
    got: list[Any] = []

    def claim() -> None:
        got.append(store.claim_inbound("v1", now)[0])  # type: ignore[attr-defined]

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = [i for batch in got for i in batch]
    assert [i.id for i in applied] == ["x1"]
    assert applied[0].at == pytest.approx(1767225600.0)
    assert store.inbound_status() == {"items": 1, "pending": 0, "applied": 1}  # type: ignore[attr-defined]


def test_change_feed_sees_every_row_once_it_is_committed(store: Store, store_url: str) -> None:
    rows, cursor = store.inbound_changes(None)  # type: ignore[attr-defined]
    assert rows == []
    store.store_inbound([parse_item({"id": "a", "visitor": "v1", "tags": ["t"]})], now=NOW)  # type: ignore[attr-defined]
    rows, cursor = store.inbound_changes(cursor)  # type: ignore[attr-defined]
    assert rows == [("v1", NOW + 5)]
    if backend_of(store_url) == "postgres":
        # A transaction that took its id first but commits after a later one: its row
        # has a lower seq, and must still be seen by a poll after it commits.
        import psycopg

        slow = psycopg.connect(store_url)
        slow.execute(
            "INSERT INTO smartseg_inbound_pending (item_seq, visitor_id, due_at) "
            "VALUES (999, 'late', %s)",
            (NOW,),
        )
        store.store_inbound([parse_item({"id": "b", "visitor": "v2", "tags": ["t"]})], now=NOW)  # type: ignore[attr-defined]
        rows, cursor = store.inbound_changes(cursor)  # type: ignore[attr-defined]
        assert ("v2", NOW + 5) in rows and not any(v == "late" for v, _ in rows)
        slow.commit()
        slow.close()
        rows, cursor = store.inbound_changes(cursor)  # type: ignore[attr-defined]
        assert ("late", NOW) in rows
    # Old rows are not read again. On PostgreSQL the cursor is the oldest transaction
    # still running on the whole server, so a transaction of a test running beside this
    # one can hold it back for a moment (a re-read is harmless: the pending set keeps
    # the earliest due time); it must move on once that transaction ends.
    deadline = time.monotonic() + 10
    while True:
        rows, cursor = store.inbound_changes(cursor)  # type: ignore[attr-defined]
        if all(v != "v1" for v, _ in rows):
            break
        assert backend_of(store_url) == "postgres", rows
        assert time.monotonic() < deadline, "the change feed's cursor never moved past v1"
        time.sleep(0.05)


def test_forget_deletes_the_visitors_inbound_rows(store: Store) -> None:
    store.store_inbound([parse_item({"id": "a", "visitor": "v1", "tags": ["t"]})], now=NOW)  # type: ignore[attr-defined]
    assert store.forget("v1") == 2  # the item and its pending application
    assert store.inbound_status() == {"items": 0, "pending": 0, "applied": 0}  # type: ignore[attr-defined]


def test_a_version_3_database_migrates(store_url: str) -> None:
    from test_events_store import _raw_execute

    module = answers_sqlite if backend_of(store_url) == "sqlite" else answers_postgres
    assert module.SCHEMA_VERSION == 4
    statements = [s for version, batch in module.MIGRATIONS if version <= 3 for s in batch]
    statements += [
        "CREATE TABLE smartseg_meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO smartseg_meta (key, value) VALUES ('schema_version', '3')",
        "INSERT INTO smartseg_identities (visitor_id, email, at) VALUES (?, ?, ?)",
    ]
    params: list[tuple[Any, ...]] = [()] * (len(statements) - 1) + [("old", "old@example.com", NOW)]
    _raw_execute(store_url, statements, params)
    store = open_store(store_url)
    try:
        assert store.schema_version() == 4  # type: ignore[attr-defined]
        item = parse_item({"id": "a", "email": "old@example.com", "attributes": {"score": 9}})
        assert store.store_inbound([item], now=NOW) == [True]  # type: ignore[attr-defined]
        items, _ = store.claim_inbound("old", NOW + 5)  # type: ignore[attr-defined]
        assert [(i.id, dict(i.attributes)) for i in items] == [("a", {"score": 9})]
    finally:
        store.close()


def test_python_entry_point(app_db: str) -> None:
    store = open_store(app_db)
    try:
        item = {"id": "shop-7", "email": "jane@example.com", "events": ["purchase"]}
        assert anyio.run(smartseg_dsl.inbound, store, item) is True
        assert anyio.run(smartseg_dsl.inbound, store, item) is False  # idempotent
        typed = InboundItem("shop-8", visitor="v1", tags=("customer",))
        assert anyio.run(smartseg_dsl.inbound, store, typed) is True
        with pytest.raises(InboundError, match="events"):
            anyio.run(smartseg_dsl.inbound, store, {"id": "x", "visitor": "v", "events": "no"})
    finally:
        store.close()


# --------------------------------------------------------------------------- CLI

CLI_LINES = [
    '{"id": "c1", "email": "jane@example.com", "tags": ["clicked_legal"]}',
    "",
    '{"id": "c2", "visitor": "v1", "attributes": {"lead_score": true}}',
    "not json at all",
    '{"id": "c3", "visitor": "v1", "events": ["purchase"], "at": "2026-11-30T10:00:00Z"}',
    '{"id": "c1", "email": "jane@example.com", "tags": ["clicked_legal"]}',
    '{"id": "c4", "visitor": "v1", "events": ["purchase"], "colour": "red"}',
]


def test_cli_reports_every_rejected_line(
    tmp_path: Path, snapshot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative names: a stable snapshot
    source = tmp_path / "items.jsonl"
    source.write_text("\n".join(CLI_LINES) + "\n", encoding="utf-8")
    db = tmp_path / "answers.db"
    runner = CliRunner()
    result = runner.invoke(
        main, ["inbound", "--db", str(db), "items.jsonl"], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.output == snapshot
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM smartseg_inbound").fetchone()[0] == 2
    clean = tmp_path / "clean.jsonl"
    clean.write_text(CLI_LINES[0] + "\n" + CLI_LINES[4] + "\n", encoding="utf-8")
    again = runner.invoke(main, ["inbound", "--db", str(db), str(clean)])
    assert again.exit_code == 0
    assert "0 stored, 2 already stored, 0 rejected" in again.output
    missing = runner.invoke(main, ["inbound", "--db", str(db), str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


INBOUND_SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "docs" / "inbound.schema.json").read_text()
)


@given(items())
def test_valid_items_match_the_published_schema(item: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(item, INBOUND_SCHEMA)
    jsonschema.validate([item], INBOUND_SCHEMA)


def test_the_schema_examples_are_accepted() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(INBOUND_SCHEMA)
    for example in INBOUND_SCHEMA["examples"]:
        jsonschema.validate(example, INBOUND_SCHEMA)
        parse_body(json.dumps(example).encode(), now=NOW * 2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "visitor": "v", "email": "a@b.example"}, INBOUND_SCHEMA)
