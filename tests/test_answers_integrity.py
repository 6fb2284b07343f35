"""Answer-bank integrity fixes from the adversarial review (issue 13):

* 5 — a SQLite file removed or replaced while the app runs: writes are refused (503),
  never acknowledged into the unlinked file, and a reopen on another file is loud;
* 6 — ``POST /smartseg/forget`` cannot be undone by replaying the old cookie, on any
  server sharing the answer bank (both backends);
* 7 — the same survey form posted again records (and syncs) the answer once.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import SECRET, client, csrf_of, make_app, pages_routes, write_rules
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smartseg_dsl.answers import (
    ForgottenIds,
    GuardedStore,
    Store,
    StoreFileLostError,
    StoreUnavailableError,
    open_store,
)
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.loader import load_ruleset

NOW = 1_800_000_000.0


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


async def _token(request: Request) -> Response:
    """What a "forget me" form does: a CSRF token from request.state.smartseg."""
    return PlainTextResponse(request.state.smartseg.csrf_token())


def routes() -> list[Route]:
    return [*pages_routes(), Route("/token", _token)]


def vid_of_cookie(rules: Path, value: str) -> str:
    codec = CookieCodec(load_ruleset(rules), SECRET, max_age=365 * 86400)
    state, reason = codec.loads(value, time.time())
    assert state is not None, reason
    return str(state.visitor_id)


def set_cookie_value(response: Any) -> str:
    found = re.search(r"smartseg=([^;]*)", response.headers.get("set-cookie", ""))
    assert found and found.group(1), response.headers.get("set-cookie")
    return found.group(1)


def answers_in(store: Store, vid: str) -> list[tuple[str | None, str | None]]:
    return [(e.subject, e.value) for e in store.history(vid) if e.kind == "answer"]


# --------------------------------------------------------------------------- 5: lost file


def test_a_removed_file_refuses_writes_and_acknowledges_nothing(tmp_path: Path) -> None:
    path = tmp_path / "answers.db"
    store = open_store(str(path))
    aside = tmp_path / "aside.db"
    try:
        store.record_answer("v1", "Industry.Legal", "yes", NOW)
        os.rename(path, aside)  # gone from its path, as with `rm` (but kept to look at)
        with pytest.raises(StoreFileLostError) as lost:
            store.record_answer("v1", "Industry.Legal", "no", NOW + 1)
        assert isinstance(lost.value, StoreUnavailableError) and lost.value.removed
        assert str(path) in str(lost.value)
        with pytest.raises(StoreUnavailableError):
            store.record_dismissal("v1", "Industry.Legal", NOW + 2)
        with pytest.raises(StoreUnavailableError):
            store.add_event_drops(queue_full=1, database=0)
        assert not path.exists()  # no new, empty file was created in its place
        os.rename(aside, path)  # put back: the same file, so writes resume
        store.record_dismissal("v1", "Industry.Legal", NOW + 3)
        assert [(e.kind, e.value) for e in store.history("v1")] == [
            ("answer", "yes"),
            ("dismissal", None),
        ]  # the refused answer is nowhere
    finally:
        store.close()


def test_a_deleted_file_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "answers.db"
    store = open_store(str(path))
    try:
        store.record_answer("v1", "Industry.Legal", "yes", NOW)
        path.unlink()
        for _ in range(3):  # every write, not only the first
            with pytest.raises(StoreFileLostError):
                store.record_answer("v1", "Industry.Legal", "no", NOW + 1)
        assert not path.exists()
    finally:
        store.close()


def test_a_replaced_file_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "answers.db"
    store = open_store(str(path))
    other = tmp_path / "restored.db"
    open_store(str(other)).close()
    try:
        store.record_answer("v1", "Industry.Legal", "yes", NOW)
        os.replace(other, path)  # e.g. a backup restored over it
        with pytest.raises(StoreFileLostError) as lost:
            store.record_answer("v1", "Industry.Legal", "no", NOW + 1)
        assert not lost.value.removed
        with pytest.raises(StoreFileLostError):
            store.history("v1")
    finally:
        store.close()
    fresh = open_store(str(path))
    try:
        assert fresh.history("v1") == []  # neither answer went into the new file
    finally:
        fresh.close()


def test_guarded_store_waits_for_the_file_and_says_when_it_is_another(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.db"
    aside = tmp_path / "aside.db"
    guarded = GuardedStore(str(path), retry_interval=0)
    caplog.set_level(logging.WARNING, logger="smartseg.answers")
    try:
        guarded.record_answer("v1", "Industry.Legal", "yes", NOW)
        os.rename(path, aside)
        for _ in range(3):  # refused, and the path is not recreated as an empty file
            with pytest.raises(StoreUnavailableError):
                guarded.record_answer("v1", "Industry.Legal", "no", NOW + 1)
            assert not path.exists()
        assert "has not been put back" in caplog.text
        os.rename(aside, path)
        caplog.clear()
        guarded.record_answer("v1", "Industry", "Legal", NOW + 2)  # the same file: resumes
        assert "available again" in caplog.text and "different file" not in caplog.text
        assert answers_in(guarded, "v1") == [("Industry.Legal", "yes"), ("Industry", "Legal")]

        other = tmp_path / "other.db"
        open_store(str(other)).close()
        os.replace(other, path)
        caplog.clear()
        with pytest.raises(StoreUnavailableError):
            guarded.record_answer("v1", "Industry.Legal", "no", NOW + 3)
        guarded.record_answer("v2", "Industry.Legal", "yes", NOW + 4)  # reopened, on the new file
        loud = [r for r in caplog.records if "different file" in r.getMessage()]
        assert loud and loud[0].levelno == logging.ERROR and str(path) in loud[0].getMessage()
        assert guarded.history("v1") == []
    finally:
        guarded.close()


def test_answers_to_a_removed_file_get_503(rules: Path, tmp_path: Path) -> None:
    db = tmp_path / "answers.db"
    c = client(make_app(rules, store=str(db)))
    token = csrf_of(c.get("/article/law").text)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    vid = vid_of_cookie(rules, c.cookies["smartseg"])
    aside = tmp_path / "aside.db"
    os.rename(db, aside)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "no", "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    dismissed = c.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert dismissed.status_code == 503
    assert not db.exists()
    with sqlite3.connect(aside) as conn:  # the old file has exactly what was acknowledged
        rows = conn.execute(
            "SELECT kind, value FROM smartseg_events WHERE visitor_id = ?", (vid,)
        ).fetchall()
    assert rows == [("answer", "yes")]


# --------------------------------------------------------------------------- 6: forget


def test_forget_records_the_id(store: Store) -> None:
    store.record_answer("v1", "Industry.Legal", "yes", NOW)
    before = time.time()
    assert store.forget("v1") == 1
    assert store.forget("never-seen") == 0
    rows = store.forgotten_since(before - 1)  # type: ignore[attr-defined]
    assert {vid for vid, _ in rows} == {"v1", "never-seen"}
    assert all(at >= before - 1 for _, at in rows)
    assert store.forgotten_since(time.time() + 10) == []  # type: ignore[attr-defined]
    assert store.purge_forgotten(time.time() + 10) == 2  # type: ignore[attr-defined]
    assert store.forgotten_since(0) == []  # type: ignore[attr-defined]


def test_forgotten_ids_load_refresh_and_purge(store: Store) -> None:
    clock = [100.0]
    wall = [time.time()]
    ids = ForgottenIds(interval=1.0, retention=50.0, clock=lambda: clock[0], wall=lambda: wall[0])
    assert ids.stale(clock[0])
    store.forget("old")
    store.forget("v1")
    assert ids.refresh(store) and "v1" in ids and "old" in ids and ids.loaded
    assert not ids.stale(clock[0]) and ids.stale(clock[0] + 2.5)
    store.forget("v2")
    clock[0] += 1
    assert ids.refresh(store) and "v2" in ids
    ids.add("local")
    assert "local" in ids
    wall[0] += 3600 + 60  # past the retention, and a purge is due
    clock[0] += 1
    assert ids.refresh(store)
    assert len(ids) == 0
    assert store.forgotten_since(0) == []  # type: ignore[attr-defined]


def test_forget_cannot_be_undone_by_replaying_the_cookie(rules: Path, store_url: str) -> None:
    """Two app servers sharing one answer bank: forget on A, replay the old cookie on B."""
    interval = 0.2
    server_a = client(make_app(rules, routes=routes(), store=store_url))
    server_b_app = make_app(
        rules, routes=routes(), store=store_url, forgotten_refresh_interval=interval
    )

    def on_b(cookie: str) -> Any:
        return client(server_b_app, cookies={"smartseg": cookie})

    token = csrf_of(server_a.get("/article/law").text)
    response = server_a.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    saved = server_a.cookies["smartseg"]  # the copy the attacker (or a backup) keeps
    vid = vid_of_cookie(rules, saved)

    # Before the forget, B honours the cookie (and loads its set of forgotten ids).
    b = on_b(saved)
    assert "café" in b.get("/").text
    old_token = b.get("/token").text

    forget = server_a.post(
        "/smartseg/forget", data={"csrf": server_a.get("/token").text}, follow_redirects=False
    )
    assert forget.status_code == 303

    # A knows at once.
    a2 = client(server_a.app, cookies={"smartseg": saved})
    page = a2.get("/")
    assert "café" not in page.text
    assert vid_of_cookie(rules, set_cookie_value(page)) != vid

    # B knows after its refresh interval (two of them: an idle server waits for the
    # refresh on its next request instead of trusting an old set).
    time.sleep(2 * interval + 0.1)
    b2 = on_b(saved)
    page = b2.get("/")
    assert "café" not in page.text  # no personalization from the forgotten history
    assert vid_of_cookie(rules, set_cookie_value(page)) != vid  # a new visitor id
    assert on_b(saved).get("/state").json()["certain"] is False

    # A CSRF token issued to the old id is refused on both servers.
    for server in (on_b(saved), client(server_a.app, cookies={"smartseg": saved})):
        refused = server.post(
            "/smartseg/answer",
            data={"about": "Industry.Legal", "answer": "yes", "csrf": old_token},
            follow_redirects=False,
        )
        assert refused.status_code == 403
        assert server.post("/smartseg/forget", data={"csrf": old_token}).status_code == 403

    check = open_store(store_url)
    try:
        assert check.history(vid) == []  # the replays wrote nothing for the old id
    finally:
        check.close()


def test_forgotten_ids_cost_no_query_per_request(rules: Path, tmp_path: Path) -> None:
    class Counting(GuardedStore):
        reads = 0

        def forgotten_since(self, *args: Any, **kwargs: Any) -> list[tuple[str, float]]:
            Counting.reads += 1
            return super().forgotten_since(*args, **kwargs)

    store = Counting(str(tmp_path / "answers.db"))
    try:
        c = client(make_app(rules, store=store, forgotten_refresh_interval=60))
        for _ in range(20):
            assert c.get("/").status_code == 200
        assert Counting.reads == 1  # the first load; the next one is a minute away
    finally:
        store.close()


# --------------------------------------------------------------------------- 7: replays


def test_the_same_token_records_an_answer_once(store: Store) -> None:
    store.identify("v1", "jane@example.com", None, NOW)
    first = store.record_answer("v1", "Industry.Legal", "yes", NOW, None, "token-1")
    assert first is not None
    for n in range(2):
        assert store.record_answer("v1", "Industry.Legal", "yes", NOW + n, None, "token-1") is None
    assert answers_in(store, "v1") == [("Industry.Legal", "yes")]
    assert store.status(now=time.time()).pending == 2  # the identify and one answer
    # the same token with another answer is another answer (the visitor changed it)
    assert store.record_answer("v1", "Industry.Legal", "no", NOW + 5, None, "token-1")
    # a new form (a new token) with the same answer is a real second answer
    assert store.record_answer("v1", "Industry.Legal", "yes", NOW + 6, None, "token-2")
    assert len(answers_in(store, "v1")) == 3
    assert store.status(now=time.time()).pending == 4
    # another visitor's identical answer with the same token string is theirs
    assert store.record_answer("v2", "Industry.Legal", "yes", NOW, None, "token-1") is None
    assert answers_in(store, "v2") == [("Industry.Legal", "yes")]
    # without a token (the app calling the store directly), nothing is de-duplicated
    store.record_answer("v3", "Industry", "Legal", NOW)
    store.record_answer("v3", "Industry", "Legal", NOW)
    assert len(answers_in(store, "v3")) == 2


def test_replayed_survey_posts_add_no_rows(
    rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "answers.db")
    c = client(make_app(rules, routes=routes(), store=db))
    token = csrf_of(c.get("/article/law").text)
    vid = vid_of_cookie(rules, c.cookies["smartseg"])
    bank = open_store(db)
    try:
        bank.identify(vid, "jane@example.com", None, time.time())
        form = {"about": "Industry.Legal", "answer": "yes", "csrf": token, "next": "/x"}
        for _ in range(3):
            response = c.post("/smartseg/answer", data=form, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/x"
        as_json = c.post("/smartseg/answer", data=form, headers={"accept": "application/json"})
        assert as_json.status_code == 200 and as_json.json()["ok"] is True
        assert answers_in(bank, vid) == [("Industry.Legal", "yes")]
        assert bank.status(now=time.time()).pending == 2  # identify + one answer sync

        # A newly rendered form (tokens carry a timestamp in seconds: make it differ).
        from itsdangerous.timed import TimestampSigner

        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 5)
        new_token = c.get("/token").text
        assert new_token != token
        form["csrf"] = new_token
        assert c.post("/smartseg/answer", data=form, follow_redirects=False).status_code == 303
        assert answers_in(bank, vid) == [("Industry.Legal", "yes")] * 2
        assert bank.status(now=time.time()).pending == 3
    finally:
        bank.close()


def test_replayed_dismissals_add_no_rows(rules: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "answers.db")
    c = client(make_app(rules, routes=routes(), store=db))
    token = csrf_of(c.get("/article/law").text)
    vid = vid_of_cookie(rules, c.cookies["smartseg"])
    form = {"about": "Industry.Legal", "csrf": token, "next": "/x"}
    for _ in range(3):
        response = c.post("/smartseg/dismiss", data=form, follow_redirects=False)
        assert response.status_code == 303
    bank = open_store(db)
    try:
        dismissals = [e for e in bank.history(vid) if e.kind == "dismissal"]
        assert [e.subject for e in dismissals] == ["Industry.Legal"]
        # without a token (the app calling the store directly), nothing is de-duplicated
        bank.record_dismissal(vid, "Industry", time.time())
        bank.record_dismissal(vid, "Industry", time.time())
        assert sum(e.subject == "Industry" for e in bank.history(vid)) == 2
    finally:
        bank.close()


def test_a_scratch_schema_is_private_and_dropped(pg_base_url: str) -> None:
    """`scratch_schema` (tests and benchmarks): a store opened on its URL creates its
    tables there, not in the server's own schema, and the schema is gone afterwards."""
    import psycopg

    from smartseg_dsl.answers import open_store
    from smartseg_dsl.answers.postgres import scratch_schema

    with scratch_schema(pg_base_url, "t") as url:
        schema = re.search(r"search_path%3D(\w+)", url).group(1)  # type: ignore[union-attr]
        assert schema.startswith("t_")
        open_store(url).close()
        with psycopg.connect(pg_base_url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        assert ("smartseg_events",) in tables and ("smartseg_inbound",) in tables
    with psycopg.connect(pg_base_url) as conn:
        left = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchall()
    assert left == []
