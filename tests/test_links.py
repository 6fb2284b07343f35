"""Signed e-mail and preview links (smartseg_dsl.links) and `smartseg link`."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.cli.link import link_command
from smartseg_dsl.links import (
    BAD_SIGNATURE,
    EXPIRED,
    INVALID,
    LINK_PARAM,
    LINK_SALT,
    MALFORMED,
    MISSING,
    PREVIEW_PARAM,
    LinkError,
    _serializer,
    make_link,
    make_preview_link,
    parse_duration,
    read_link_tags,
    read_preview,
    strip_params,
)

NOW = 1_800_000_000.0
DAY = 86400.0


def token_of(url: str, param: str = LINK_PARAM) -> str:
    return parse_qs(urlsplit(url).query)[param][0]


def test_round_trip() -> None:
    url = make_link("https://example.com/pricing", ["lawyer", "vip"], "k", 30 * DAY, now=NOW)
    assert url.startswith("https://example.com/pricing?smartseg_t=")
    assert read_link_tags(token_of(url), "k", now=NOW + 29 * DAY) == (["lawyer", "vip"], None)


def test_other_parameters_and_fragment_are_kept_byte_for_byte() -> None:
    url = make_link(
        "https://example.com/a?utm_source=mail%20x&q=a+b&smartseg_t=old#top",
        ["lawyer"],
        "k",
        DAY,
        now=NOW,
    )
    parts = urlsplit(url)
    assert parts.fragment == "top"
    assert parts.query.startswith("utm_source=mail%20x&q=a+b&smartseg_t=")
    assert parts.query.count("smartseg_t=") == 1  # the stale one was replaced
    assert strip_params(url) == "https://example.com/a?utm_source=mail%20x&q=a+b#top"
    relative = make_link("/landing", ["t"], "k", DAY, now=NOW)
    assert relative.startswith("/landing?smartseg_t=")


def test_tags_are_deduplicated_in_order() -> None:
    url = make_link("/x", ["b", "a", "b"], "k", DAY, now=NOW)
    assert read_link_tags(token_of(url), "k", now=NOW)[0] == ["b", "a"]


def test_key_rotation_last_key_signs_every_key_verifies() -> None:
    old = make_link("/x", ["t"], ["k1"], DAY, now=NOW)
    new = make_link("/x", ["t"], ["k1", "k2"], DAY, now=NOW)  # k2 signs
    rotated = ["k1", "k2"]
    assert read_link_tags(token_of(old), rotated, now=NOW) == (["t"], None)
    assert read_link_tags(token_of(new), rotated, now=NOW) == (["t"], None)
    assert read_link_tags(token_of(new), ["k1"], now=NOW) == ([], BAD_SIGNATURE)
    assert read_link_tags(token_of(old), ["k2", "k3"], now=NOW) == ([], BAD_SIGNATURE)


def test_tampered_link_is_refused_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    token = token_of(make_link("/x", ["t"], "k", DAY, now=NOW))
    forged = _serializer("k", LINK_SALT).dumps({"v": 1, "t": ["admin"], "e": NOW + DAY})
    payload, stamp, signature = forged.split(".")
    spliced = ".".join([payload, *token.split(".")[1:]])  # someone else's signature
    with caplog.at_level(logging.WARNING, logger="smartseg.links"):
        assert read_link_tags(spliced, "k", now=NOW) == ([], BAD_SIGNATURE)
    assert "ignored e-mail link: signature does not match" in caplog.text
    assert stamp and signature


def test_expired_link_is_refused_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    token = token_of(make_link("/x", ["t"], "k", 7 * DAY, now=NOW))
    with caplog.at_level(logging.WARNING, logger="smartseg.links"):
        assert read_link_tags(token, "k", now=NOW + 9 * DAY) == ([], EXPIRED)
    assert "ignored e-mail link: link expired 2d ago" in caplog.text


def test_site_wide_max_age_caps_long_lived_links() -> None:
    url = make_link("/x", ["t"], "k", 365 * DAY)
    value = token_of(url)
    assert read_link_tags(value, "k", max_age=3600)[1] is None
    import time

    assert read_link_tags(value, "k", max_age=3600, now=time.time() + 7200) == ([], EXPIRED)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, MISSING),
        ("", MISSING),
        ("garbage", MALFORMED),
        ("a.b", MALFORMED),
        ("x" * 5000, MALFORMED),
        ("eyJ2IjoxfQ.awXFrQ.not-a-signature", BAD_SIGNATURE),
    ],
)
def test_bad_values_give_a_reason(value: str | None, reason: str) -> None:
    assert read_link_tags(value, "k", now=NOW) == ([], reason)


def test_well_signed_but_wrong_payloads_are_refused() -> None:
    signer = _serializer("k", LINK_SALT)
    no_expiry = signer.dumps({"v": 1, "t": ["a"]})
    no_tags = signer.dumps({"v": 1, "t": [], "e": NOW + DAY})
    bad_tag = signer.dumps({"v": 1, "t": ["a\nb"], "e": NOW + DAY})
    future = signer.dumps({"v": 2, "t": ["a"], "e": NOW + DAY})
    for token in (no_expiry, no_tags, bad_tag, future):
        assert read_link_tags(token, "k", now=NOW) == ([], INVALID)


@given(st.text(max_size=300))
def test_reader_never_raises(value: str) -> None:
    tags, reason = read_link_tags(value, ["k1", "k2"], log_problems=False)
    assert tags == [] and reason is not None
    segment, reason = read_preview(value, "k", log_problems=False)
    assert segment is None and reason is not None


def test_preview_links() -> None:
    url = make_preview_link("https://example.com/?a=1", "Industry.Legal", "k", DAY, now=NOW)
    value = token_of(url, PREVIEW_PARAM)
    assert read_preview(value, "k", now=NOW) == ("Industry.Legal", None)
    assert read_preview(value, "k", now=NOW + 2 * DAY) == (None, EXPIRED)
    # Each kind has its own salt: one cannot stand in for the other.
    assert read_link_tags(value, "k", now=NOW) == ([], BAD_SIGNATURE)
    email_value = token_of(make_link("/", ["t"], "k", DAY, now=NOW))
    assert read_preview(email_value, "k", now=NOW) == (None, BAD_SIGNATURE)


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_link("/x", [], "k", DAY),
        lambda: make_link("/x", "lawyer", "k", DAY),  # a string, not a list
        lambda: make_link("/x", ["t" * 101], "k", DAY),
        lambda: make_link("/x", ["a\tb"], "k", DAY),
        lambda: make_link("/x", [f"t{i}" for i in range(21)], "k", DAY),
        lambda: make_link("/x", ["t"], "", DAY),
        lambda: make_link("/x", ["t"], [], DAY),
        lambda: make_link("/x", ["t"], "k", 0),
        lambda: make_link("/x", ["t"], "k", -5),
        lambda: make_link("javascript:alert(1)", ["t"], "k", DAY),
        lambda: make_link("example.com/x", ["t"], "k", DAY),
        lambda: make_link("//evil.example/x", ["t"], "k", DAY),
        lambda: make_link("https:///nohost", ["t"], "k", DAY),
        lambda: make_link("https://ex.com/a b", ["t"], "k", DAY),
        lambda: make_preview_link("/x", "Industry", "k", DAY),
        lambda: make_preview_link("/x", "Industry.Legal.X", "k", DAY),
    ],
)
def test_bad_link_arguments(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LinkError):
        call()


def test_parse_duration() -> None:
    assert parse_duration("30d") == 30 * DAY
    assert parse_duration("2w") == 14 * DAY
    assert parse_duration("90m") == 5400
    assert parse_duration("1.5h") == 5400
    for bad in ("", "30", "d", "-1d", "3y"):
        with pytest.raises(LinkError):
            parse_duration(bad)


# --------------------------------------------------------------------------- CLI


def run(args: list[str], key: str | None = "site-key"):  # type: ignore[no-untyped-def]
    env = {"SMARTSEG_SECRET_KEY": key} if key is not None else {"SMARTSEG_SECRET_KEY": ""}
    return CliRunner().invoke(link_command, args, env=env)


def test_cli_prints_a_link_the_site_accepts() -> None:
    result = run(["https://example.com/welcome", "--tag", "lawyer", "--tag", "vip"])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert read_link_tags(token_of(url), "site-key") == (["lawyer", "vip"], None)


def test_cli_key_list_and_expiry() -> None:
    result = run(["/x", "--tag", "t", "--expires", "2h"], key="old-key, new-key")
    value = token_of(result.output.strip())
    assert read_link_tags(value, ["new-key"])[1] is None  # the newest key signs
    import time

    assert read_link_tags(value, "new-key", now=time.time() + 3 * 3600)[1] == EXPIRED
    explicit = run(["/x", "--tag", "t", "--secret-key", "a", "--secret-key", "b"], key=None)
    assert read_link_tags(token_of(explicit.output.strip()), "b")[1] is None


RIDING = """\
group Riding "Riding" {
    segment Road "Road" { explicit tag "road" }
    segment Mountain "Mountain" { explicit tag "mtb" }
}
"""


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site folder with its rules in rules/, as the current directory."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "site.seg").write_text(RIDING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_preview(site_dir: Path) -> None:
    result = run(["https://example.com/", "--preview", "Riding.Road"])
    assert result.exit_code == 0, result.output
    assert read_preview(token_of(result.output.strip(), PREVIEW_PARAM), "site-key")[0] == (
        "Riding.Road"
    )


def test_cli_preview_refuses_unknown_segments(site_dir: Path) -> None:
    result = run(["/x", "--preview", "Riding.Rood"])
    assert result.exit_code == 1
    assert "unknown segment `Riding.Rood`; did you mean `Riding.Road`?" in result.output
    assert "smartseg_preview" not in result.output  # no link printed
    result = run(["/x", "--preview", "Riding.Gravel"])
    assert "the segments of Riding are `Riding.Road`, `Riding.Mountain`" in result.output
    result = run(["/x", "--preview", "Ridding.Mountain"])
    assert "did you mean `Riding.Mountain`?" in result.output


def test_cli_preview_rules_option(site_dir: Path) -> None:
    other = site_dir / "elsewhere"
    other.mkdir()
    (other / "a.seg").write_text(RIDING.replace("Road", "Gravel"), encoding="utf-8")
    assert run(["/x", "--preview", "Riding.Gravel", "--rules", str(other)]).exit_code == 0
    assert run(["/x", "--preview", "Riding.Road", "--rules", str(other)]).exit_code == 1
    missing = run(["/x", "--preview", "Riding.Road", "--rules", "nowhere"])
    assert missing.exit_code == 2 and "nowhere: no such file or directory" in missing.output
    (other / "b.seg").write_text("when nonsense(\n", encoding="utf-8")
    broken = run(["/x", "--preview", "Riding.Gravel", "--rules", str(other)])
    assert broken.exit_code == 1 and f"run `smartseg check {other}`" in broken.output


def test_cli_preview_without_rules_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        link_command, ["/x", "--preview", "Any.Thing"], env={"SMARTSEG_SECRET_KEY": "k"}
    )
    assert result.exit_code == 0
    assert "the preview segment is not checked" in result.stderr
    assert "smartseg_preview=" in result.stdout


@pytest.mark.parametrize(
    ("args", "key", "code", "message"),
    [
        (["/x", "--tag", "t" * 200], "k", 1, "longer than 100 bytes"),
        (["/x", "--tag", "t", "--expires", "soon"], "k", 1, "bad duration"),
        (["ftp://x/y", "--tag", "t"], "k", 1, "http(s) URL"),
        (["/x", "--preview", "Legal"], "k", 1, "Group.Segment"),
        (["/x", "--tag", "t"], None, 2, "SMARTSEG_SECRET_KEY"),
        (["/x"], "k", 2, "at least one --tag"),
    ],
)
def test_cli_errors(args: list[str], key: str | None, code: int, message: str) -> None:
    result = run(args, key=key)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_is_wired_into_the_smartseg_group() -> None:
    from smartseg_dsl.cli import main

    result = CliRunner().invoke(main, ["link", "--help"])
    assert result.exit_code == 0 and "--tag" in result.output
