"""`smartseg check` end to end: text snapshots of many mistakes, the JSON, GitHub and
SARIF formats, exit codes, and bad input that must never produce a traceback.

Every snapshot case writes small `.seg` files into a temporary directory, runs the
real command through click's CliRunner from inside that directory (so the paths in
the output are relative and stable), and records the exit code and the output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from smartseg_dsl.cli import main
from smartseg_dsl.diagnostics import CODES

TESTS = Path(__file__).resolve().parent

INDUSTRY = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
    }
    segment RealEstate "Real estate" {
        implicit category "property" weight 3
    }
}
"""

#: name → {file name: text (or bytes)}. Each is one mistake a marketer makes.
MISTAKES: dict[str, dict[str, str | bytes]] = {
    # ---------------------------------------------------------------- syntax
    "missing-quotes": {"a.seg": INDUSTRY + "when tagged(lawyer) show slot headline\n"},
    "missing-quotes-in-signal": {
        "a.seg": "group Industry {\n    segment Legal { explicit tag lawyer }\n}\n"
    },
    "single-equals": {"a.seg": "when visits = 3 show slot headline\n"},
    "double-ampersand": {"a.seg": "when visits > 3 && pageviews > 5 show slot headline\n"},
    "space-before-percent": {
        "a.seg": INDUSTRY + "when confidence(Industry.Legal) >30 % show slot headline\n"
    },
    "unit-spelt-out": {"a.seg": "when session_time > 30 min show slot headline\n"},
    "within-without-unit": {
        "a.seg": 'when count(page "/blog/**" within 7) > 3 show slot headline\n'
    },
    "missing-slot-keyword": {"a.seg": "when visits > 3 show headline\n"},
    "missing-action": {"a.seg": "when visits > 3\nwhen pageviews > 3 show slot headline\n"},
    "unclosed-brace": {
        "a.seg": INDUSTRY.rstrip("}\n") + "\n\nwhen certain(Industry.Legal) show slot headline\n"
    },
    "unterminated-string": {"a.seg": 'when tagged("lawyer) show slot headline\n'},
    "single-quotes": {"a.seg": "when tagged('lawyer') show slot headline\n"},
    "bad-escape": {"a.seg": 'when tagged("law\\firm") show slot headline\n'},
    "not-utf8": {"a.seg": 'when tagged("café") show slot headline\n'.encode("latin-1")},
    "deep-nesting": {"a.seg": "when " + "(" * 70 + "visits > 3" + ")" * 70 + " show slot x\n"},
    "several-syntax-errors": {
        "a.seg": (
            "when visits = 3 show slot a\n"
            "when visits > 3 && pageviews > 2 show slot b\n"
            "when visits > 3 show c\n"
            "when visits > 3 show slot d\n"
        )
    },
    "comma-between-conditions": {
        "a.seg": INDUSTRY + "when certain(Industry.Legal), visits > 3 show slot headline\n"
    },
    # ----------------------------------------------------------------- names
    # a misspelt name is reported even though another file has a syntax error
    "name-error-beside-syntax-error": {
        "a.seg": INDUSTRY + "when visits = 3 show slot a\n",
        "b.seg": "when certain(Industry.Legl) show slot headline\n",
    },
    "unknown-segment": {"a.seg": INDUSTRY + "when certain(Industry.Legl) show slot headline\n"},
    "segment-without-group": {
        "a.seg": INDUSTRY + "when confidence(Legal) > 30% show slot headline\n"
    },
    "unknown-group-in-order": {"a.seg": INDUSTRY + "order slot testimonials by Industri\n"},
    "keyword-as-name": {
        "a.seg": 'group page {\n    segment Pricing { implicit page "/pricing/**" weight 1 }\n}\n'
    },
    "unknown-audience": {
        "a.seg": 'audience HotLead = count(page "/pricing/**" within 48h) > 3\n'
        "when HotLeed show slot discount_banner\n"
    },
    "duplicate-group-across-files": {
        "10-groups.seg": INDUSTRY,
        "20-more.seg": (
            'group Industry {\n    segment Hotels { implicit category "hotels" weight 2 }\n}\n'
        ),
    },
    "audience-cycle": {
        "a.seg": "audience Engaged = Returning and pageviews > 5\n"
        "audience Returning = visits > 2 and Engaged\n"
        "when Engaged show slot newsletter\n"
    },
    # -------------------------------------------------------- types & values
    "duration-without-unit": {"a.seg": "when session_time > 300 show slot headline\n"},
    "value-as-condition": {"a.seg": "when visits show slot headline\n"},
    "unknown-function": {
        "a.seg": INDUSTRY + "when confidnce(Industry.Legal) > 30% show slot headline\n"
    },
    "count-of-a-tag": {"a.seg": 'when count(tag "lawyer") > 0 show slot headline\n'},
    "since-with-window": {
        "a.seg": 'when since(event "purchase" within 90d) > 30d show slot headline\n'
    },
    "threshold-missing-percent": {
        "a.seg": INDUSTRY + "when confidence(Industry.Legal) > 30 show slot headline\n"
    },
    "percentage-above-100": {
        "a.seg": INDUSTRY + "when confidence(Industry.Legal) > 150% show slot headline\n"
    },
    "negative-weight": {"a.seg": INDUSTRY.replace('"property" weight 3', '"property" weight -3')},
    "max-below-weight": {"a.seg": INDUSTRY.replace("weight 3 max 12", "weight 3 max 2")},
    "prior-zero": {"a.seg": INDUSTRY.replace('"Industry" {\n', '"Industry" {\n    prior 0\n')},
    "decay-zero": {"a.seg": INDUSTRY.replace('"Industry" {\n', '"Industry" {\n    decay 0d\n')},
    "prior-twice": {
        "a.seg": INDUSTRY.replace('"Industry" {\n', '"Industry" {\n    prior 10\n    prior 5\n')
    },
    "survey-without-subject": {
        "a.seg": INDUSTRY
        + 'when likely(Industry.Legal) or likely(Industry.RealEstate) show survey "Which?"\n'
    },
    "weight-on-explicit": {
        "a.seg": INDUSTRY.replace('explicit tag "lawyer"', 'explicit tag "lawyer" weight 5')
    },
    "unknown-device": {"a.seg": 'when device == "phone" show slot app_banner\n'},
    "path-without-slash": {"a.seg": 'when viewing("pricing/**") show slot headline\n'},
    # ------------------------------------------------------------ rule logic
    "contradictory-thresholds": {
        "a.seg": INDUSTRY + "when confidence(Industry.Legal) > 0.5\n"
        "    and confidence(Industry.Legal) < 0.2 show slot headline\n"
    },
    "visits-below-one": {"a.seg": "when visits < 1 show slot welcome\n"},
    "two-certain-segments": {
        "a.seg": INDUSTRY
        + "when certain(Industry.Legal) and certain(Industry.RealEstate) show slot headline\n"
    },
    "always-true": {
        "a.seg": INDUSTRY + "when confidence(Industry.Legal) >= 0 show slot headline\n"
    },
    "shadowed-rule": {
        "a.seg": INDUSTRY
        + 'when confidence(Industry.Legal) > 30% replace slot headline with "For law firms"\n'
        + 'when confidence(Industry.Legal) > 60% replace slot headline with "For your firm"\n'
    },
    "conflicting-actions": {
        "a.seg": INDUSTRY
        + "when certain(Industry.Legal) {\n    show slot banner\n    hide slot banner\n}\n"
    },
    "segment-without-signals": {
        "a.seg": 'group Industry {\n    segment Legal { explicit tag "lawyer" }\n'
        "    segment Hotels { }\n}\n"
    },
    "unused-audience": {"a.seg": "audience Returning = visits > 2\n"},
    "sync-audience-reads-the-page": {
        "a.seg": INDUSTRY
        + 'audience OnPricing = viewing("/pricing")\n'
        + "sync audience PricingLawyers = certain(Industry.Legal) and OnPricing\n"
        + 'sync audience Direct = viewing("/legal/**")\n'
        + 'sync audience Fine = count(page "/pricing" within 7d) >= 1\n'
    },
    "empty-block": {"a.seg": INDUSTRY + "when certain(Industry.Legal) {\n}\n"},
    "survey-never-shown": {
        "a.seg": INDUSTRY + 'when certain(Industry.Legal) show survey "Are you a lawyer?"\n'
    },
    "detached-action": {
        "a.seg": INDUSTRY + "when certain(Industry.Legal)\n    show slot legal_hero\n"
        "    hide slot generic_hero\n"
    },
    # ---------------------------------------------------------------- limits
    "cookie-budget": {
        "a.seg": "".join(
            f'when count(page "/p/{n}" within 30d) > 40 show slot s{n}\n' for n in range(200)
        )
    },
    "inexact-count": {
        "a.seg": 'when count(page "/pricing/**" within 30d) > 100 show slot sales_call\n'
    },
    # ------------------------------------------------------------- rendering
    "tabs-and-wide-characters": {
        "a.seg": INDUSTRY + 'when tagged("日本語") and\tcertain(Industry.Legl) show slot x\n'
    },
    "suppressed": {
        "a.seg": "# smartseg: ignore[SEG406]\naudience Returning = visits > 2\n"
        "when visits < 1 show slot a  # smartseg: ignore[SEG401, SEG402]\n"
    },
    "goal-value-on-page": {
        "a.seg": 'goal Revenue = page "/checkout/done" value attribute("order_total")\n'
    },
    "holdout-out-of-range": {"a.seg": "holdout 10\n"},
    "large-holdout": {"a.seg": "holdout 40%\n"},
    "goal-mistakes": {
        "a.seg": INDUSTRY
        + 'goal Trial = event "trial_started"\n'
        + 'goal Trial = page "/trial"\n'
        + "goal Engaged = pageviews\n"
        + "holdout 5%\nholdout 10%\n"
    },
    "experiment-mistakes": {
        "a.seg": INDUSTRY
        + 'goal Trial = event "trial_started"\n'
        + 'when certain(Industry.Legal) replace slot headline with "Law"\n'
        + "experiment Headline {\n"
        + "    when certain(Industry.Legal)\n"
        + "    traffic 150\n"
        + "    traffic 50%\n"
        + "    variant control 1\n"
        + "    variant control 2\n"
        + '    variant plain 0 { replace slot headline with "Plain" }\n'
        + "    goal Trail\n"
        + "    from 2026-02-30\n"
        + "}\n"
        + "experiment Single {\n"
        + "    variant only 1 { hide slot banner }\n"
        + "    from 2026-02-01 until 2026-01-01\n"
        + "}\n"
        + "experiment Banner {\n"
        + "    variant control 1\n"
        + "    variant hidden 1 { hide slot banner }\n"
        + "    goal Trial\n"
        + "}\n"
        + "experiment BannerAgain {\n"
        + "    variant control 1\n"
        + "    variant shown 1 { show slot banner }\n"
        + "    goal Trial\n"
        + "    from 2026-12-01 until 2027-01-01\n"
        + "}\n"
    },
    # ---------------------------------------------------------------- templates
    # (a `templates/` file in a case runs the check with `--templates templates`)
    "unknown-template": {
        "a.seg": INDUSTRY
        + "when certain(Industry.Legal) {\n"
        + '    replace slot hero with template "partials/legal_hero.html"\n'
        + '    replace slot aside with template "partial/aside.html"\n'
        + '    replace slot cta with template "partials/cta.html"\n'
        + "}\n",
        "templates/partials/legal_hero.html": "<p>{{ visitor.most_likely('Industry') }}</p>\n",
        "templates/partials/aside.html": "<aside></aside>\n",
        "templates/partials/cta.html": "{% if visitor %}<a>Start</a>\n",
    },
    "clean": {"a.seg": INDUSTRY + "when certain(Industry.Legal) show slot headline\n"},
}


