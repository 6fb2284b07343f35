"""The example site's Jinja environment, shared by the pages and by smartseg.

The same ``jinja2.Environment`` is handed to ``SmartSegMiddleware(templates=...)``, so the
partials a rule renders (``replace slot hero with template "partials/legal_hero.html"``)
see the site's globals: the catalogue (``INDUSTRIES``, ``PLANS``…), the ``icon`` macro
library and the helpers below, plus ``visitor`` (SPEC §1.5/§3.4) from smartseg.

Autoescaping is on for every template: whatever a visitor supplies is escaped.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from . import catalog
from .csrf import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
SITE_NAME = "Ledgerly"


def segment_name(value: object) -> str | None:
    """The bare segment name of what ``visitor.most_likely(G)`` returned.

    Accepts ``"Industry.Legal"``, ``"Legal"``, an object with a ``name`` or ``segment``
    attribute, or ``None`` (no most-likely segment), so partials do not depend on the exact
    return type of the visitor view.
    """
    if value is None:
        return None
    for attribute in ("segment", "name"):
        inner = getattr(value, attribute, None)
        if isinstance(inner, str):
            value = inner
            break
    text = str(value).strip()
    if not text or text.lower() == "none":
        return None
    return text.rsplit(".", 1)[-1]


def industry_for(value: object) -> catalog.Industry | None:
    """The ``Industry`` for a most-likely value (see ``segment_name``), or ``None``."""
    name = segment_name(value)
    return catalog.INDUSTRIES.get(name) if name else None


def percent(value: object) -> str:
    """Format a confidence in 0..1 as ``"64%"``; anything else as an em dash."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{round(max(0.0, min(1.0, float(value))) * 100)}%"


def make_env(directory: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """Build the site's Jinja environment (autoescape on, catalogue as globals)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        SITE_NAME=SITE_NAME,
        INDUSTRIES=catalog.INDUSTRIES,
        INDUSTRY_LIST=catalog.INDUSTRY_LIST,
        PRODUCT_LIST=catalog.PRODUCT_LIST,
        PLANS=catalog.PLANS,
        PLAN_LIST=catalog.PLAN_LIST,
        TESTIMONIALS=catalog.TESTIMONIALS,
        LEGAL_CASE_STUDY=catalog.LEGAL_CASE_STUDY,
        FAQ=catalog.FAQ,
        CUSTOMER_LOGOS=catalog.CUSTOMER_LOGOS,
        INTEGRATIONS=catalog.INTEGRATIONS,
        csrf_token=csrf_token,
        segment_name=segment_name,
        industry_for=industry_for,
    )
    env.filters["pct"] = percent
    return env
