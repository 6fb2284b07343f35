"""`smartseg simulate` and `smartseg test` from the command line (SPEC §5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartseg_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent

RULES = """\
group Industry "Industry" {
    decay 30d
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
        implicit referrer "abajournal.com" weight 5
    }
    segment RealEstate "Real estate" {
        implicit category "real-estate" weight 3 max 12
    }
}
audience Reader = count(category "law" within 7d) >= 2
when certain(Industry.Legal) replace slot headline with "Billing built for law firms"
when likely(Industry.Legal) and confidence(Industry.Legal) >= 50% {
    replace slot hero with template "partials/legal_hero.html"
    show slot legal_case_study
}
when confidence(Industry.Legal) > 0.3 show survey "Are you a lawyer?"
when Reader hide slot newsletter
order slot testimonials by Industry
"""

JOURNEY = {
    "start": "2026-01-01T00:00:00Z",
    "host": "example.com",
    "steps": [
        {
            "path": "/blog/trust?utm=x",
            "referrer": "https://www.abajournal.com/",
            "categories": ["law"],
        },
        {"after": "5m", "path": "/blog/ledes", "categories": ["law"]},
        {"after": "10s", "path": "/blog/ledes", "categories": ["law"]},
        {"after": "30d", "events": ["nothing"]},
        {"after": "1m", "answer": {"about": "Industry.Legal", "value": "yes"}},
    ],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rules.seg").write_text(RULES, encoding="utf-8")
    (tmp_path / "journey.json").write_text(json.dumps(JOURNEY), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_simulate_text(workdir: Path, snapshot) -> None:
    code, out, _ = run("simulate", "rules.seg", "--journey", "journey.json")
    assert code == 0
    assert "Step 5" in out and "█" in out
    assert out == snapshot


def test_simulate_text_explain(workdir: Path, snapshot) -> None:
    code, out, _ = run("simulate", "rules.seg", "--journey", "journey.json", "--explain")
    assert code == 0
    assert 'implicit category "law" weight 3 max 12' in out
    assert out == snapshot


def test_simulate_json_has_the_spec_shape(workdir: Path, snapshot) -> None:
    code, out, _ = run("simulate", "rules.seg", "--journey", "journey.json", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert [s["step"] for s in doc["steps"]] == [1, 2, 3, 4, 5]
    for step in doc["steps"]:
        assert set(step) == {
            "step",
            "groups",
            "audiences",
            "slots",
            "holdout",
            "goals",
            "experiments",
        }
        assert step["holdout"] is False and step["goals"] == [] and step["experiments"] == {}
        for group in step["groups"].values():
            assert set(group) == {"confidence", "most_likely", "certain", "known"}
        for slot in step["slots"].values():
            assert slot["action"] in {"replace", "show", "hide", "order", "survey"}
            assert slot["rule"].startswith("rules.seg:")
    first = doc["steps"][0]["groups"]["Industry"]
    # law 3 + referrer 5 = 8; 8 / (8 + 10)
    assert first["confidence"]["Legal"] == pytest.approx(8 / 18, abs=1e-4)
    assert doc["steps"][1]["slots"]["hero"] == {
        "action": "replace",
        "rule": "rules.seg:14",
        "template": "partials/legal_hero.html",
    }
    last = doc["steps"][-1]
    assert last["groups"]["Industry"]["certain"] == "Legal"
    assert last["slots"]["headline"]["action"] == "replace"
    assert "survey" not in last["slots"]
    assert doc == snapshot


def test_simulate_json_carries_the_engines_full_values(workdir: Path) -> None:
    """Machine-readable output is not rounded: every confidence, and with --explain
    every signal's points, is the engine's float exactly (the text output rounds)."""
    from smartseg_dsl.journey import load_journey, play
    from smartseg_dsl.loader import load_ruleset

    code, out, _ = run(
        "simulate", "rules.seg", "--journey", "journey.json", "--format", "json", "--explain"
    )
    assert code == 0
    steps = json.loads(out)["steps"]
    played = play(load_journey(workdir / "journey.json"), load_ruleset(workdir / "rules.seg"))
    unrounded = 0
    for doc, p in zip(steps, played, strict=True):
        for name, group in p.outcome.groups.items():
            for segment, value in group.confidences.items():
                assert doc["groups"][name]["confidence"][segment] == float(value)
                unrounded += round(float(value), 4) != float(value)
        contributions = p.outcome.trace.contributions
        assert [s["points"] for s in doc["explain"]["signals"]] == [c.points for c in contributions]
        assert [s["decayed"] for s in doc["explain"]["signals"]] == [
            c.decayed for c in contributions
        ]
    assert unrounded, "the journey should have confidences with more than 4 decimals"
    assert (
        doc["groups"]["Industry"]["confidence"]["Legal"]
        != round(doc["groups"]["Industry"]["confidence"]["Legal"], 4)
        or unrounded
    )


def test_simulate_json_explain(workdir: Path) -> None:
    code, out, _ = run(
        "simulate", "rules.seg", "--journey", "journey.json", "--format", "json", "--explain"
    )
    assert code == 0
    steps = json.loads(out)["steps"]
    signals = steps[3]["explain"]["signals"]
    law = next(s for s in signals if "law" in s["signal"])
    # 6 points read 30 days ago, half-life 30 days: 3
    assert law["points"] == pytest.approx(3, abs=1e-3)
    rules = steps[0]["explain"]["rules"]
    assert [r["held"] for r in rules] == [False, False, True, False, True]


def test_simulate_bad_journey_names_the_step(workdir: Path) -> None:
    (workdir / "bad.json").write_text(json.dumps({"steps": [{}, {"after": "soon"}]}))
    code, out, err = run("simulate", "rules.seg", "--journey", "bad.json")
    assert code == 1
    assert "bad.json: step 2: 'soon' is not a duration" in err
    assert "Traceback" not in out + err


def test_simulate_rules_with_errors_print_diagnostics(workdir: Path) -> None:
    (workdir / "broken.seg").write_text("when confidence(Nope.X) > 0.3 show slot a\n")
    code, out, err = run("simulate", "broken.seg", "--journey", "journey.json")
    assert code == 1
    assert "broken.seg:1:" in err and "SEG2" in err
    assert "Traceback" not in out + err


def test_simulate_missing_files(workdir: Path) -> None:
    code, _, err = run("simulate", "rules.seg", "--journey", "nope.json")
    assert code == 1 and "nope.json: cannot read the file" in err
    code, _, err = run("simulate", "nope.seg", "--journey", "journey.json")
    assert code == 1 and "nope.seg" in err


# --------------------------------------------------------------------- test


def expecting(**expect: object) -> dict:
    return {"steps": [{"path": "/a", "categories": ["law"], "expect": expect}]}


def test_test_command_passes_and_lists_uncovered_rules(workdir: Path) -> None:
    (workdir / "ok.json").write_text(
        json.dumps(expecting(most_likely={"Industry": "Legal"}, slots={"survey": None}))
    )
    code, out, _ = run("test", "rules.seg", "ok.json")
    assert code == 0, out
    assert "ok   ok.json (1 steps, 1 checked)" in out
    assert "Rules no journey fired (4 of 5):" in out
    assert "rules.seg:13" in out and "rules.seg:23" not in out  # the bare order always fires
    assert "1 journey(s), 1 step(s) with expectations, 0 failed" in out


def test_test_command_reports_expected_and_actual(workdir: Path) -> None:
    (workdir / "bad.json").write_text(
        json.dumps(
            expecting(
                most_likely={"Industry": "RealEstate"}, confidence={"Industry.Legal": [0.5, 1]}
            )
        )
    )
    code, out, _ = run("test", "rules.seg", "bad.json", "journey.json")
    assert code == 1
    assert "FAIL bad.json step 1: page /a · categories law" in out
    assert "most_likely(Industry): expected RealEstate, got Legal" in out
    assert "confidence(Industry.Legal): expected 0.5..1, got 0.2308" in out
    assert "2 journey(s), 1 step(s) with expectations, 1 failed" in out


def test_test_command_fails_on_an_unplayable_journey(workdir: Path) -> None:
    (workdir / "bad.json").write_text(
        json.dumps({"steps": [{"answer": {"about": "X", "value": "y"}}]})
    )
    code, out, err = run("test", "rules.seg", "bad.json")
    assert code == 1
    assert "bad.json: step 1: bad answer" in err
    assert "could not be played" in out


def test_test_command_on_the_demo_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("test", "rules", "rules/journeys")
    assert code == 0, out
    assert "Every rule fired in some journey" in out
    assert " 0 failed" in out
