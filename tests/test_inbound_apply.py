"""Applying inbound data (SPEC §1.8, §7): tags, events at their own time and attributes
on the visitor's next request, the in-memory pending set (no query per request), and
exactly-once application across app servers sharing the answer bank."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import SECRET, client, make_app, page, write_rules
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import smartseg_dsl
from smartseg_dsl import budget
from smartseg_dsl.answers import GuardedStore, Store, open_store
from smartseg_dsl.answers.sqlite import SqliteStore
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.engine import Engine, RequestInfo
from smartseg_dsl.inbound_items import parse_item
from smartseg_dsl.loader import load_ruleset
from smartseg_dsl.state import Layout, decode_state, encode_state

RULES = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit event "webinar" weight 4
    }
    segment RealEstate "Real estate" {
        explicit tag "realtor"
    }
}
audience Buyer = count(event "purchase" within 7d) >= 1
audience RecentBuyer = count(event "purchase" within 1h) >= 1
audience HighScore = attribute("lead_score") >= 70
audience Engaged = pageviews >= 3
when certain(Industry.Legal) replace slot headline with "For law firms"
when HighScore show slot returning
when Buyer hide slot newsletter
when Engaged show slot legal_case_study
"""

HEADLINE = "For law firms"


async def _page(request: Request) -> Response:
    score = request.query_params.get("score")
    if score is not None:
        smartseg_dsl.set_attribute(request, "lead_score", float(score))
    return HTMLResponse(page())


async def _state(request: Request) -> Response:
    view = request.state.smartseg
    return JSONResponse(
        {"audiences": list(view.audiences), "certain": view.certain("Industry.Legal")}
    )


async def _identify(request: Request) -> Response:
    await smartseg_dsl.identify(request, request.query_params["email"])
    return JSONResponse({"ok": True})


async def _api(request: Request) -> Response:
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/", _page),
    Route("/state", _state),
    Route("/identify", _identify),
    Route("/api", _api),
]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", RULES)


#: a SQLite answer bank's path (for the app) and a store on it (to push items)
Bank = tuple[str, Store]


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    db = str(tmp_path / "answers.db")
    store = open_store(db)
    yield db, store
    store.close()


def app_for(rules: Path, store: Any, **options: Any) -> Any:
    options.setdefault("inbound_refresh_interval", 0.05)
    return make_app(rules, routes=ROUTES, store=store, **options)


def visitor_id(rules: Path, c: Any) -> str:
    codec = CookieCodec(load_ruleset(rules), SECRET)
    state, reason = codec.loads(c.cookies.get("smartseg"), time.time())
    assert state is not None, reason
    return str(state.visitor_id)


def push(store: Store, *items: dict[str, Any], ago: float = 6.0) -> None:
    """Store items as if they had arrived `ago` seconds ago (due once 5 s have passed)."""
    parsed = [parse_item(item) for item in items]
    assert all(store.store_inbound(parsed, now=time.time() - ago))  # type: ignore[attr-defined]


def next_page(c: Any, path: str = "/") -> str:
    """The next request, once the pending set has had its (50 ms) chance to poll."""
    time.sleep(0.12)
    response = c.get(path)
    assert response.status_code == 200
    return response.text


def shows(html: str, slot: str) -> bool:
    found = re.search(rf'<[^>]*data-seg-slot="?{slot}"?[^>]*>', html)
    assert found, slot
    return "hidden" not in found.group(0)


# --------------------------------------------------------------------------- application


def test_a_tag_for_an_email_shows_on_both_devices(rules: Path, bank: Bank) -> None:
    db, store = bank
    app = app_for(rules, db)
    with client(app) as phone, client(app) as laptop:
        phone.get("/identify", params={"email": "jane@example.com"})
        laptop.get("/")
        push(store, {"id": "esp-1", "email": "Jane@example.com", "tags": ["lawyer"]})
        assert HEADLINE in next_page(phone)
        assert HEADLINE not in next_page(laptop)  # not identified yet
        laptop.get("/identify", params={"email": "jane@example.com"})
        assert HEADLINE in next_page(laptop)  # it applies to those identifying later
        assert HEADLINE in next_page(phone) and HEADLINE in next_page(laptop)  # kept
    status = store.inbound_status()  # type: ignore[attr-defined]
    assert status == {"items": 1, "pending": 0, "applied": 2}


