"""smartseg under FastAPI: ``uvicorn examples.fastapi_app.app:app`` (from the repo root).

FastAPI is Starlette underneath, so nothing differs from a Starlette site:
``app.add_middleware(SmartSegMiddleware, ...)``, ``request.state.smartseg`` in a route,
``smartseg_dsl.track(request, ...)`` with FastAPI's ``Request``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates

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
from smartseg_dsl.middleware import SmartSegMiddleware


def create_app(*, personalize: bool = True, **options: Any) -> FastAPI:
    """The site; ``options`` override the middleware's (tests pass ``store=``)."""
    app = FastAPI(title="Ledgerly on FastAPI")
    templates = Jinja2Templates(directory=TEMPLATES)

    def page(request: Request, **context: Any) -> HTMLResponse:
        guess = request.state.smartseg.most_likely("Industry") if personalize else None
        return templates.TemplateResponse(
            request,
            "page.html",
            {"framework": "FastAPI", "title": "Home", "guess": guess, **context},
        )

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        return page(request)

    @app.post("/webinar")
    async def webinar(request: Request) -> RedirectResponse:
        smartseg_dsl.track(request, "legal_webinar")  # `implicit event "legal_webinar"`
        return RedirectResponse("/", status_code=303)

    @app.post("/signup")
    async def signup(
        request: Request, email: Annotated[str, Form()], industry: Annotated[str, Form()]
    ) -> RedirectResponse:
        if industry not in INDUSTRY_TAGS:
            raise HTTPException(400, "unknown industry")
        smartseg_dsl.tag(request, INDUSTRY_TAGS[industry])  # explicit: certain from now on
        smartseg_dsl.track(request, "signup")  # the `Signup` goal
        try:
            await smartseg_dsl.identify(request, email)  # links the answer bank to the e-mail
        except InvalidEmailError as exc:
            raise HTTPException(400, "that e-mail address cannot be used") from exc
        except StoreUnavailableError:
            pass  # the answer bank is down: the visitor is tagged anyway
        return RedirectResponse("/", status_code=303)

    @app.get("/api/plans")
    async def plans() -> list[dict[str, Any]]:
        return PLANS

    @app.get("/api/visitor")
    async def visitor(request: Request) -> dict[str, Any]:
        return visitor_summary(request.state.smartseg)

    @app.get("/export.csv")
    async def export() -> StreamingResponse:
        return StreamingResponse(export_rows(), media_type="text/csv")

    # Last: `/{category}/{slug}` would also match /api/plans.
    @app.get("/{category}/{slug}", response_class=HTMLResponse)
    async def article(request: Request, category: str, slug: str) -> HTMLResponse:
        if (category, slug) not in ARTICLES:
            raise HTTPException(404)
        title, text = ARTICLES[category, slug]
        response = page(request, title=title, text=text, category=category)
        response.headers["cache-control"] = "public, max-age=300"  # smartseg makes it private
        return response

    if personalize:
        # It sees the lifespan and every request, including the POSTs to /smartseg/* that
        # FastAPI has no route for. GZipMiddleware, if any, is added after it (outside).
        app.add_middleware(SmartSegMiddleware, templates=templates, **smartseg_options(**options))
    return app


app = create_app()
