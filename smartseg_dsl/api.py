"""The app API of SPEC §3.4: what a handler calls to feed smartseg during a request.

    smartseg_dsl.track(request, "add_to_cart")       # an event, for this request
    smartseg_dsl.tag(request, "lawyer")              # an explicit signal
    smartseg_dsl.set_attribute(request, "score", 7)  # a value for attribute("score")
    await smartseg_dsl.identify(request, email)      # opt-in: link the answer bank

Each function finds the per-request exchange the middleware put in the ASGI scope,
so ``request`` may be a Starlette ``Request``, a ``WebSocket`` or the scope itself.
This module imports nothing heavy: the middleware owns the behaviour, this is the seam.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["SCOPE_KEY", "identify", "set_attribute", "tag", "track"]

#: Where the middleware keeps its per-request object in the ASGI scope.
SCOPE_KEY = "smartseg.exchange"

MAX_NAME_BYTES = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}\Z")


class _Exchange(Protocol):
    def track(self, event: str) -> None: ...
    def tag(self, tag: str) -> None: ...
    def set_attribute(self, name: str, value: str | float | None) -> None: ...
    async def identify(self, email: str) -> str | None: ...


class _HasScope(Protocol):
    @property
    def scope(self) -> Mapping[str, Any]: ...


def _exchange(request: _HasScope | Mapping[str, Any]) -> _Exchange:
    scope = request if isinstance(request, Mapping) else getattr(request, "scope", None)
    if not isinstance(scope, Mapping):
        # e.g. a WSGI request (Flask, Django under WSGI): no ASGI scope to find smartseg in
        raise RuntimeError(
            f"smartseg: this request ({type(request).__name__}) has no ASGI scope (a WSGI "
            "request?); SmartSegMiddleware runs under ASGI only (docs/frameworks.md)"
        )
    exchange = scope.get(SCOPE_KEY)
    if exchange is None:
        raise RuntimeError(
            "smartseg: SmartSegMiddleware is not installed for this request "
            "(add Middleware(SmartSegMiddleware, ...) to the app's middleware)"
        )
    return exchange  # type: ignore[no-any-return]


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"smartseg: {what} must be a non-empty string, got {value!r:.60}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise ValueError(f"smartseg: {what} {value[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
    if _CONTROL.search(value):
        raise ValueError(f"smartseg: {what} {value[:40]!r} contains control characters")
    return value


def track(request: _HasScope | Mapping[str, Any], event: str) -> None:
    """Record ``event`` for this request (``implicit event``, ``count(event …)``)."""
    _exchange(request).track(_check_name("event name", event))


def tag(request: _HasScope | Mapping[str, Any], tag: str) -> None:
    """Give the visitor ``tag`` now: an explicit signal, also kept in the answer bank."""
    _exchange(request).tag(_check_name("tag", tag))


def set_attribute(
    request: _HasScope | Mapping[str, Any], name: str, value: str | float | None
) -> None:
    """Supply the value ``attribute("name")`` sees while this request is evaluated."""
    if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
        raise ValueError(f"smartseg: attribute name must be a name like 'lead_score', got {name!r}")
    if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
        raise TypeError(
            f"smartseg: attribute {name!r} must be a string, a number or None, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, str) and len(value) > 1000:
        raise ValueError(f"smartseg: attribute {name!r} is longer than 1000 characters")
    _exchange(request).set_attribute(name, value)


async def identify(request: _HasScope | Mapping[str, Any], email: str) -> str | None:
    """The visitor opted in with ``email``: link their answer-bank rows to it and queue
    a CRM sync (SPEC §4). Returns the queued delivery's Idempotency-Key.

    Raises ``answers.InvalidEmailError`` (a ``ValueError``) for an address we cannot
    hand to a CRM, and ``answers.StoreUnavailableError`` when the answer bank is down
    or disabled, so the app can tell the visitor.
    """
    return await _exchange(request).identify(email)
