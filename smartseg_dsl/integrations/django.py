"""Django helpers (docs/frameworks.md, "Django").

In ``settings.TEMPLATES[...]["OPTIONS"]["context_processors"]``::

    "smartseg_dsl.integrations.django.context_processor",

makes ``smartseg`` (the visitor view) available in Django templates, e.g. for a
"forget me" form: ``<input type="hidden" name="csrf" value="{{ smartseg.csrf_token }}">``.
Django's template language calls methods without arguments only, so a view that needs
``most_likely("Industry")`` asks :func:`smartseg_dsl.integrations.visitor` and passes
the answer in the context.

Nothing here imports Django: the module stays importable (and testable) without it.
"""

from __future__ import annotations

from typing import Any

from ..api import SCOPE_KEY
from . import visitor

__all__ = ["context_processor"]


def context_processor(request: Any) -> dict[str, Any]:
    """``{"smartseg": <visitor view>}``, or ``{"smartseg": None}`` when the request did
    not come through ``SmartSegMiddleware`` (a WSGI request, Django's test ``Client``)."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict) or SCOPE_KEY not in scope:
        return {"smartseg": None}
    return {"smartseg": visitor(scope)}
