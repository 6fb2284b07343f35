"""The load test's short form (issue 6), so that ``make test`` covers it.

Runs ``bench/load.py --seconds 4 --visitors 30`` (uvicorn with two workers, 4 s without
and 4 s with smartseg: hundreds of requests and dozens of answers; the benchmark's own
``--ci`` form runs 10 s each) and checks its verdict and its JSON summary: no 5xx, no
transport error, no unexpected status, every answer the visitors gave is in the answer
bank, no ``Set-Cookie`` over 4,096 bytes, and the survey flow actually ran (otherwise
"nothing lost" would prove nothing). The numbers themselves belong in BENCHMARKS.md,
not here: a shared CI machine is too noisy for a throughput threshold.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "bench" / "load.py"


def _load_module() -> ModuleType:
    """bench/load.py as a module (bench/ is not a package)."""
    name = "_bench_load"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LOAD)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def _samples(seconds: int, rss: object) -> list[tuple[float, int]]:
    return [(float(t), int(rss(t))) for t in range(seconds + 1)]  # type: ignore[operator]


def test_rss_verdict_plateau_is_flat() -> None:
    """Caches filling in the first half, then a plateau with noise: flat."""
    load = _load_module()
    jitter = [0, 300, -200, 100, -300, 200]
    samples = _samples(600, lambda t: 90_000 + min(t, 120) * 250 + jitter[t % 6])
    verdict = load.rss_second_half(samples)
    assert verdict["flat"] is True
    assert abs(verdict["growth_pct"]) < 0.5
    assert abs(verdict["trend_kib_per_min"]) < 50


def test_rss_verdict_steady_leak_is_not_flat() -> None:
    """+1 MiB a minute, forever: the second half shows it however long the warm-up."""
    load = _load_module()
    samples = _samples(600, lambda t: 120_000 + t * 1024 // 60)
    verdict = load.rss_second_half(samples)
    assert verdict["flat"] is False
    assert verdict["growth_pct"] > 2
    assert verdict["trend_kib_per_min"] == pytest.approx(1024, rel=0.01)
    assert any("not flat" in p for p in load.problems(_result(load, verdict)))


def test_rss_verdict_short_run_is_not_judged() -> None:
    load = _load_module()
    verdict = load.rss_second_half(_samples(10, lambda t: 90_000 + t * 1000))
    assert verdict["flat"] is None
    assert verdict["growth_pct"] > 0  # still reported
    assert load.problems(_result(load, verdict)) == []


def test_rss_verdict_judges_by_the_run_length() -> None:
    """The sampler's last sample comes a little before the end of a 300 s run."""
    load = _load_module()
    samples = _samples(299, lambda t: 90_000)
    assert load.rss_second_half(samples)["flat"] is None
    assert load.rss_second_half(samples, duration=300.2)["flat"] is True


def _result(load: ModuleType, verdict: dict[str, object]) -> dict[str, object]:
    """A clean run's result with the given memory verdict."""
    return {
        "label": "smartseg",
        "5xx": 0,
        "errors": {},
        "unexpected": {},
        "answers_lost": 0,
        "answers_rejected": 0,
        "answers_undecodable": 0,
        "answers_unexpected_in_bank": 0,
        "oversize_cookies": 0,
        "requests": 1,
        "rss_second_half": verdict,
    }


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_load_short_form(tmp_path: Path) -> None:
    summary_path = tmp_path / "load.json"
    done = subprocess.run(
        [
            *(sys.executable, str(LOAD), "--seconds", "4", "--visitors", "30"),
            *("--json", str(summary_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["ok"] and summary["problems"] == [], report

    for label in ("baseline", "smartseg"):
        run = summary[label]
        assert run["requests"] > 0, report
        assert run["5xx"] == 0, report
        assert run["errors"] == {}, report
        assert run["unexpected"] == {}, report
        assert run["max_set_cookie_bytes"] <= 4096, report
        assert run["oversize_cookies"] == 0, report

    smart = summary["smartseg"]
    assert smart["surveys_seen"] > 0, report
    assert smart["answers_given"] > 0, report
    assert smart["answers_rejected"] == 0, report
    assert smart["answers_lost"] == 0, report
    assert smart["answers_in_bank"] == smart["answers_given"], report
    assert smart["max_smartseg_cookie_bytes"] > 0, report  # the cookie was really measured
    # Without smartseg nobody is asked anything: the baseline is the same site, bare.
    assert summary["baseline"]["surveys_seen"] == 0, report
    assert summary["baseline"]["max_smartseg_cookie_bytes"] == 0, report
    assert "| requests/s |" in done.stdout, report
    # Memory is reported but a 4 s run is all warm-up: not judged, so never a failure.
    for label in ("baseline", "smartseg"):
        memory = summary[label]["rss_second_half"]
        assert memory["flat"] is None and memory["half_kib"] > 0, report
    assert "| workers' RSS flat | not judged" in done.stdout, report
    # The workers run as docs/middleware.md ("Deploying") says to deploy them on glibc,
    # unless this environment already sets the allocator: read from each worker's /proc.
    load = _load_module()
    own = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    expected = own or load.DEPLOYMENT_MALLOC_ENV
    for label in ("baseline", "smartseg"):
        seen = summary[label]["worker_allocator_env"]
        assert len(seen) == 2 and all(env == expected for env in seen), report
