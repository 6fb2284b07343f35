"""What an experiment (SPEC §1.7) costs a page view: assignment, the variant's actions and
the exposure check, measured inside real requests, side by side with the same site whose
rules have the experiment removed (the issue's target: ≤ 3 µs per request).

    python bench/bench_experiments.py [--visitors 400] [--rounds 5] [--block 200]

One run, in-process ASGI calls (no sockets), on the demo site as ``create_app`` builds it,
through its lifespan (recording on, each site to its own temporary SQLite answer bank).
Configurations, each its own app instance built from its own copy of ``rules/``:

* ``with experiment``    — the demo rules as they are (``LegalHeadline`` in 30-home.seg);
* ``without experiment`` — the same files with the ``experiment`` block deleted;
* ``without, again``     — a second instance of the latter: an A/A pair whose difference
  shows how much of the with − without difference noise could explain.

Visitors: ``--visitors`` distinct new visitors, each certain to be a law firm from their
first page (``/?seg=legal``), so every one of them is eligible: half are enrolled in each
variant, exposed on that first page (an ``exposure`` event and a cookie update), and carry
their assignment on the next three page views (``/``, ``/pricing``, ``/legal/``). That is
the experiment's worst case: on a real site most visitors are never eligible. Timed in
interleaved rounds of blocks, each block through every configuration, the order rotating.
Prints each configuration's mean per page view and the with − without difference per
round (median and range), against the A/A difference.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench_measurement import lifespan  # noqa: E402
from bench_middleware import SECRET, _receive, _Sink, cookie_from, scope_for  # noqa: E402

from smartseg_dsl.loader import load_ruleset  # noqa: E402

TARGET_US = 3.0
JOURNEY = ("/?seg=legal", "/", "/pricing", "/legal/")
_EXPERIMENT = re.compile(r"^experiment .*?^}\n", re.M | re.S)


@dataclass
class Config:
    name: str
    app: Any
    ns: list[int] = field(default_factory=list)  # per round: wall time in the requests
    cpu: list[int] = field(default_factory=list)  # per round: this process's CPU time
    views: list[int] = field(default_factory=list)


def rules_copy(with_experiment: bool) -> Path:
    target = Path(tempfile.mkdtemp()) / "rules"
    shutil.copytree(ROOT / "rules", target)
    if not with_experiment:
        home = target / "30-home.seg"
        text, n = _EXPERIMENT.subn("", home.read_text(encoding="utf-8"))
        assert n == 1, "the demo rules no longer have exactly one experiment"
        home.write_text(text, encoding="utf-8")
    compiled = load_ruleset(target)
    assert bool(compiled.experiments) is with_experiment
    return target


def build(with_experiment: bool) -> Any:
    from site_example.app import create_app

    db = Path(tempfile.mkdtemp()) / "smartseg.db"
    return create_app(rules_path=rules_copy(with_experiment), db_url=str(db), secret_key=SECRET)


async def call(app: Any, target: str, cookie: str) -> Any:
    path, _, query = target.partition("?")
    sink = _Sink()
    await app({**scope_for(path, cookie), "query_string": query.encode()}, _receive, sink)
    return sink


async def journey(app: Any) -> int:
    spent, cookie = 0, ""
    for path in JOURNEY:
        t0 = time.perf_counter_ns()
        sink = await call(app, path, cookie)
        spent += time.perf_counter_ns() - t0
        assert sink.status == 200, (path, sink.status)
        cookie = cookie_from(sink, cookie) or cookie
        await asyncio.sleep(0)  # a server reads its sockets between requests
    return spent


async def main_async(count: int, rounds: int, block: int) -> int:
    configs = [
        Config("with experiment", build(True)),
        Config("without experiment", build(False)),
        Config("without, again", build(False)),
    ]
    async with AsyncExitStack() as stack:
        for c in configs:
            await stack.enter_async_context(lifespan(c.app))
        for c in configs:  # warm up: templates, caches, the SQLite files
            for _ in range(50):
                await journey(c.app)
        turn = 0
        for _ in range(rounds):
            for c in configs:
                c.ns.append(0)
                c.cpu.append(0)
                c.views.append(0)
            for _start in range(0, count, block):
                order = configs[turn % 3 :] + configs[: turn % 3]
                turn += 1
                for c in order:
                    cpu0 = time.process_time_ns()
                    for _ in range(block):
                        c.ns[-1] += await journey(c.app)
                        c.views[-1] += len(JOURNEY)
                    c.cpu[-1] += time.process_time_ns() - cpu0
    with_, without, again = configs
    print(
        f"{count} new visitors per round, {rounds} rounds, {len(JOURNEY)} page views each, "
        "every visitor eligible (the worst case)"
    )
    for c in configs:
        per = [ns / v / 1000 for ns, v in zip(c.ns, c.views, strict=True)]
        cpu = [ns / v / 1000 for ns, v in zip(c.cpu, c.views, strict=True)]
        print(
            f"  {c.name:<20} {statistics.mean(per):8.1f} µs per page view in the requests, "
            f"{statistics.mean(cpu):8.1f} µs process CPU"
        )

    def diff(a: Config, b: Config, attr: str) -> list[float]:
        return [
            (na / va - nb / vb) / 1000
            for na, va, nb, vb in zip(
                getattr(a, attr), a.views, getattr(b, attr), b.views, strict=True
            )
        ]

    for attr, what in (("ns", "in the requests"), ("cpu", "process CPU")):
        d, aa = diff(with_, without, attr), diff(again, without, attr)
        print(
            f"  {what}: with − without median {statistics.median(d):+.1f} µs per page view "
            f"(rounds {min(d):+.1f} … {max(d):+.1f}; target ≤ {TARGET_US:.0f} µs); "
            f"A/A median {statistics.median(aa):+.1f} µs "
            f"(rounds {min(aa):+.1f} … {max(aa):+.1f}): the noise floor"
        )
    ratio = statistics.mean(without.ns) / statistics.mean(with_.ns)
    print(f"  throughput with / without: {ratio:.3f}")
    return 0


def engine_loop(count: int = 2000, rounds: int = 7) -> None:
    """The same comparison for the engine alone (decode-free `Engine.step`, handed the
    page's slot names as the middleware hands them), in a
    loop: flatters both sides equally, but its noise is far below the requests'."""
    from smartseg_dsl.engine import Engine, RequestInfo
    from smartseg_dsl.state import replace_state

    t0 = 1_796_400_000.0
    engines = {flag: Engine(load_ruleset(rules_copy(flag))) for flag in (True, False)}
    firsts: dict[bool, list[float]] = {True: [], False: []}
    laters: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for flag, engine in engines.items():
            fresh = [
                replace_state(engine.new_state(t0), visitor_id=f"v{i:05d}") for i in range(count)
            ]
            # the page's slot names handed to the step, as the middleware does
            on_page = frozenset().union(*(e.slots for e in engine.rules.experiments))
            page_slots = lambda on_page=on_page: on_page  # noqa: E731
            first = RequestInfo(time=t0, path="/", query={"seg": ["legal"]}, page_slots=page_slots)
            start = time.perf_counter_ns()
            states = [engine.step(s, first).state for s in fresh]
            firsts[flag].append((time.perf_counter_ns() - start) / count / 1000)
            later = RequestInfo(time=t0 + 60, path="/pricing", page_slots=page_slots)
            start = time.perf_counter_ns()
            for s in states:
                engine.step(s, later)
            laters[flag].append((time.perf_counter_ns() - start) / count / 1000)
    print(f"engine alone, {count} eligible visitors × {rounds} rounds (median of rounds):")
    for what, data in (("first page (enrol, expose)", firsts), ("later page", laters)):
        w, wo = statistics.median(data[True]), statistics.median(data[False])
        print(f"  {what:<28} with {w:6.1f} µs, without {wo:6.1f} µs, difference {w - wo:+.1f} µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=200)
    args = parser.parse_args()
    engine_loop()
    return asyncio.run(main_async(args.visitors, args.rounds, args.block))


if __name__ == "__main__":
    raise SystemExit(main())
