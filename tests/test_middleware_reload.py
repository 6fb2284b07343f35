"""Rule reloading in dev: changed files are re-read; a broken edit keeps the last good
rules and logs the diagnostics; outside dev the rules are loaded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from middleware_helpers import RULES, client, make_app, write_rules

from smartseg_dsl.loader import RuleSetError, load_ruleset


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


def test_rules_with_errors_never_start(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write_rules(folder, "when nonsense(\n")
    with pytest.raises(RuleSetError):
        client(make_app(folder)).get("/")


def test_compiled_rules_are_accepted(tmp_path: Path) -> None:
    compiled = load_ruleset(write_rules(tmp_path / "rules"))
    assert "café" in client(make_app(compiled)).get("/?seg=legal").text
