"""The Ledgerly example site: a Starlette + Jinja2 app that smartseg personalises.

``create_app()`` builds the site. Pages declare their categories with
``<meta name="smartseg:category">`` (SPEC §3.3), mark personalisable regions with
``data-seg-slot`` (SPEC §3.2), and the form handlers report what visitors do through
``site_example.hooks`` (SPEC §3.4). The rules that decide what changes live in ``rules/``.

smartseg itself is plugged in at exactly one place: ``smartseg_middleware()``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import csrf, hooks
from .catalog import INDUSTRIES_BY_SLUG, INDUSTRY_LIST, PLANS, PRODUCTS, Industry
from .content import Article, get_article, load_articles
from .templating import make_env

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
STATIC_DIR = PACKAGE_DIR / "static"
DEFAULT_SECRET_KEY = "ledgerly-demo-secret-do-not-use-in-production"
#: Signs POST /smartseg/inbound in the demo (SMARTSEG_INBOUND_SECRET overrides it).
DEMO_INBOUND_SECRET = "ledgerly-demo-inbound-secret"

TRIAL_COOKIE = "ledgerly_trial"
CART_COOKIE = "ledgerly_cart"
# Deliberately simple: one "@", a dot in the domain, no spaces or angle brackets.
EMAIL_RE = re.compile(r"\A[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}\Z")
MAX_FORM_BYTES = 16 * 1024  # the site's forms are a handful of short fields
MAX_FORM_FIELDS = 20

Endpoint = Callable[[Request], Awaitable[Response]]


# --------------------------------------------------------------------------- smartseg


def smartseg_middleware(
    *,
    rules: Path,
    secret_key: str | Sequence[str],
    templates: jinja2.Environment,
    dev: bool,
    db_url: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    holdout: bool = True,
    inbound_secret: str | None = None,
) -> list[Middleware]:
    """The middleware that personalises the site: the ONE place smartseg is wired in.

    It must stay OUTSIDE ``CSRFMiddleware`` (the list is outermost-first), and inside
    ``GZipMiddleware`` if compression is ever added (SPEC §3.1).
    """
    from smartseg_dsl.middleware import SmartSegMiddleware
    from smartseg_dsl.sync import SyncConfig

    sync = SyncConfig.from_env(url=webhook_url, secret=webhook_secret) if webhook_url else None
    return [
        Middleware(
            SmartSegMiddleware,
            rules=str(rules),
            secret_key=secret_key,
            templates=templates,  # partials/*.html; the app may override smartseg/survey.html
            dev=dev,
            store=db_url,  # None: the default SQLite answer bank (smartseg.db)
            sync=sync,  # signs with webhook_secret, else SMARTSEG_WEBHOOK_SECRET
            holdout=holdout,  # False: every visitor personalized (end-to-end tests)
            # POST /smartseg/inbound: tags, events and scores from the ESP, the shop and
            # models (site_example/send_inbound.py plays the ESP); its own secret
            inbound_secret=inbound_secret
            or os.environ.get("SMARTSEG_INBOUND_SECRET", DEMO_INBOUND_SECRET),
        )
    ]


# --------------------------------------------------------------------------- helpers


def lead_score(request: Request) -> int:
    """A stand-in for a real lead-scoring model, supplied to rules as ``attribute("lead_score")``.

    Trial users and visitors with a plan in their cart score high; campaign traffic and
    pricing-page views add a little.
    """
    score = 0
    if request.cookies.get(TRIAL_COOKIE) == "1":
        score += 50
    if request.cookies.get(CART_COOKIE) in PLANS:
        score += 30
    if request.query_params.get("utm_medium") in {"cpc", "email"}:
        score += 10
    if request.url.path.startswith("/pricing"):
        score += 10
    return min(score, 100)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    categories: Sequence[str] = (),
    status_code: int = 200,
) -> Response:
    """Render a page; ``categories`` become its ``smartseg:category`` meta tag."""
    hooks.set_attribute(request, "lead_score", lead_score(request))
    full_context: dict[str, Any] = {"categories": tuple(categories), **(context or {})}
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, full_context, status_code=status_code)


def message(
    request: Request,
    title: str,
    *paragraphs: str,
    status_code: int = 200,
    icon: str = "check",
    back_href: str = "/",
    back_label: str = "Back to the home page",
) -> Response:
    """A simple message page (thank-you pages, errors)."""
    context = {
        "title": title,
        "paragraphs": paragraphs,
        "message_icon": icon,
        "back_href": back_href,
        "back_label": back_label,
    }
    return render(request, "message.html", context, status_code=status_code)


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form post (first value of each), ``{}`` for anything else.

    The site's forms are tiny and never upload files, so they are parsed here with the
    standard library instead of requiring ``python-multipart``; oversized or malformed
    bodies yield ``{}``, which then fails the CSRF check with a 403.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        return {}
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def csrf_failed(request: Request) -> Response:
    """The 403 page for a form post without a valid CSRF token."""
    return message(
        request,
        "This form has expired",
        "For your security we could not accept that form. Please go back, reload the page "
        "and try again.",
        status_code=403,
        icon="shield",
    )


def see_other(url: str) -> RedirectResponse:
    """303 redirect after a successful form post."""
    return RedirectResponse(url, status_code=303)


def articles_for(industry: Industry) -> list[Article]:
    """Articles that share at least one category with an industry."""
    wanted = set(industry.categories)
    return [a for a in load_articles() if wanted.intersection(a.categories)]


# --------------------------------------------------------------------------- pages


async def home(request: Request) -> Response:
    """The home page (most slots live here)."""
    return render(request, "home.html")


async def pricing(request: Request) -> Response:
    """/pricing and /pricing/<industry-slug>."""
    slug = request.path_params.get("slug")
    industry = None
    if slug is not None:
        industry = INDUSTRIES_BY_SLUG.get(slug)
        if industry is None:
            raise HTTPException(status_code=404)
    return render(request, "pricing.html", {"industry": industry})


async def product(request: Request) -> Response:
    """/product/<slug>: a product area."""
    item = PRODUCTS.get(request.path_params["slug"])
    if item is None:
        raise HTTPException(status_code=404)
    return render(request, "product.html", {"product": item}, categories=item.categories)


async def blog_index(request: Request) -> Response:
    """/blog, optionally filtered with ?category=…"""
    articles = load_articles()
    all_categories = sorted({c for a in articles for c in a.categories})
    active = request.query_params.get("category", "").strip()[:60] or None
    if active is not None:
        articles = tuple(a for a in articles if active in a.categories)
    context = {"articles": articles, "all_categories": all_categories, "active_category": active}
    return render(request, "blog_index.html", context)


async def article(request: Request) -> Response:
    """/blog/<slug>: one article, declaring its categories."""
    item = get_article(request.path_params["slug"])
    if item is None:
        raise HTTPException(status_code=404)
    others = [a for a in load_articles() if a.slug != item.slug]
    others.sort(key=lambda a: not set(a.categories) & set(item.categories))  # stable
    context = {"article": item, "related": others[:4]}
    return render(request, "article.html", context, categories=item.categories)


def landing_page(industry: Industry) -> Endpoint:
    """The endpoint of one industry's landing page (/legal/, /real-estate/…)."""

    async def landing(request: Request) -> Response:
        context = {"industry": industry, "articles": articles_for(industry)[:3]}
        return render(request, "landing.html", context, categories=industry.categories)

    landing.__name__ = f"landing_{industry.slug.replace('-', '_')}"
    return landing


