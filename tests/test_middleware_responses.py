"""Which responses the middleware touches, and how (SPEC §3.1): headers, cookies,
HEAD, charsets, and everything that must pass through untouched and unbuffered."""

from __future__ import annotations

import gzip
import tracemalloc
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from middleware_helpers import (
    Recorder,
    client,
    empty_receive,
    http_scope,
    make_app,
    page,
    slot_html,
    template_env,
    write_rules,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from smartseg_dsl.middleware import SmartSegMiddleware


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def html_route(path: str, body: bytes | str, **kwargs: Any) -> Route:
    async def endpoint(request: Request) -> Response:
        return Response(body, **{"media_type": "text/html", **kwargs})

    return Route(path, endpoint)


# --------------------------------------------------------------------------- HTML pages


def test_page_without_slots_is_sent_byte_for_byte(rules: Path) -> None:
    body = b"<!doctype html><html><body><p class=x>No slots &amp; odd   spacing</p></body></html>"
    app = make_app(rules, routes=[html_route("/", body, headers={"etag": '"abc"'})])
    response = client(app).get("/")
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["etag"] == '"abc"'  # nothing changed, nothing invalidated


def test_personalized_page_headers(rules: Path) -> None:
    app = make_app(
        rules,
        routes=[
            html_route(
                "/",
                page(),
                headers={
                    "vary": "Accept-Encoding",
                    "cache-control": "public, max-age=60, s-maxage=600",
                    "etag": '"v1"',
                    "last-modified": "Tue, 24 Nov 2026 10:00:00 GMT",
                },
            )
        ],
    )
    response = client(app).get("/?seg=legal")  # explicit signal: certain → headline replaced
    assert "café" in response.text
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["vary"] == "Accept-Encoding, Cookie"
    assert response.headers["cache-control"] == "private, max-age=60"
    assert "etag" not in response.headers
    assert "last-modified" not in response.headers
    assert "smartseg=" in response.headers["set-cookie"]


def test_private_replaces_a_field_restricted_private(rules: Path) -> None:
    app = make_app(
        rules, routes=[html_route("/", page(), headers={"cache-control": 'private="x", no-cache'})]
    )
    response = client(app).get("/")
    assert response.headers["cache-control"] == "private, no-cache"


def test_vary_star_and_existing_cookie_are_kept(rules: Path) -> None:
    app = make_app(
        rules,
        routes=[
            html_route("/star", page(), headers={"vary": "*"}),
            html_route("/cookie", page(), headers={"vary": "cookie, Accept"}),
        ],
    )
    c = client(app)
    assert c.get("/star").headers["vary"] == "*"
    assert c.get("/cookie").headers["vary"] == "cookie, Accept"


def test_set_cookie_only_when_state_changed(rules: Path) -> None:
    app = make_app(rules)
    c = client(app)
    first = c.get("/")
    assert "set-cookie" in first.headers  # a page view always changes the state
    # An API call carrying nothing the rules can observe changes nothing.
    api = c.get("/api")
    assert "set-cookie" not in api.headers
    assert "vary" not in api.headers
    assert "cache-control" not in api.headers
    posted = c.post("/api")
    assert "set-cookie" not in posted.headers


def test_state_change_outside_html_still_sets_cookie(rules: Path) -> None:
    """An API call that tags the visitor carries the new cookie on its JSON response."""
    c = client(make_app(rules))
    c.get("/")
    response = c.get("/hooks?kind=json&tag=lawyer")
    assert response.json() == {"ok": True}
    assert "smartseg=" in response.headers["set-cookie"]
    assert response.headers["vary"] == "Cookie"
    assert response.headers["cache-control"] == "private"
    # … and the next page shows the visitor as a certain lawyer.
    assert "café" in c.get("/").text


def test_head_is_not_a_page_view(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/")  # page view 1
    head = c.head("/article/law")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    # `Returning` needs 3 page views: had HEAD counted, the next page would show it.
    assert "hidden" in slot_html(c.get("/article/x").text, "returning")
    assert "hidden" not in slot_html(c.get("/article/y").text, "returning")


def test_head_content_length_matches_the_body_it_stands_for(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/?seg=legal")  # certain: the headline is replaced from now on
    head = c.head("/article/x")
    get = c.get("/article/x")
    assert "café" in get.text
    assert head.headers["content-length"] == get.headers["content-length"]


def test_charset_from_content_type(rules: Path) -> None:
    body = page().replace("Plain   text", "Plain   caf\u00e9").encode("latin-1")
    app = make_app(
        rules,
        routes=[html_route("/", body, headers={"content-type": "text/html; charset=ISO-8859-1"})],
    )
    response = client(app).get("/?seg=legal")
    assert b"caf\xe9 firms" not in response.content
    assert "café".encode("latin-1") in response.content  # the inserted text, in latin-1
    assert b"Plain   caf\xe9" in response.content  # the app's own bytes, untouched
    assert "café".encode() not in response.content  # no UTF-8 mixed in


def test_utf16_html_is_personalized_in_utf16(rules: Path) -> None:
    body = page().encode("utf-16")
    app = make_app(
        rules,
        routes=[html_route("/", body, headers={"content-type": "text/html; charset=utf-16"})],
    )
    response = client(app).get("/?seg=legal")
    text = response.content.decode("utf-16")
    assert "café" in text
    assert text.startswith(page()[:200])


def test_unknown_charset_is_left_alone(rules: Path) -> None:
    body = page().encode()
    app = make_app(
        rules,
        routes=[html_route("/", body, headers={"content-type": "text/html; charset=x-nope"})],
    )
    assert client(app).get("/?seg=legal").content == body


def test_error_pages_and_post_responses_are_not_rewritten(rules: Path) -> None:
    async def missing(request: Request) -> Response:
        return HTMLResponse(page(), status_code=404)

    async def form(request: Request) -> Response:
        return HTMLResponse(page())

    app = make_app(
        rules, routes=[Route("/missing", missing), Route("/form", form, methods=["POST"])]
    )
    c = client(app)
    c.get("/?seg=legal")
    assert c.get("/missing").text == page()
    assert c.post("/form").text == page()


def test_oversized_html_is_streamed_through_unchanged(rules: Path) -> None:
    chunks = [page().encode()] + [b"<p>filler</p>" * 1000] * 20

    async def big(request: Request) -> Response:
        async def gen() -> Any:
            for chunk in chunks:
                yield chunk

        return StreamingResponse(gen(), media_type="text/html")

    app = make_app(rules, routes=[Route("/", big)], max_html_bytes=50_000)
    response = client(app).get("/?seg=legal")
    assert response.content == b"".join(chunks)
    assert "smartseg=" in response.headers["set-cookie"]  # the visit still counted


# --------------------------------------------------------------------------- passthrough


def test_json_passes_through(rules: Path) -> None:
    c = client(make_app(rules))
    response = c.get("/api")
    assert response.json() == {"ok": True}
    assert response.headers["content-type"] == "application/json"


async def _never() -> dict[str, Any]:
    await anyio.sleep_forever()
    raise AssertionError


def test_streaming_50mb_is_not_buffered(rules: Path) -> None:
    """Chunks are forwarded as produced: the first reaches the client while the
    generator is still running, and memory stays far below the 50 MB sent."""
    chunk = b"\x00" * (64 * 1024)
    count = 800  # 50 MiB
    produced = 0

    async def download(request: Request) -> Response:
        async def gen() -> Any:
            nonlocal produced
            for _ in range(count):
                produced += 1
                yield chunk

        return StreamingResponse(gen(), media_type="application/octet-stream")

    app = make_app(rules, routes=[Route("/download", download)])
    seen = {"bytes": 0, "first_at": None, "start_at": None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["start_at"] = produced
        elif message["type"] == "http.response.body" and message.get("body"):
            if seen["first_at"] is None:
                seen["first_at"] = produced
            seen["bytes"] += len(message["body"])

    async def main() -> None:
        tracemalloc.start()
        try:
            await app(http_scope("/download"), _first_then_wait(), send)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"

    anyio.run(main)
    assert seen["bytes"] == count * len(chunk)
    assert seen["start_at"] == 0  # headers before the body is even produced
    assert seen["first_at"] == 1  # chunk 1 forwarded before chunk 2 was produced


def _first_then_wait() -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError

    return receive


def test_file_response_passes_through(rules: Path, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    target = tmp_path / "report.bin"
    target.write_bytes(data)

    async def file(request: Request) -> Response:
        return FileResponse(target)

    c = client(make_app(rules, routes=[Route("/file", file)]))
    response = c.get("/file")
    assert response.content == data
    assert "etag" in response.headers
    assert "vary" not in response.headers


def test_html_file_response_is_personalized(rules: Path, tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    target.write_text(page(), encoding="utf-8")

    async def file(request: Request) -> Response:
        return FileResponse(target, media_type="text/html")

    response = client(make_app(rules, routes=[Route("/", file)])).get("/?seg=legal")
    assert "café" in response.text
    assert response.headers["content-length"] == str(len(response.content))
    assert "etag" not in response.headers


def test_gzip_encoded_html_passes_through(rules: Path) -> None:
    compressed = gzip.compress(page().encode())
    app = make_app(
        rules,
        routes=[html_route("/", compressed, headers={"content-encoding": "gzip"})],
    )
    raw = Recorder()
    anyio.run(app, http_scope("/", query_string=b"seg=legal"), empty_receive, raw)
    assert raw.body == compressed
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-length"] == str(len(compressed))


def test_behind_gzip_middleware(rules: Path) -> None:
    """SPEC §3.1: GZipMiddleware goes outside; the page is personalized, then compressed."""
    app = make_app(rules, outer=[Middleware(GZipMiddleware, minimum_size=10)])
    response = client(app).get("/?seg=legal", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "café" in response.text
    assert "Cookie" in response.headers["vary"]


def test_websocket_passes_through(rules: Path) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    c = client(make_app(rules, routes=[WebSocketRoute("/ws", echo)]))
    with c.websocket_connect("/ws") as ws:
        ws.send_text("<b>hello</b>")
        assert ws.receive_text() == "<b>hello</b>"


def test_lifespan_passes_through(rules: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    app = make_app(rules, lifespan=lifespan)
    with client(app) as c:
        assert events == ["startup"]
        assert c.get("/api").status_code == 200
    assert events == ["startup", "shutdown"]


def test_unknown_message_types_are_forwarded(rules: Path) -> None:
    """A raw app sending an extension message, on a JSON and on an HTML response."""

    def raw_app(content_type: bytes) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send({"type": "http.response.debug", "info": {"x": 1}})
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", content_type)],
                    "trailers": True,
                }
            )
            await send({"type": "http.response.body", "body": b"<p data-seg-slot=headline>x</p>"})
            await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})

        return app

    for content_type in (b"application/json", b"text/html"):
        recorder = Recorder()
        mw = SmartSegMiddleware(
            raw_app(content_type),
            rules=rules,
            secret_key="k",
            templates=template_env(),
            store=False,
        )
        anyio.run(mw, http_scope("/"), empty_receive, recorder)
        kinds = [m["type"] for m in recorder.messages]
        assert kinds == [
            "http.response.debug",
            "http.response.start",
            "http.response.body",
            "http.response.trailers",
        ]
        assert recorder.messages[-1]["headers"] == [(b"x-t", b"1")]


def test_unknown_message_while_buffering_flushes_the_page(rules: Path) -> None:
    """An HTML response sent as ``http.response.pathsend`` cannot be personalized: the
    held start goes out first, then the message, unchanged."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.pathsend", "path": "/tmp/x.html"})

    recorder = Recorder()
    mw = SmartSegMiddleware(app, rules=rules, secret_key="k", templates=template_env(), store=False)
    anyio.run(mw, http_scope("/"), empty_receive, recorder)
    assert [m["type"] for m in recorder.messages] == [
        "http.response.start",
        "http.response.pathsend",
    ]
    assert recorder.messages[1] == {"type": "http.response.pathsend", "path": "/tmp/x.html"}
    assert "set-cookie" in recorder.headers  # the page view still counted


def test_app_that_never_finishes_its_body_is_flushed(rules: Path) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": b"<p>partial", "more_body": True})

    recorder = Recorder()
    mw = SmartSegMiddleware(app, rules=rules, secret_key="k", templates=template_env(), store=False)
    anyio.run(mw, http_scope("/"), empty_receive, recorder)
    assert recorder.body == b"<p>partial"


def test_app_exception_propagates_without_a_half_sent_response(rules: Path) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("app bug")

    c = client(make_app(rules, routes=[Route("/", boom)]), raise_server_exceptions=False)
    assert c.get("/").status_code == 500
