"""The built wheel works on its own: installed in a fresh venv, `smartseg check` runs.

This catches what tests run from the checkout cannot: a module or the grammar
missing from the wheel (the grammar is mapped into `smartseg_dsl/grammar/` by
pyproject's hatch `force-include`), or a dependency missing from pyproject.

Dependencies come from the package index pip is configured with; set
SMARTSEG_WHEELHOUSE to a directory of wheels to install with `--no-index
--find-links` instead. Takes about a minute; marked `slow`, and CI runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from smartseg_dsl.loader import check_paths

ROOT = Path(__file__).resolve().parent.parent

VALID = """\
group Industry "Industry" {
    prior 10
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
    }
    segment Retail "Retail" {
        implicit page "/retail/**" weight 2
    }
}

when certain(Industry.Legal) replace slot headline with "Billing built for law firms"
when confidence(Industry.Legal) > 30% show survey "Are you a lawyer?"
order slot testimonials by Industry
"""


#: Run by the wheel's Python: GET / on the demo site through ASGI (no server, no port).
DEMO_FROM_THE_WHEEL = """\
import asyncio, importlib.util, sys
from pathlib import Path
from smartseg_dsl.cli.demo import demo_module, demo_rules_path

assert importlib.util.find_spec("site_example") is None, "a top-level site_example"
rules = demo_rules_path()
app = demo_module("app").create_app(rules_path=str(rules), db_url=sys.argv[1])
sent = []

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

async def send(message):
    sent.append(message)

scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
         "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/",
         "root_path": "", "query_string": b"", "headers": [(b"host", b"demo")],
         "client": ("127.0.0.1", 1), "server": ("demo", 80)}
asyncio.run(app(scope, receive, send))
body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
parts = rules.parts[-3:]
print(sent[0]["status"], b"data-seg-slot" in body, "/".join(parts))
"""


def _env() -> dict[str, str]:
    # Nothing from the checkout may leak in: no PYTHONPATH, no active venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_checks_rules(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT], cwd=tmp_path)
    (wheel,) = dist.glob("smartseg-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "smartseg_dsl/grammar/smartseg.lark" in names
    assert "smartseg_dsl/cli/fmt.py" in names
    # The example site ships inside smartseg's namespace, never as a generic top-level
    # package of site-packages (`site_example` would collide with anyone's).
    assert {name.split("/", 1)[0] for name in names} == {
        "smartseg_dsl",
        wheel.name.split("-py3", 1)[0] + ".dist-info",
    }
    assert "smartseg_dsl/demo_site/app.py" in names
    assert "smartseg_dsl/demo_site/rules/10-groups.seg" in names
    assert not [name for name in names if "__pycache__" in name]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    install: list[str | Path] = [python, "-m", "pip", "install", "-q"]
    wheelhouse = os.environ.get("SMARTSEG_WHEELHOUSE")
    if wheelhouse:
        install += ["--no-index", "--find-links", wheelhouse]
    _run([*install, wheel], cwd=tmp_path)

    # The installed package reads the grammar shipped inside the wheel.
    where = _run(
        [python, "-c", "from smartseg_dsl.parser import grammar_path; print(grammar_path())"],
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where

    smartseg = bindir / "smartseg"
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "industry.seg").write_text(VALID, encoding="utf-8")
    ok = _run([smartseg, "check", rules], cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # formatting a canonical file changes nothing
    fmt = _run([smartseg, "fmt", "--check", rules], cwd=tmp_path, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.seg").write_text(VALID + "when visits > show slot x\n", encoding="utf-8")
    broken = _run([smartseg, "check", bad], cwd=tmp_path, check=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "broken.seg:15:15" in broken.stdout + broken.stderr
    assert "SEG101" in broken.stdout + broken.stderr
    assert "Traceback" not in broken.stderr

    # The demo, from the wheel: no top-level `site_example`, and the site serves its home
    # page with the rules packaged inside it.
    demo = _run([python, "-c", DEMO_FROM_THE_WHEEL, tmp_path / "demo.db"], cwd=tmp_path)
    assert demo.stdout.split() == ["200", "True", "smartseg_dsl/demo_site/rules"], demo.stdout

    # The demo rules, once they exist and check clean from the checkout, check clean
    # from the wheel too.
    demo = ROOT / "rules"
    if any(demo.rglob("*.seg")) and check_paths([demo]).errors == 0:
        result = _run([smartseg, "check", demo], cwd=tmp_path, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
