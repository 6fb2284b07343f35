"""smartseg under Django: the example project (examples/django_app) served by Django's
ASGI handler, wrapped by the middleware outside all of Django's own middleware.

Django's settings are process-wide: this module configures them once per process (from
the example's settings module) and restores ``os.environ`` afterwards. No other test
module uses Django, and pytest-xdist workers are separate processes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from typing import Any

import pytest
from framework_contract import (
    FrameworkContract,
    csrf_of,
    history,
    import_framework,
    smartseg_cookies,
)
from starlette.testclient import TestClient

import_framework("django")

SETTINGS_MODULE = "examples.django_app.settings"


@functools.cache
def django_asgi() -> Any:
    """The example's ``asgi`` module, Django set up with its settings (once)."""
    from django.conf import settings

    if settings.configured and os.environ.get("DJANGO_SETTINGS_MODULE") != SETTINGS_MODULE:
        pytest.fail(f"Django was configured by something else than {SETTINGS_MODULE}")
    saved = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    try:
        from examples.django_app import asgi  # get_asgi_application(): django.setup()

        assert settings.ROOT_URLCONF == "examples.django_app.urls"
        return asgi
    finally:
        if saved is None:
            del os.environ["DJANGO_SETTINGS_MODULE"]
        else:
            os.environ["DJANGO_SETTINGS_MODULE"] = saved


def django_csrf(client: TestClient) -> str:
    """Django's CSRF form token (the page also sets its cookie)."""
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/").text)
    assert found, "no Django CSRF token in the page"
    return found.group(1)


class TestDjango(FrameworkContract):
    framework = "Django"

    def make_app(self, **options: Any) -> Any:
        asgi = django_asgi()
        return asgi.personalized(asgi.django_application, **options)

    def bare_app(self) -> Any:
        from smartseg_dsl.integrations import with_lifespan

        return with_lifespan(django_asgi().django_application)  # TestClient runs a lifespan

    def form_fields(self, client: TestClient) -> dict[str, str]:
        return {"csrfmiddlewaretoken": django_csrf(client)}

    # ------------------------------------------------------------------ Django only

    def test_djangos_csrf_guards_the_sites_forms_and_smartseg_its_own(
        self, site: TestClient
    ) -> None:
        """The two CSRF checks sit side by side: Django's never sees /smartseg/*."""
        token = csrf_of(site.get("/law/trust-accounting").text)
        refused = site.post("/signup", data={"email": "a@example.com", "industry": "legal"})
        assert refused.status_code == 403  # Django's CsrfViewMiddleware: no token
        assert not smartseg_cookies(refused)
        assert site.get("/api/visitor").json()["certain"] is False
        answered = site.post(
            "/smartseg/answer",
            data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
            follow_redirects=False,
        )
        assert answered.status_code == 303  # smartseg's token, no Django token needed
        assert site.get("/api/visitor").json()["certain"] is True

    def test_the_context_processor_gives_templates_the_visitor(
        self, site: TestClient, db: str
    ) -> None:
        """`{{ smartseg.csrf_token }}` in a Django template: the "forget me" form."""
        site.post("/signup", data={"email": "a@example.com", "industry": "legal",
                                   **self.form_fields(site)})  # fmt: skip
        visitor_id = self.visitor_id(site)
        assert history(db, visitor_id)
        page = site.get("/").text
        form = page[page.index('action="/smartseg/forget"') :]
        response = site.post(
            "/smartseg/forget", data={"csrf": csrf_of(form), "next": "/"}, follow_redirects=False
        )
        assert response.status_code == 303
        assert any("Max-Age=0" in c for c in smartseg_cookies(response))
        assert history(db, visitor_id) == []

    def test_without_the_middleware_the_helpers_say_so(self) -> None:
        django_asgi()
        from django.test import RequestFactory

        import smartseg_dsl
        from smartseg_dsl.integrations import visitor
        from smartseg_dsl.integrations.django import context_processor

        request = RequestFactory().get("/")  # a WSGIRequest: no ASGI scope
        assert context_processor(request) == {"smartseg": None}
        with pytest.raises(RuntimeError, match="ASGI"):
            visitor(request)
        with pytest.raises(RuntimeError, match=r"WSGIRequest.*no ASGI scope"):
            smartseg_dsl.track(request, "x")  # no scope at all: WSGI is not supported

    def test_django_refuses_the_lifespan_that_with_lifespan_answers(self, db: str) -> None:
        from django.conf import settings

        from smartseg_dsl.integrations import with_lifespan
        from smartseg_dsl.middleware import SmartSegMiddleware

        asgi = django_asgi()
        sent: list[str] = []

        async def run(app: Any) -> None:
            messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

            async def receive() -> dict[str, Any]:
                return next(messages)

            async def send(message: dict[str, Any]) -> None:
                sent.append(message["type"])

            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

        from django.template import engines

        plain = SmartSegMiddleware(
            asgi.django_application,
            **{**settings.SMARTSEG, "store": db, "templates": engines["jinja2"].env},
        )
        with pytest.raises(BaseException) as refused:  # maybe inside an ExceptionGroup
            asyncio.run(run(plain))
        assert "Django can only handle ASGI/HTTP connections, not lifespan" in repr(refused.value)
        asyncio.run(run(asgi.personalized(asgi.django_application, store=db)))
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert repr(with_lifespan(asgi.django_application)).startswith("with_lifespan(")
