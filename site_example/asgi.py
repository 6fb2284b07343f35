"""The example site as an ASGI factory configured from the environment.

A process manager that forks workers needs an import string rather than an app
object, so this module gives it one::

    SMARTSEG_DB=/tmp/answers.db MALLOC_MMAP_THRESHOLD_=131072 \\
        uvicorn site_example.asgi:app_from_env --factory --workers 2

(The allocator setting keeps the workers' memory flat on glibc: docs/middleware.md,
"Deploying".)

Environment (all optional):

``SMARTSEG_RULES``       rule file or directory (default ``rules/``, found from the checkout)
``SMARTSEG_DB``          answer bank URL or SQLite path (default ``smartseg.db`` in the cwd)
``SMARTSEG_SECRET_KEY``  signs cookies and CSRF tokens; several keys, oldest first, may be
                         given comma-separated for rotation
``SMARTSEG_DISABLE=1``   serve the site without smartseg (the load test's baseline)
``SMARTSEG_HOLDOUT=0``   ignore the rules' holdout: every visitor personalized (end-to-end tests)

Every worker builds its own app from the same environment, so they agree on the keys.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from .app import DEFAULT_SECRET_KEY, create_app


def _secret_key() -> str | list[str]:
    raw = os.environ.get("SMARTSEG_SECRET_KEY", "").strip()
    if not raw:
        return DEFAULT_SECRET_KEY
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    return keys[0] if len(keys) == 1 else keys


def app_from_env() -> Starlette:
    """Build the site from ``SMARTSEG_*`` environment variables (see the module doc)."""
    return create_app(
        rules_path=os.environ.get("SMARTSEG_RULES") or "rules/",
        db_url=os.environ.get("SMARTSEG_DB") or None,
        secret_key=_secret_key(),
        personalize=os.environ.get("SMARTSEG_DISABLE", "") not in {"1", "true", "yes"},
        holdout=os.environ.get("SMARTSEG_HOLDOUT", "") not in {"0", "false", "no"},
    )
