"""The load test's short form (issue 6), so that ``make test`` covers it.

Runs ``bench/load.py --ci --visitors 30`` (uvicorn with two workers, 10 s without and
10 s with smartseg) and checks its verdict and its JSON summary: no 5xx, no transport
error, no unexpected status, every answer the visitors gave is in the answer bank, no
``Set-Cookie`` over 4,096 bytes, and the survey flow actually ran (otherwise "nothing
lost" would prove nothing). The numbers themselves belong in BENCHMARKS.md, not here:
a shared CI machine is too noisy for a throughput threshold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "bench" / "load.py"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_load_short_form(tmp_path: Path) -> None:
    summary_path = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(LOAD), "--ci", "--visitors", "30", "--json", str(summary_path)],
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
