"""Every registered code has a docs page, and every page's examples are true.

A page `docs/codes/SEGnnn.md` has a `## Bad` and a `## Good` section, each with
one fenced block whose info string starts with `seg`. Options after `seg`:
`encoding=latin-1` writes the block in that encoding (to show SEG107), and
`repeat=N` repeats the block N times with `{n}` replaced by 1…N (to show a rule
set too large for the cookie without printing 200 lines), and `templates=a.html,b.html`
checks the rules against a template folder holding those (empty) files, as
`smartseg check --templates` does (SEG208). The bad example must produce its code;
the good one must produce no diagnostic at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smartseg_dsl.diagnostics import CODES
from smartseg_dsl.loader import check_paths
from smartseg_dsl.templates_check import check_templates, folder_environment

DOCS = Path(__file__).resolve().parent.parent / "docs" / "codes"
_BLOCK = re.compile(r"^## (Bad|Good)\s*\n.*?^```(seg[^\n]*)\n(.*?)^```", re.M | re.S)


def examples(code: str) -> dict[str, tuple[str, str]]:
    text = (DOCS / f"{code}.md").read_text(encoding="utf-8")
    return {m.group(1): (m.group(2), m.group(3)) for m in _BLOCK.finditer(text)}


def options_of(info: str) -> dict[str, str]:
    return dict(opt.split("=", 1) for opt in info.split()[1:])


def materialise(info: str, body: str, directory: Path) -> Path:
    options = options_of(info)
    if "repeat" in options:
        body = "".join(body.replace("{n}", str(n)) for n in range(1, int(options["repeat"]) + 1))
    path = directory / "example.seg"
    path.write_bytes(body.encode(options.get("encoding", "utf-8")))
    return path


def codes_of(path: Path, info: str = "seg") -> list[str]:
    result = check_paths([path])
    codes = [d.code for d in result.diagnostics]
    templates = options_of(info).get("templates")
    if templates is not None:
        folder = path.parent / "templates"
        for name in filter(None, templates.split(",")):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("", encoding="utf-8")
        env = folder_environment([folder])
        codes += [d.code for d in check_templates(result.ruleset, env)]
    return codes


def test_every_code_has_a_page() -> None:
    pages = {p.stem for p in DOCS.glob("SEG*.md")}
    assert pages == set(CODES), (
        f"missing pages: {sorted(set(CODES) - pages)}, stray pages: {sorted(pages - set(CODES))}"
    )


def test_index_lists_every_code() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for code, info in CODES.items():
        assert f"[{code}]({code}.md) | {info.name} | {info.severity} |" in index


@pytest.mark.parametrize("code", list(CODES))
def test_page_structure(code: str) -> None:
    text = (DOCS / f"{code}.md").read_text(encoding="utf-8")
    info = CODES[code]
    assert text.startswith(f"# {code} — {info.name}\n")
    assert f"**Severity:** {info.severity}" in text
    assert "## Silencing" in text
    assert set(examples(code)) == {"Bad", "Good"}


@pytest.mark.parametrize("code", list(CODES))
def test_bad_example_produces_the_code(code: str, tmp_path: Path) -> None:
    info, body = examples(code)["Bad"]
    found = codes_of(materialise(info, body, tmp_path), info)
    assert code in found, f"{code}'s bad example gives {found}"


@pytest.mark.parametrize("code", list(CODES))
def test_good_example_is_clean(code: str, tmp_path: Path) -> None:
    info, body = examples(code)["Good"]
    found = codes_of(materialise(info, body, tmp_path), info)
    assert found == [], f"{code}'s good example gives {found}"