def test_an_item_waits_five_seconds_after_it_was_stored(rules: Path, bank: Bank) -> None:
    db, store = bank
    with client(app_for(rules, db)) as c:
        c.get("/")
        push(store, {"id": "a", "visitor": visitor_id(rules, c), "tags": ["lawyer"]}, ago=3.5)
        assert HEADLINE not in next_page(c)
        time.sleep(1.6)
        assert HEADLINE in next_page(c)


def test_an_event_counts_at_its_own_time(rules: Path, bank: Bank) -> None:
    db, store = bank
    with client(app_for(rules, db)) as c:
        c.get("/")
        two_hours_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
        push(
            store,
            {"id": "shop-9", "visitor": visitor_id(rules, c), "events": ["purchase"]}
            | {"at": two_hours_ago},
        )
        time.sleep(0.12)
        audiences = c.get("/state").json()["audiences"]
        # within 7 days, but not within the last hour: it happened two hours ago
        assert "Buyer" in audiences and "RecentBuyer" not in audiences
        assert "Subscribe" not in next_page(c)  # `when Buyer hide slot newsletter`


def test_attributes_persist_and_give_way_to_the_apps_value(rules: Path, bank: Bank) -> None:
    db, store = bank
    with client(app_for(rules, db)) as c:
        c.get("/")
        assert not shows(next_page(c), "returning")
        push(
            store,
            {"id": "model-1", "visitor": visitor_id(rules, c), "attributes": {"lead_score": 82}},
        )
        assert shows(next_page(c), "returning")
        assert shows(next_page(c), "returning")  # kept in the cookie
        assert not shows(next_page(c, "/?score=10"), "returning")  # the app's value wins
        assert shows(next_page(c), "returning")  # …for that request only
        push(
            store,
            {"id": "model-2", "visitor": visitor_id(rules, c), "attributes": {"lead_score": None}},
        )
        assert not shows(next_page(c), "returning")  # null clears it


def test_a_non_page_request_applies_and_sets_the_cookie(rules: Path, bank: Bank) -> None:
    db, store = bank
    with client(app_for(rules, db)) as c:
        c.get("/")
        push(store, {"id": "a", "visitor": visitor_id(rules, c), "tags": ["lawyer"]})
        time.sleep(0.12)
        api = c.get("/api")
        assert "set-cookie" in api.headers  # applied on the JSON request
        assert c.get("/state").json()["certain"] is True


