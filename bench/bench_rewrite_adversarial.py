"""The rewriter on pages built to make it slow (issue 13, item 1): time per size, and the
ratio of each doubling (linear work: about 2x; the old per-slot walks gave 4x).

    python bench/bench_rewrite_adversarial.py [--n 2000] [--rounds 3] [--quick]

Each shape is timed at n, 2n, 4n and 8n repetitions of its unit (up to a few MB of
page), with ``Hide`` on slot ``x`` and the memos cleared before each call (a page seen
the first time).  Columns: page size, best CPU time of the rounds
(``time.process_time``), the ratio to the previous size, work units per byte
(``rewrite._last_work``) and the outcome: ``changed``/``same`` (the page came back
edited or unchanged) or ``bound`` (``WorkLimitExceeded``: the page is sent as the app
made it).  ``nested, li`` is the one shape known to defeat sharing between slots: it
hits the work bound, in time linear in the page too.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartseg_dsl import rewrite as rw

SLOT = b'<div data-seg-slot="x">'

SHAPES: dict[str, Callable[[int], bytes]] = {
    # The reviewer's reproductions.
    "unclosed slot divs": lambda n: b"<body>" + (SLOT + b"t ") * n + b"</body>",
    "12x <p> after unclosed divs": lambda n: (
        b"<body>" + (SLOT + b"t ") * (n // 12) + b"<p>" * n + b"</body>"
    ),
    "unclosed <svg> then slots": lambda n: (
        b"<body>" + b"<svg>" * n + (SLOT + b"t</div>") * n + b"</body>"
    ),
    # Further shapes.
    "nested slots (closed)": lambda n: b"<body>" + SLOT * n + b"t" + b"</div>" * n,
    "many slots": lambda n: b"<body>" + (SLOT + b"<p>t</p></div>") * n + b"</body>",
    "mis-nested tags": lambda n: b"<body>" + (SLOT + b"<b><i>t</b></i><span>") * n,
    "slots in unclosed spans": lambda n: b"<body>" + (SLOT + b"<span>") * n + b"</div>",
    "svg inside unclosed slots": lambda n: b"<body>" + (SLOT + b"<svg><g><path/></g>") * n,
    "script escapes": lambda n: b"<body>" + SLOT + b"<script><!-- <script> -->" * n,
    "nested, li (bound)": lambda n: b"<body>" + SLOT * n + b"<li>t" + b"</div>" * n,
}


def timed(doc: bytes, rounds: int) -> tuple[float, str, float]:
    best = float("inf")
    outcome = ""
    edits: dict[str, rw.Edit] = {"x": rw.Hide()}
    for _ in range(rounds):
        rw._PAGES.clear()
        rw._EXTENTS.clear()
        gc.collect()
        t = time.process_time()
        try:
            out = rw.rewrite(doc, edits)
            outcome = "same" if out is doc else "changed"
        except rw.WorkLimitExceeded:
            outcome = "bound"
        best = min(best, time.process_time() - t)
    return best, outcome, rw._last_work() / len(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="repetitions at the first size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n/4, one round")
    args = parser.parse_args()
    n, rounds = (args.n // 4, 1) if args.quick else (args.n, args.rounds)
    worst = 0.0
    print(f"{'shape':30} {'size':>10} {'ms':>10} {'ratio':>7} {'units/B':>8}  outcome")
    for name, make in SHAPES.items():
        prev = None
        for k in (1, 2, 4, 8):
            doc = make(n * k)
            seconds, outcome, units = timed(doc, rounds)
            ratio = "" if prev is None else f"{seconds / prev:.2f}x"
            if prev is not None:
                worst = max(worst, seconds / prev)
            prev = seconds
            size = f"{len(doc) / 1024:,.0f} KB"
            print(
                f"{name if k == 1 else '':30} {size:>10} {seconds * 1e3:10.1f} {ratio:>7} "
                f"{units:8.2f}  {outcome}"
            )
    print(f"worst doubling ratio: {worst:.2f}x (target <= 2.2x)")


if __name__ == "__main__":
    main()
