"""SQL shared by the SQLite and PostgreSQL backends (:class:`SqlStore`): every
method of :class:`~smartseg_dsl.answers.store.Store`, written once with ``?``
placeholders; a backend supplies transactions, the claim query and error translation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from smartseg_dsl.answers.store import (
    _NAME_RE,
    ACTIVATION_KINDS,
    MAX_ERROR_TEXT,
    MAX_TAG_BYTES,
    MAX_VALUE_BYTES,
    MAX_WORKER_ID,
    AppliedItem,
    Delivery,
    Event,
    EventDrops,
    FailedDelivery,
    InboundItem,
    InvalidInputError,
    OutboxStatus,
    StoreUnavailableError,
    _check_about,
    _check_text,
    _check_time,
    _check_visitor_id,
    answer_key,
    build_payload,
    check_snapshot,
    dismissal_key,
    mask_email,
    normalize_email,
)
from smartseg_dsl.measure.events import COLUMNS as EVENT_COLUMNS
from smartseg_dsl.measure.events import TABLE as EVENT_TABLE
from smartseg_dsl.measure.events import Event as MeasurementEvent

#: Inbound items (SPEC §7) take effect this many seconds after they are stored
#: (``inbound_items.APPLY_DELAY`` is this value).
INBOUND_DELAY = 5.0


# --------------------------------------------------------------------------- shared SQL


class Tx(Protocol):
    """What the shared SQL below needs from a backend's transaction."""

    def q(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


_INSERT_EVENT = (
    f"INSERT INTO {EVENT_TABLE} ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)
_EVENT_SELECT = "at, id, " + ", ".join(EVENT_COLUMNS)
_DROPS_QUEUE = "events_dropped_queue_full"
_DROPS_DB = "events_dropped_database"
_ADD_DROPS = (
    "INSERT INTO smartseg_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
    "value = CAST(CAST(smartseg_meta.value AS BIGINT) + CAST(excluded.value AS BIGINT) AS TEXT)"
)


def _period(since: float | None, until: float | None) -> tuple[str, tuple[float, ...]]:
    """The WHERE clause (or "") and its parameters for ``since <= at < until``."""
    conditions: list[str] = []
    bounds: list[float] = []
    if since is not None:
        conditions.append("at >= ?")
        bounds.append(float(since))
    if until is not None:
        conditions.append("at < ?")
        bounds.append(float(until))
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), tuple(bounds)


class SqlStore:
    """Behaviour shared by both backends; they supply transactions, the claim query and
    error translation. SQL here is written with ``?`` placeholders."""

    description: str = ""
    backend: str = ""

    # -- backend hooks
    def _write(self) -> AbstractContextManager[Tx]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Tx]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _claim_rows(
        self, tx: Tx, token: str, worker_id: str, limit: int, now: float, until: float, due: float
    ) -> list[Sequence[Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    #: the backend's schema migrations: (version, statements), in order
    migrations: Sequence[tuple[int, Sequence[str]]] = ()

    def _before_migrations(self, tx: Tx) -> None:
        """Backend hook run first in the migration transaction (e.g. take a lock)."""

    # -- schema
    def _migrate(self) -> None:
        """Bring the schema up to date; refuse a database from a newer smartseg."""
        latest = self.migrations[-1][0]
        try:
            with self._write() as tx:
                self._before_migrations(tx)
                tx.q("CREATE TABLE IF NOT EXISTS smartseg_meta (key TEXT PRIMARY KEY, value TEXT)")
                row = tx.q(
                    "SELECT value FROM smartseg_meta WHERE key = 'schema_version'"
                ).fetchone()
                version = int(row[0]) if row else 0
                if version > latest:
                    raise StoreUnavailableError(
                        f"{self.description} has answer bank schema version {version}, newer "
                        f"than this smartseg understands ({latest}): upgrade smartseg"
                    )
                for target, statements in self.migrations:
                    if target <= version:
                        continue
                    for statement in statements:
                        tx.q(statement)
                    tx.q(
                        "INSERT INTO smartseg_meta (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(target),),
                    )
                # A real write on every start-up, so a read-only database fails here,
                # loudly, and not on the first visitor's answer.
                tx.q(
                    "INSERT INTO smartseg_meta (key, value) VALUES ('last_opened_at', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (repr(time.time()),),
                )
        except BaseException:
            self.close()
            raise

    def schema_version(self) -> int:
        with self._read() as tx:
            row = tx.q("SELECT value FROM smartseg_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    # -- answer bank
    def record_answer(
        self,
        visitor_id: str,
        about: str,
        value: str,
        at: float,
        snapshot: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> str | None:
        vid = _check_visitor_id(visitor_id)
        about = _check_about(about)
        value = _check_text("answer value", value, MAX_VALUE_BYTES)
        at = _check_time(at)
        snap = check_snapshot(snapshot)
        key = None if token is None else answer_key(vid, about, value, token)
        with self._write() as tx:
            if not self._append(tx, vid, "answer", about, value, at, key):
                return None  # the same form posted again: already recorded (and synced)
            return self._enqueue_if_identified(
                tx, vid, "answer", [(about, value, at)], [], snap, at
            )

    def record_dismissal(
        self, visitor_id: str, about: str, at: float, token: str | None = None
    ) -> None:
        vid = _check_visitor_id(visitor_id)
        about = _check_about(about)
        at = _check_time(at)
        key = None if token is None else dismissal_key(vid, about, token)
        with self._write() as tx:
            self._append(tx, vid, "dismissal", about, None, at, key)

    def record_tag(
        self, visitor_id: str, tag: str, at: float, snapshot: Mapping[str, Any] | None = None
    ) -> str | None:
        vid = _check_visitor_id(visitor_id)
        tag = _check_text("tag", tag, MAX_TAG_BYTES)
        at = _check_time(at)
        snap = check_snapshot(snapshot)
        with self._write() as tx:
            self._append(tx, vid, "tag", tag, None, at)
            return self._enqueue_if_identified(tx, vid, "tag", [], [(tag, at)], snap, at)

    def identify(
        self, visitor_id: str, email: str, snapshot: Mapping[str, Any] | None, at: float
    ) -> str:
        vid = _check_visitor_id(visitor_id)
        address = normalize_email(email)
        at = _check_time(at)
        snap = check_snapshot(snapshot)
        with self._write() as tx:
            tx.q(
                "INSERT INTO smartseg_identities (visitor_id, email, at) VALUES (?, ?, ?) "
                "ON CONFLICT (visitor_id) DO UPDATE SET email = excluded.email, at = excluded.at",
                (vid, address, at),
            )
            self._append(tx, vid, "identify", None, address, at)
            linked = [
                row[0]
                for row in tx.q(
                    "SELECT visitor_id FROM smartseg_identities WHERE email = ? "
                    "ORDER BY at, visitor_id",
                    (address,),
                ).fetchall()
            ]
            answers: list[tuple[str, str, float]] = []
            tags: list[tuple[str, float]] = []
            rows = tx.q(
                "SELECT e.kind, e.subject, e.value, e.at FROM smartseg_events e "
                "JOIN smartseg_identities i ON i.visitor_id = e.visitor_id "
                "WHERE i.email = ? AND e.kind IN ('answer', 'tag') ORDER BY e.at, e.id",
                (address,),
            ).fetchall()
            for kind, subject, value, when in rows:
                if kind == "answer":
                    answers.append((subject, value, when))
                else:
                    tags.append((subject, when))
            # Inbound items sent for this address (SPEC §7) apply to this visitor too,
            # including those stored before they identified; each one once.
            tx.q(
                "INSERT INTO smartseg_inbound_pending (item_seq, visitor_id, due_at) "
                "SELECT seq, ?, stored_at + ? FROM smartseg_inbound WHERE email = ? "
                "ON CONFLICT (visitor_id, item_seq) DO NOTHING",
                (vid, INBOUND_DELAY, address),
            )
            return self._enqueue(tx, "identify", vid, linked, address, answers, tags, snap, at)

    def forget(self, visitor_id: str) -> int:
        vid = _check_visitor_id(visitor_id)
        with self._write() as tx:
            # Every queued or past delivery carrying this visitor's data goes too,
            # including an identify of another device that merged this history.
            deliveries = tx.q(
                "DELETE FROM smartseg_outbox WHERE id IN "
                "(SELECT outbox_id FROM smartseg_outbox_visitors WHERE visitor_id = ?)",
                (vid,),
            ).rowcount
            tx.q("DELETE FROM smartseg_outbox_visitors WHERE visitor_id = ?", (vid,))
            events = tx.q("DELETE FROM smartseg_events WHERE visitor_id = ?", (vid,)).rowcount
            links = tx.q("DELETE FROM smartseg_identities WHERE visitor_id = ?", (vid,)).rowcount
            measured = tx.q(f"DELETE FROM {EVENT_TABLE} WHERE visitor = ?", (vid,)).rowcount
            measured += tx.q(
                "DELETE FROM smartseg_inbound_pending WHERE visitor_id = ?", (vid,)
            ).rowcount
            measured += tx.q("DELETE FROM smartseg_inbound WHERE visitor_id = ?", (vid,)).rowcount
            # Remembered (not counted as deleted): every server refuses this id's cookie
            # from now on, so a saved copy cannot bring the visitor back (ForgottenIds).
            tx.q(
                "INSERT INTO smartseg_forgotten (visitor_id, at) VALUES (?, ?) "
                "ON CONFLICT (visitor_id) DO UPDATE SET at = excluded.at",
                (vid, time.time()),
            )
        return int(deliveries) + int(events) + int(links) + int(measured)

    def forgotten_since(self, since: float) -> list[tuple[str, float]]:
        """Visitor ids forgotten at or after ``since`` (epoch seconds), oldest first."""
        with self._read() as tx:
            rows = tx.q(
                "SELECT visitor_id, at FROM smartseg_forgotten WHERE at >= ? ORDER BY at",
                (float(since),),
            ).fetchall()
        return [(str(vid), float(at)) for vid, at in rows]

    def purge_forgotten(self, before: float) -> int:
        """Drop forgotten ids recorded before ``before``: their cookies have expired."""
        with self._write() as tx:
            count = tx.q("DELETE FROM smartseg_forgotten WHERE at < ?", (float(before),)).rowcount
        return int(count)

    def history(self, visitor_id: str) -> list[Event]:
        vid = _check_visitor_id(visitor_id)
        with self._read() as tx:
            rows = tx.q(
                "SELECT kind, subject, value, at FROM smartseg_events "
                "WHERE visitor_id = ? ORDER BY at, id",
                (vid,),
            ).fetchall()
        return [Event(kind, subject, value, float(at)) for kind, subject, value, at in rows]

    # -- measurement events (SPEC §6)
    def write_events(self, events: Sequence[MeasurementEvent]) -> int:
        if not events:
            return 0
        rows = [event.to_row() for event in events]
        with self._write() as tx:
            tx.many(_INSERT_EVENT, rows)
        return len(rows)

    def export_events(
        self, *, since: float | None = None, until: float | None = None, batch: int = 5000
    ) -> Iterator[MeasurementEvent]:
        if batch < 1:
            raise InvalidInputError("batch must be at least 1")
        where, bounds = _period(since, until)
        # Keyset pagination on (at, id), one short read transaction per batch: memory
        # stays at one batch, and no snapshot is held open while the caller writes out.
        # The separate `at >= ?` lets PostgreSQL start the index scan at the last row
        # (it does not derive that bound from the OR), so each batch costs one batch.
        first = f"SELECT {_EVENT_SELECT} FROM {EVENT_TABLE} {where} ORDER BY at, id LIMIT ?"
        after = (
            f"SELECT {_EVENT_SELECT} FROM {EVENT_TABLE} "
            f"{where + ' AND' if where else 'WHERE'} at >= ? AND (at > ? OR id > ?) "
            "ORDER BY at, id LIMIT ?"
        )
        with self._read() as tx:
            rows = tx.q(first, (*bounds, batch)).fetchall()
        while rows:
            for row in rows:
                yield MeasurementEvent.from_row(tuple(row[2:]))
            if len(rows) < batch:
                return
            at, last = rows[-1][0], rows[-1][1]
            with self._read() as tx:
                rows = tx.q(after, (*bounds, at, at, last, batch)).fetchall()

    def delete_events_before(self, cutoff: float, *, batch: int = 10000) -> int:
        if batch < 1:
            raise InvalidInputError("batch must be at least 1")
        cutoff = float(cutoff)
        total = 0
        while True:
            # Each batch is its own short transaction: the recorder's writes (and, on
            # SQLite, every other writer) wait for one batch at most, never the purge.
            with self._write() as tx:
                count = tx.q(
                    f"DELETE FROM {EVENT_TABLE} WHERE id IN "
                    f"(SELECT id FROM {EVENT_TABLE} WHERE at < ? ORDER BY at LIMIT ?)",
                    (cutoff, batch),
                ).rowcount
            total += int(count)
            if count < batch:
                return total

    def add_event_drops(self, *, queue_full: int, database: int) -> None:
        if queue_full < 0 or database < 0:
            raise InvalidInputError("drop counts cannot be negative")
        with self._write() as tx:
            for key, count in ((_DROPS_QUEUE, queue_full), (_DROPS_DB, database)):
                if count:
                    # One atomic upsert: several app servers may add at the same moment.
                    tx.q(_ADD_DROPS, (key, str(int(count))))

    def event_drops(self) -> EventDrops:
        with self._read() as tx:
            rows = dict(
                tx.q(
                    "SELECT key, value FROM smartseg_meta WHERE key IN (?, ?)",
                    (_DROPS_QUEUE, _DROPS_DB),
                ).fetchall()
            )
        return EventDrops(
            queue_full=int(rows.get(_DROPS_QUEUE, 0)), database=int(rows.get(_DROPS_DB, 0))
        )

    # -- inbound data (SPEC §7)
    def store_inbound(
        self, items: Sequence[InboundItem], *, now: float | None = None
    ) -> list[bool]:
        """Store validated inbound items in one transaction, idempotent by ``id``:
        True for each item stored now, False for one whose ``id`` was already stored
        (a retry; nothing changes). An item for a visitor id is pending for that
        visitor; one for an e-mail, for every visitor id identified with it now (and,
        through :meth:`identify`, for those identifying later). Each becomes due
        ``INBOUND_DELAY`` seconds after it was stored."""
        stored_at = time.time() if now is None else _check_time(now)
        due = stored_at + INBOUND_DELAY
        results: list[bool] = []
        with self._write() as tx:
            for item in items:
                row = tx.q(
                    "INSERT INTO smartseg_inbound "
                    "(item_id, visitor_id, email, at, stored_at, content) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING RETURNING seq",
                    (
                        item.id,
                        item.visitor,
                        item.email,
                        stored_at if item.at is None else float(item.at),
                        stored_at,
                        item.content(),
                    ),
                ).fetchone()
                if row is None:
                    results.append(False)
                    continue
                results.append(True)
                if item.visitor is not None:
                    tx.q(
                        "INSERT INTO smartseg_inbound_pending (item_seq, visitor_id, due_at) "
                        "VALUES (?, ?, ?)",
                        (row[0], item.visitor, due),
                    )
                else:
                    tx.q(
                        "INSERT INTO smartseg_inbound_pending (item_seq, visitor_id, due_at) "
                        "SELECT ?, visitor_id, ? FROM smartseg_identities WHERE email = ?",
                        (row[0], due, item.email),
                    )
        return results

    def inbound_changes(self, cursor: Any = None) -> tuple[list[tuple[str, float]], Any]:
        """``(visitor id, due at)`` of the pending (not yet applied) items added since
        ``cursor`` (None: all of them), and the cursor for the next call. Used by
        :class:`~smartseg_dsl.inbound_items.PendingInbound`; never misses a row committed
        after the previous call, whatever the commit order."""
        with self._read() as tx:
            rows, cursor = self._inbound_changes(tx, cursor)
        return [(str(vid), float(due)) for vid, due in rows], cursor

    def _inbound_changes(self, tx: Tx, cursor: Any) -> tuple[list[Sequence[Any]], Any]:
        # SQLite: one writer at a time, so the sequence is in commit order.
        top = int(tx.q("SELECT COALESCE(MAX(seq), 0) FROM smartseg_inbound_pending").fetchone()[0])
        rows = tx.q(
            "SELECT visitor_id, due_at FROM smartseg_inbound_pending "
            "WHERE seq > ? AND seq <= ? AND applied_at IS NULL",
            (int(cursor or 0), top),
        ).fetchall()
        return rows, top

    def claim_inbound(self, visitor_id: str, now: float) -> tuple[list[AppliedItem], float | None]:
        """Take the visitor's items due at ``now`` and mark them applied, atomically: of
        two servers handling the same visitor at once, one gets them, the other none.
        Returns the items (oldest ``at`` first) and when the next one is due (None:
        nothing left)."""
        vid = _check_visitor_id(visitor_id)
        now = _check_time(now)
        with self._write() as tx:
            seqs = [
                int(r[0])
                for r in tx.q(
                    "UPDATE smartseg_inbound_pending SET applied_at = ? "
                    "WHERE visitor_id = ? AND applied_at IS NULL AND due_at <= ? "
                    "RETURNING item_seq",
                    (now, vid, now),
                ).fetchall()
            ]
            rows: list[Sequence[Any]] = []
            if seqs:
                marks = ", ".join("?" for _ in seqs)
                rows = tx.q(
                    f"SELECT item_id, at, content FROM smartseg_inbound WHERE seq IN ({marks}) "
                    "ORDER BY at, seq",
                    seqs,
                ).fetchall()
            nxt = tx.q(
                "SELECT MIN(due_at) FROM smartseg_inbound_pending "
                "WHERE visitor_id = ? AND applied_at IS NULL",
                (vid,),
            ).fetchone()[0]
        items = [AppliedItem.from_row(r[0], float(r[1]), r[2]) for r in rows]
        return items, None if nxt is None else float(nxt)

    def inbound_status(self) -> dict[str, int]:
        """Counts for tooling and tests: items stored, applications pending/applied."""
        with self._read() as tx:
            items = int(tx.q("SELECT COUNT(*) FROM smartseg_inbound").fetchone()[0])
            pending, applied = tx.q(
                "SELECT COUNT(*) - COUNT(applied_at), COUNT(applied_at) "
                "FROM smartseg_inbound_pending"
            ).fetchone()
        return {"items": items, "pending": int(pending or 0), "applied": int(applied or 0)}

    # -- activation (SPEC §7)
    def queue_activation(
        self,
        visitor_id: str,
        changes: Sequence[tuple[str, str]],
        snapshot: Mapping[str, Any] | None,
        at: float,
    ) -> list[str]:
        """Queue one outbox delivery per change — ``("audience.entered", "HotLead")``,
        ``("audience.left", …)``, ``("segment.certain", "Industry.Legal")`` — when the
        visitor is identified (else nothing: no webhook for anonymous visitors).
        Returns the Idempotency-Keys queued."""
        vid = _check_visitor_id(visitor_id)
        at = _check_time(at)
        snap = check_snapshot(snapshot)
        checked: list[tuple[str, dict[str, str]]] = []
        for kind, name in changes:
            if kind not in ACTIVATION_KINDS:
                raise InvalidInputError(f"unknown activation type {kind!r}")
            if kind == "segment.certain":
                _check_about(name)
                if "." not in name:
                    raise InvalidInputError("segment.certain needs Group.Segment")
                checked.append((kind, {"segment": name}))
            else:
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    raise InvalidInputError(f"audience {str(name)[:80]!r} is not a name")
                checked.append((kind, {"audience": name}))
        if not checked:
            return []
        with self._write() as tx:
            row = tx.q(
                "SELECT email FROM smartseg_identities WHERE visitor_id = ?", (vid,)
            ).fetchone()
            if row is None:
                return []
            return [
                self._enqueue(tx, kind, vid, [vid], row[0], [], [], snap, at, extra)
                for kind, extra in checked
            ]

    # -- outbox
    def claim(
        self,
        worker_id: str,
        limit: int,
        *,
        now: float,
        claim_ttl: float,
        due_by: float | None = None,
    ) -> list[Delivery]:
        if limit < 1:
            return []
        if claim_ttl <= 0:
            raise InvalidInputError("claim_ttl must be positive")
        token = uuid.uuid4().hex
        worker = str(worker_id)[:MAX_WORKER_ID]
        due = now if due_by is None else min(now, due_by)
        with self._write() as tx:
            rows = self._claim_rows(tx, token, worker, limit, now, now + claim_ttl, due)
        deliveries = [
            Delivery(
                id=int(r[0]),
                key=r[1],
                kind=r[2],
                visitor_id=r[3],
                body=r[4].encode("utf-8"),
                created_at=float(r[5]),
                age_from=float(r[6]),
                attempts=int(r[7]),
                claim_token=token,
            )
            for r in rows
        ]
        deliveries.sort(key=lambda d: d.id)
        return deliveries

    def mark_delivered(self, delivery_id: int, *, now: float) -> bool:
        # No claim check: if any attempt got a 2xx the event was delivered, even when
        # that attempt's claim had expired meanwhile.
        with self._write() as tx:
            count = tx.q(
                "UPDATE smartseg_outbox SET status = 'delivered', delivered_at = ?, "
                "claim_token = NULL, claimed_by = NULL, last_error = NULL, failed_at = NULL "
                "WHERE id = ? AND status <> 'delivered'",
                (now, delivery_id),
            ).rowcount
        return count > 0

    def mark_retry(
        self, delivery_id: int, claim_token: str, *, next_attempt_at: float, error: str, now: float
    ) -> bool:
        with self._write() as tx:
            count = tx.q(
                "UPDATE smartseg_outbox SET status = 'pending', next_attempt_at = ?, "
                "last_error = ?, claim_token = NULL, claimed_by = NULL "
                "WHERE id = ? AND status = 'claimed' AND claim_token = ?",
                (next_attempt_at, error[:MAX_ERROR_TEXT], delivery_id, claim_token),
            ).rowcount
        return count > 0

    def mark_failed(self, delivery_id: int, claim_token: str, *, error: str, now: float) -> bool:
        with self._write() as tx:
            count = tx.q(
                "UPDATE smartseg_outbox SET status = 'failed', failed_at = ?, last_error = ?, "
                "claim_token = NULL, claimed_by = NULL "
                "WHERE id = ? AND status = 'claimed' AND claim_token = ?",
                (now, error[:MAX_ERROR_TEXT], delivery_id, claim_token),
            ).rowcount
        return count > 0

    def requeue_failed(self, *, now: float) -> int:
        with self._write() as tx:
            count = tx.q(
                "UPDATE smartseg_outbox SET status = 'pending', next_attempt_at = ?, "
                "age_from = ?, failed_at = NULL WHERE status = 'failed'",
                (now, now),
            ).rowcount
        return int(count)

    def status(self, *, now: float, failures: int = 20) -> OutboxStatus:
        with self._read() as tx:
            counts = {
                status: int(n)
                for status, n in tx.q(
                    "SELECT status, COUNT(*) FROM smartseg_outbox GROUP BY status"
                ).fetchall()
            }
            expired = int(
                tx.q(
                    "SELECT COUNT(*) FROM smartseg_outbox "
                    "WHERE status = 'claimed' AND next_attempt_at <= ?",
                    (now,),
                ).fetchone()[0]
            )
            oldest, next_at = tx.q(
                "SELECT MIN(created_at), MIN(next_attempt_at) FROM smartseg_outbox "
                "WHERE status IN ('pending', 'claimed')"
            ).fetchone()
            failed_rows = tx.q(
                "SELECT id, event_key, kind, email, created_at, failed_at, attempts, last_error "
                "FROM smartseg_outbox WHERE status = 'failed' ORDER BY failed_at DESC, id DESC "
                "LIMIT ?",
                (max(0, failures),),
            ).fetchall()
        claimed = counts.get("claimed", 0)
        return OutboxStatus(
            pending=counts.get("pending", 0) + expired,
            in_flight=claimed - expired,
            delivered=counts.get("delivered", 0),
            failed=counts.get("failed", 0),
            oldest_pending_at=None if oldest is None else float(oldest),
            next_attempt_at=None if next_at is None else float(next_at),
            failures=tuple(
                FailedDelivery(
                    id=int(r[0]),
                    key=r[1],
                    kind=r[2],
                    email_masked=mask_email(r[3]),
                    created_at=float(r[4]),
                    failed_at=None if r[5] is None else float(r[5]),
                    attempts=int(r[6]),
                    last_error=r[7],
                )
                for r in failed_rows
            ),
        )

    # -- helpers
    @staticmethod
    def _append(
        tx: Tx,
        vid: str,
        kind: str,
        subject: str | None,
        value: str | None,
        at: float,
        dedupe_key: str | None = None,
    ) -> bool:
        """Append one event; False when ``dedupe_key`` was already recorded."""
        if dedupe_key is None:
            tx.q(
                "INSERT INTO smartseg_events (visitor_id, kind, subject, value, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (vid, kind, subject, value, at),
            )
            return True
        count = tx.q(
            "INSERT INTO smartseg_events (visitor_id, kind, subject, value, at, dedupe_key) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (vid, kind, subject, value, at, dedupe_key),
        ).rowcount
        return int(count) > 0

    def _enqueue_if_identified(
        self,
        tx: Tx,
        vid: str,
        kind: str,
        answers: list[tuple[str, str, float]],
        tags: list[tuple[str, float]],
        snap: dict[str, Any],
        at: float,
    ) -> str | None:
        row = tx.q("SELECT email FROM smartseg_identities WHERE visitor_id = ?", (vid,)).fetchone()
        if row is None:
            return None
        return self._enqueue(tx, kind, vid, [vid], row[0], answers, tags, snap, at)

    @staticmethod
    def _enqueue(
        tx: Tx,
        kind: str,
        vid: str,
        linked: Sequence[str],
        email: str,
        answers: Sequence[tuple[str, str, float]],
        tags: Sequence[tuple[str, float]],
        snap: Mapping[str, Any],
        at: float,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        key = str(uuid.uuid4())
        body = build_payload(
            key=key,
            kind=kind,
            at=at,
            email=email,
            visitor_id=vid,
            visitor_ids=linked,
            answers=answers,
            tags=tags,
            snapshot=snap,
            extra=extra,
        )
        # The queue position is the wall clock at enqueue, not the event's own time:
        # a caller replaying old events must not jump ahead of or behind max_age.
        queued = time.time()
        outbox_id = tx.q(
            "INSERT INTO smartseg_outbox (event_key, kind, visitor_id, email, body, created_at, "
            "age_from, status, next_attempt_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0) RETURNING id",
            (key, kind, vid, email, body, queued, queued, queued),
        ).fetchone()[0]
        for linked_vid in dict.fromkeys([vid, *linked]):
            tx.q(
                "INSERT INTO smartseg_outbox_visitors (outbox_id, visitor_id) VALUES (?, ?)",
                (outbox_id, linked_vid),
            )
        return key
