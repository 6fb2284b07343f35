"""The answer bank (SPEC §4): a durable, append-only record of what visitors told us,
plus the outbox of CRM/ESP deliveries that ``sync.py`` works through.

One small interface, :class:`Store`, two real backends with the same behaviour:

* SQLite (``answers_sqlite.py``) — the embedded default, ``smartseg.db`` in the working
  directory, WAL mode, created on first use;
* PostgreSQL (``answers_postgres.py``) — selected by a ``postgresql://`` URL, for several
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
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from smartseg_dsl.measure.events import COLUMNS as EVENT_COLUMNS
from smartseg_dsl.measure.events import TABLE as EVENT_TABLE
from smartseg_dsl.measure.events import Event as MeasurementEvent
from smartseg_dsl.symbols import answer_choices

if TYPE_CHECKING:
    from smartseg_dsl.inbound_items import AppliedItem, InboundItem

log = logging.getLogger("smartseg.answers")

#: The webhook payload format (docs/webhook.schema.json). Version 2 adds the types
#: `audience.entered`, `audience.left` and `segment.certain` (with `audience` /
#: `segment`); identify, answer and tag bodies are otherwise unchanged from version 1.
PAYLOAD_VERSION = 2

# Limits: generous for real answers, small enough that nobody can use the answer bank
# (or the CRM behind it) as free storage.
MAX_VISITOR_ID = 64
MAX_NAME = 64  # a group or segment name
MAX_VALUE_BYTES = 256
MAX_TAG_BYTES = 100
MAX_EMAIL = 254
MAX_SNAPSHOT_GROUPS = 64
MAX_SNAPSHOT_AUDIENCES = 128
MAX_WORKER_ID = 200
MAX_ERROR_TEXT = 500

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(rf"{_NAME}\Z")
_ABOUT_RE = re.compile(rf"({_NAME})(?:\.({_NAME}))?\Z")
_VISITOR_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*\Z")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_TLD_RE = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})\Z")

EVENT_KINDS = ("answer", "dismissal", "tag", "identify")
#: Inbound items take effect this many seconds after they are stored (SPEC §7; the
#: same value as ``inbound_items.APPLY_DELAY``, kept here so this module imports nothing).
INBOUND_DELAY = 5.0
DELIVERY_KINDS = (
    "identify",
    "answer",
    "tag",
    "audience.entered",
    "audience.left",
    "segment.certain",
)
#: Activation (SPEC §7): what the middleware queues for an identified visitor.
ACTIVATION_KINDS = ("audience.entered", "audience.left", "segment.certain")


# --------------------------------------------------------------------------- errors


class AnswerBankError(Exception):
    """Base class of every error the answer bank raises."""


class InvalidInputError(AnswerBankError, ValueError):
    """The caller passed something the answer bank will not store."""


class InvalidEmailError(InvalidInputError):
    """Not an e-mail address we can hand to a CRM."""


class ValueTooLargeError(InvalidInputError):
    """A value, tag or snapshot exceeds the documented limits."""


class UnknownAboutError(InvalidInputError):
    """``about`` is not a group or segment (of the rule set, when one is given)."""


class StoreUnavailableError(AnswerBankError):
    """The store cannot be used right now: unreachable, read-only, corrupt, too new.

    ``reopen`` is True when the connection should be thrown away and opened again
    (a file that was fixed or replaced, a server that restarted) rather than retried.
    """

    def __init__(self, message: str, *, reopen: bool = False) -> None:
        super().__init__(message)
        self.reopen = reopen


class StoreFileLostError(StoreUnavailableError):
    """The SQLite file the store had open was removed or replaced by another file while
    the app ran: writes are refused (they would go to a file nobody will read again)."""

    def __init__(self, message: str, *, path: Path, removed: bool) -> None:
        super().__init__(message, reopen=True)
        self.path = path
        self.removed = removed  # True: nothing at the path; False: another file is there


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Event:
    """One row of a visitor's history. ``subject`` is the ``about`` of an answer or
    dismissal, the tag of a tag, None for identify; ``value`` is the answer's value or
    the e-mail address of identify."""

    kind: str
    subject: str | None
    value: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row: what the worker needs to deliver it once."""

    id: int
    key: str  # the Idempotency-Key, stable for the life of the event
    kind: str
    visitor_id: str
    body: bytes  # exactly the bytes that are signed and POSTed, on every attempt
    created_at: float
    age_from: float  # max_age counts from here (created_at, or the last requeue)
    attempts: int  # including the one this claim is for
    claim_token: str


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery given up on: kept, listed by ``smartseg sync --status``."""

    id: int
    key: str
    kind: str
    email_masked: str
    created_at: float
    failed_at: float | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Counts of the outbox. ``pending`` includes claims that expired (their worker is
    gone); ``in_flight`` is claims still held."""

    pending: int
    in_flight: int
    delivered: int
    failed: int
    oldest_pending_at: float | None
    next_attempt_at: float | None
    failures: tuple[FailedDelivery, ...] = field(default=())

    def oldest_pending_age(self, now: float) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max(0.0, now - self.oldest_pending_at)


