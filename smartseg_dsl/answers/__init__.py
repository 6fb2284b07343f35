"""The answer bank (SPEC §4): a durable, append-only record of what visitors told us,
plus the outbox of CRM/ESP deliveries that ``sync.py`` works through.

One small interface, :class:`Store`, two real backends with the same behaviour:

* SQLite (``sqlite.py``) — the embedded default, ``smartseg.db`` in the working
  directory, WAL mode, created on first use;
* PostgreSQL (``postgres.py``) — selected by a ``postgresql://`` URL, for several
  app servers sharing one answer bank.

:func:`open_store` picks the backend from a URL::

    open_store()                              # sqlite, ./smartseg.db
    open_store("var/answers.db")              # sqlite, a plain file path
    open_store("sqlite:///srv/app/answers.db")  # sqlite, absolute path
    open_store("postgresql://user:pw@db/app") # PostgreSQL (also postgres://)

The interface (all methods synchronous and thread-safe; times are ``float`` seconds since
the Unix epoch, like the engine's):

Answer bank — every event carries the visitor id and time; events are only ever
appended, and only :meth:`Store.forget` deletes them:

* ``record_answer(visitor_id, about, value, at, snapshot=None, token=None) -> str | None``
  — with ``token`` (the form's CSRF token) an identical answer posted again with the
  same token is ignored: no second row, no second sync (see :func:`answer_key`)
* ``record_dismissal(visitor_id, about, at) -> None``
* ``record_tag(visitor_id, tag, at, snapshot=None) -> str | None``
* ``identify(visitor_id, email, snapshot, at) -> str``
* ``forget(visitor_id) -> int`` (also deletes the visitor's measurement events, and
  records the id in ``smartseg_forgotten`` so that no server honours its cookie again)
* ``forgotten_since(since) -> list[tuple[str, float]]`` / ``purge_forgotten(before) -> int``
  — the forgotten ids, for :class:`ForgottenIds` (optional: not part of :class:`Store`)
* ``history(visitor_id) -> list[Event]``

``identify`` links the visitor id to the e-mail address and queues one sync of
everything known about *every* visitor id linked to that address (answers, tags, and the
caller's per-group snapshot). Once a visitor is identified, each later answer and tag
queues its own sync. The ``str`` returned is the queued delivery's Idempotency-Key (None
when nothing was queued). ``snapshot`` is computed by the caller's engine::

    {"groups": {"Industry": {"most_likely": "Legal", "confidence": 0.42, "certain": False}},
     "audiences": ["HotLead"]}          # "audiences" optional

Outbox — used by the sync worker:

* ``claim(worker_id, limit, *, now, claim_ttl, due_by=None) -> list[Delivery]``
* ``mark_delivered(delivery_id, *, now) -> bool``
* ``mark_retry(delivery_id, claim_token, *, next_attempt_at, error, now) -> bool``
* ``mark_failed(delivery_id, claim_token, *, error, now) -> bool``
* ``requeue_failed(*, now) -> int``
* ``status(*, now, failures=20) -> OutboxStatus``
* ``close() -> None``

Measurement events (SPEC §6; the type is :class:`smartseg_dsl.measure.events.Event`,
the table ``smartseg_measurement_events``) — written in batches by the middleware's
:class:`~smartseg_dsl.measure.recorder.EventRecorder`, read by ``smartseg events export``:

* ``write_events(events) -> int`` — one transaction, one ``executemany``;
* ``export_events(*, since=None, until=None, batch=5000) -> Iterator[Event]`` — ordered by
  time then id, ``since`` inclusive, ``until`` exclusive, read ``batch`` rows at a time;
* ``delete_events_before(cutoff, *, batch=10000) -> int`` — retention, ``batch`` rows per
  transaction so a writer never waits long;
* ``add_event_drops(*, queue_full, database) -> None`` / ``event_drops() -> EventDrops`` —
  how many events the recorders had to drop, summed over every process and restart.

A claim sets ``status='claimed'`` and pushes ``next_attempt_at`` to ``now + claim_ttl``,
so a claim held by a worker that died simply becomes due again: nothing stays claimed
forever. ``mark_retry``/``mark_failed`` only apply for the holder of the current claim.

Checks done here (the caller checks ``about``/``value`` against the loaded rule set, for
which :func:`check_answer` is provided): sizes, e-mail syntax, name syntax, snapshot
shape. Bad input raises an :class:`InvalidInputError` subclass; a store that cannot be
used (unreachable, read-only, corrupt, newer schema) raises :class:`StoreUnavailableError`.
:class:`GuardedStore` wraps a store for a web app: it never raises at start-up, logs one
clear error, refuses writes while the store is down and reconnects by itself.

The package, each module importing only those above it (no cycle, no import inside a
function to dodge one):

* ``store.py`` — the :class:`Store` protocol, the records it takes and returns (including
  the inbound items of SPEC §7), errors, limits, validation and the webhook payload;
* ``sql.py`` — :class:`SqlStore`, the SQL both backends share;
* ``sqlite.py`` / ``postgres.py`` — the backends (``postgres.py`` imports psycopg, an
  optional extra, so :func:`open_store` imports it only for a ``postgresql://`` URL);
* ``open.py`` — :func:`open_store` and the URL rules;
* ``guarded.py`` — :class:`GuardedStore`;
* ``forgotten.py`` — :class:`ForgottenIds`.

Everything public is re-exported here: ``from smartseg_dsl.answers import open_store``.
"""