async def cart(request: Request) -> Response:
    """/cart: the plan chosen on the pricing page."""
    plan = PLANS.get(request.cookies.get(CART_COOKIE, ""))
    return render(request, "cart.html", {"plan": plan})


async def privacy(request: Request) -> Response:
    """/privacy: how personalisation works on this site."""
    return render(request, "privacy.html")


THANKS: dict[str, tuple[str, str]] = {
    "trial": (
        "Your free trial has started",
        "Check your inbox for a sign-in link. Your 14-day Practice trial includes everything: "
        "import your clients, connect your bank and send a real invoice today.",
    ),
    "newsletter": (
        "You are subscribed",
        "Your first guide arrives next Tuesday. Every e-mail has a one-click unsubscribe link.",
    ),
    "purchase": (
        "Welcome to Ledgerly",
        "Your subscription is active. This is a demo, so no payment was taken.",
    ),
}


async def thanks(request: Request) -> Response:
    """/thanks/<kind>: the page a successful form post redirects to."""
    entry = THANKS.get(request.path_params["kind"])
    if entry is None:
        raise HTTPException(status_code=404)
    return message(request, *entry)


async def webinar_registered(request: Request) -> Response:
    """/webinars/<slug>/registered: webinar confirmation."""
    industry = INDUSTRIES_BY_SLUG.get(request.path_params["slug"])
    if industry is None:
        raise HTTPException(status_code=404)
    return message(
        request,
        "Your seat is saved",
        f"{industry.webinar_title}: {industry.webinar_when}. We will e-mail you the joining "
        "link and the recording.",
        icon="calendar",
        back_href=f"/{industry.slug}/",
        back_label=f"Back to Ledgerly for {industry.audience}",
    )