@dataclass(frozen=True)
class EventDrops:
    """Measurement events the recorders dropped instead of writing (SPEC §6), in total."""

    queue_full: int = 0  # the in-memory queue was full (traffic outran the database)
    database: int = 0  # the database was down or refused the batch

    @property
    def total(self) -> int:
        return self.queue_full + self.database


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class Store(Protocol):
    """What the middleware, the sync worker and the CLI rely on (see module docstring)."""

    description: str

    def record_answer(
        self,
        visitor_id: str,
        about: str,
        value: str,
        at: float,
        snapshot: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> str | None: ...

    def record_dismissal(
        self, visitor_id: str, about: str, at: float, token: str | None = None
    ) -> None: ...

    def record_tag(
        self, visitor_id: str, tag: str, at: float, snapshot: Mapping[str, Any] | None = None
    ) -> str | None: ...

    def identify(
        self, visitor_id: str, email: str, snapshot: Mapping[str, Any] | None, at: float
    ) -> str: ...

    def forget(self, visitor_id: str) -> int: ...

    def history(self, visitor_id: str) -> list[Event]: ...

    def write_events(self, events: Sequence[MeasurementEvent]) -> int: ...

    def export_events(
        self, *, since: float | None = None, until: float | None = None, batch: int = 5000
    ) -> Iterator[MeasurementEvent]: ...

    def delete_events_before(self, cutoff: float, *, batch: int = 10000) -> int: ...

    def add_event_drops(self, *, queue_full: int, database: int) -> None: ...

    def event_drops(self) -> EventDrops: ...

    def claim(
        self,
        worker_id: str,
        limit: int,
        *,
        now: float,
        claim_ttl: float,
        due_by: float | None = None,
    ) -> list[Delivery]: ...

    def mark_delivered(self, delivery_id: int, *, now: float) -> bool: ...

    def mark_retry(
        self, delivery_id: int, claim_token: str, *, next_attempt_at: float, error: str, now: float
    ) -> bool: ...

    def mark_failed(
        self, delivery_id: int, claim_token: str, *, error: str, now: float
    ) -> bool: ...

    def requeue_failed(self, *, now: float) -> int: ...

    def status(self, *, now: float, failures: int = 20) -> OutboxStatus: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- validation


def normalize_email(email: object) -> str:
    """Return the address in the form we store and send (trimmed, lower-cased, IDNA
    domain), or raise :class:`InvalidEmailError` saying what is wrong.

    Addresses are compared case-insensitively — as virtually every provider does — so
    that the same person identifying on two devices is linked once."""
    if not isinstance(email, str):
        raise InvalidEmailError("e-mail address must be a string")
    address = email.strip()
    if not address:
        raise InvalidEmailError("e-mail address is empty")
    if len(address) > MAX_EMAIL:
        raise InvalidEmailError(f"e-mail address is longer than {MAX_EMAIL} characters")
    if _CONTROL_RE.search(address) or any(c.isspace() for c in address):
        raise InvalidEmailError("e-mail address contains spaces or control characters")
    if address.count("@") != 1:
        raise InvalidEmailError("e-mail address must contain exactly one '@'")
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        raise InvalidEmailError(
            "e-mail address has an invalid part before '@' (letters, digits, "
            "!#$%&'*+/=?^_`{|}~- and single dots; at most 64 characters)"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidEmailError("e-mail address has an invalid domain") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_LABEL_RE.match(label) for label in labels)
        or not _TLD_RE.match(labels[-1])
    ):
        raise InvalidEmailError(
            "e-mail address has an invalid domain (expected something like example.com)"
        )
    return f"{local.lower()}@{ascii_domain}"


