"""Fail-open (SPEC §3.1): whatever breaks inside the middleware, the app's original
page is delivered and the failure is logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import client, make_app, page, write_rules
from starlette.applications import Starlette

from smartseg_dsl import engine, rewrite
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.middleware import SmartSegMiddleware


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (rewrite, "rewrite"),
        (rewrite, "has_slots"),
        (rewrite, "page_categories"),
        (engine.Engine, "step"),
    ],
)
def test_internal_failure_delivers_the_original_page(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any, target: Any, name: str
) -> None:
    c = client(make_app(rules))
    monkeypatch.setattr(target, name, boom)
    response = c.get("/?seg=legal")
    assert response.status_code == 200
    assert response.text == page()
    assert response.headers["content-length"] == str(len(page().encode()))
    assert "injected failure" in caplog.text


def test_engine_failure_on_passthrough_and_in_handlers(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    c = client(make_app(rules))
    monkeypatch.setattr(engine.Engine, "step", boom)
    assert c.get("/hooks?kind=json&tag=lawyer").json() == {"ok": True}
    # request.state.smartseg answers as for a visitor we know nothing about
    assert c.get("/state").json() == {
        "legal": 0.0,
        "certain": False,
        "most_likely": None,
        "known": False,
    }
    assert "injected failure" in caplog.text


def test_cookie_encoding_failure_still_personalizes(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    c = client(make_app(rules))
    monkeypatch.setattr(CookieCodec, "dumps", boom)
    response = c.get("/?seg=legal")
    assert "café" in response.text
    assert "set-cookie" not in response.headers
    assert "cookie not updated" in caplog.text


def test_failed_survey_render_leaves_other_slots(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from middleware_helpers import template_env

    env = template_env({"smartseg/survey.html": "{% include 'missing.html' %}"})
    html = client(make_app(rules, templates=env)).get("/article/law").text
    assert '<div data-seg-slot="survey" hidden></div>' in html
    assert "slot 'survey'" in caplog.text


def test_endpoint_failure_is_a_clean_500(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from middleware_helpers import csrf_of

    c = client(make_app(rules))
    token = csrf_of(c.get("/article/law").text)
    monkeypatch.setattr(engine.Engine, "step", boom)
    response = c.post(
        "/smartseg/answer",
        data={"about": "Industry.Legal", "answer": "yes", "csrf": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error": "something went wrong on our side; nothing was recorded",
    }
    assert "set-cookie" not in response.headers


def test_missing_template_refuses_to_start(rules: Path, caplog: Any) -> None:
    import jinja2

    from smartseg_dsl.loader import RuleSetError

    app = make_app(rules, templates=jinja2.Environment(loader=jinja2.DictLoader({})))
    with pytest.raises(RuleSetError) as raised, client(app):
        pass
    assert [d.code for d in raised.value.diagnostics] == ["SEG208"]
    mw = _middleware(app)
    assert mw.startup_error is not None
    assert "a rule names a template that cannot be loaded" in mw.startup_error
    assert "error SEG208 template `partials/pro_hero.html` not found" in mw.startup_error
    assert "looked in a DictLoader of 0 template(s), then smartseg's own" in mw.startup_error
    assert 'with template "partials/pro_hero.html"' in mw.startup_error  # the excerpt
    assert "pass templates=" not in mw.startup_error  # it was passed


def test_missing_template_without_templates_says_to_pass_them(tmp_path: Path) -> None:
    from middleware_helpers import SECRET

    from smartseg_dsl.middleware import SmartSegMiddleware

    mw = SmartSegMiddleware(
        make_app(tmp_path).router, rules=write_rules(tmp_path / "r"), secret_key=SECRET
    )
    assert mw.startup_error is not None
    assert "pass templates=your_jinja_env" in mw.startup_error


def test_broken_template_refuses_to_start(rules: Path) -> None:
    from middleware_helpers import template_env

    app = make_app(rules, templates=template_env({"partials/pro_hero.html": "{% if %}"}))
    client(app).get("/")
    mw = _middleware(app)
    assert mw.startup_error is not None
    assert "template `partials/pro_hero.html` does not compile" in mw.startup_error


def test_template_error_at_run_time_is_logged_once_a_minute(
    rules: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A template that loaded at start-up and fails later (deleted, or an error while
    rendering): one log line per template per minute, not one traceback per request."""
    from middleware_helpers import template_env

    from smartseg_dsl import middleware

    env = template_env({"partials/pro_hero.html": "<p>{{ visitor.nonsense() }}</p>"})
    c = client(make_app(rules, templates=env))
    clock = [1000.0]
    monkeypatch.setattr(middleware, "_log_clock", lambda: clock[0])
    for _ in range(5):
        html = c.get("/hooks?plan=pro").text
        assert "<p>Default hero</p>" in html  # the slot is left as the page has it
    failures = [r for r in caplog.records if "partials/pro_hero.html" in r.getMessage()]
    assert len(failures) == 1
    assert "logged once a minute" in failures[0].getMessage()
    clock[0] += 61
    c.get("/hooks?plan=pro")
    failures = [r for r in caplog.records if "partials/pro_hero.html" in r.getMessage()]
    assert len(failures) == 2


def _middleware(app: Any) -> Any:
    from smartseg_dsl.middleware import SmartSegMiddleware

    layer = app.middleware_stack
    while not isinstance(layer, SmartSegMiddleware):
        layer = layer.app
    return layer


def test_a_store_that_is_not_an_answer_bank_is_refused_at_start(rules: Path) -> None:
    """Not silently replaced by ./smartseg.db: the developer hears what is missing."""

    class HalfStore:
        description = "half"

        def record_answer(self, *args: Any) -> None: ...

    with pytest.raises(TypeError, match=r"not an answer bank.*missing: .*write_events"):
        SmartSegMiddleware(Starlette(), rules=rules, secret_key="k", store=HalfStore())
    with pytest.raises(TypeError, match="not an answer bank"):
        SmartSegMiddleware(Starlette(), rules=rules, secret_key="k", store=42)


def test_a_path_object_is_the_database_path(rules: Path, tmp_path: Path) -> None:
    import anyio

    db = tmp_path / "answers.db"
    mw = SmartSegMiddleware(Starlette(), rules=rules, secret_key="k", store=db)
    store = anyio.run(mw._get_store)
    try:
        assert store is not None and store.description.endswith("answers.db")
        assert db.is_file()  # the bank is where the Path says, not ./smartseg.db
    finally:
        assert store is not None
        store.close()
