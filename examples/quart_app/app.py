"""smartseg under Quart: ``uvicorn examples.quart_app.app:app`` (from the repo root).

Quart's way of adding ASGI middleware is to wrap ``app.asgi_app``; the app keeps
serving its lifespan and requests through it. Quart's ``request`` carries the ASGI
scope, so ``smartseg_dsl.track(request, ...)`` works as is; it has no ``state``
attribute, so the visitor view is ``smartseg_dsl.integrations.visitor(request)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from quart import Quart, Response, abort, redirect, render_template, request

import smartseg_dsl
from examples.common import (
    ARTICLES,
    INDUSTRY_TAGS,
    PLANS,
    TEMPLATES,
    export_rows,
    smartseg_options,
    visitor_summary,
)
from smartseg_dsl.answers import InvalidEmailError, StoreUnavailableError
from smartseg_dsl.integrations import visitor
from smartseg_dsl.middleware import SmartSegMiddleware


def create_app(*, personalize: bool = True, **options: Any) -> Quart:
    """The site; ``options`` override the middleware's (tests pass ``store=``)."""
    app = Quart(__name__, template_folder=str(TEMPLATES))

    async def page(**context: Any) -> str:
        guess = visitor(request).most_likely("Industry") if personalize else None
        return await render_template(
            "page.html", **{"framework": "Quart", "title": "Home", "guess": guess, **context}
        )

    @app.get("/")
    async def home() -> str:
        return await page()

    @app.get("/<category>/<slug>")
    async def article(category: str, slug: str) -> Response:
        if (category, slug) not in ARTICLES:
            abort(404)
        title, text = ARTICLES[category, slug]
        response = Response(await page(title=title, text=text, category=category))
        response.headers["cache-control"] = "public, max-age=300"  # smartseg makes it private
        return response

    @app.post("/webinar")
    async def webinar() -> Any:
        smartseg_dsl.track(request, "legal_webinar")  # `implicit event "legal_webinar"`
        return redirect("/", 303)

    @app.post("/signup")
    async def signup() -> Any:
        form = await request.form
        email, industry = form.get("email", ""), form.get("industry", "")
        if industry not in INDUSTRY_TAGS:
            abort(400)
        smartseg_dsl.tag(request, INDUSTRY_TAGS[industry])  # explicit: certain from now on
        smartseg_dsl.track(request, "signup")  # the `Signup` goal
        try:
            await smartseg_dsl.identify(request, email)  # links the answer bank to the e-mail
        except InvalidEmailError:
            abort(400)
        except StoreUnavailableError:
            pass  # the answer bank is down: the visitor is tagged anyway
        return redirect("/", 303)

    @app.get("/api/plans")
    async def plans() -> Any:
        return PLANS

    @app.get("/api/visitor")
    async def visitor_json() -> dict[str, Any]:
        return visitor_summary(visitor(request))

    @app.get("/export.csv")
    async def export() -> Response:
        async def rows() -> AsyncIterator[bytes]:
            for row in export_rows():
                yield row.encode()

        return Response(rows(), mimetype="text/csv")

    if personalize:
        # Quart's documented place for ASGI middleware. Its Jinja environment (async)
        # renders the rules' `with template` partials too.
        app.asgi_app = SmartSegMiddleware(  # type: ignore[method-assign]
            app.asgi_app, templates=app.jinja_env, **smartseg_options(**options)
        )
    return app


app = create_app()
