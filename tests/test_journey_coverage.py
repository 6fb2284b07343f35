"""`smartseg test --coverage / --threshold N`: the share of rules and experiment
variants that fired in some journey, and the exit code when it is below N %."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from smartseg_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent

RULES = """\
group Industry {
    segment Legal { explicit tag "lawyer" implicit category "law" weight 3 }
    segment Retail { implicit category "shop" weight 3 }
}
when certain(Industry.Legal) show slot legal
when likely(Industry.Retail) show slot retail
when visits > 2 show slot returning

experiment Headline {
    when likely(Industry.Legal)
    variant control 50
    variant hours 50 { replace slot headline with "Bill every minute" }
}
"""
JOURNEY = """\
{"start": "2026-03-02T09:00:00Z",
 "steps": [{"path": "/", "tags": ["lawyer"], "expect": {"slots": {"legal": "show"}}}]}
"""


def test_threshold_with_a_small_rule_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    (tmp_path / "rules.seg").write_text(RULES, encoding="utf-8")
    (tmp_path / "one.json").write_text(JOURNEY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    def run_here(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["test", "rules.seg", "one.json", *args])
        return result.exit_code, result.stdout

    code, out = run_here("--coverage")
    assert code == 0
    assert out == snapshot
    assert run_here("--threshold", "40")[0] == 0
    code, out = run_here("--threshold", "40.1")
    assert code == 1
    assert out.splitlines()[-2] == (
        "Coverage: 2 of 5 rules and variants fired (40.0 %), below the threshold of 40.1 %"
    )


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["test", "rules/", *args])
    return result.exit_code, result.stdout


def test_threshold_met_and_missed_on_the_demo_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    one = "rules/journeys/legal-reader.json"
    code, out = run(monkeypatch, one, "--coverage")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("Coverage: "))
    fired, total = (int(x) for x in line.split()[1:4:2])
    share = 100 * fired / total
    assert f"({share:.1f} %)" in line
    code, out = run(monkeypatch, one, "--threshold", f"{share - 0.1:.1f}")
    assert code == 0 and "meets the threshold" in out
    code, out = run(monkeypatch, one, "--threshold", f"{share + 0.1:.1f}")
    assert code == 1 and "below the threshold" in out


def test_every_journey_covers_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(monkeypatch, "rules/journeys/", "--threshold", "100")
    assert code == 0
    assert "(100.0 %), meets the threshold of 100 %" in out


def test_without_the_option_no_coverage_line(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(monkeypatch, "rules/journeys/legal-reader.json")
    assert code == 0 and "Coverage:" not in out


def test_threshold_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _ = run(monkeypatch, "rules/journeys/", "--threshold", "101")
    assert code == 2