def mask_email(email: str | None) -> str:
    """``jane@example.com`` → ``j***@example.com``: enough to recognise, not to harvest."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _check_visitor_id(visitor_id: object) -> str:
    if not isinstance(visitor_id, str) or not _VISITOR_ID_RE.match(visitor_id):
        raise InvalidInputError(
            f"visitor id must be 1-{MAX_VISITOR_ID} characters of A-Z a-z 0-9 _ -"
        )
    return visitor_id


def _check_about(about: object) -> str:
    if not isinstance(about, str) or not _ABOUT_RE.match(about):
        shown = repr(about)[:80]
        raise UnknownAboutError(f"'about' must be a group or Group.Segment name, got {shown}")
    if any(len(part) > MAX_NAME for part in about.split(".")):
        raise ValueTooLargeError(f"'about' names are limited to {MAX_NAME} characters")
    return about


def _check_text(what: str, text: object, limit: int) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a string")
    if not text.strip():
        raise InvalidInputError(f"{what} is empty")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValueTooLargeError(f"{what} is {size} bytes; the limit is {limit} bytes")
    if _CONTROL_RE.search(text):
        raise InvalidInputError(f"{what} contains control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{what} is not valid Unicode text") from None
    return text


def _check_time(at: object) -> float:
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise InvalidInputError("time must be seconds since the Unix epoch (a number)")
    value = float(at)
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError("time must be a finite, non-negative number of seconds")
    return value


def check_snapshot(snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the caller's per-group snapshot and return a normalized copy:
    ``{"groups": {G: {"most_likely", "confidence", "certain"}}, "audiences": [...]}``."""
    if snapshot is None:
        return {"groups": {}, "audiences": []}
    if not isinstance(snapshot, Mapping):
        raise InvalidInputError("snapshot must be a mapping with a 'groups' key")
    unknown = set(snapshot) - {"groups", "audiences"}
    if unknown:
        raise InvalidInputError(
            f"snapshot has unknown keys {sorted(map(str, unknown))}; allowed: groups, audiences"
        )
    groups_in = snapshot.get("groups", {})
    if not isinstance(groups_in, Mapping):
        raise InvalidInputError("snapshot['groups'] must be a mapping of group name → summary")
    if len(groups_in) > MAX_SNAPSHOT_GROUPS:
        raise ValueTooLargeError(f"snapshot has more than {MAX_SNAPSHOT_GROUPS} groups")
    groups: dict[str, dict[str, Any]] = {}
    for name, summary in groups_in.items():
        if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > MAX_NAME:
            raise InvalidInputError(f"snapshot group name {str(name)[:80]!r} is not a name")
        if not isinstance(summary, Mapping):
            raise InvalidInputError(f"snapshot group {name!r} must be a mapping")
        likely = summary.get("most_likely")
        if likely is not None and (
            not isinstance(likely, str) or not _NAME_RE.match(likely) or len(likely) > MAX_NAME
        ):
            raise InvalidInputError(f"snapshot group {name!r}: most_likely must be a name or None")
        confidence = summary.get("confidence", 0.0)
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise InvalidInputError(f"snapshot group {name!r}: confidence must be a number")
        if not (0.0 <= float(confidence) <= 1.0):
            raise InvalidInputError(f"snapshot group {name!r}: confidence must be within 0..1")
        certain = summary.get("certain", False)
        if not isinstance(certain, bool):
            raise InvalidInputError(f"snapshot group {name!r}: certain must be true or false")
        groups[name] = {
            "most_likely": likely,
            "confidence": round(float(confidence), 6),
            "certain": certain,
        }
    audiences_in = snapshot.get("audiences", [])
    if isinstance(audiences_in, str) or not isinstance(audiences_in, Iterable):
        raise InvalidInputError("snapshot['audiences'] must be a list of audience names")
    audiences = list(audiences_in)
    if len(audiences) > MAX_SNAPSHOT_AUDIENCES:
        raise ValueTooLargeError(f"snapshot has more than {MAX_SNAPSHOT_AUDIENCES} audiences")
    for audience in audiences:
        if not isinstance(audience, str) or not _NAME_RE.match(audience):
            raise InvalidInputError(f"snapshot audience {str(audience)[:80]!r} is not a name")
    return {"groups": groups, "audiences": sorted(set(audiences))}