from __future__ import annotations

from smartseg_dsl.answers.forgotten import (
    FORGOTTEN_LOOKBACK,
    ForgottenIds,
)
from smartseg_dsl.answers.guarded import (
    GuardedStore,
)
from smartseg_dsl.answers.open import (
    DEFAULT_SQLITE_FILE,
    open_store,
    sqlite_path_from_url,
)
from smartseg_dsl.answers.sql import (
    INBOUND_DELAY,
    SqlStore,
    Tx,
)
from smartseg_dsl.answers.sqlite import (
    SqliteStore,
)
from smartseg_dsl.answers.store import (
    ACTIVATION_KINDS,
    DELIVERY_KINDS,
    EVENT_KINDS,
    MAX_EMAIL,
    MAX_ERROR_TEXT,
    MAX_NAME,
    MAX_SNAPSHOT_AUDIENCES,
    MAX_SNAPSHOT_GROUPS,
    MAX_TAG_BYTES,
    MAX_VALUE_BYTES,
    MAX_VISITOR_ID,
    MAX_WORKER_ID,
    PAYLOAD_VERSION,
    AnswerBankError,
    AppliedItem,
    AttributeValue,
    Delivery,
    Event,
    EventDrops,
    FailedDelivery,
    InboundItem,
    InvalidEmailError,
    InvalidInputError,
    OutboxStatus,
    Store,
    StoreFileLostError,
    StoreUnavailableError,
    UnknownAboutError,
    ValueTooLargeError,
    answer_key,
    build_payload,
    check_about,
    check_answer,
    check_snapshot,
    dismissal_key,
    iso_time,
    mask_email,
    normalize_email,
    redact_url,
)

__all__ = [
    "ACTIVATION_KINDS",
    "DEFAULT_SQLITE_FILE",
    "DELIVERY_KINDS",
    "EVENT_KINDS",
    "FORGOTTEN_LOOKBACK",
    "INBOUND_DELAY",
    "MAX_EMAIL",
    "MAX_ERROR_TEXT",
    "MAX_NAME",
    "MAX_SNAPSHOT_AUDIENCES",
    "MAX_SNAPSHOT_GROUPS",
    "MAX_TAG_BYTES",
    "MAX_VALUE_BYTES",
    "MAX_VISITOR_ID",
    "MAX_WORKER_ID",
    "PAYLOAD_VERSION",
    "AnswerBankError",
    "AppliedItem",
    "AttributeValue",
    "Delivery",
    "Event",
    "EventDrops",
    "FailedDelivery",
    "ForgottenIds",
    "GuardedStore",
    "InboundItem",
    "InvalidEmailError",
    "InvalidInputError",
    "OutboxStatus",
    "SqlStore",
    "SqliteStore",
    "Store",
    "StoreFileLostError",
    "StoreUnavailableError",
    "Tx",
    "UnknownAboutError",
    "ValueTooLargeError",
    "answer_key",
    "build_payload",
    "check_about",
    "check_answer",
    "check_snapshot",
    "dismissal_key",
    "iso_time",
    "mask_email",
    "normalize_email",
    "open_store",
    "redact_url",
    "sqlite_path_from_url",
]
