"""Inbound data (SPEC §7): tags, events and attributes an e-mail tool, a shop backend or
a scoring model sends about a visitor between visits.

One item::

    {"id": "esp-123", "email": "jane@example.com", "at": "2027-01-15T08:00:00Z",
     "tags": ["clicked_legal_newsletter"], "events": ["purchase"],
     "attributes": {"lead_score": 82}}

(``visitor`` instead of ``email`` addresses one visitor id). It arrives by
``POST /smartseg/inbound`` (the middleware), ``smartseg inbound FILE…`` or
``await smartseg_dsl.inbound(store, item)``; all three validate with :func:`parse_item`
and store with ``store.store_inbound`` (the answer bank, idempotent by ``id``).

* :func:`parse_item` / :func:`parse_body` — validation, each problem naming its field
  (``items[2].attributes.lead_score: …``), raising :class:`InboundError`;
* :class:`InboundItem` — a valid item (times as epoch seconds), and :class:`AppliedItem`,
  one as the store hands it back: both records of the answer bank
  (``answers/store.py``), re-exported here;
* :func:`inbound` — the Python entry point for backends;
* :class:`PendingInbound` — the middleware's in-memory set of visitor ids with items
  waiting, kept fresh by polling the store's change sequence (no query per request);
* :func:`sign_body` / :func:`signature_ok` — the ``X-Smartseg-Signature`` header
  (``signing.py``, shared with the webhooks of ``sync.py``), re-exported here.

Nothing here imports Starlette: the CLI uses it too.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .answers import (
    AppliedItem,
    AttributeValue,
    InboundItem,
    InvalidEmailError,
    normalize_email,
)
from .answers.sql import INBOUND_DELAY
from .polled import PolledSet
from .signing import sign_body, signature_ok
from .state import INBOUND_TEXT_CHARS

log = logging.getLogger("smartseg.inbound")

__all__ = [
    "APPLY_DELAY",
    "MAX_BODY_BYTES",
    "AppliedItem",
    "InboundError",
    "InboundItem",
    "PendingInbound",
    "inbound",
    "parse_body",
    "parse_item",
    "sign_body",
    "signature_ok",
]

#: An item takes effect on the visitor's next request more than this many seconds
#: after it was stored (SPEC §7).
APPLY_DELAY = INBOUND_DELAY
#: The endpoint refuses larger bodies with 413 (SPEC §7).
MAX_BODY_BYTES = 1024 * 1024
#: Items per request body (a list); larger batches: split them.
MAX_ITEMS = 1000
MAX_ID_CHARS = 128
MAX_TAGS = 100
MAX_EVENTS = 100
MAX_ATTRIBUTES = 50
MAX_NAME_BYTES = 100
#: A text attribute value: at most this many characters (UTF-16 code units), so the
#: cookie's worst case (``budget``/SEG501) stays bounded.
MAX_ATTRIBUTE_CHARS = INBOUND_TEXT_CHARS
#: `at` may be this far in the future (clock skew between the sender and us).
FUTURE_SKEW = 300.0
SIGNATURE_HEADER = "X-Smartseg-Signature"

_FIELDS = ("id", "visitor", "email", "at", "tags", "events", "attributes")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}\Z")
_MIN_TIME = 946_684_800.0  # 2000-01-01


class InboundError(ValueError):
    """An item (or body) we will not store; ``field`` says where (``tags[1]``), and
    the message is fit for a 400 response or a CLI line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


# --------------------------------------------------------------------------- parsing


