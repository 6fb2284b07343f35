"""Small helpers for frameworks other than Starlette (docs/frameworks.md).

The middleware is plain ASGI and needs nothing from the app's framework; the app API
(``smartseg_dsl.track``, ``tag``, ``set_attribute``, ``identify``) takes any request
object that has the ASGI ``scope`` (Starlette, FastAPI, Litestar, Quart and Django's
``ASGIRequest`` all do). What some frameworks lack is covered here:

``visitor(request)``
    the visitor view that Starlette-style apps read as ``request.state.smartseg``, for
    request objects without a ``state`` backed by the ASGI scope (Django, Quart).
``with_lifespan(app)``
    answers the ASGI lifespan protocol for an app that refuses it (Django's
    ``ASGIHandler``), so the middleware's lifespan work runs: the measurement events
    written on shutdown and the CRM sync worker.

Django's template context processor is in :mod:`smartseg_dsl.integrations.django`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..api import _exchange

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ..middleware import RequestVisitor

__all__ = ["visitor", "with_lifespan"]


def visitor(request: Any) -> RequestVisitor:
    """The visitor view of this request (what ``request.state.smartseg`` is in Starlette).

    ``request`` is any request object with the ASGI ``scope`` (a Django ``ASGIRequest``,
    Quart's ``request``, …) or the scope itself. Raises ``RuntimeError`` when
    ``SmartSegMiddleware`` does not wrap the app that serves this request.
    """
    from ..middleware import RequestVisitor

    scope = request if isinstance(request, Mapping) else getattr(request, "scope", None)
    if scope is None:
        raise RuntimeError(
            "smartseg: this request has no ASGI scope (a WSGI request?); "
            "SmartSegMiddleware runs under ASGI only (docs/frameworks.md)"
        )
    return RequestVisitor(_exchange(scope))  # type: ignore[arg-type]


class _WithLifespan:
    """An ASGI app that answers lifespan itself and hands everything else to ``app``."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def __repr__(self) -> str:
        return f"with_lifespan({self.app!r})"


def with_lifespan(app: ASGIApp) -> ASGIApp:
    """``app``, answering the ASGI lifespan protocol (startup, shutdown) on its own.

    For apps that raise on a lifespan scope, as Django's ``ASGIHandler`` does::

        application = SmartSegMiddleware(with_lifespan(get_asgi_application()), ...)

    Without it the server carries on without a lifespan (uvicorn logs "ASGI 'lifespan'
    protocol appears unsupported"): pages are still personalized, but the measurement
    events queued at shutdown are lost and a configured CRM sync worker never starts.
    """
    return _WithLifespan(app)