def check_answer(about: str, value: str, groups: Mapping[str, Sequence[str]]) -> None:
    """Check a survey answer against the loaded rule set (SPEC §3.5).

    ``groups`` maps each group name to its segment names. About ``G.S`` takes ``yes`` or
    ``no``; about ``G`` takes one of G's segment names or ``other``. Raises
    :class:`UnknownAboutError` or :class:`InvalidInputError` with a message fit for a 400.
    """
    check_about(about, groups)
    group, _, segment = about.partition(".")
    choices = answer_choices(about, groups[group])
    if value in choices:
        return
    if segment:
        raise InvalidInputError(f"answer about {about} must be 'yes' or 'no'")
    raise InvalidInputError(f"answer about {group} must be one of: {', '.join(choices)}")


def check_about(about: str, groups: Mapping[str, Sequence[str]]) -> None:
    """Check that ``about`` names a group or segment of the loaded rule set."""
    _check_about(about)
    group, _, segment = about.partition(".")
    if group not in groups:
        raise UnknownAboutError(f"unknown group {group!r} in 'about'")
    if segment and segment not in groups[group]:
        raise UnknownAboutError(f"unknown segment {about!r} in 'about'")


def answer_key(visitor_id: str, about: str, value: str, token: str) -> str:
    """The idempotency key of an answer posted with a form's CSRF token.

    The same form posted again (a double click, a retry, a replay within the token's two
    days) is the same answer and is recorded once; the same answer from a newly rendered
    form has a new token and is a new row. The token itself is not stored, only this
    SHA-256 of it (it is a credential for two days)."""
    material = "\x1f".join(("answer", visitor_id, about, value, token))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def dismissal_key(visitor_id: str, about: str, token: str) -> str:
    """The idempotency key of a dismissal posted with a form's CSRF token (as answers)."""
    material = "\x1f".join(("dismissal", visitor_id, about, token))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------- payload