def _name(where: str, value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InboundError(where, f"{what} must be a string, got {_type(value)}")
    if not value.strip():
        raise InboundError(where, f"{what} is empty")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise InboundError(where, f"{what} is {size} bytes long; the limit is {MAX_NAME_BYTES}")
    if _CONTROL.search(value):
        raise InboundError(where, f"{what} contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InboundError(where, f"{what} is not valid Unicode text") from None
    return value


def _type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_time(where: str, value: object, now: float) -> float:
    """ISO 8601 (``2027-01-15T08:00:00Z``, an offset, or none for UTC) → epoch seconds."""
    if not isinstance(value, str):
        raise InboundError(where, f"must be an ISO 8601 time string, got {_type(value)}")
    text = value.strip()
    if not 10 <= len(text) <= 40:
        raise InboundError(where, f"{value[:40]!r} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise InboundError(where, f"{value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp()
    if at < _MIN_TIME:
        raise InboundError(where, "is before the year 2000")
    if at > now + FUTURE_SKEW:
        raise InboundError(where, "is in the future")
    return at


def parse_item(data: object, *, where: str = "", now: float | None = None) -> InboundItem:
    """Validate one item (decoded JSON) and return it; raise :class:`InboundError`
    naming the first bad field, prefixed with ``where`` (``items[3]``)."""
    now = time.time() if now is None else now
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        raise InboundError(where or "item", f"must be a JSON object, got {_type(data)}")
    for key in data:
        if key not in _FIELDS:
            raise InboundError(
                f"{prefix}{str(key)[:40] or json.dumps(key)}",
                f"unknown field (known: {', '.join(_FIELDS)})",
            )
    if "id" not in data:
        raise InboundError(f"{prefix}id", "missing (a unique id makes a retry harmless)")
    item_id = data["id"]
    if not isinstance(item_id, str):
        raise InboundError(f"{prefix}id", f"must be a string, got {_type(item_id)}")
    if not item_id.strip() or len(item_id) > MAX_ID_CHARS or _CONTROL.search(item_id):
        raise InboundError(
            f"{prefix}id", f"must be 1-{MAX_ID_CHARS} characters without control characters"
        )
    visitor = email = None
    if ("visitor" in data) == ("email" in data):
        raise InboundError(
            f"{prefix}visitor", "give exactly one of 'visitor' (a visitor id) and 'email'"
        )
    if "visitor" in data:
        visitor = data["visitor"]
        if not isinstance(visitor, str) or not _VISITOR_ID.match(visitor):
            raise InboundError(
                f"{prefix}visitor", "must be a visitor id: 1-64 characters of A-Z a-z 0-9 _ -"
            )
    else:
        try:
            email = normalize_email(data["email"])
        except InvalidEmailError as exc:
            raise InboundError(f"{prefix}email", str(exc)) from None
    at = None
    if data.get("at") is not None:
        at = parse_time(f"{prefix}at", data["at"], now)
    tags = _names(data, "tags", "a tag", MAX_TAGS, prefix)
    events = _names(data, "events", "an event name", MAX_EVENTS, prefix)
    attributes: dict[str, AttributeValue] = {}
    raw = data.get("attributes")
    if raw is not None:
        if not isinstance(raw, dict):
            raise InboundError(f"{prefix}attributes", f"must be an object, got {_type(raw)}")
        if len(raw) > MAX_ATTRIBUTES:
            raise InboundError(f"{prefix}attributes", f"more than {MAX_ATTRIBUTES} attributes")
        for name, value in raw.items():
            here = f"{prefix}attributes.{str(name)[:40] or json.dumps(name)}"
            if not _ATTRIBUTE_NAME.match(name):
                raise InboundError(here, "not an attribute name (like lead_score)")
            attributes[name] = _attribute(here, value)
    if not (tags or events or attributes):
        raise InboundError(
            where or "item", "carries nothing: give at least one of tags, events, attributes"
        )
    return InboundItem(item_id, visitor, email, at, tags, events, attributes)


def _names(data: dict[str, Any], key: str, what: str, limit: int, prefix: str) -> tuple[str, ...]:
    raw = data.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InboundError(f"{prefix}{key}", f"must be a list of strings, got {_type(raw)}")
    if len(raw) > limit:
        raise InboundError(f"{prefix}{key}", f"more than {limit} entries")
    return tuple(_name(f"{prefix}{key}[{i}]", v, what) for i, v in enumerate(raw))


def _attribute(where: str, value: object) -> AttributeValue:
    if value is None:
        return None  # clears the inbound value
    if isinstance(value, bool):
        raise InboundError(where, "must be a string, a number or null, got a boolean")
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise InboundError(where, "number out of range (at most 2^53 in size)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InboundError(where, "number must be finite")
        return value
    if isinstance(value, str):
        if len(value.encode("utf-16-le", "surrogatepass")) // 2 > MAX_ATTRIBUTE_CHARS:
            raise InboundError(where, f"text longer than {MAX_ATTRIBUTE_CHARS} characters")
        if _CONTROL.search(value):
            raise InboundError(where, "text contains control characters")
        return value
    raise InboundError(where, f"must be a string, a number or null, got {_type(value)}")


def parse_body(body: bytes, *, now: float | None = None) -> list[InboundItem]:
    """A request body: one item or a list of items (JSON). Raises :class:`InboundError`
    for the first bad field; nothing of a body with a bad item is stored."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InboundError("", "the body is not valid JSON") from None
    now = time.time() if now is None else now
    if isinstance(data, list):
        if not data:
            raise InboundError("", "the list of items is empty")
        if len(data) > MAX_ITEMS:
            raise InboundError("", f"more than {MAX_ITEMS} items in one body: split it")
        items = [parse_item(x, where=f"items[{i}]", now=now) for i, x in enumerate(data)]
    else:
        items = [parse_item(data, now=now)]
    return items


# --------------------------------------------------------------------------- python API


async def inbound(store: Any, item: Mapping[str, Any] | InboundItem) -> bool:
    """Store one inbound item from Python (a backend of the same app): validated as the
    endpoint validates (``InboundError``, a ``ValueError``), stored in the answer bank.
    Returns True when stored, False when an item with that ``id`` was already stored."""
    import anyio.to_thread

    parsed = item if isinstance(item, InboundItem) else parse_item(dict(item))
    results = await anyio.to_thread.run_sync(lambda: store.store_inbound([parsed]))
    return bool(results[0])


# --------------------------------------------------------------------------- pending set


class PendingInbound(PolledSet):
    """Visitor ids with inbound items waiting to be applied, in memory.

    Membership answers "does this visitor have something pending?" without a query:
    a dict lookup per request (and only when the dict is not empty). Kept fresh by
    :meth:`refresh`, which reads the store's change feed (``inbound_changes``: rows
    added since the last cursor — SQLite: an increasing sequence; PostgreSQL: the
    transaction ids at or after the oldest transaction that was still running at the
    last poll, so a row committed late is never missed). The middleware starts a
    refresh at most every ``interval`` seconds, piggy-backed on requests, like
    :class:`~smartseg_dsl.answers.ForgottenIds`.

    Value: the earliest time (epoch seconds) one of the visitor's items is due. The
    middleware removes a visitor once the store says nothing more is pending for them.
    """

    reader = "inbound_changes"
    failing = (
        "smartseg: could not read pending inbound items from the answer bank (%s); they "
        "are applied once it works again"
    )
    recovered = "smartseg: pending inbound items are read again"

    def __init__(
        self,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(interval=interval, clock=clock, log=log)
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._cursor: Any = None
        #: refreshes done, rows read (for tests and the benchmark)
        self.refreshes = 0
        self.rows_read = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, visitor_id: object) -> bool:
        return visitor_id in self._due

    def due(self, visitor_id: str, now: float) -> bool:
        """Something of ``visitor_id``'s is due at ``now`` (one dict lookup)."""
        at = self._due.get(visitor_id)
        return at is not None and at <= now

    def add(self, visitor_id: str, due_at: float) -> None:
        with self._lock:
            self._keep_earliest(visitor_id, due_at)

    def _keep_earliest(self, visitor_id: str, due_at: float) -> None:
        old = self._due.get(visitor_id)
        if old is None or due_at < old:
            self._due[visitor_id] = due_at

    def settle(self, visitor_id: str, next_due: float | None) -> None:
        """After a claim: nothing left (None), or the next item's due time."""
        with self._lock:
            if next_due is None:
                self._due.pop(visitor_id, None)
            else:
                self._due[visitor_id] = next_due

    # -- the refresh (PolledSet.refresh): read the change feed from the last cursor
    def _read(self, reader: Callable[[Any], tuple[list[tuple[str, float]], Any]]) -> Any:
        return reader(self._cursor)

    def _merge(self, result: Any) -> None:
        rows, cursor = result
        with self._lock:
            for vid, at in rows:
                self._keep_earliest(vid, at)
        self._cursor = cursor

    def _refreshed(self, store: Any, result: Any) -> None:
        self.refreshes += 1
        self.rows_read += len(result[0])
