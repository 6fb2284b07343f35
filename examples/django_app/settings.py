"""Django settings of the example (``DJANGO_SETTINGS_MODULE=examples.django_app.settings``).

Only what the example needs: no database, no apps, Django's CSRF middleware for the
site's own forms, Django templates for the pages and a Jinja2 engine for the rules'
``replace … with template`` partials (the middleware renders those with Jinja).
"""

from __future__ import annotations

import os
from pathlib import Path

from examples.common import TEMPLATES as JINJA_TEMPLATES
from examples.common import smartseg_options

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-example-insecure-do-not-use"
DEBUG = os.environ.get("DJANGO_DEBUG", "") in {"1", "true", "yes"}
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Django's own middleware runs INSIDE SmartSegMiddleware (which wraps the whole ASGI
# application in asgi.py): CsrfViewMiddleware protects the site's forms and never sees
# the POSTs to /smartseg/*, which carry smartseg's own token. Leave GZipMiddleware and
# ConditionalGetMiddleware out: compress outside smartseg instead (docs/frameworks.md).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                # `{{ smartseg }}`: the visitor view (e.g. `{{ smartseg.csrf_token }}`)
                "smartseg_dsl.integrations.django.context_processor",
            ],
        },
    },
    {
        # engines["jinja2"].env is what asgi.py hands the middleware as `templates`.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [JINJA_TEMPLATES],
    },
]

#: SmartSegMiddleware's options (asgi.py); the defaults read SMARTSEG_* from the environment.
SMARTSEG = smartseg_options()
