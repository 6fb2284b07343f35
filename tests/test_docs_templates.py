"""docs/templates.md: its example renders through the middleware exactly as shown, and
what it says about the debug panel's position is what the packaged CSS does."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from middleware_helpers import client
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse
from starlette.routing import Route

from smartseg_dsl.middleware import PACKAGE_TEMPLATES, SmartSegMiddleware

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"^```(\w+) (file=\S+|output)\n(.*?)^```", re.M | re.S)


def blocks() -> dict[str, str]:
    text = (DOCS / "templates.md").read_text(encoding="utf-8")
    return {where.removeprefix("file="): body for _, where, body in _BLOCK.findall(text)}


def test_the_example_renders_as_documented(tmp_path: Path) -> None:
    found = blocks()
    rules = tmp_path / "rules" / "site.seg"
    rules.parent.mkdir()
    rules.write_text(found["rules/site.seg"], encoding="utf-8")
    name = "partials/legal_hero.html"
    env = jinja2.Environment(
        loader=jinja2.DictLoader({name: found[f"templates/{name}"]}), autoescape=True
    )

    async def home(request: object) -> HTMLResponse:
        return HTMLResponse('<main><section data-seg-slot="hero">Generic hero</section></main>')

    app = Starlette(
        routes=[Route("/", home)],
        middleware=[
            Middleware(SmartSegMiddleware, rules=rules, secret_key="k", templates=env, store=False)
        ],
    )
    response = client(app).get("/?seg=legal")
    html = response.text
    inner = html.split('data-seg-slot="hero">', 1)[1].rsplit("</section>", 1)[0]
    token = re.search(r'name="csrf" value="([^"]+)"', inner)
    assert token is not None
    assert inner.replace(token.group(1), "TOKEN") == found["output"].rstrip("\n")
    assert "private" in response.headers["cache-control"]  # the token reads the visitor


def test_debug_panel_position_is_the_documented_one() -> None:
    css = (PACKAGE_TEMPLATES / "smartseg" / "debug.html").read_text(encoding="utf-8")
    rule = re.search(r"#smartseg-debug\{[^}]*\}", css)
    assert rule is not None
    horizontal = "left" if "left:" in rule.group(0) else "right"
    vertical = "bottom" if "bottom:" in rule.group(0) else "top"
    where = f"{vertical} {horizontal}"
    for page in ("templates.md", "middleware.md"):
        text = (DOCS / page).read_text(encoding="utf-8").replace("\n", " ").replace("*", "")
        assert where in text, f"{page} does not say the panel is at the {where}"
        other = f"{vertical} {'right' if horizontal == 'left' else 'left'}"
        assert other not in text
