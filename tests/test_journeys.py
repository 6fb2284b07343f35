"""Journeys: the demo rules' journeys pass and cover every rule; bad journeys are explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import demo_rules, rules_from

from smartseg_dsl.journey import (
    JourneyError,
    check_expect,
    load_journey,
    parse_journey,
    play,
)

ROOT = Path(__file__).resolve().parent.parent
JOURNEYS = sorted((ROOT / "rules" / "journeys").glob("*.json"))


def test_there_are_journeys_for_the_demo_rules() -> None:
    assert len(JOURNEYS) >= 5


@pytest.mark.parametrize("path", JOURNEYS, ids=lambda p: p.name)
def test_demo_journey_expectations_hold(path: Path) -> None:
    rules = demo_rules()
    journey = load_journey(path)
    checked = 0
    for p in play(journey, rules):
        if p.step.expect is not None:
            checked += 1
            assert check_expect(p.step.expect, p.outcome) == [], f"step {p.step.number}"
    assert checked > 0


def test_every_demo_rule_fires_in_some_journey() -> None:
    rules = demo_rules()
    fired = [False] * len(rules.rules)
    for path in JOURNEYS:
        for p in play(load_journey(path), rules):
            fired = [a or b for a, b in zip(fired, p.outcome.held, strict=True)]
    never = [r.where for r, hit in zip(rules.rules, fired, strict=True) if not hit]
    assert never == []


RULES = """
group Industry {
    segment Legal { explicit tag "lawyer" implicit category "law" weight 3 }
    segment Estate { implicit category "estate" weight 3 }
}
audience Fan = count(category "law") >= 2
when certain(Industry.Legal) replace slot headline with "Hello, counsel"
when confidence(Industry.Legal) > 0.2 show survey "Lawyer?"
"""


def journey(*steps: dict, **top: object) -> dict:
    return {"steps": list(steps), **top}


def test_time_is_start_plus_cumulative_after_and_query_is_split_off() -> None:
    j = parse_journey(
        journey(
            {"path": "/a?x=1&x=2&y="},
            {"after": "1m"},
            {"after": "1.5h", "path": "/b"},
            start="2026-02-01T10:00:00+01:00",
        )
    )
    played = play(j, rules_from(RULES))
    t0 = 1_769_936_400  # 2026-02-01T09:00:00Z
    assert [p.time for p in played] == [t0, t0 + 60, t0 + 60 + 5400]
    first = played[0].request
    assert first.path == "/a" and dict(first.query) == {"x": ["1", "2"], "y": [""]}
    assert played[1].request.path is None  # no path: not a page view


def test_the_cookie_goes_through_the_real_codec_between_steps() -> None:
    j = parse_journey(journey({"tags": ["lawyer"]}, {"after": "1d"}, {"after": "400d"}))
    played = play(j, rules_from(RULES))
    assert played[0].cookie is not None and played[0].cookie_reason == "no cookie"
    assert played[1].cookie_reason is None and played[1].outcome.view.certain("Industry.Legal")
    # the cookie outlived its max_age: a new visitor
    assert (played[2].cookie_reason or "").startswith("expired")
    assert not played[2].outcome.view.certain("Industry.Legal")


def test_expectations_report_expected_and_actual() -> None:
    j = parse_journey(
        journey(
            {
                "path": "/x",
                "categories": ["law"],
                "expect": {
                    "most_likely": {"Industry": "Estate"},
                    "certain": ["Industry.Legal"],
                    "confidence": {"Industry.Legal": [0.5, 1]},
                    "audiences": ["Fan"],
                    "slots": {"survey": "show", "headline": None},
                },
            }
        )
    )
    (p,) = play(j, rules_from(RULES))
    assert p.step.expect is not None
    found = {m.what: (m.expected, m.actual) for m in check_expect(p.step.expect, p.outcome)}
    assert found == {
        "most_likely(Industry)": ("Estate", "Legal"),
        "certain": ("[Industry.Legal]", "[]"),
        "confidence(Industry.Legal)": ("0.5..1", "0.2308"),
        "audiences": ("[Fan]", "[]"),
        "slot survey": ("show", f"survey ({p.outcome.decisions['survey'].rule})"),
    }


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "a journey is a JSON object"),
        ({"steps": []}, "`steps` must be a non-empty list"),
        ({"steps": [{}], "color": "red"}, "unknown key(s) color"),
        ({"start": "yesterday", "steps": [{}]}, "`start` must be an ISO 8601 time"),
        ({"steps": [{}, {"pathh": "/x"}]}, "step 2: unknown key(s) pathh"),
        ({"steps": [{"after": "5 minutes"}]}, "step 1: '5 minutes' is not a duration"),
        ({"steps": [{"after": 5}]}, "step 1: a duration is a string"),
        ({"steps": [{}, {}, {"path": "x"}]}, 'step 3: `path` must be a string starting with "/"'),
        ({"steps": [{"answer": {"about": "Industry"}}]}, "step 1: `answer` must be"),
        ({"steps": [{"gpc": "yes"}]}, "step 1: `gpc` must be true or false"),
        ({"steps": [{"categories": "law"}]}, "step 1: `categories` must be a list of strings"),
        ({"steps": [{"expect": {"slot": {}}}]}, "step 1: unknown key(s) in `expect`: slot"),
        (
            {"steps": [{"expect": {"slots": {"a": "replaced"}}}]},
            "step 1: `expect.slots.a`: 'replaced' is not an action",
        ),
        (
            {"steps": [{"expect": {"confidence": {"Industry.Legal": [0.9, 0.1]}}}]},
            "low ≤ high",
        ),
    ],
)
def test_bad_journeys_name_the_step(doc: object, message: str) -> None:
    with pytest.raises(JourneyError) as info:
        parse_journey(doc, "j.json")
    assert message in str(info.value)
    assert str(info.value).startswith("j.json: ")


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"answer": {"about": "Industry.Legal", "value": "maybe"}}, "step 2: bad answer"),
        ({"answer": {"about": "Industry", "value": "Nope"}}, "step 2: bad answer"),
        ({"answer": {"about": "Nope.X", "value": "yes"}}, "unknown group 'Nope'"),
        ({"dismiss": "Industry.Nope"}, "step 2: bad dismiss"),
        ({"expect": {"most_likely": {"Nope": None}}}, "unknown group 'Nope'"),
        ({"expect": {"most_likely": {"Industry": "Nope"}}}, "Industry has no segment 'Nope'"),
        ({"expect": {"certain": ["Legal"]}}, "unknown segment 'Legal'"),
        ({"expect": {"audiences": ["Nope"]}}, "unknown audience 'Nope'"),
    ],
)
def test_names_are_checked_against_the_rules(step: dict, message: str) -> None:
    j = parse_journey(journey({}, step), "j.json")
    with pytest.raises(JourneyError) as info:
        play(j, rules_from(RULES))
    assert message in str(info.value)


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": [\n  {"path": "/x",}\n]}', encoding="utf-8")
    with pytest.raises(JourneyError, match=r"bad\.json:2:\d+: invalid JSON"):
        load_journey(bad)
    with pytest.raises(JourneyError, match="cannot read the file"):
        load_journey(tmp_path / "missing.json")


def test_journey_files_are_valid_json_objects() -> None:
    for path in JOURNEYS:
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
