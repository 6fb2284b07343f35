"""The example's views: ordinary Django views, sync and async.

``smartseg_dsl.track``/``tag``/``identify`` take Django's request as they are (an
``ASGIRequest`` carries the ASGI scope). Django's request has no ``state`` backed by
the scope, so the visitor view is ``smartseg_dsl.integrations.visitor(request)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

import smartseg_dsl
from examples.common import ARTICLES, INDUSTRY_TAGS, PLANS, export_rows, visitor_summary
from smartseg_dsl.answers import InvalidEmailError, StoreUnavailableError
from smartseg_dsl.integrations import visitor


def see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _page(request: HttpRequest, **context: Any) -> HttpResponse:
    guess = visitor(request).most_likely("Industry")
    return render(
        request,
        "ledgerly/page.html",
        {"framework": "Django", "title": "Home", "guess": guess, **context},
    )


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_GET
@cache_control(public=True, max_age=300)  # smartseg turns `public` into `private`
def article(request: HttpRequest, category: str, slug: str) -> HttpResponse:
    if (category, slug) not in ARTICLES:
        raise Http404("no such article")
    title, text = ARTICLES[category, slug]
    return _page(request, title=title, text=text, category=category)


@require_POST
def webinar(request: HttpRequest) -> HttpResponse:
    smartseg_dsl.track(request, "legal_webinar")  # `implicit event "legal_webinar"`
    return see_other("/")


@require_POST
async def signup(request: HttpRequest) -> HttpResponse:
    # async: `identify` is a coroutine (in a sync view: asgiref's async_to_sync).
    email, industry = request.POST.get("email", ""), request.POST.get("industry", "")
    if industry not in INDUSTRY_TAGS:
        return HttpResponseBadRequest("unknown industry")
    smartseg_dsl.tag(request, INDUSTRY_TAGS[industry])  # explicit: certain from now on
    smartseg_dsl.track(request, "signup")  # the `Signup` goal
    try:
        await smartseg_dsl.identify(request, email)  # links the answer bank to the e-mail
    except InvalidEmailError:
        return HttpResponseBadRequest("that e-mail address cannot be used")
    except StoreUnavailableError:
        pass  # the answer bank is down: the visitor is tagged anyway
    return see_other("/")


@require_GET
def plans(request: HttpRequest) -> HttpResponse:
    return JsonResponse(PLANS, safe=False)


@require_GET
def visitor_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(visitor_summary(visitor(request)))


@require_GET
async def export(request: HttpRequest) -> HttpResponse:
    async def rows() -> AsyncIterator[str]:  # under ASGI, Django streams async iterators
        for row in export_rows():
            yield row

    return StreamingHttpResponse(rows(), content_type="text/csv")
