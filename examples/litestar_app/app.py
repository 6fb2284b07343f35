"""smartseg under Litestar: ``uvicorn examples.litestar_app.app:app`` (from the repo root).

The middleware wraps the whole Litestar app (``SmartSegMiddleware(Litestar(...), ...)``)
rather than going into ``Litestar(middleware=[...])``: Litestar runs its middleware
around matched route handlers only, so the lifespan and the POSTs to ``/smartseg/*``
(which have no route) would never reach it there. ``request.state.smartseg`` and
``smartseg_dsl.track(request, ...)`` work with Litestar's ``Request``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Litestar, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.logging import LoggingConfig
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Stream, Template
from litestar.template.config import TemplateConfig
from starlette.types import ASGIApp

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


@dataclass
class SignupForm:
    email: str
    industry: str


def page(request: Request[Any, Any, Any], **context: Any) -> Template:
    view = request.state.get("smartseg")  # absent when the app runs without smartseg
    guess = view.most_likely("Industry") if view is not None else None
    return Template(
        "page.html",
        context={"framework": "Litestar", "title": "Home", "guess": guess, **context},
    )


@get("/")
async def home(request: Request[Any, Any, Any]) -> Template:
    return page(request)


@get("/{category:str}/{slug:str}")
async def article(request: Request[Any, Any, Any]) -> Template:
    category, slug = request.path_params["category"], request.path_params["slug"]
    if (category, slug) not in ARTICLES:
        raise NotFoundException()
    title, text = ARTICLES[category, slug]
    response = page(request, title=title, text=text, category=category)
    response.headers["cache-control"] = "public, max-age=300"  # smartseg makes it private
    return response


@post("/webinar")
async def webinar(request: Request[Any, Any, Any]) -> Redirect:
    smartseg_dsl.track(request, "legal_webinar")  # `implicit event "legal_webinar"`
    return Redirect("/", status_code=303)


@post("/signup")
async def signup(
    request: Request[Any, Any, Any],
    data: Annotated[SignupForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    if data.industry not in INDUSTRY_TAGS:
        raise HTTPException(status_code=400, detail="unknown industry")
    smartseg_dsl.tag(request, INDUSTRY_TAGS[data.industry])  # explicit: certain from now on
    smartseg_dsl.track(request, "signup")  # the `Signup` goal
    try:
        await smartseg_dsl.identify(request, data.email)  # links the answer bank to the e-mail
    except InvalidEmailError as exc:
        raise HTTPException(status_code=400, detail="that e-mail cannot be used") from exc
    except StoreUnavailableError:
        pass  # the answer bank is down: the visitor is tagged anyway
    return Redirect("/", status_code=303)


@get("/api/plans")
async def plans() -> list[dict[str, Any]]:
    return PLANS


@get("/api/visitor")
async def visitor(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return visitor_summary(request.state.smartseg)


@get("/export.csv", media_type="text/csv")
async def export() -> Stream:
    return Stream(export_rows(), media_type="text/csv")


def create_app(*, personalize: bool = True, **options: Any) -> ASGIApp:
    """The site; ``options`` override the middleware's (tests pass ``store=``)."""
    template_config = TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)
    site = Litestar(
        route_handlers=[home, article, webinar, signup, plans, visitor, export],
        template_config=template_config,
        # Litestar's default also configures the root logger; the server (uvicorn) does that.
        logging_config=LoggingConfig(configure_root_logger=False),
    )
    if not personalize:
        return site
    # The same Jinja environment renders the pages and the rules' `with template` partials.
    jinja_env = template_config.engine_instance.engine
    return SmartSegMiddleware(site, templates=jinja_env, **smartseg_options(**options))


app = create_app()
