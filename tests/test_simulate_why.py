"""`smartseg simulate --explain`: why a rule did not fire, from its condition's AST
evaluated against what the engine computed for the step (snapshots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from smartseg_dsl.cli import main
from smartseg_dsl.explain import why_not
from smartseg_dsl.parser import parse_source

RULES = """\
group Industry {
    segment Legal { explicit tag "lawyer" implicit category "law" weight 3 }
    segment Retail { implicit category "shop" weight 3 }
}
audience Engaged = pageviews >= 3 or visits > 1
when confidence(Industry.Legal) > 50% show slot legal
when Engaged and not known(Industry) show slot ask
when most_likely(Industry) is Industry.Retail and tagged("vip") show slot vip
when score(Industry.Legal) >= 6 and count(event "trial") > 0 show slot trial
when certain(Industry.Legal) or visits >= 3 show slot headline
"""
JOURNEY = """\
{"start": "2026-03-02T09:00:00Z",
 "steps": [{"path": "/a", "categories": ["law"]},
           {"after": "1m", "path": "/b", "categories": ["shop", "law"]}]}
"""


def test_simulate_explain_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    (tmp_path / "rules.seg").write_text(RULES, encoding="utf-8")
    (tmp_path / "j.json").write_text(JOURNEY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["simulate", "rules.seg", "--journey", "j.json", "--explain"])
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot
    # step 2: 6 points of Legal, 3 of Retail: the engine's confidence, as a percentage
    assert "why: confidence(Industry.Legal) was 31.58%, needs > 50%" in result.stdout
    plain = CliRunner().invoke(main, ["simulate", "rules.seg", "--journey", "j.json"])
    assert "why:" not in plain.stdout


class FakeView:
    visits = 1
    pageviews = 2

    def confidence(self, ref: str) -> float:
        return {"Industry.Legal": 0.31}.get(ref, 0.0)

    def score(self, ref: str) -> float:
        return 4.0

    def certain(self, ref: str) -> bool:
        return False

    def likely(self, ref: str) -> bool:
        return ref == "Industry.Legal"

    def known(self, group: str) -> bool:
        return True

    def most_likely(self, group: str) -> str | None:
        return "Legal"

    def tagged(self, tag: str) -> bool:
        return tag == "vip"

    def audience(self, name: str) -> bool:
        return False


def reasons(condition: str, audiences: dict[str, str] | None = None, **kw: Any) -> list[str]:
    def expr(text: str) -> Any:
        result = parse_source(f"audience X = {text}\n")
        assert result.ok, result.diagnostics
        return result.file.items[0].condition  # type: ignore[union-attr]

    auds = {k: expr(v) for k, v in (audiences or {}).items()}
    return why_not(expr(condition), FakeView(), auds, **kw)


def test_why_not_parts() -> None:
    assert reasons("confidence(Industry.Legal) > 0.5") == [
        "confidence(Industry.Legal) was 0.31, needs > 0.5"
    ]
    assert reasons("confidence(Industry.Legal) > 50%") == [
        "confidence(Industry.Legal) was 31%, needs > 50%"
    ]
    assert reasons("likely(Industry.Legal) and (visits > 2 or pageviews > 5)") == [
        "visits was 1, needs > 2",
        "pageviews was 2, needs > 5",
    ]
    assert reasons('not known(Industry) and tagged("vip")') == ["known(Industry) was true"]
    assert reasons("most_likely(Industry) is Industry.Retail") == [
        "most_likely(Industry) was Industry.Legal, needs Industry.Retail"
    ]
    assert reasons("most_likely(Industry) is not Industry.Legal") == [
        "most_likely(Industry) was Industry.Legal, needs not Industry.Legal"
    ]
    assert reasons("certain(Industry.Legal)") == ["certain(Industry.Legal) was false"]
    assert reasons("Fans", {"Fans": "score(Industry.Legal) >= 6"}) == [
        "audience Fans was false: score(Industry.Legal) was 4, needs >= 6"
    ]
    assert reasons('device == "mobile"') == ['device == "mobile": not known here']
    assert reasons('device == "mobile"', device="desktop") == [
        'device was "desktop", needs == "mobile"'
    ]
    assert reasons("likely(Industry.Legal)") == []  # it held: nothing to say
