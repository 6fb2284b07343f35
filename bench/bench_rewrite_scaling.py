"""Does the rewriter scale linearly when warm? Time per MB and per edited slot.

    python bench/bench_rewrite_scaling.py [--rounds 5]

Two series, each timed warm (the same page again, the memos' steady state, as a site
serving the same page shape all day) and cold (memos cleared before each call), CPU
time of this process, the best of ``--rounds``:

* **page size**: the ecma402 page of the shared corpus (a real, tag-dense spec page)
  grown by repeating its body to 1, 2, 4 and 10 MB, with 6 edited slots spread over
  it; µs per MB should stay within 2× from 1 MB to 10 MB;
* **edited slots**: a 1 MB page with 10, 100, 1,000 and 10,000 slot elements, every
  one of them edited (replace, show, hide in turn); µs per edited slot should stay
  within 2× from 10 to 10,000.

Without the corpus (a checkout outside this workspace) a generated page of the same
density stands in, and the script says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smartseg_dsl import rewrite  # noqa: E402
from smartseg_dsl.rewrite import Hide, Replace, Show  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
MB = 1 << 20


def body_unit() -> tuple[bytes, str]:
    for path in sorted(CORPUS.rglob("*ecma402*")) if CORPUS.is_dir() else []:
        doc = path.read_bytes()
        start, end = doc.find(b"<body"), doc.rfind(b"</body>")
        if start >= 0 and end > start:
            return doc[doc.find(b">", start) + 1 : end], path.name
    unit = b"".join(
        b'<section id="s%d"><h2>Heading %d</h2><p class="x">Text <a href="#a%d">link</a> '
        b"<code>code</code> and <em>more</em> text.</p><ul><li>a</li><li>b</li></ul>"
        b"</section>\n" % (i, i, i)
        for i in range(200)
    )
    return unit, "generated (corpus not found)"


def page(size: int, unit: bytes, slots: int) -> bytes:
    """``size`` bytes of repeated body with ``slots`` slot elements spread evenly."""
    head = b"<!doctype html><html><head><title>t</title></head><body>"
    parts = [head]
    total = len(head)
    body = []
    while total < size:
        body.append(unit)
        total += len(unit)
    filler = b"".join(body)
    step = max(1, len(filler) // (slots + 1))
    # cut at tag starts so every slot element sits between whole elements
    cuts = []
    pos = 0
    for _ in range(slots):
        pos = filler.find(b"<section", pos + step)
        if pos < 0:
            pos = filler.find(b"<", cuts[-1] + 1 if cuts else 0)
        cuts.append(pos)
    last = 0
    for i, cut in enumerate(cuts):
        parts.append(filler[last:cut])
        hidden = b" hidden" if i % 3 == 1 else b""
        parts.append(b'<div data-seg-slot="s%d"%s><p>slot %d</p></div>' % (i, hidden, i))
        last = cut
    parts.append(filler[last:])
    parts.append(b"</body></html>")
    return b"".join(parts)


def edits(slots: int) -> dict[str, object]:
    kinds = (lambda i: Replace(f"<b>new {i}</b>"), lambda i: Show(), lambda i: Hide())
    return {f"s{i}": kinds[i % 3](i) for i in range(slots)}


def timed(doc: bytes, todo: dict[str, object], rounds: int, warm: bool) -> float:
    best = float("inf")
    rewrite.rewrite(doc, todo)  # warm the memos (and check it works)
    for _ in range(rounds):
        if not warm:
            rewrite._PAGES.clear()
            rewrite._EXTENTS.clear()
        t0 = time.process_time()
        out = rewrite.rewrite(doc, todo)
        best = min(best, time.process_time() - t0)
        assert out is not doc
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    unit, source = body_unit()
    print(f"body: {source}, {len(unit) / 1024:.0f} KB repeated")

    print("\npage size (6 edited slots)      warm µs    µs/MB    cold µs    µs/MB")
    per_mb: dict[int, float] = {}
    for size_mb in (1, 2, 4, 10):
        doc = page(size_mb * MB, unit, 6)
        warm = timed(doc, edits(6), args.rounds, warm=True)
        cold = timed(doc, edits(6), max(2, args.rounds // 2), warm=False)
        per_mb[size_mb] = warm / (len(doc) / MB)
        print(
            f"  {len(doc) / MB:5.1f} MB {'':18} {warm:9.0f} {per_mb[size_mb]:8.0f} "
            f"{cold:10.0f} {cold / (len(doc) / MB):8.0f}"
        )
    ratio = per_mb[10] / per_mb[1]
    print(f"  warm µs per MB, 10 MB ÷ 1 MB: {ratio:.2f}× (target ≤ 2×)")

    print("\nedited slots (1 MB page)        warm µs  µs/slot    cold µs  µs/slot")
    per_slot: dict[int, float] = {}
    for slots in (10, 100, 1000, 10_000):
        doc = page(MB, unit, slots)
        warm = timed(doc, edits(slots), args.rounds, warm=True)
        cold = timed(doc, edits(slots), max(2, args.rounds // 2), warm=False)
        per_slot[slots] = warm / slots
        print(
            f"  {slots:6d} slots {'':15} {warm:9.0f} {per_slot[slots]:8.1f} "
            f"{cold:10.0f} {cold / slots:8.1f}"
        )
    ratio_slots = per_slot[10_000] / per_slot[10]
    print(f"  warm µs per slot, 10,000 ÷ 10: {ratio_slots:.2f}× (target ≤ 2×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