def run(args: list[str], **kwargs: Any) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


def write(root: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write the files; the arguments for `smartseg check`: the rule files, and
    `--templates templates` when the case has template files."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    rules = sorted(name for name in files if not name.startswith("templates/"))
    if len(rules) < len(files):
        return [*rules, "--templates", str(root / "templates")]
    return rules


@pytest.mark.parametrize("name", list(MISTAKES))
def test_text_snapshot(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    files = write(tmp_path, MISTAKES[name])
    files = [os.path.relpath(f, tmp_path) if os.path.isabs(f) else f for f in files]
    result = run(["check", "--format", "text", *files])
    assert "Traceback" not in result.output
    assert f"exit {result.exit_code}\n{result.stdout}" == snapshot


def test_snapshots_cover_every_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen: set[str] = set()
    for i, files in enumerate(MISTAKES.values()):
        root = tmp_path / str(i)
        root.mkdir()
        paths = [f if f.startswith(("-", "/")) else str(root / f) for f in write(root, files)]
        doc = json.loads(run(["check", "--format", "json", *paths]).stdout)
        seen |= {d["code"] for d in doc["diagnostics"]}
    assert seen == set(CODES), f"no snapshot for {sorted(set(CODES) - seen)}"
    assert len(MISTAKES) >= 30


# ---------------------------------------------------------------- exit codes


def test_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"ok.seg": MISTAKES["clean"]["a.seg"], "warn.seg": "audience A = visits > 2\n"})
    assert run(["check", "ok.seg"]).exit_code == 0
    assert run(["check", "warn.seg"]).exit_code == 0  # warnings allowed
    assert run(["check", "--strict", "warn.seg"]).exit_code == 1
    assert run(["check", "--strict", "ok.seg"]).exit_code == 0
    write(tmp_path, {"bad.seg": "when visits < 1 show slot a\n"})
    assert run(["check", "bad.seg"]).exit_code == 1