def iso_time(at: float) -> str:
    """Epoch seconds → ``2026-01-01T00:00:00.000Z`` (what the webhook payload uses)."""
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_payload(
    *,
    key: str,
    kind: str,
    at: float,
    email: str,
    visitor_id: str,
    visitor_ids: Sequence[str],
    answers: Sequence[tuple[str, str, float]],
    tags: Sequence[tuple[str, float]],
    snapshot: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The webhook body (docs/webhook.schema.json), serialized once at enqueue time so
    every attempt sends — and signs — exactly the same bytes. ``extra``: the fields of
    an activation type (``audience`` or ``segment``)."""
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "id": key,
        "type": kind,
        "occurred_at": iso_time(at),
        "email": email,
        "visitor_id": visitor_id,
        "visitor_ids": list(visitor_ids),
        "answers": [
            {"about": about, "value": value, "at": iso_time(when)} for about, value, when in answers
        ],
        "tags": [{"tag": tag, "at": iso_time(when)} for tag, when in tags],
        "groups": snapshot.get("groups", {}),
        "audiences": snapshot.get("audiences", []),
    }
    if extra:
        payload.update(extra)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# --------------------------------------------------------------------------- URLs


def redact_url(url: str) -> str:
    """A store URL fit for logs and error messages: the password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


DEFAULT_SQLITE_FILE = "smartseg.db"


def sqlite_path_from_url(url: str | None) -> Path | None:
    """The SQLite file a store URL designates, or None when it is not a SQLite URL."""
    if url is None or url == "":
        return Path.cwd() / DEFAULT_SQLITE_FILE
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path.startswith("//"):  # sqlite:////abs/path, SQLAlchemy's spelling
            path = path[1:]
        return Path(path)
    if "://" in url:
        return None
    return Path(url)


_SQLITE_URL_OPTIONS = {"synchronous": str, "busy_timeout": float}


def _sqlite_url_options(url: str | None) -> dict[str, Any]:
    """``sqlite:///x.db?synchronous=normal&busy_timeout=5`` → backend options."""
    if not url or not url.startswith("sqlite://") or "?" not in url:
        return {}
    options: dict[str, Any] = {}
    for name, values in parse_qs(url.split("?", 1)[1], keep_blank_values=True).items():
        if name not in _SQLITE_URL_OPTIONS:
            raise AnswerBankError(
                f"unknown SQLite URL option {name!r} (known: {', '.join(_SQLITE_URL_OPTIONS)})"
            )
        try:
            options[name] = _SQLITE_URL_OPTIONS[name](values[-1])
        except ValueError:
            raise AnswerBankError(f"bad value for SQLite URL option {name!r}") from None
    return options


def open_store(url: str | None = None, **options: Any) -> Store:
    """Open (and create or migrate) the answer bank designated by ``url``.

    ``None`` → ``./smartseg.db``; a plain path or ``sqlite:///abs/path`` → SQLite;
    ``postgresql://…`` (or ``postgres://…``) → PostgreSQL. ``options`` go to the backend
    (SQLite: ``synchronous`` — NORMAL by default, FULL to survive power cuts too — and
    ``busy_timeout``, also accepted as URL query options ``sqlite:///x.db?synchronous=full``;
    PostgreSQL: ``pool_size``, ``connect_timeout``, ``pool_wait``). Raises
    :class:`StoreUnavailableError` with a clear message when the store cannot be used,
    :class:`AnswerBankError` for an unusable URL.
    """
    if url is not None and not isinstance(url, str):
        raise AnswerBankError("answer bank URL must be a string")
    if url and (url.startswith("postgresql://") or url.startswith("postgres://")):
        from smartseg_dsl.answers_postgres import PostgresStore

        return PostgresStore(url, **options)
    path = sqlite_path_from_url(url)
    if path is None:
        scheme = (url or "").split("://", 1)[0]
        raise AnswerBankError(
            f"unsupported answer bank URL scheme {scheme!r}: use a file path, "
            "sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    if str(path) in (":memory:", "") or str(path).startswith("file:"):
        raise AnswerBankError(
            "the answer bank needs a real SQLite file (':memory:' would vanish with the "
            "process and is not shared between threads)"
        )
    from smartseg_dsl.answers_sqlite import SqliteStore

    try:
        return SqliteStore(path, **{**_sqlite_url_options(url), **options})
    except ValueError as exc:  # a bad option value
        raise AnswerBankError(str(exc)) from None


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
        from smartseg_dsl.inbound_items import AppliedItem

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


# --------------------------------------------------------------------------- guard


class GuardedStore:
    """A store for a web app that must keep serving pages when the store is down.

    Construction never raises. The first failure to open is logged once as a clear
    error (and again when the cause changes); every call while the store is down raises
    :class:`StoreUnavailableError` at once (no waiting on a dead server per request), and
    the store is reopened at most every ``retry_interval`` seconds until it works again.

    Writes are *refused* while the store is down — never buffered in memory, where a
    restart would silently lose them (see docs/answer-bank.md, "When the store is down").
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        retry_interval: float = 30.0,
        opener: Callable[..., Store] = open_store,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self.url = url
        self.description = redact_url(url) if url else f"sqlite:///{DEFAULT_SQLITE_FILE}"
        self._opener = opener
        self._options = options
        self._retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._error: str | None = None
        self._next_try = 0.0
        self._closed = False
        #: (path, (st_dev, st_ino)) of the SQLite file the last store had open, kept when
        #: that store is dropped, to notice a reopen on another file
        self._previous_file: tuple[Path, tuple[int, int]] | None = None
        #: the file was removed while in use: do not reopen (and so create a new, empty
        #: file) until something is put back at that path
        self._missing: Path | None = None
        self.check()

    @property
    def available(self) -> bool:
        return self._store is not None

    @property
    def error(self) -> str | None:
        """Why the store is down (None when it is up)."""
        return self._error

    def check(self) -> bool:
        """Try to (re)open now, regardless of the retry interval. True when usable."""
        with self._lock:
            self._next_try = 0.0
        try:
            self._get()
        except StoreUnavailableError:
            return False
        return True

    def _get(self) -> Store:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            if self._closed:
                raise StoreUnavailableError("answer bank is closed")
            now = self._clock()
            if now < self._next_try:
                raise StoreUnavailableError(self._error or "answer bank unavailable")
            if self._missing is not None and not os.path.lexists(self._missing):
                self._next_try = now + self._retry_interval
                message = (
                    f"answer bank {self.description} unavailable: {self._missing} was removed "
                    "while the app had it open and has not been put back; answers are refused "
                    "until it is (restart the app to start a new, empty answer bank instead)"
                )
                if message != self._error:
                    log.error("%s", message)
                self._error = message
                raise StoreUnavailableError(message)
            try:
                self._store = self._opener(self.url, **self._options)
            except AnswerBankError as exc:
                self._next_try = now + self._retry_interval
                message = f"answer bank {self.description} unavailable: {exc}"
                if message != self._error:
                    log.error(
                        "%s — pages are still served and personalized from the cookie; "
                        "answers and identify are refused until it works (retrying every "
                        "%.0fs)",
                        message,
                        self._retry_interval,
                    )
                self._error = message
                raise StoreUnavailableError(message, reopen=True) from exc
            self._missing = None
            previous, self._previous_file = self._previous_file, None
            identity = _file_identity(self._store)
            if previous is not None and identity is not None and identity[1] != previous[1]:
                # Loud: whatever the old file held (up to the moment it went) is not here.
                log.error(
                    "answer bank %s reopened on a different file than the one it had open: "
                    "%s was removed or replaced while in use (was inode %d, now %d); the "
                    "answers in the old file are not in this one",
                    self.description,
                    identity[0],
                    previous[1][1],
                    identity[1][1],
                )
            elif self._error is not None:
                log.warning("answer bank %s is available again", self.description)
            self._error = None
            if hasattr(self._store, "description"):
                self.description = self._store.description
            return self._store

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        store = self._get()
        try:
            return getattr(store, name)(*args, **kwargs)
        except StoreUnavailableError as exc:
            if exc.reopen:
                with self._lock:
                    if self._store is store:
                        self._store = None
                        self._next_try = self._clock() + self._retry_interval
                        self._previous_file = _file_identity(store) or self._previous_file
                        if isinstance(exc, StoreFileLostError) and exc.removed:
                            self._missing = exc.path
                        self._error = f"answer bank {self.description} unavailable: {exc}"
                        log.error("%s — will retry", self._error)
                try:
                    store.close()
                except Exception:  # closing a broken store must not mask the real error
                    log.debug("closing a broken answer bank failed", exc_info=True)
            raise

    def record_answer(self, *args: Any, **kwargs: Any) -> str | None:
        return self._call("record_answer", *args, **kwargs)

    def record_dismissal(self, *args: Any, **kwargs: Any) -> None:
        return self._call("record_dismissal", *args, **kwargs)

    def record_tag(self, *args: Any, **kwargs: Any) -> str | None:
        return self._call("record_tag", *args, **kwargs)

    def identify(self, *args: Any, **kwargs: Any) -> str:
        return self._call("identify", *args, **kwargs)

    def forget(self, *args: Any, **kwargs: Any) -> int:
        return self._call("forget", *args, **kwargs)

    def forgotten_since(self, *args: Any, **kwargs: Any) -> list[tuple[str, float]]:
        return self._call("forgotten_since", *args, **kwargs)

    def purge_forgotten(self, *args: Any, **kwargs: Any) -> int:
        return self._call("purge_forgotten", *args, **kwargs)

    def history(self, *args: Any, **kwargs: Any) -> list[Event]:
        return self._call("history", *args, **kwargs)

    def store_inbound(self, *args: Any, **kwargs: Any) -> list[bool]:
        return self._call("store_inbound", *args, **kwargs)

    def inbound_changes(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("inbound_changes", *args, **kwargs)

    def claim_inbound(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("claim_inbound", *args, **kwargs)

    def inbound_status(self, *args: Any, **kwargs: Any) -> dict[str, int]:
        return self._call("inbound_status", *args, **kwargs)

    def queue_activation(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._call("queue_activation", *args, **kwargs)

    def write_events(self, *args: Any, **kwargs: Any) -> int:
        return self._call("write_events", *args, **kwargs)

    def export_events(self, *args: Any, **kwargs: Any) -> Iterator[MeasurementEvent]:
        # A generator: the store is checked now, its batches are read as the caller goes.
        return self._call("export_events", *args, **kwargs)

    def delete_events_before(self, *args: Any, **kwargs: Any) -> int:
        return self._call("delete_events_before", *args, **kwargs)

    def add_event_drops(self, *args: Any, **kwargs: Any) -> None:
        return self._call("add_event_drops", *args, **kwargs)

    def event_drops(self, *args: Any, **kwargs: Any) -> EventDrops:
        return self._call("event_drops", *args, **kwargs)

    def claim(self, *args: Any, **kwargs: Any) -> list[Delivery]:
        return self._call("claim", *args, **kwargs)

    def mark_delivered(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_delivered", *args, **kwargs)

    def mark_retry(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_retry", *args, **kwargs)

    def mark_failed(self, *args: Any, **kwargs: Any) -> bool:
        return self._call("mark_failed", *args, **kwargs)

    def requeue_failed(self, *args: Any, **kwargs: Any) -> int:
        return self._call("requeue_failed", *args, **kwargs)

    def status(self, *args: Any, **kwargs: Any) -> OutboxStatus:
        return self._call("status", *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
        if store is not None:
            store.close()


def _file_identity(store: object) -> tuple[Path, tuple[int, int]] | None:
    """(path, (st_dev, st_ino)) of the file a SQLite store has open; None otherwise."""
    identity = getattr(store, "file_identity", None)
    path = getattr(store, "path", None)
    if identity is None or path is None:
        return None
    return Path(path), identity


# --------------------------------------------------------------------------- forgotten ids

#: Each refresh re-reads the ids forgotten in this many seconds before it started, so a
#: row committed late, or stamped by a server whose clock is a little behind, is not
#: missed (the set de-duplicates).
FORGOTTEN_LOOKBACK = 300.0


class ForgottenIds:
    """The visitor ids forgotten on any server (``POST /smartseg/forget``), in memory.

    A forgotten visitor's cookie must never bring them back, on any app server, and the
    check must not cost a query per request: so every server keeps this set, loads it
    once (everything forgotten within ``retention``) and then polls the store for ids
    forgotten since (the last ``FORGOTTEN_LOOKBACK`` seconds) every ``interval`` seconds.
    The middleware decides when to call :meth:`refresh` (see docs/answer-bank.md,
    "Forget"); membership (``vid in ids``) is a dict lookup, safe from any thread.

    Ids older than ``retention`` (the cookie's max_age and a margin: a cookie signed
    before the forget has expired by then) are dropped from memory and, about once an
    hour, from the store.
    """

    PURGE_EVERY = 3600.0

    def __init__(
        self,
        *,
        interval: float = 2.0,
        retention: float = 366 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.interval = interval
        self.retention = retention
        self._clock = clock
        self._wall = wall
        self._ids: dict[str, float] = {}
        self._ids_lock = threading.Lock()  # add() vs the purge's swap
        self._refreshing = threading.Lock()  # one refresh at a time
        self.loaded = False
        self.supported = True  # False: the store cannot list forgotten ids
        #: monotonic time at or after which the next refresh is due (set by the caller)
        self.next_refresh = 0.0
        self._good_at = -math.inf  # monotonic start of the last successful refresh
        self._next_purge = 0.0  # wall clock
        self._failing = False

    def __contains__(self, visitor_id: object) -> bool:
        return visitor_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, visitor_id: str, at: float | None = None) -> None:
        """This server just forgot ``visitor_id``: refuse its cookie at once."""
        with self._ids_lock:
            self._ids[visitor_id] = self._wall() if at is None else at

    def stale(self, now: float) -> bool:
        """Never loaded, or not refreshed for two intervals (an idle server): the next
        decision should wait for a refresh rather than trust the set."""
        return now - self._good_at > 2 * self.interval

    def refresh(self, store: Any, *, wait: float = 0.0) -> bool:
        """Read the forgotten ids from ``store`` (blocking; run in a worker thread).

        Never raises: a store that is down is logged (once per outage) and the set kept
        as it is. Returns False when it did not refresh (failed, or another refresh was
        still running after ``wait`` seconds)."""
        acquired = (
            self._refreshing.acquire(timeout=wait)
            if wait > 0
            else self._refreshing.acquire(blocking=False)
        )
        if not acquired:
            return False
        try:
            started, wall = self._clock(), self._wall()
            first = not self.loaded
            since = wall - (self.retention if first else FORGOTTEN_LOOKBACK)
            reader = getattr(store, "forgotten_since", None)
            if reader is None:
                if self.supported:
                    log.warning(
                        "answer bank %s cannot list forgotten visitors (no forgotten_since): "
                        "a forgotten visitor's saved cookie is honoured by other servers",
                        getattr(store, "description", type(store).__name__),
                    )
                self.supported = False
                return False
            try:
                rows = reader(since)
            except Exception as exc:
                if not self._failing:
                    log.warning(
                        "smartseg: could not read forgotten visitor ids from the answer bank "
                        "(%s); cookies of visitors forgotten on other servers may be honoured "
                        "until it works",
                        exc,
                    )
                self._failing = True
                return False
            if self._failing:
                log.info("smartseg: forgotten visitor ids are read again")
            self._failing = False
            with self._ids_lock:
                for vid, at in rows:
                    if at > self._ids.get(vid, -math.inf):
                        self._ids[vid] = at
            if first:
                log.debug("smartseg: %d forgotten visitor ids loaded", len(rows))
            self.loaded = True
            self._good_at = started
            if wall >= self._next_purge:
                self._next_purge = wall + self.PURGE_EVERY
                self._purge(store, wall - self.retention)
            return True
        finally:
            self._refreshing.release()

    def _purge(self, store: Any, before: float) -> None:
        with self._ids_lock:
            if any(at < before for at in self._ids.values()):
                self._ids = {vid: at for vid, at in self._ids.items() if at >= before}
        purge = getattr(store, "purge_forgotten", None)
        if purge is None:
            return
        try:
            purge(before)
        except Exception as exc:  # retried at the next purge; nothing is at stake
            log.warning("smartseg: could not purge old forgotten visitor ids: %s", exc)
