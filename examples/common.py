"""What the example apps share: the rules, the Jinja partials, the content, the settings.

Each app in this folder serves the same small site — a home page, two articles, a
webinar button, a sign-up form, a JSON endpoint and a streamed CSV export — so the same
rules (``examples/rules/site.seg``) personalize them all. What differs is only how each
framework is wired to ``SmartSegMiddleware``: that part is in each app's own file.

Settings come from the environment (all optional):

``SMARTSEG_SECRET_KEY``  signs the cookie and the survey's CSRF tokens
``SMARTSEG_DB``          the answer bank (SQLite path or PostgreSQL URL; default ./smartseg.db)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartseg_dsl.middleware import RequestVisitor

EXAMPLES = Path(__file__).resolve().parent
#: The rule set every example runs (checked by `smartseg check --strict examples/rules/`).
RULES = EXAMPLES / "rules"
#: Jinja templates: the pages of the Jinja-based apps and the `with template` partials.
TEMPLATES = EXAMPLES / "templates"

SECRET_KEY = os.environ.get("SMARTSEG_SECRET_KEY") or "examples-secret-do-not-use-in-production"
STORE = os.environ.get("SMARTSEG_DB") or None

#: (category, slug) → (title, text). The category goes into <meta name="smartseg:category">.
ARTICLES: dict[tuple[str, str], tuple[str, str]] = {
    ("law", "trust-accounting"): (
        "Trust accounting without the spreadsheet",
        "Client money, matter by matter, reconciled every night.",
    ),
    ("retail", "stock"): (
        "When stock and invoices agree",
        "Every sale on the till becomes a line on the right invoice.",
    ),
}

#: The sign-up form's industry → the tag it gives (an explicit signal in the rules).
INDUSTRY_TAGS = {"legal": "lawyer", "retail": "retailer"}

PLANS: list[dict[str, Any]] = [
    {"name": "Solo", "monthly": 12},
    {"name": "Firm", "monthly": 49},
]


def smartseg_options(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments every example passes to ``SmartSegMiddleware``."""
    return {"rules": str(RULES), "secret_key": SECRET_KEY, "store": STORE, **overrides}


def visitor_summary(view: RequestVisitor) -> dict[str, Any]:
    """What ``GET /api/visitor`` answers: the visitor's industry as the rules see it."""
    return {
        "industry": view.most_likely("Industry"),
        "legal": view.confidence("Industry.Legal"),
        "certain": view.certain("Industry.Legal"),
    }


def export_rows() -> Iterator[str]:
    """The CSV export, line by line: the apps stream it (never personalized)."""
    yield "invoice,client,amount\n"
    for n in range(1, 201):
        yield f"INV-{n:04d},Client {n % 7},{n * 12.5:.2f}\n"