def test_directory_means_every_seg_file_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        {
            "rules/10-groups.seg": INDUSTRY,
            "rules/sub/20-home.seg": "when certain(Industry.Legal) show slot headline\n",
            "rules/notes.txt": "when nonsense",
        },
    )
    result = run(["check", "rules"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "All checks passed (2 files)."


def test_missing_path_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(["check", "nowhere.seg"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "smartseg check: error: nowhere.seg: no such file or directory\n"


def test_directory_without_rule_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no rules here")
    result = run(["check", "empty"])
    assert result.exit_code == 2
    assert "no .seg files" in result.stderr
    assert "Traceback" not in result.output


def test_no_path_at_all_is_a_usage_error() -> None:
    result = run(["check"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_empty_file_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.seg").write_bytes(b"")
    result = run(["check", "empty.seg"])
    assert (result.exit_code, result.stdout) == (0, "All checks passed (1 file).\n")


def test_non_utf8_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.seg").write_bytes(b'when tagged("caf\xe9") show slot a\n')
    result = run(["check", "--format", "json", "latin.seg"])
    assert result.exit_code == 1
    (diag,) = json.loads(result.stdout)["diagnostics"]
    assert diag["code"] == "SEG107"
    assert (diag["line"], diag["column"]) == (1, 17)
    assert "not UTF-8" in diag["message"]


def test_five_megabyte_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = "when visits > 3 show slot banner  # padding padding padding padding\n"
    (tmp_path / "huge.seg").write_text(line * (5 * 1024 * 1024 // len(line) + 1))
    result = run(["check", "huge.seg"])
    assert result.exit_code == 1
    assert "huge.seg:1:1: error SEG107 the file is 5.0 MB" in result.stdout
    assert "Traceback" not in result.output


def test_thousand_nested_parentheses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = "when " + "(" * 1000 + "visits > 3" + ")" * 1000 + " show slot x\n"
    (tmp_path / "deep.seg").write_text(source)
    result = run(["check", "deep.seg"])
    assert result.exit_code == 1
    assert "error SEG108" in result.stdout


def test_thousand_nots_and_long_chains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nots.seg").write_text("when " + "not " * 1000 + "visits > 3 show slot x\n")
    (tmp_path / "chain.seg").write_text(
        "when " + " and ".join(f"visits > {i}" for i in range(3000)) + " show slot y\n"
    )
    result = run(["check", "--format", "json", "nots.seg", "chain.seg"])
    codes = {(d["file"], d["code"]) for d in json.loads(result.stdout)["diagnostics"]}
    assert ("nots.seg", "SEG108") in codes
    assert not any(f == "chain.seg" and c.startswith("SEG1") for f, c in codes)


def test_unlistable_directory_is_an_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smartseg_dsl.loader

    def denied(paths: object) -> list[Path]:
        raise PermissionError(13, "Permission denied", "secret")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(smartseg_dsl.loader, "discover", denied)
    result = run(["check", "secret"])
    assert (result.exit_code, result.stderr) == (
        2,
        "smartseg check: error: secret: Permission denied\n",
    )


def test_internal_error_is_reported_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smartseg_dsl.checker

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise ValueError("boom")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(smartseg_dsl.checker, "check", broken)
    (tmp_path / "a.seg").write_text("when visits > 3 show slot a\n")
    result = run(["check", "a.seg"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.startswith("smartseg check: internal error: ValueError: boom\n")


# -------------------------------------------------------------------- colour


def test_colour_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartseg_dsl.cli import check as check_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    (tmp_path / "a.seg").write_text("audience A = visits > 2\n")
    assert "\x1b[" not in run(["check", "a.seg"]).stdout  # CliRunner's stdout is no TTY
    monkeypatch.setattr(check_cli, "_use_color", lambda stream: True)
    coloured = run(["check", "a.seg"]).stdout
    assert "\x1b[1;33mwarning\x1b[0m" in coloured
    assert "\x1b[1;33m^\x1b[0m" in coloured


def test_no_color_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartseg_dsl.cli.check import _use_color

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _use_color(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _use_color(Tty())


# ---------------------------------------------------------------------- json

SPEC_JSON_SCHEMA = {
    "type": "object",
    "required": ["diagnostics", "summary"],
    "additionalProperties": False,
    "properties": {
        "diagnostics": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "file",
                    "line",
                    "column",
                    "end_line",
                    "end_column",
                    "severity",
                    "code",
                    "message",
                ],
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "column": {"type": "integer", "minimum": 1},
                    "end_line": {"type": "integer", "minimum": 1},
                    "end_column": {"type": "integer", "minimum": 1},
                    "severity": {"enum": ["error", "warning"]},
                    "code": {"type": "string", "pattern": "^SEG[1-5][0-9][0-9]$"},
                    "message": {"type": "string", "minLength": 1},
                },
            },
        },
        "summary": {
            "type": "object",
            "additionalProperties": False,
            "required": ["files", "errors", "warnings"],
            "properties": {
                "files": {"type": "integer", "minimum": 0},
                "errors": {"type": "integer", "minimum": 0},
                "warnings": {"type": "integer", "minimum": 0},
            },
        },
    },
}


@pytest.mark.parametrize("name", ["unknown-segment", "several-syntax-errors", "clean", "not-utf8"])
def test_json_format(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = write(tmp_path, MISTAKES[name])
    result = run(["check", "--format", "json", *files])
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SPEC_JSON_SCHEMA)
    diags = doc["diagnostics"]
    assert doc["summary"] == {
        "files": len(files),
        "errors": sum(d["severity"] == "error" for d in diags),
        "warnings": sum(d["severity"] == "warning" for d in diags),
    }
    assert result.exit_code == (1 if doc["summary"]["errors"] else 0)
    for d in diags:
        assert CODES[d["code"]].severity == d["severity"]
        assert (d["end_line"], d["end_column"]) >= (d["line"], d["column"])


def test_json_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MISTAKES["unknown-segment"])
    (diag,) = json.loads(run(["check", "--format", "json", "a.seg"]).stdout)["diagnostics"]
    assert diag == {
        "file": "a.seg",
        "line": 10,
        "column": 14,
        "end_line": 10,
        "end_column": 27,
        "severity": "error",
        "code": "SEG201",
        "message": "unknown segment `Industry.Legl`",
    }


# -------------------------------------------------------------------- github


def test_github_format_and_escaping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"dir,with:odd/a.seg": MISTAKES["threshold-missing-percent"]["a.seg"]})
    result = run(["check", "--format", "github", "dir,with:odd/a.seg"])
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=dir%2Cwith%3Aodd/a.seg,line=10,col=35,endLine=10,endColumn=37,"
        "title=SEG304::a confidence is between 0 and 1 (0%25 and 100%25); 30 is outside"
        "%0Ahelp: write `30%25` (or 0.3)\n"
    )


def test_github_warning_and_newlines() -> None:
    from smartseg_dsl.diagnostics import Diagnostic
    from smartseg_dsl.report import render_github

    d = Diagnostic("a.seg", 1, 2, 1, 3, "warning", "SEG406", "50% done\r\nnext", None)
    assert render_github([d]) == (
        "::warning file=a.seg,line=1,col=2,endLine=1,endColumn=3,title=SEG406::"
        "50%25 done%0D%0Anext\n"
    )


# --------------------------------------------------------------------- sarif


def sarif_schema() -> dict[str, Any]:
    return json.loads((TESTS / "sarif-2.1.0-subset.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "name", ["unknown-segment", "several-syntax-errors", "duplicate-group-across-files", "clean"]
)
def test_sarif_format(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = write(tmp_path, MISTAKES[name])
    result = run(["check", "--format", "sarif", *files])
    log = json.loads(result.stdout)
    jsonschema.Draft7Validator.check_schema(sarif_schema())
    jsonschema.validate(log, sarif_schema())
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)  # stable ids and indexes
    for r in rules:
        assert r["helpUri"].endswith(f"/docs/codes/{r['id']}.md")
        assert r["defaultConfiguration"]["level"] == CODES[r["id"]].severity
        assert r["help"]["text"] and r["shortDescription"]["text"]
    for res in sarif_run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri in files and "\\" not in uri
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["endLine"] >= region["startLine"] >= 1
    expected = json.loads(run(["check", "--format", "json", *files]).stdout)["diagnostics"]
    assert [(r["ruleId"], r["level"]) for r in sarif_run["results"]] == [
        (d["code"], d["severity"]) for d in expected
    ]


def test_sarif_schema_rejects_broken_logs() -> None:
    schema = sarif_schema()
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "smartseg"}}}]}
    jsonschema.validate(good, schema)
    for broken in (
        {"runs": []},
        {"version": "2.0.0", "runs": []},
        {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]},
        {
            "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "SEG101"}]}],
        },
        {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": "x"}},
                    "results": [{"message": {"text": "m"}, "level": "fatal"}],
                }
            ],
        },
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_sarif_absolute_paths_become_relative(tmp_path: Path) -> None:
    from smartseg_dsl.diagnostics import Diagnostic
    from smartseg_dsl.report import render_sarif

    inside = tmp_path / "rules dir" / "a.seg"
    d = Diagnostic(str(inside), 1, 1, 1, 2, "error", "SEG101", "m")
    log = json.loads(render_sarif([d], base=tmp_path))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "rules%20dir/a.seg"}
