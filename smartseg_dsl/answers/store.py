"""The answer bank's interface and records: the :class:`Store` protocol, the data
classes its methods take and return, its errors, limits and input validation, and the
webhook payload. Imports no other module of the package (see ``__init__.py``)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from smartseg_dsl.measure.events import Event as MeasurementEvent
from smartseg_dsl.symbols import answer_choices

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


AttributeValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class InboundItem:
    """A valid inbound item. Exactly one of ``visitor`` and ``email`` is set (the e-mail
    normalized as the answer bank stores it); ``at`` is None when the item gave no time
    (the store uses the time it stored the item)."""

    id: str
    visitor: str | None = None
    email: str | None = None
    at: float | None = None
    tags: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def content(self) -> str:
        """The JSON kept in the answer bank (``tags``, ``events``, ``attributes``)."""
        return json.dumps(
            {"tags": list(self.tags), "events": list(self.events), "attributes": self.attributes},
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )


@dataclass(frozen=True, slots=True)
class AppliedItem:
    """An item as the store hands it to the middleware for one visitor (``at`` set)."""

    id: str
    at: float
    tags: tuple[str, ...]
    events: tuple[str, ...]
    attributes: Mapping[str, AttributeValue]

    @classmethod
    def from_row(cls, item_id: str, at: float, content: str) -> AppliedItem:
        data = json.loads(content)
        return cls(
            item_id,
            float(at),
            tuple(data.get("tags", ())),
            tuple(data.get("events", ())),
            dict(data.get("attributes", {})),
        )


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
