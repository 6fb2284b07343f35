"""Rules that do not load stop the app under real servers, with their default settings.

Each test writes a small Starlette app and its rules into a temporary folder and starts
a real server in a subprocess: uvicorn (default `--lifespan auto`), hypercorn and
granian. The server must exit by itself (not serve 500s), and print the diagnostics as
`smartseg check` does, with a fix for the commonest mistake: a relative rules path
started from another directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

APP = """\
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse
from starlette.routing import Route
from smartseg_dsl.middleware import SmartSegMiddleware

async def home(request):
    return HTMLResponse('<h1 data-seg-slot="headline">Hello</h1>')

templates = jinja2.Environment(loader=jinja2.FileSystemLoader({templates!r}))
app = Starlette(routes=[Route("/", home)], middleware=[
    Middleware(SmartSegMiddleware, rules={rules!r}, secret_key="k", store=False,
               templates=templates),
])
"""

GROUP = 'group Industry {\n    segment Legal { explicit tag "lawyer" }\n}\n'
BROKEN = GROUP + "when confidence(Industry.Legal) > 30 % show slot headline\n"
GOOD = GROUP + "when certain(Industry.Legal) show slot headline\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site(tmp_path: Path, rules_text: str, *, rules: str = "rules/") -> Path:
    folder = tmp_path / "site"
    (folder / "rules").mkdir(parents=True)
    (folder / "templates").mkdir()
    (folder / "rules" / "site.seg").write_text(rules_text, encoding="utf-8")
    (folder / "app.py").write_text(
        APP.format(rules=rules, templates=str(folder / "templates")), encoding="utf-8"
    )
    return folder


def serve(command: list[str], cwd: Path, app_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(app_dir), str(ROOT)]),
        "PYTHONUNBUFFERED": "1",  # granian's worker exits without flushing its output
    }
    try:
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as exc:  # it started and served: the bug
        pytest.fail(f"{command[0]} did not exit: the app started\n{exc.stderr!r}")


def uvicorn(port: int) -> list[str]:
    return [str(BIN / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port)]


def test_uvicorn_default_settings_refuse_broken_rules(tmp_path: Path) -> None:
    folder = site(tmp_path, BROKEN)
    done = serve(uvicorn(free_port()), folder, folder)
    assert done.returncode != 0
    err = done.stderr
    assert "Application startup complete" not in err
    assert "appears unsupported" not in err
    assert "the app cannot start: its rules do not load" in err
    # the checker's text format: location, severity, code, excerpt, caret, help, summary
    assert "rules/site.seg:4:38: error SEG104 " in err
    assert " 4 | when confidence(Industry.Legal) > 30 % show slot headline" in err
    assert re.search(r"^ +\| {38}\^$", err, re.M)
    assert "= help: write 30% instead of 30 %" in err
    assert "Found 1 error in 1 file." in err
    assert "Application startup failed. Exiting." in err


def test_relative_rules_path_from_another_directory(tmp_path: Path) -> None:
    folder = site(tmp_path, GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = serve(uvicorn(free_port()), elsewhere, folder)
    assert done.returncode != 0
    assert "error SEG107 rules: no such file or directory" in done.stderr
    assert f"relative to the current directory ({elsewhere})" in done.stderr
    assert 'rules=pathlib.Path(__file__).parent / "rules"' in done.stderr
    # started from the site's folder, the same app serves
    assert "Application startup failed" in done.stderr


def test_missing_template_refuses_to_start(tmp_path: Path) -> None:
    folder = site(
        tmp_path,
        GROUP + 'when certain(Industry.Legal) replace slot headline with template "h.html"\n',
    )
    done = serve(uvicorn(free_port()), folder, folder)
    assert done.returncode != 0
    assert "a rule names a template that cannot be loaded" in done.stderr
    assert "error SEG208 template `h.html` not found" in done.stderr
    assert f"looked in {folder / 'templates'}/" in done.stderr


@pytest.mark.parametrize("server", ["hypercorn", "granian"])
def test_other_servers_refuse_broken_rules(server: str, tmp_path: Path) -> None:
    folder = site(tmp_path, BROKEN)
    port = str(free_port())
    if server == "hypercorn":
        command = [str(BIN / "hypercorn"), "app:app", "--bind", f"127.0.0.1:{port}"]
    else:
        command = [str(BIN / "granian"), "--interface", "asgi", "--port", port, "app:app"]
    done = serve(command, folder, folder)
    # hypercorn 0.18 exits with status 0 after a failed start-up; it does exit
    if server == "granian":
        assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "rules/site.seg:4:38: error SEG104 " in output
    assert " 4 | when confidence(Industry.Legal) > 30 % show slot headline" in output
