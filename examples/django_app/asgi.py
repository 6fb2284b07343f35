"""smartseg under Django: ``uvicorn examples.django_app.asgi:application`` (repo root).

SmartSegMiddleware wraps Django's whole ASGI application, outside all of Django's own
middleware. ``with_lifespan`` answers the ASGI lifespan that Django's handler refuses,
so the middleware can flush its measurement events on shutdown (and run a CRM sync
worker when configured). Under WSGI (``wsgi.py``, gunicorn's sync workers, mod_wsgi)
there is no ASGI to wrap: smartseg needs ``asgi.py`` and an ASGI server.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

from smartseg_dsl.integrations import with_lifespan
from smartseg_dsl.middleware import SmartSegMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
django_application = get_asgi_application()  # django.setup(): settings are loaded now


def personalized(app: Any, **options: Any) -> SmartSegMiddleware:
    """``app`` behind SmartSegMiddleware; ``options`` override ``settings.SMARTSEG``."""
    from django.conf import settings
    from django.template import engines

    return SmartSegMiddleware(
        with_lifespan(app),
        # Django's own Jinja2 engine (settings.TEMPLATES) renders `with template` partials.
        templates=engines["jinja2"].env,
        **{**settings.SMARTSEG, **options},
    )


application = personalized(django_application)