def test_two_app_servers_apply_an_item_once_per_visitor(rules: Path, store_url: str) -> None:
    store = open_store(store_url)
    one, two = app_for(rules, store_url), app_for(rules, store_url)
    with client(one) as a, client(two) as b:
        a.get("/")
        b.cookies.set("smartseg", a.cookies.get("smartseg"))  # the same visitor on both
        vid = visitor_id(rules, a)
        push(store, {"id": "e1", "visitor": vid, "events": ["webinar"]})
        time.sleep(0.12)
        a.get("/api"), b.get("/api")  # let both pending sets poll
        time.sleep(0.12)
        push(store, {"id": "e2", "visitor": vid, "events": ["webinar"]})
        time.sleep(0.15)
        barrier = threading.Barrier(2)
        cookies: list[str | None] = []

        def hit(c: Any) -> None:
            barrier.wait()
            cookies.append(c.get("/api").headers.get("set-cookie"))

        threads = [threading.Thread(target=hit, args=(c,)) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    status = store.inbound_status()  # type: ignore[attr-defined]
    assert status == {"items": 2, "pending": 0, "applied": 2}
    # e2 was applied by exactly one of the two servers: one response carries the new
    # evidence (two webinars' worth), the other does not change the state at all
    assert sum(1 for cookie in cookies if cookie) == 1
    store.close()


# --------------------------------------------------------------------------- no query


class CountingStore(SqliteStore):
    """Counts every transaction (each query runs in one)."""

    transactions = 0
    claims = 0

    def _write(self) -> Any:
        CountingStore.transactions += 1
        return super()._write()

    def _read(self) -> Any:
        CountingStore.transactions += 1
        return super()._read()

    def claim_inbound(self, *args: Any, **kwargs: Any) -> Any:
        CountingStore.claims += 1
        return super().claim_inbound(*args, **kwargs)


def test_no_query_per_request_for_visitors_with_nothing_pending(
    rules: Path, tmp_path: Path
) -> None:
    db = tmp_path / "answers.db"
    store = GuardedStore(str(db), opener=lambda url, **kw: CountingStore(db))
    # no measurement events in these rules; the forgotten ids and the pending set are
    # refreshed once (the next refresh is a minute away)
    app = make_app(
        rules,
        routes=ROUTES,
        store=store,
        inbound_refresh_interval=60,
        forgotten_refresh_interval=60,
    )
    visitors = [client(app) for _ in range(20)]
    for c in visitors:
        c.get("/")
        c.get("/")  # the first request with a cookie loads both in-memory sets
    CountingStore.transactions = CountingStore.claims = 0
    for _ in range(3):
        for c in visitors:
            assert c.get("/").status_code == 200
    assert (CountingStore.transactions, CountingStore.claims) == (0, 0)
    # somebody else has something pending: still no query for these visitors
    mw = _middleware(app)
    mw.pending.add("someone-else", time.time())
    for c in visitors:
        assert c.get("/").status_code == 200
    assert (CountingStore.transactions, CountingStore.claims) == (0, 0)
    # the one visitor with something pending costs one claim, once
    mw.pending.add(visitor_id(rules, visitors[0]), time.time())
    for c in visitors:
        c.get("/")
    visitors[0].get("/")
    assert CountingStore.claims == 1
    store.close()


def _middleware(app: Any) -> Any:
    app.build_middleware_stack() if app.middleware_stack is None else None
    node = app.middleware_stack
    while node is not None and not isinstance(node, smartseg_dsl.SmartSegMiddleware):
        node = getattr(node, "app", None)
    assert node is not None
    return node


# --------------------------------------------------------------------------- engine & state


def test_engine_places_inbound_events_at_their_time(rules: Path) -> None:
    compiled = load_ruleset(rules)
    engine = Engine(compiled)
    now = 1_800_000_000.0
    state = engine.step(None, RequestInfo(time=now - 10_000, path="/")).state
    late = RequestInfo(
        time=now,
        path="/",
        inbound_events=(("purchase", now - 7200), ("purchase", now - 60), ("webinar", now - 60)),
        inbound_tags=("realtor",),
    )
    outcome = engine.step(state, late)
    assert set(outcome.audiences) >= {"Buyer", "RecentBuyer"}
    key = compiled.layout.windows[0].key
    times = [w for k, w in outcome.state.windows.items()]
    assert any(len(t) == 2 for t in times)
    assert all(list(t) == sorted(t, reverse=True) for t in outcome.state.windows.values())
    assert outcome.view.score("Industry.Legal") == 4.0  # no decay: full weight
    assert outcome.view.certain("Industry.RealEstate")
    assert ("segment.certain", "Industry.RealEstate") in outcome.activation
    later = engine.step(outcome.state, RequestInfo(time=now + 3700, path="/"))
    assert "RecentBuyer" not in later.audiences and "Buyer" in later.audiences
    assert key


def test_inbound_attributes_are_kept_only_when_the_rules_read_them(rules: Path) -> None:
    compiled = load_ruleset(rules)
    layout = compiled.layout
    assert set(layout.attributes) == {"lead_score"}
    engine = Engine(compiled)
    info = RequestInfo(
        time=1_800_000_000.0, inbound_attributes={"lead_score": 90, "unused": "x" * 64}
    )
    state = engine.step(engine.new_state(1_800_000_000.0), info).state
    assert list(state.inbound.values()) == [90]
    doc = encode_state(state, layout)
    assert doc["q"] == {layout.attributes["lead_score"]: 90}
    assert decode_state(doc, layout) == state


def test_the_cookie_budget_counts_inbound_attributes(rules: Path) -> None:
    compiled = load_ruleset(rules)
    with_attribute = budget.worst_case_report(compiled.layout)
    parts = dict(with_attribute.parts)
    assert parts["inbound attributes"] >= 6 * 64  # 64 characters, each a \\uXXXX escape
    without = Layout.from_ruleset(load_ruleset(rules).ruleset)
    assert with_attribute.total == budget.worst_case_report(without).total
    # the worst case really is an upper bound for a 64-character inbound text
    engine = Engine(compiled)
    info = RequestInfo(time=1_800_000_000.0, inbound_attributes={"lead_score": "\u20ac" * 64})
    state = engine.step(engine.new_state(1_800_000_000.0), info).state
    codec = CookieCodec(compiled, SECRET)
    assert len(codec.dumps(state)) < with_attribute.total
