"""The partial-render cache (partials.py): a hit is byte for byte a fresh render.

Every `with template` partial of the demo site is rendered for visitors of random
journeys through the demo rules, once through the cache and once fresh; the outputs
must be identical, and the cache must hit (many visitors give the same answers).
Templates that could read anything else are never cached.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import jinja2
import pytest
from engine_helpers import T0, Visitor, demo_rules
from hypothesis import given, settings
from hypothesis import strategies as st
from middleware_helpers import RULES, SECRET, pages_routes, template_env, write_rules
from starlette.applications import Starlette
from starlette.testclient import TestClient

from smartseg_dsl.middleware import SmartSegMiddleware
from smartseg_dsl.partials import PartialCache, Tracer

ROOT = Path(__file__).resolve().parent.parent
PARTIALS = sorted(
    f"partials/{p.name}" for p in (ROOT / "site_example" / "templates" / "partials").iterdir()
)


def demo_env() -> jinja2.Environment:
    from site_example.app import make_env

    return make_env()


def through_cache(cache: PartialCache, env: jinja2.Environment, name: str, view: Any) -> str:
    template = env.get_template(name)
    assert cache.cacheable(env, name, template), name
    found = cache.get(template, view)
    if found is not None:
        return found
    tracer = Tracer(view)
    html = template.render(visitor=tracer)
    cache.put(template, tracer, html)
    return html


PAGES = ["/", "/pricing", "/blog/trust-accounting-basics", "/legal/", "/cart", "/healthcare/"]
CATEGORIES = [[], ["law"], ["health"], ["hotels"], ["law", "trust-accounting"]]


def random_views(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    rules = demo_rules()
    views = []
    for _ in range(count):
        v = Visitor(rules, start=T0 + rng.randrange(86400))
        for _ in range(rng.randrange(1, 8)):
            v.wait(rng.choice([5, 60, 3600, 86400 * 3]))
            if rng.random() < 0.15:
                v.request(tags=(rng.choice(["lawyer", "customer", "doctor"]),))
            else:
                v.page(rng.choice(PAGES), categories=rng.choice(CATEGORIES))
        assert v.last is not None
        views.append(v.last.view)
    return views


@pytest.mark.parametrize("name", PARTIALS)
def test_every_demo_partial_is_cacheable_and_exact(name: str) -> None:
    env = demo_env()
    cache = PartialCache()
    template = env.get_template(name)
    for view in random_views(hash(name) % 1000, 120):
        assert through_cache(cache, env, name, view) == template.render(visitor=view)
    assert cache.hits > 0, "120 visitors never gave the same answers twice"


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_one_cache_for_all_partials_stays_exact(seed: int) -> None:
    env = demo_env()
    cache = PartialCache(max_entries=20, max_bytes=40_000)  # small: evictions happen
    rng = random.Random(seed)
    for view in random_views(seed, 15):
        name = rng.choice(PARTIALS)
        assert through_cache(cache, env, name, view) == env.get_template(name).render(visitor=view)
        assert cache._entries <= 20 and cache._bytes <= 40_000


def test_templates_that_read_more_than_visitor_are_never_cached() -> None:
    env = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "request.html": "{{ request.url.path }}",
                "smartseg.html": "{{ smartseg.csrf_token }}",
                "random.html": "{{ [1, 2, 3] | random }}",
                "lipsum.html": "{{ lipsum(1) }}",
                "ctx.html": "{{ peek() }}",
                "includes.html": "{% include 'request.html' %}",
                "dynamic.html": "{% include visitor.most_likely('G') ~ '.html' %}",
                "fine.html": "{% set x = visitor.certain('G.S') %}{{ x }} {{ [3, 1] | sort }}",
                "imports.html": "{% from 'macros.html' import m %}{{ m(visitor.known('G')) }}",
                "macros.html": "{% macro m(v) %}<b>{{ v }}</b>{% endmacro %}",
            }
        )
    )

    @jinja2.pass_context
    def peek(context: Any) -> str:
        return str(context.get("request"))

    env.globals["peek"] = peek
    cache = PartialCache()
    verdicts = {
        n: cache.cacheable(env, n, env.get_template(n)) for n in env.loader.list_templates()
    }  # type: ignore[union-attr]
    assert verdicts == {
        "request.html": False,
        "smartseg.html": False,
        "random.html": False,
        "lipsum.html": False,
        "ctx.html": False,
        "includes.html": False,
        "dynamic.html": False,
        "fine.html": True,
        "imports.html": True,
        "macros.html": True,
    }


class _View:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def most_likely(self, group: str) -> Any:
        return self.answers[group]


def test_a_reloaded_template_starts_a_new_tree_and_types_are_kept_apart() -> None:
    source = {"t.html": "{{ visitor.most_likely('G') }}"}
    env = jinja2.Environment(loader=jinja2.DictLoader(source), auto_reload=True, cache_size=0)
    cache = PartialCache()
    assert through_cache(cache, env, "t.html", _View({"G": 1})) == "1"
    assert through_cache(cache, env, "t.html", _View({"G": 1.0})) == "1.0"  # 1 == 1.0
    assert through_cache(cache, env, "t.html", _View({"G": True})) == "True"
    source["t.html"] = "<{{ visitor.most_likely('G') }}>"
    assert through_cache(cache, env, "t.html", _View({"G": 1})) == "<1>"


def test_answers_are_told_apart_by_what_they_print() -> None:
    """Equal is not enough: (1, 2) and [1.0, 2] are equal to [1, 2] but print otherwise,
    as 0.0 and -0.0 do; a set prints in an order its value does not fix."""
    source = {"t.html": "{{ visitor.most_likely('G') }}"}
    env = jinja2.Environment(loader=jinja2.DictLoader(source))
    cache = PartialCache()
    answers: list[Any] = [[1, 2], (1, 2), [1, 2], [1.0, 2], (1, 2), 0.0, -0.0, 0.0, {"a": 1}]
    answers += [{"a": 1.0}, {"a": 1}, {"x"}, {"x"}, float("nan"), float("nan")]
    outputs = [through_cache(cache, env, "t.html", _View({"G": a})) for a in answers]
    assert outputs == [str(a) for a in answers]
    # hits: the second [1, 2], (1, 2), 0.0, {"a": 1} and nan; sets are never stored
    assert cache.hits == 5
    assert cache.get(env.get_template("t.html"), _View({"G": {"x"}})) is None


def test_a_call_with_keyword_arguments_is_never_stored() -> None:
    """A call made with keywords is not recorded as replayable: the render is kept out."""
    source = {"t.html": "{{ visitor.most_likely(group='G') }}"}
    env = jinja2.Environment(loader=jinja2.DictLoader(source))
    cache = PartialCache()
    outputs = [through_cache(cache, env, "t.html", _View({"G": "Legal"})) for _ in range(3)]
    assert outputs == ["Legal"] * 3
    assert (cache.hits, cache.misses) == (0, 3)


def test_the_middleware_serves_hits_identical_to_renders(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", RULES)

    def app(**options: Any) -> SmartSegMiddleware:
        return SmartSegMiddleware(
            Starlette(routes=pages_routes()),
            rules=rules,
            secret_key=SECRET,
            templates=template_env(),
            store=False,
            **options,
        )

    cached, plain = app(), app(partial_cache=False)
    assert plain.partials is None and cached.partials is not None
    bodies: dict[str, list[str]] = {"cached": [], "plain": []}
    for name, mw in (("cached", cached), ("plain", plain)):
        with TestClient(mw) as client:
            for _ in range(3):
                client.cookies.clear()
                bodies[name].append(client.get("/hooks?plan=pro").text)
    assert bodies["cached"] == bodies["plain"]
    assert "pro" in bodies["cached"][0].lower()
    assert cached.partials.hits >= 2 and cached.partials.misses == 1


def test_printing_the_visitor_itself_is_an_answer_too() -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.html": "<{{ visitor }}>"}))
    cache = PartialCache()
    assert through_cache(cache, env, "t.html", _View({"G": 1})).startswith("<<")
    one, two = _View({"G": 1}), _View({"G": 2})
    one.__class__ = type("One", (_View,), {"__str__": lambda self: "one"})
    two.__class__ = type("Two", (_View,), {"__str__": lambda self: "two"})
    assert through_cache(cache, env, "t.html", one) == "<one>"
    assert through_cache(cache, env, "t.html", two) == "<two>"
    assert through_cache(cache, env, "t.html", one) == "<one>" and cache.hits >= 1