# --------------------------------------------------------------------------- forms


async def start_trial(request: Request) -> Response:
    """POST /trial: "Start free trial" (tracks ``start_trial``)."""
    form = await read_form(request)
    if not csrf.is_valid(request, form.get(csrf.FIELD_NAME)):
        return csrf_failed(request)
    hooks.track(request, "start_trial")
    response = see_other("/thanks/trial")
    response.set_cookie(TRIAL_COOKIE, "1", max_age=14 * 86400, httponly=True, samesite="lax")
    return response


async def cart_add(request: Request) -> Response:
    """POST /cart/add: "Add to cart" on the pricing page (tracks ``add_to_cart``)."""
    form = await read_form(request)
    if not csrf.is_valid(request, form.get(csrf.FIELD_NAME)):
        return csrf_failed(request)
    plan = form.get("plan")
    if not isinstance(plan, str) or plan not in PLANS:
        return message(
            request,
            "Unknown plan",
            "Please choose one of the plans on the pricing page.",
            status_code=400,
            icon="invoice",
            back_href="/pricing",
            back_label="Back to pricing",
        )
    hooks.track(request, "add_to_cart")
    response = see_other("/cart")
    response.set_cookie(CART_COOKIE, plan, max_age=7 * 86400, httponly=True, samesite="lax")
    return response


async def checkout(request: Request) -> Response:
    """POST /checkout: demo purchase (tracks ``purchase``, tags ``customer``)."""
    form = await read_form(request)
    if not csrf.is_valid(request, form.get(csrf.FIELD_NAME)):
        return csrf_failed(request)
    if request.cookies.get(CART_COOKIE) not in PLANS:
        return see_other("/pricing")
    plan = PLANS[request.cookies[CART_COOKIE]]
    hooks.track(request, "purchase")
    # the `Purchase` goal's value (rules/70-measurement.seg): a year of one seat
    hooks.set_attribute(request, "order_total", plan.price * 12)
    hooks.tag(request, "customer")
    response = see_other("/thanks/purchase")
    response.delete_cookie(CART_COOKIE)
    return response


async def newsletter(request: Request) -> Response:
    """POST /newsletter: opt-in; identifies the visitor and tags them (SPEC §3.4)."""
    form = await read_form(request)
    if not csrf.is_valid(request, form.get(csrf.FIELD_NAME)):
        return csrf_failed(request)
    email = form.get("email")
    email = email.strip() if isinstance(email, str) else ""
    if len(email) > 254 or not EMAIL_RE.match(email):
        return message(
            request,
            "That e-mail address does not look right",
            f"We could not use “{email[:254]}”. Please check it and try again.",
            status_code=400,
            icon="mail",
            back_href="/#newsletter",
            back_label="Try again",
        )
    hooks.tag(request, "subscriber")
    slug = form.get("industry")
    industry = INDUSTRIES_BY_SLUG.get(slug) if isinstance(slug, str) else None
    if industry is not None:
        hooks.tag(request, industry.tag)  # an explicit signal: the visitor told us
    try:
        await hooks.identify(request, email)
    except hooks.IdentifyError as exc:
        if exc.invalid_email:
            return message(
                request,
                "That e-mail address does not look right",
                f"We could not use “{email}”. Please check it and try again.",
                status_code=400,
                icon="mail",
                back_href="/#newsletter",
                back_label="Try again",
            )
        return message(
            request,
            "We could not subscribe you just now",
            "Something went wrong on our side. Please try again in a few minutes.",
            status_code=503,
            icon="mail",
            back_href="/#newsletter",
            back_label="Try again",
        )
    return see_other("/thanks/newsletter")


