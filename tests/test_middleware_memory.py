"""A finished request leaves no reference cycle behind (issue 6: flat RSS under load).

Reference counting frees a request's objects (its response body, the visitor state, the
engine's outcome) as soon as the request is over, unless they sit in a reference cycle:
then they wait for the cyclic garbage collector. Under load, in-flight requests survive
several collections and get promoted to the oldest generation, which is collected only
now and then, so thousands of finished requests pile up between two full collections.
That is what made the uvicorn workers' RSS of ``bench/load.py`` climb: about +10 MiB per
worker of Python objects (and fragmented heap) that a cycle-free request never holds.

Each request here runs with the collector disabled; afterwards ``gc.collect()`` must find
nothing unreachable.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from middleware_helpers import Recorder, empty_receive, http_scope, make_app, write_rules

from smartseg_dsl.answers import open_store


def _garbage_after(
    app: Any, scopes: list[Callable[[], dict[str, Any]]], receive: Callable[[], Awaitable[Any]]
) -> tuple[int, Counter[str]]:
    """Unreachable objects found after serving each scope (the first is a warm-up).

    The scopes are built here and dropped after each request, as a server does: the
    test must not keep a reference that would hide a cycle hanging off the scope."""
    found: list[int] = []
    kinds: Counter[str] = Counter()

    async def main() -> None:
        await app(scopes[0](), receive, Recorder())  # loads rules, opens the store…
        for make_scope in scopes[1:]:
            recorder = Recorder()
            gc.collect()
            gc.disable()
            try:
                gc.set_debug(gc.DEBUG_SAVEALL)
                await app(make_scope(), receive, recorder)
                found.append(gc.collect())
                kinds.update(type(o).__qualname__ for o in gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
            assert recorder.start["status"] in {200, 303, 403}, recorder.start

    anyio.run(main)
    return sum(found), kinds


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    store = open_store(str(tmp_path / "answers.db"))
    yield make_app(write_rules(tmp_path / "rules"), store=store)
    store.close()


def test_a_personalized_page_leaves_no_cycle(app: Any) -> None:
    scopes = [
        lambda: http_scope("/?seg=legal"),
        lambda: http_scope("/?seg=legal"),  # rewritten, with a survey rendered
        lambda: http_scope("/state"),  # request.state.smartseg read by the handler
        lambda: http_scope("/api"),  # passed through untouched
        lambda: http_scope("/hooks?tag=vip&event=legal_webinar&plan=pro"),  # app API, partial
    ]
    found, kinds = _garbage_after(app, scopes, empty_receive)
    assert found == 0, kinds.most_common(12)


def test_an_endpoint_post_leaves_no_cycle(app: Any) -> None:
    body = b"about=Industry.Legal&answer=yes&csrf=forged&next=/"
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    def post() -> dict[str, Any]:
        return http_scope("/smartseg/answer", method="POST", headers=headers)

    found, kinds = _garbage_after(app, [post, post], receive)
    assert found == 0, kinds.most_common(12)
