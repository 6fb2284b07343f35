"""Run every benchmark in bench/ in one go and print their reports.

Usage: `make bench` (or `python bench/run_all.py`). Each benchmark prints its
own side-by-side ratios; this script only runs them in sequence, so that the
numbers in BENCHMARKS.md come from one command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        failed |= subprocess.call([sys.executable, str(script)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
