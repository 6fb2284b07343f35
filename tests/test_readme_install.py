"""README: what a newcomer copies works — the `make` targets it names, the extras it
installs, the commands of its table."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "dev"),
    [
        (["demo"], False),
        (["demo-dev"], True),
        (["demo", "DEV=1"], True),
        (["demo", "DEV=0"], False),
    ],
)
def test_make_demo_targets(args: list[str], dev: bool) -> None:
    make = shutil.which("make")
    assert make is not None, "make is needed (README: you need Python 3.11+ and make)"
    plan = subprocess.run(
        [make, "-n", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout
    (line,) = [x for x in plan.splitlines() if "smartseg demo" in x]
    assert line.split("smartseg demo", 1)[1].split() == (["--dev"] if dev else [])


def test_readme_says_how_to_get_the_dev_demo() -> None:
    assert "make demo-dev" in README and "make demo DEV=1" in README
    header = next(line for line in README.splitlines() if "?smartseg_debug=1` |" in line)
    assert "make demo-dev" in header


def test_readme_install_section_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "## Install it in your own site" in README
    for extra in re.findall(r"pip install 'smartseg\[(\w+)\]'", README):
        assert extra in project["optional-dependencies"]
    assert "pip install 'smartseg[postgres]'" in README
    assert f"smartseg-{project['version']}-py3-none-any.whl" in README
