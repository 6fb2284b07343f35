"""`smartseg check` in CI: the configuration file (levels, excluded paths, discovery)
and the JUnit XML report (its shape checked element by element, and a snapshot).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from smartseg_dsl.cli import main
from smartseg_dsl.config import Config, ConfigError, discover_config, load_config

GROUP = """\
group Industry {
    segment Legal { explicit tag "lawyer" }
}
"""
FILES = {
    "rules/a.seg": GROUP + "audience Unused = visits > 3\n",
    "rules/b.seg": "when certain(Industry.Legl) show slot a\nwhen visits < 1 show slot b\n",
    "rules/drafts/c.seg": "when nope show slot c\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(root: Path, *args: str) -> tuple[int, str, str]:
    old = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(main, ["check", *args])
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def codes(out: str) -> list[str]:
    return [
        line.split()[2] for line in out.splitlines() if ": error SEG" in line or ": warn" in line
    ]


# ---------------------------------------------------------------- configuration


def test_without_a_config_everything_is_checked(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    code, out, _ = run(tmp_path, "rules")
    assert code == 1
    assert codes(out) == ["SEG406", "SEG201", "SEG401", "SEG204"]


def test_pyproject_levels_and_exclude(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\n\n[tool.smartseg]\nexclude = ["rules/drafts/**"]\n\n'
        '[tool.smartseg.codes]\nSEG406 = "off"\nSEG401 = "warning"\nseg201 = "error"\n',
        encoding="utf-8",
    )
    code, out, _ = run(tmp_path, "rules")
    assert code == 1
    assert out.splitlines()[0] == "rules/b.seg:1:14: error SEG201 unknown segment `Industry.Legl`"
    assert "rules/b.seg:2:6: warning SEG401" in out
    assert "SEG406" not in out and "drafts" not in out
    # from a sub-folder, the configuration is found upward
    code, out, _ = run(tmp_path / "rules", ".")
    assert "SEG406" not in out and "drafts" not in out and "warning SEG401" in out


def test_explicit_config_and_smartseg_toml(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    (tmp_path / "ci.toml").write_text(
        'exclude = ["rules/b.seg", "rules/drafts"]\n[codes]\nSEG406 = "error"\n', encoding="utf-8"
    )
    code, out, _ = run(tmp_path, "rules", "--config", "ci.toml")
    assert (code, codes(out)) == (1, ["SEG406"])
    assert "rules/a.seg:4:10: error SEG406" in out
    # smartseg.toml in the folder is found without --config, before pyproject.toml
    (tmp_path / "smartseg.toml").write_text(
        'exclude = ["rules/b.seg", "rules/drafts/*"]\n[codes]\nSEG406 = "off"\n', encoding="utf-8"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.smartseg.codes]\nSEG406 = "error"\n', encoding="utf-8"
    )
    assert run(tmp_path, "rules") == (0, "All checks passed (1 file).\n", "")
    # a file named on the command line is checked even if excluded
    code, out, _ = run(tmp_path, "rules/b.seg")
    assert codes(out) == ["SEG202", "SEG401"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[codes]\nSEG999 = 'off'\n", "unknown diagnostic code `SEG999`"),
        ("[codes]\nSEG406 = 'loud'\n", "SEG406 = 'loud': the level is one of off, warning, error"),
        ("[codes]\nSEG101 = 'off'\n", "SEG101 cannot be turned off"),
        ("[codes]\nSEG501 = 'warning'\n", "SEG501 cannot be turned warning"),
        ("exclude = 'x'\n", "`exclude` must be a list of path patterns"),
        ("levels = {}\n", "unknown key `levels`"),
        ("codes = [\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, FILES)
    (tmp_path / "smartseg.toml").write_text(text, encoding="utf-8")
    code, out, err = run(tmp_path, "rules")
    assert (code, out) == (2, "")
    assert err.startswith("smartseg check: error: ")
    assert message in err
    with pytest.raises(ConfigError):
        load_config(tmp_path / "smartseg.toml")


def test_missing_config_file(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    code, _, err = run(tmp_path, "rules", "--config", "nope.toml")
    assert code == 2 and "nope.toml: cannot read the file" in err


def test_discovery_passes_over_a_pyproject_without_the_table(tmp_path: Path) -> None:
    (tmp_path / "smartseg.toml").write_text('[codes]\nSEG406 = "off"\n', encoding="utf-8")
    inner = tmp_path / "site"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    found = discover_config(inner)
    assert found.path == tmp_path / "smartseg.toml"
    assert found.levels == {"SEG406": "off"}
    assert discover_config(tmp_path / "nowhere-else").levels == {"SEG406": "off"}


def test_exclude_patterns() -> None:
    config = Config(exclude=("drafts/**", "old.seg", "/abs/*.seg"), root=Path("/r"))
    assert config.excluded("/r/drafts/a.seg")
    assert config.excluded("/r/drafts/x/y.seg")
    assert config.excluded("/r/old.seg")
    assert config.excluded("/abs/z.seg")
    assert not config.excluded("/r/new.seg")
    assert not config.excluded("/elsewhere/drafts/a.seg")


# ----------------------------------------------------------------------- junit


def test_junit_report_shape(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    code, out, _ = run(tmp_path, "rules", "--format", "junit")
    assert code == 1
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert root.attrib == {"name": "smartseg check", "tests": "3", "failures": "2", "errors": "0"}
    (suite,) = list(root)
    assert suite.tag == "testsuite"
    assert suite.attrib == {**root.attrib, "skipped": "0"}
    cases = list(suite)
    assert [c.tag for c in cases] == ["testcase"] * 3
    assert [c.attrib["name"] for c in cases] == [
        "rules/a.seg",
        "rules/b.seg",
        "rules/drafts/c.seg",
    ]
    assert all(c.attrib["classname"] == "smartseg.check" for c in cases)
    a, b, c = cases
    # a warning only: the case passes, the warning is in system-out
    assert [x.tag for x in a] == ["system-out"]
    assert "warning SEG406" in (a[0].text or "")
    # one failure per error
    assert [(x.tag, x.attrib["type"]) for x in b] == [("failure", "SEG201"), ("failure", "SEG401")]
    assert b[0].attrib["message"] == "SEG201 unknown segment `Industry.Legl`"
    assert b[0].text == (
        "rules/b.seg:1:14: error SEG201 unknown segment `Industry.Legl`\n"
        "help: did you mean `Industry.Legal`?"
    )
    assert [x.attrib["type"] for x in c] == ["SEG204"]
    # --strict: warnings fail too
    code, out, _ = run(tmp_path, "rules", "--format", "junit", "--strict")
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.attrib["failures"] == "3"
    assert [x.tag for x in root[0][0]] == ["failure"]


def test_junit_clean_and_snapshot(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    write(tmp_path, FILES)
    code, out, _ = run(tmp_path, "rules", "--format", "junit")
    assert out == snapshot
    write(tmp_path / "clean", {"x.seg": GROUP + "when certain(Industry.Legal) show slot a\n"})
    code, out, _ = run(tmp_path / "clean", ".", "--format", "junit")
    assert code == 0
    assert out == snapshot
