"""Security by default: escaping of everything rules and visitors supply, CSRF on every
POST, no open redirects, signed cookies, no PII in them, never a 500 for bad input."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from itsdangerous import TimestampSigner
from middleware_helpers import (
    SECRET,
    Recorder,
    client,
    csrf_of,
    empty_receive,
    http_scope,
    make_app,
    pages_routes,
    slot_html,
    template_env,
    write_rules,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import smartseg_dsl
from smartseg_dsl.csrf import CsrfError, CsrfTokens
from smartseg_dsl.middleware import SmartSegMiddleware, _safe_next

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def fresh_token(c: Any) -> str:
    return csrf_of(c.get("/article/law").text)


# --------------------------------------------------------------------------- escaping


def test_rule_strings_are_escaped(rules: Path) -> None:
    html = client(make_app(rules)).get("/?seg=legal").text
    assert (
        '<h1 data-seg-slot="headline" class=hero-title>'
        "Billing for &lt;law&gt; firms &amp; &#34;partners&#34; café</h1>" in html
    )
    survey = slot_html(client(make_app(rules)).get("/article/law").text, "survey")
    assert "&lt;lawyer&gt;" in survey and "<lawyer>" not in survey


def test_query_values_are_escaped_in_the_survey_form(rules: Path) -> None:
    c = client(make_app(rules))
    html = c.get("/article/law", params={"q": XSS}).text
    assert "<script>alert" not in html
    assert "onerror=alert(2)>" not in html
    assert 'name="next" value="/article/law?q=' in html


def test_raw_query_string_is_escaped_in_the_survey_form(rules: Path) -> None:
    """A client that does not percent-encode: the raw bytes reach `next` escaped."""
    app = make_app(rules)
    for _ in range(2):  # first render, then the cached widget
        recorder = Recorder()
        scope = http_scope("/article/law", query_string=b'q="><script>alert(1)</script>')
        anyio.run(app, scope, empty_receive, recorder)
        html = recorder.body.decode()
        assert "<script>alert" not in html
        assert 'value="/article/law?q=&#34;&gt;&lt;script&gt;' in html


def test_tags_and_attributes_never_reach_html_unescaped(rules: Path) -> None:
    async def handler(request: Request) -> Response:
        smartseg_dsl.tag(request, XSS)
        smartseg_dsl.set_attribute(request, "plan", XSS)
        smartseg_dsl.track(request, XSS)
        return HTMLResponse('<p data-seg-slot="hero">x</p>')

    env_html = client(make_app(rules, routes=[Route("/", handler)], dev=True)).get(
        "/?smartseg_debug=1"
    )
    assert env_html.status_code == 200
    assert "<script>alert" not in env_html.text


def test_survey_fields_are_escaped_in_error_pages(rules: Path) -> None:
    c = client(make_app(rules))
    token = fresh_token(c)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry." + "<b>x</b>", "answer": "yes", "csrf": token, "next": XSS},
    )
    assert response.status_code == 400
    assert "<b>x</b>" not in response.text
    assert "<script>" not in response.text
    assert 'href="/"' in response.text  # the unsafe `next` became the home page


# --------------------------------------------------------------------------- CSRF


def test_post_without_csrf_is_refused(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/article/law")
    for endpoint, data in (
        ("answer", {"about": "Industry.Legal", "answer": "yes"}),
        ("dismiss", {"about": "Industry.Legal"}),
        ("forget", {}),
    ):
        response = c.post(
            f"/smartseg/{endpoint}", data=data, headers={"accept": "application/json"}
        )
        assert response.status_code == 403, endpoint
        assert "CSRF" in response.json()["error"]
        assert "set-cookie" not in response.headers
    assert c.get("/state").json()["certain"] is False


def test_post_without_cookie_is_refused(rules: Path) -> None:
    c = client(make_app(rules))
    token = fresh_token(c)
    c.cookies.clear()
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
    )
    assert response.status_code == 403
    assert "cookie" in response.text


def test_token_of_another_visitor_is_refused(rules: Path) -> None:
    alice, mallory = client(make_app(rules)), client(make_app(rules))
    alice.get("/article/law")
    token = fresh_token(mallory)
    response = alice.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 403
    assert "another visitor" in response.json()["error"]
    assert alice.get("/state").json()["certain"] is False


def test_expired_token_is_refused(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = client(make_app(rules))
    three_days_ago = int(time.time()) - 3 * 86400
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: three_days_ago)
        token = fresh_token(c)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 403
    assert "expired" in response.json()["error"]


def test_forged_or_garbage_tokens_are_refused(rules: Path) -> None:
    c = client(make_app(rules))
    real = fresh_token(c)
    forged = CsrfTokens("other-key").issue(real.split(".")[0])
    for token in (forged, real[:-2] + "xx", "é" * 10, "x" * 600, real + "."):
        response = c.post(
            "/smartseg/answer",
            data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        )
        assert response.status_code in (400, 403), token


def test_csrf_tokens_unit() -> None:
    tokens = CsrfTokens(["old", "new"])
    token = tokens.issue("visitor-1")
    tokens.verify(token, "visitor-1")
    CsrfTokens(["new"]).verify(token, "visitor-1")  # the last key signs
    with pytest.raises(CsrfError, match="invalid"):
        CsrfTokens(["old"]).verify(token, "visitor-1")
    with pytest.raises(CsrfError, match="another visitor"):
        tokens.verify(token, "visitor-2")
    with pytest.raises(CsrfError, match="no visitor cookie"):
        tokens.verify(token, None)
    with pytest.raises(CsrfError, match="no CSRF token"):
        tokens.verify("", "visitor-1")
    with pytest.raises(ValueError):
        CsrfTokens([])


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "http://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        " /evil",
        "evil.example",
        "",
        "data:text/html,<script>alert(1)</script>",
        "/" + "a" * 3000,
        "///evil.example",
    ],
)
def test_next_only_goes_to_same_site_paths(rules: Path, target: str) -> None:
    c = client(make_app(rules))
    token = fresh_token(c)
    response = c.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token, "next": target},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_non_ascii_next_is_percent_encoded(rules: Path) -> None:
    c = client(make_app(rules))
    token = fresh_token(c)
    response = c.post(
        "/smartseg/dismiss",
        data={"about": "Industry.Legal", "csrf": token, "next": '/café?q="x"'},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/caf%C3%A9?q=%22x%22"


def test_same_site_next_is_kept() -> None:
    assert _safe_next("/pricing?plan=pro#top") == "/pricing?plan=pro#top"
    assert _safe_next("/a/b") == "/a/b"
    assert _safe_next("//x", "/app") == "/app/"
    assert _safe_next("/%2F%2Fevil.example") == "/%2F%2Fevil.example"  # a path, not a host


# --------------------------------------------------------------------------- cookies


def test_tampered_cookie_gives_a_normal_page(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/?seg=legal")
    value = c.cookies["smartseg"]
    for bad in (value[:-3] + "abc", value[::-1], "garbage", "", "a" * 5000, '"quoted"'):
        c.cookies.clear()
        c.cookies.set("smartseg", bad)
        response = c.get("/")
        assert response.status_code == 200
        assert "café" not in response.text  # a new visitor, not a lawyer
        assert "smartseg=" in response.headers["set-cookie"]


def test_cookie_signed_with_another_key_is_a_new_visitor(rules: Path) -> None:
    c = client(make_app(rules))
    c.get("/?seg=legal")
    foreign = Starlette(
        routes=pages_routes(),
        middleware=[
            Middleware(
                SmartSegMiddleware,
                rules=rules,
                secret_key="other",
                templates=template_env(),
                store=False,
            )
        ],
    )
    c2 = client(foreign)
    c2.cookies.set("smartseg", c.cookies["smartseg"])
    assert c2.get("/state").json()["certain"] is False


def test_key_rotation(rules: Path) -> None:
    old = client(make_app(rules))
    old.get("/?seg=legal")
    rotated = Starlette(
        routes=pages_routes(),
        middleware=[
            Middleware(
                SmartSegMiddleware,
                rules=rules,
                secret_key=[SECRET, "new"],
                templates=template_env(),
                store=False,
            )
        ],
    )
    c = client(rotated)
    c.cookies.set("smartseg", old.cookies["smartseg"])
    assert c.get("/state").json()["certain"] is True


def test_cookie_flags(rules: Path) -> None:
    header = client(make_app(rules)).get("/").headers["set-cookie"]
    parts = [p.strip().lower() for p in header.split(";")]
    assert "httponly" in parts and "samesite=lax" in parts and "path=/" in parts
    assert "max-age=31536000" in parts
    assert "secure" not in parts
    secure = client(make_app(rules, https_only=True, max_age=3600), base_url="https://testserver")
    parts = [p.strip().lower() for p in secure.get("/").headers["set-cookie"].split(";")]
    assert "secure" in parts and "max-age=3600" in parts


def test_bad_headers_and_queries_never_500(rules: Path) -> None:
    c = client(make_app(rules))
    for headers in (
        {"referer": "::::not a url"},
        {"referer": "http://[bad"},
        {"user-agent": "\u00ff".encode("latin-1") * 1000},
        {"cookie": "smartseg=" + "%" * 100},
        {"sec-gpc": "garbage", "dnt": "2"},
        {"host": "[::1"},
    ):
        assert c.get("/", headers=headers).status_code == 200, headers
    for query in (
        "?%ff%fe=1",
        "?seg=%00",
        "?" + "&".join(f"a{i}=1" for i in range(500)),
        "?smartseg_t=garbage",
        "?smartseg_preview=x.y.z",
        "?smartseg_as=<x>",
    ):
        assert c.get("/" + query).status_code == 200, query


def test_personalized_pages_are_never_publicly_cacheable(rules: Path) -> None:
    c = client(make_app(rules))
    for path in ("/", "/?seg=legal", "/article/law"):
        response = c.get(path)
        assert response.headers["cache-control"].startswith("private")
        assert "Cookie" in response.headers["vary"]
