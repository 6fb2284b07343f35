"""smartseg: visitor segmentation and personalization rules (.seg) for Starlette/ASGI.

The public names load lazily (module ``__getattr__``), so ``import smartseg_dsl`` — and
with it the ``smartseg`` command line — stays cheap: Starlette and Jinja are imported
only when the middleware is.

    from smartseg_dsl import SmartSegMiddleware, track, tag, set_attribute, identify
    await smartseg_dsl.inbound(store, {"id": …, "email": …, "tags": [...]})  # SPEC §7
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import identify, set_attribute, tag, track
    from .inbound_items import inbound
    from .middleware import SmartSegMiddleware

__all__ = ["SmartSegMiddleware", "identify", "inbound", "set_attribute", "tag", "track"]

_LAZY = {
    "track": "api",
    "tag": "api",
    "set_attribute": "api",
    "identify": "api",
    "inbound": "inbound_items",
    "SmartSegMiddleware": "middleware",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smartseg_dsl' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
