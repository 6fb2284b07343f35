"""Rule reloading in dev: changed files are re-read; a broken edit keeps the last good
rules and logs the diagnostics; outside dev the rules are loaded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from middleware_helpers import RULES, client, make_app, write_rules

from smartseg_dsl.loader import RuleSetError, load_ruleset
from smartseg_dsl.middleware import SmartSegMiddleware


def bump(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime forward (coarse file-system clocks)."""
    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_dev_reloads_changed_rules(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    path = write_rules(folder)
    c = client(make_app(folder, dev=True, reload_interval=0))
    assert "café" in c.get("/?seg=legal").text
    bump(path, RULES.replace("café", "bistro"))
    assert "bistro" in c.get("/article/a?seg=legal").text
    # a new file in the directory is picked up too
    (folder / "zz.seg").write_text('when tagged("x") hide slot hero\n')
    assert "Default hero" not in c.get("/hooks?tag=x").text


def test_broken_edit_keeps_last_good_rules(tmp_path: Path, caplog: Any) -> None:
    folder = tmp_path / "rules"
    path = write_rules(folder)
    c = client(make_app(folder, dev=True, reload_interval=0))
    assert c.get("/").status_code == 200  # the middleware is built on the first request
    bump(path, RULES + "\nwhen confidence(Industry.Lgal) > 2 show slot x\n")
    response = c.get("/?seg=legal")
    assert response.status_code == 200
    assert "café" in response.text
    assert "keeping the last good rules" in caplog.text
    assert "SEG2" in caplog.text or "SEG3" in caplog.text  # the diagnostics, with codes
    assert "site.seg:" in caplog.text
    # fixing the file is picked up again
    bump(path, RULES.replace("café", "fixed"))
    assert "fixed" in c.get("/article/b?seg=legal").text


def test_no_reload_outside_dev(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    path = write_rules(folder)
    c = client(make_app(folder))
    assert "café" in c.get("/?seg=legal").text
    bump(path, RULES.replace("café", "bistro"))
    assert "café" in c.get("/article/a?seg=legal").text


def test_rules_with_errors_never_start(tmp_path: Path, caplog: Any) -> None:
    folder = tmp_path / "rules"
    write_rules(folder, "when visits > 30 % show slot x\n")
    app = make_app(folder)
    # the lifespan's start-up fails, with the diagnostics as `smartseg check` prints them
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    with pytest.raises(RuleSetError):
        anyio.run(app, {"type": "lifespan", "state": {}}, receive, send)
    assert [m["type"] for m in messages] == ["lifespan.startup.failed"]
    text = messages[0]["message"]
    assert "the app cannot start: its rules do not load" in text
    assert "site.seg:1:18: error SEG104" in text
    assert " 1 | when visits > 30 % show slot x" in text  # the excerpt and its caret
    assert "= help: write 30% instead of 30 %" in text
    assert text.rstrip().endswith("Found 1 error in 1 file.")
    with pytest.raises(RuleSetError), client(app):
        pass  # a test client's lifespan raises it
    # a server without a lifespan: every request is a plain 500, logged once a minute
    c = client(app)
    for _ in range(3):
        response = c.get("/")
        assert response.status_code == 500
        assert "rules did not load" in response.text
    assert caplog.text.count("the app cannot start") == 1


def test_relative_rules_path_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mw = SmartSegMiddleware(make_app(tmp_path).router, rules="rules/", secret_key="k")
    assert mw.startup_error is not None
    assert "SEG107 rules: no such file or directory" in mw.startup_error
    assert f"relative to the current directory ({tmp_path})" in mw.startup_error
    assert 'rules=pathlib.Path(__file__).parent / "rules"' in mw.startup_error
    absolute = SmartSegMiddleware(make_app(tmp_path).router, rules=tmp_path / "no", secret_key="k")
    assert absolute.startup_error is not None
    assert "pathlib" not in absolute.startup_error  # the hint is for relative paths only


def test_compiled_rules_are_accepted(tmp_path: Path) -> None:
    compiled = load_ruleset(write_rules(tmp_path / "rules"))
    assert "café" in client(make_app(compiled)).get("/?seg=legal").text
