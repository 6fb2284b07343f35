"""`smartseg lsp` benchmark: one command, prints

* diagnostics after a keystroke in the generated 10,000-line rule set of bench_check.py:
  one character typed, then the rule set's diagnostics (re-parse of the changed file,
  check of the whole set; both incremental, `lsp/reparse.py` and `lsp/recheck.py`) —
  median, target ≤ 50 ms. Three kinds of typing, each keystroke a new text (no state
  repeats, so no cache of a whole earlier state can answer): digits typed into a
  rule's condition in the middle of the largest file (≈ 2,000+ lines), a segment of
  the groups file renamed letter by letter (every use of it changes meaning), and a
  new rule typed character by character on an empty line (a syntax error until it is
  complete);
* hover and completion latency on that rule set (target ≤ 10 ms);
* server start: `python -m smartseg_dsl.lsp` started and answering `initialize`
  (target ≤ 500 ms).

The first two run in-process on the server's own model (`smartseg_dsl.lsp.model`),
what the server does between a change and `publishDiagnostics`, without the
debounce delay or JSON-RPC; the third is wall time over stdio.

    python bench/bench_lsp.py [--runs 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import generate  # noqa: E402

from smartseg_dsl.lsp.completion import complete  # noqa: E402
from smartseg_dsl.lsp.hover import hover_text  # noqa: E402
from smartseg_dsl.lsp.model import RuleSetModel  # noqa: E402
from smartseg_dsl.lsp.server import freeze_loaded  # noqa: E402


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def merge_rules(directory: Path, at_least: int = 2000) -> Path:
    """Join rule files of the generated set into one of >= `at_least` lines (same rule set)."""
    parts = sorted(directory.glob("*-rules.seg"))
    merged: list[str] = []
    for p in parts:
        if len(merged) >= at_least:
            break
        merged += p.read_text(encoding="utf-8").splitlines()
        p.unlink()
    target = parts[0]
    target.write_text("\n".join(merged) + "\n", encoding="utf-8")
    return target


def _keystrokes(model: RuleSetModel, path: str, texts: list[str]) -> dict[str, float]:
    """Each text in turn as the document's new content, then its rule set's diagnostics."""
    times, parse_times = [], []
    for changed in texts:
        t0 = time.perf_counter()
        model.change(path, changed)
        analysis = model.analysis(path)
        analysis.result(path)  # the re-parse happens in `analysis`
        t1 = time.perf_counter()
        analysis.diagnostics()
        t2 = time.perf_counter()
        times.append(t2 - t0)
        parse_times.append(t1 - t0)
    return {
        "ms_median": ms(statistics.median(times)),
        "ms_max": ms(max(times)),
        "reparse_ms_median": ms(statistics.median(parse_times)),
    }


def typed(text: str, where: int, word: str) -> list[str]:
    """The document after each keystroke of typing `word` at `where` (all different)."""
    return [text[:where] + word[:n] + text[where:] for n in range(1, len(word) + 1)]


def measure_keystroke(directory: Path, runs: int) -> dict[str, float]:
    big = merge_rules(directory)
    files = sorted(directory.glob("*.seg"))
    target = str(big.resolve())
    text = big.read_text(encoding="utf-8")
    groups = str((directory / "00-groups.seg").resolve())
    groups_text = Path(groups).read_text(encoding="utf-8")
    model = RuleSetModel()
    model.open(target, text)
    model.open(groups, groups_text)
    model.analysis(target).diagnostics()  # the state before typing (warm caches)
    freeze_loaded()  # as the server does after its first check
    middle = len(text) // 2
    # 1. digits typed into a threshold in the middle of the file: `visits >= 2…`
    at = text.index("visits >= 2", middle) + len("visits >= 2")
    condition = _keystrokes(model, target, typed(text, at, "1234567890" * (runs // 10 + 1))[:runs])
    model.change(target, text)
    model.analysis(target).diagnostics()
    # 2. a segment renamed letter by letter (its uses all over the rule set change meaning)
    at = groups_text.index("segment S50_2") + len("segment S50_2")
    segment = _keystrokes(
        model, groups, typed(groups_text, at, "abcdefghijklmnopqrstuvwxyz" * 2)[:runs]
    )
    model.change(groups, groups_text)
    model.analysis(target).diagnostics()
    # 3. a new rule typed on an empty line in the middle: broken until it is complete
    at = text.index("\n\n", middle) + 1
    rule = "when confidence(G7.S7_1) > 30% show slot typed_here\n"
    syntax = _keystrokes(model, target, typed(text, at, rule)[:runs])
    total = sum(p.read_text(encoding="utf-8").count("\n") for p in files)
    result = {
        "file_lines": text.count("\n"),
        "groups_lines": groups_text.count("\n"),
        "ruleset_lines": total,
    }
    for name, found in (("condition", condition), ("segment", segment), ("syntax", syntax)):
        result |= {f"{name}_{k}": v for k, v in found.items()}
    result["keystroke_ms_median"] = condition["ms_median"]
    return result


def measure_hover_completion(directory: Path, runs: int) -> dict[str, float]:
    target = str(sorted(directory.glob("*-rules.seg"))[0].resolve())
    model = RuleSetModel()
    model.open(target, Path(target).read_text(encoding="utf-8"))
    analysis = model.analysis(target)
    analysis.diagnostics()
    occs = [o for o in analysis.index.by_file[target] if o.kind in ("segment", "function")][:50]
    hover, completion = [], []
    for _ in range(runs):
        for occ in occs[:10]:
            t0 = time.perf_counter()
            a = model.analysis(target)  # what a request does first: the current state
            found = a.index.at(target, occ.span.line, occ.span.column + 1)
            assert found is not None
            hover_text(a.index, found, {f: model.text(f) for f in a.files})
            hover.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        a = model.analysis(target)
        assert complete(a.index, "when confidence(G7.")
        completion.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        a = model.analysis(target)
        complete(a.index, "when conf")
        completion.append(time.perf_counter() - t0)
    return {
        "hover_ms_median": ms(statistics.median(hover)),
        "hover_ms_max": ms(max(hover)),
        "completion_ms_median": ms(statistics.median(completion)),
        "completion_ms_max": ms(max(completion)),
    }


def _message(obj: dict[str, object]) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def measure_start(runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartseg_dsl.lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        init = {"processId": os.getpid(), "rootUri": None, "capabilities": {}}
        proc.stdin.write(
            _message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        )
        proc.stdin.flush()
        header = proc.stdout.readline()
        assert header.startswith(b"Content-Length"), header
        times.append(time.perf_counter() - t0)
        proc.stdin.write(_message({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        proc.stdin.write(_message({"jsonrpc": "2.0", "method": "exit"}))
        proc.stdin.flush()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"start_ms_median": ms(statistics.median(times)), "start_ms_max": ms(max(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        generate(directory)
        result = measure_keystroke(directory, args.runs)
        result |= measure_hover_completion(directory, args.runs)
    result |= measure_start(max(3, args.runs // 3))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"rule set: {result['ruleset_lines']} lines; typing in a {result['file_lines']}-line file\n"
        "diagnostics after a keystroke (target <= 50 ms median), re-parse included:\n"
        f"  typing digits in a rule's condition:   {result['condition_ms_median']} ms median, "
        f"{result['condition_ms_max']} max (re-parse {result['condition_reparse_ms_median']})\n"
        f"  renaming a segment, letter by letter:  {result['segment_ms_median']} ms median, "
        f"{result['segment_ms_max']} max (re-parse {result['segment_reparse_ms_median']}; "
        f"{result['groups_lines']}-line groups file)\n"
        f"  typing a new rule (broken until done): {result['syntax_ms_median']} ms median, "
        f"{result['syntax_ms_max']} max (re-parse {result['syntax_reparse_ms_median']})\n"
        f"hover:      {result['hover_ms_median']} ms median, {result['hover_ms_max']} max "
        "(target <= 10)\n"
        f"completion: {result['completion_ms_median']} ms median, "
        f"{result['completion_ms_max']} max (target <= 10)\n"
        f"server start to initialize answered: {result['start_ms_median']} ms median, "
        f"{result['start_ms_max']} max (target <= 500)"
    )


if __name__ == "__main__":
    main()
