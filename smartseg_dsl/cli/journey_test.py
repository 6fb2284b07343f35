"""`smartseg test RULES JOURNEY…` (SPEC §5): play journeys and check their expectations.

Each step's `expect` is compared with what the engine decided; every failure
is printed with the expected and the actual value. Then comes the coverage
list: rules whose condition held in no step of any journey (a bare action
always holds). A directory argument means every `*.json` under it.

`--coverage` adds the share of rules and experiment variants that fired;
`--threshold N` (implies `--coverage`) fails when that share is below N %.

Exit codes: 0 when every expectation holds, 1 on any failure — a failed
expectation, a journey that cannot be played, a rule set with errors, or a
coverage below `--threshold`.
"""

from __future__ import annotations

import click

__all__ = ["test_command"]


@click.command("test")
@click.argument("rules", type=click.Path())
@click.argument("journeys", nargs=-1, required=True, type=click.Path())
@click.option("--coverage", is_flag=True, help="Print the share of rules that fired.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    metavar="N",
    help="Exit 1 when fewer than N % of the rules and experiment variants fired "
    "(implies --coverage).",
)
def test_command(
    rules: str, journeys: tuple[str, ...], coverage: bool, threshold: float | None
) -> None:
    """Play journeys with expectations; report failures and rules never fired."""
    from ..engine import Engine
    from ..journey import JourneyError, check_expect, journey_files, load_journey, play
    from .simulate import _load

    compiled = _load([rules])
    engine = Engine(compiled)
    fired = [False] * len(compiled.rules)
    shown: dict[str, set[str]] = {e.name: set() for e in compiled.experiments}
    failures = checked = 0
    broken = 0
    files = journey_files(journeys)
    if not files:
        click.echo("error: no journey files given", err=True)
        raise SystemExit(1)
    for path in files:
        try:
            journey = load_journey(path)
            played = play(journey, compiled, engine=engine)
        except JourneyError as exc:
            click.echo(f"error: {exc}", err=True)
            broken += 1
            continue
        bad_steps = 0
        expectations = 0
        for p in played:
            for i, held in enumerate(p.outcome.held):
                if held:
                    fired[i] = True
            for name, variant in p.outcome.experiments.items():
                if variant is not None:
                    shown[name].add(variant)
            if p.step.expect is None:
                continue
            expectations += 1
            mismatches = check_expect(p.step.expect, p.outcome)
            if mismatches:
                bad_steps += 1
                click.echo(f"FAIL {path} step {p.step.number}: {p.step.describe()}")
                for m in mismatches:
                    click.echo(f"    {m.what}: expected {m.expected}, got {m.actual}")
        checked += expectations
        failures += bad_steps
        if not bad_steps:
            click.echo(f"ok   {path} ({len(played)} steps, {expectations} checked)")

    # Coverage: each rule, and each experiment variant, is a rule that can fire.
    covered = [
        (r.where, r.text, hit)
        for r, hit in zip(compiled.rules, fired, strict=True)
        if r.experiment is None
    ]
    for e in compiled.experiments:
        for v in e.variants:
            covered.append(
                (v.where, f"experiment {e.name} variant {v.name}", v.name in shown[e.name])
            )
    never = [(where, text) for where, text, hit in covered if not hit]
    click.echo("")
    if never:
        click.echo(f"Rules no journey fired ({len(never)} of {len(covered)}):")
        for where, text in never:
            click.echo(f"    {where}  {text}")
    else:
        click.echo(f"Every rule fired in some journey ({len(covered)} rules).")
    below = False
    if coverage or threshold is not None:
        fired_count = len(covered) - len(never)
        share = 100.0 * fired_count / len(covered) if covered else 100.0
        line = f"Coverage: {fired_count} of {len(covered)} rules and variants fired ({share:.1f} %)"
        if threshold is not None:
            below = share < threshold
            line += f", {'below' if below else 'meets'} the threshold of {threshold:g} %"
        click.echo(line)
    summary = f"{len(files)} journey(s), {checked} step(s) with expectations, {failures} failed" + (
        f", {broken} could not be played" if broken else ""
    )
    click.echo(summary)
    if failures or broken or below:
        raise SystemExit(1)
