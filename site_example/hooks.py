"""A thin shim between the example site and smartseg's app API (SPEC §3.4).

The site calls ``hooks.track(request, "add_to_cart")``, ``hooks.tag(...)``,
``hooks.set_attribute(...)`` and ``await hooks.identify(request, email)``. Each forwards to
``smartseg_dsl`` when two things hold: the package provides the function, and
``SmartSegMiddleware`` is active for this request. Otherwise the call is a no-op, so the
site runs without smartseg and starts feeding it as soon as the middleware is wired in
(``site_example.app.smartseg_middleware``).

``track``, ``tag`` and ``set_attribute`` never break a page: a failure inside smartseg is
logged (personalisation is a bonus, the same promise as SPEC §3.1). ``identify`` is the
visitor's own opt-in, so its failures are reported to the handler as ``IdentifyError``
and the visitor is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from starlette.requests import Request

logger = logging.getLogger("site_example.hooks")

_smartseg: ModuleType | None
_api_module: ModuleType | None
try:
    import smartseg_dsl as _smartseg
except ImportError:  # pragma: no cover - smartseg not installed at all
    _smartseg = None
try:
    import smartseg_dsl.api as _api_module
except ImportError:  # pragma: no cover - API module not there yet
    _api_module = None


class IdentifyError(Exception):
    """``identify`` failed; ``invalid_email`` tells a bad address from an outage."""

    def __init__(self, message: str, *, invalid_email: bool) -> None:
        super().__init__(message)
        self.invalid_email = invalid_email


def _api(name: str) -> Callable[..., Any] | None:
    """The smartseg API function ``name``, or ``None`` while it does not exist."""
    try:
        function = getattr(_smartseg, name, None)
    except ImportError:  # a lazily imported module that is not there yet
        return None
    return function if callable(function) else None


def active(request: Request) -> bool:
    """True when SmartSegMiddleware handles this request (so the API can be called)."""
    scope_key = getattr(_api_module, "SCOPE_KEY", None)
    return scope_key is not None and request.scope.get(scope_key) is not None


def _call(name: str, request: Request, *args: Any) -> None:
    function = _api(name)
    if function is None or not active(request):
        return
    try:
        function(request, *args)
    except Exception:
        logger.exception("smartseg %s%r failed", name, args[:1])


def track(request: Request, event: str) -> None:
    """Record ``event`` for this request (rules: ``implicit event "…"``, ``count(event …)``)."""
    _call("track", request, event)


def tag(request: Request, name: str) -> None:
    """Give the visitor tag ``name`` (rules: ``explicit tag "…"``, ``tagged("…")``)."""
    _call("tag", request, name)


def set_attribute(request: Request, name: str, value: str | float | None) -> None:
    """Supply ``attribute("name")`` for this request."""
    _call("set_attribute", request, name, value)


async def identify(request: Request, email: str) -> bool:
    """The visitor opted in with ``email``: link their answers and queue a CRM sync (§4).

    Returns ``False`` when smartseg is not active (nothing to link), ``True`` once done.
    Raises ``IdentifyError`` when smartseg rejects the address or the answer bank is down.
    """
    function = _api("identify")
    if function is None or not active(request):
        return False
    try:
        await function(request, email)
    except ValueError as exc:  # answers.InvalidEmailError is a ValueError
        raise IdentifyError(str(exc), invalid_email=True) from exc
    except Exception as exc:  # answers.StoreUnavailableError and anything unexpected
        logger.exception("smartseg identify() failed")
        raise IdentifyError("the answer bank is unavailable", invalid_email=False) from exc
    return True