async def webinar(request: Request) -> Response:
    """POST /webinars/<slug>: registration (tracks the industry's webinar event)."""
    industry = INDUSTRIES_BY_SLUG.get(request.path_params["slug"])
    if industry is None:
        raise HTTPException(status_code=404)
    form = await read_form(request)
    if not csrf.is_valid(request, form.get(csrf.FIELD_NAME)):
        return csrf_failed(request)
    hooks.track(request, industry.webinar_event)
    return see_other(f"/webinars/{industry.slug}/registered")


async def not_found(request: Request, exc: Exception) -> Response:
    """An HTML 404 page in the site's layout."""
    return message(
        request,
        "Page not found",
        "The page you were looking for has moved or never existed.",
        status_code=404,
        icon="globe",
    )


# --------------------------------------------------------------------------- factory


def resolve_rules_path(rules_path: str | Path) -> Path:
    """``rules_path`` as given, or relative to the repository (a checkout) or to this
    package (a wheel ships the rules inside it) when it is not found."""
    path = Path(rules_path)
    if not path.is_absolute() and not path.exists():
        for base in (REPO_ROOT, PACKAGE_DIR):
            if (base / path).exists():
                return base / path
    return path


def build_routes() -> list[Route | Mount]:
    """Every route of the site."""
    routes: list[Route | Mount] = [
        Route("/", home),
        Route("/pricing", pricing),
        Route("/pricing/{slug}", pricing),
        Route("/product/{slug}", product),
        Route("/blog", blog_index),
        Route("/blog/{slug}", article),
        Route("/cart", cart),
        Route("/cart/add", cart_add, methods=["POST"]),
        Route("/checkout", checkout, methods=["POST"]),
        Route("/trial", start_trial, methods=["POST"]),
        Route("/newsletter", newsletter, methods=["POST"]),
        Route("/webinars/{slug}", webinar, methods=["POST"]),
        Route("/webinars/{slug}/registered", webinar_registered),
        Route("/thanks/{kind}", thanks),
        Route("/privacy", privacy),
    ]
    routes += [Route(f"/{i.slug}/", landing_page(i)) for i in INDUSTRY_LIST]
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    return routes


def create_app(
    *,
    rules_path: str | Path = "rules/",
    db_url: str | None = None,
    secret_key: str | Sequence[str] = DEFAULT_SECRET_KEY,
    dev: bool = False,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    personalize: bool = True,
    holdout: bool = True,
) -> Starlette:
    """Build the Ledgerly site.

    ``rules_path``, ``db_url``, ``dev``, ``webhook_url`` and ``webhook_secret`` (the CRM
    signing secret; default ``SMARTSEG_WEBHOOK_SECRET``) configure smartseg (see
    ``smartseg_middleware``); ``secret_key`` (a string, or a list for rotation, oldest
    first) signs the site's CSRF tokens and smartseg's cookie. ``personalize=False``
    builds the same site without smartseg (the baseline of ``bench/load.py``);
    ``holdout=False`` personalizes every visitor, ignoring the rules' ``holdout 10%``
    (the end-to-end tests, whose fresh visitors must not land in the holdout by chance).
    """
    jinja_env = make_env()
    rules = resolve_rules_path(rules_path)
    personalization = (
        smartseg_middleware(
            rules=rules,
            secret_key=secret_key,
            templates=jinja_env,
            dev=dev,
            db_url=db_url,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            holdout=holdout,
        )
        if personalize
        else []
    )
    middleware = [
        *personalization,
        Middleware(csrf.CSRFMiddleware, secret_key=secret_key),
    ]
    app = Starlette(
        debug=dev,
        routes=build_routes(),
        middleware=middleware,
        exception_handlers={404: not_found},
    )
    app.state.jinja_env = jinja_env
    app.state.templates = Jinja2Templates(env=jinja_env)
    app.state.rules_path = rules
    app.state.db_url = db_url
    app.state.webhook_url = webhook_url
    return app
