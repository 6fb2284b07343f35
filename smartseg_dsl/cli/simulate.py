"""`smartseg simulate RULES --journey FILE [--format text|json] [--explain]` (SPEC §5).

Plays a visitor journey through the engine (and the real cookie codec) and
prints, per step, each group's confidences, the audiences that hold and the
winning action per slot. `--explain` adds every implicit signal's points after
decay and caps, and every rule with whether its condition held.

Exit codes: 0, or 1 on bad input (a rule set with errors — its diagnostics are
printed — or a bad journey, named with its step number). Never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click

__all__ = ["render_json", "render_text", "simulate_command"]

BAR_WIDTH = 20


def _load(rules: Sequence[str]) -> Any:
    """Load the rule set or exit 1 with its diagnostics."""
    from ..loader import RuleSetError, load_ruleset

    try:
        return load_ruleset(list(rules))
    except RuleSetError as exc:
        print_diagnostics(exc.diagnostics)
        raise SystemExit(1) from None


def _why_not(rules: Sequence[str]) -> Callable[[Any, Any], list[str]]:
    """Why a rule of a step did not fire, from its condition's AST (`explain.py`)."""
    from ..explain import why_not
    from ..loader import check_paths

    ruleset = check_paths(list(rules)).ruleset
    conditions = {
        f"{f.path}:{rule.span.line}": rule.condition
        for f, rule in ruleset.rules()
        if rule.condition is not None
    }
    audiences = {a.name.value: a.condition for a in ruleset.audiences}

    def reasons(played: Any, trace: Any) -> list[str]:
        condition = conditions.get(trace.rule)
        if condition is None:
            return []
        device = getattr(played.request, "device", None)
        return why_not(condition, played.outcome.view, audiences, device)

    return reasons


def print_diagnostics(diagnostics: Sequence[Any]) -> None:
    """The checker's text rendering when available, else one line per diagnostic."""
    errors = [d for d in diagnostics if d.severity == "error"]
    try:
        from ..report import render_text  # type: ignore[attr-defined]

        text = render_text(list(diagnostics))
    except Exception:
        text = "\n".join(
            f"{d.file}:{d.line}:{d.column}: {d.severity} {d.code} {d.message}" for d in diagnostics
        )
    click.echo(text.rstrip("\n"), err=True)
    click.echo(f"the rule set has {len(errors)} error(s): nothing was played", err=True)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    if s == 0:
        return "+0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    return "+" + "".join(parts)


def bar(x: float, width: int = BAR_WIDTH) -> str:
    x = min(1.0, max(0.0, x))
    filled = round(x * width)
    return "█" * filled + "░" * (width - filled)


def _pct(x: float) -> str:
    return f"{x * 100:5.1f}%"


def _points(x: float) -> str:
    return f"{x:.2f}"


def _decision_detail(d: Any) -> str:
    if d.kind == "replace":
        return json.dumps(d.text, ensure_ascii=False)
    if d.kind == "template":
        return f"template {d.template}"
    if d.kind == "order":
        return f"by {d.group}"
    if d.kind == "survey":
        return f"{json.dumps(d.question, ensure_ascii=False)} about {d.about}"
    return ""


def render_text(
    played: Sequence[Any],
    *,
    explain: bool,
    title: str,
    measuring: bool = False,
    why_not: Callable[[Any, Any], list[str]] | None = None,
) -> str:
    lines: list[str] = [title, ""]
    previous = None
    for p in played:
        step, outcome = p.step, p.outcome
        since = p.time - previous if previous is not None else 0.0
        previous = p.time
        lines.append(
            f"Step {step.number} · {_when(p.time)} · {_elapsed(since)} · {step.describe()}"
        )
        if p.cookie_reason and p.cookie_reason != "no cookie":
            lines.append(f"  (cookie not used: {p.cookie_reason}; a new visitor)")
        for name, g in outcome.groups.items():
            status = [f"most likely {g.most_likely or '—'}"]
            if g.certain:
                status.append(f"certain {g.certain}")
            elif g.other:
                status.append("answered: none of these")
            status.append("known" if g.known else "not known")
            lines.append(f"  {name}: " + " · ".join(status))
            width = max(len(s) for s in g.confidences) if g.confidences else 0
            for seg, x in g.confidences.items():
                extra = "  (excluded)" if seg in g.excluded else ""
                lines.append(
                    f"    {seg:<{width}}  {bar(x)} {_pct(x)}  score {_points(g.scores[seg])}{extra}"
                )
        lines.append("  audiences: " + (", ".join(outcome.audiences) or "—"))
        if measuring:
            lines.append(_goals_line(outcome))
        if outcome.experiments:
            lines.append(_experiments_line(outcome))
        if outcome.holdout:
            lines.append("  holdout: yes — no rule acts on this visitor's pages, no survey")
        if outcome.decisions:
            lines.append("  slots:")
            width = max(len(s) for s in outcome.decisions)
            for slot, d in sorted(outcome.decisions.items()):
                detail = _decision_detail(d)
                lines.append(
                    f"    {slot:<{width}}  {d.action:<7}  {detail + '  ' if detail else ''}"
                    f"← {d.rule}"
                )
        else:
            lines.append("  slots: —")
        if p.cookie is not None:
            lines.append(f"  cookie: {len(p.cookie)} bytes")
        if explain:
            trace = outcome.trace
            lines.append("  evidence:")
            if trace.contributions:
                for c in trace.contributions:
                    capped = f" (capped from {_points(c.decayed)})" if c.decayed > c.points else ""
                    points = _points(c.points)
                    lines.append(
                        f"    {c.segment:<24} {points:>8}{capped}  {c.signal}  ← {c.where}"
                    )
            else:
                lines.append("    —")
            lines.append("  rules:")
            for r in trace.rules:
                mark = "✓" if r.held else "·"
                notes = []
                if r.won:
                    notes.append("won " + ", ".join(r.won))
                if r.lost:
                    notes.append("taken earlier: " + ", ".join(r.lost))
                if r.suppressed:
                    notes.append("survey suppressed: " + ", ".join(r.suppressed))
                note = f"  → {'; '.join(notes)}" if notes else ""
                lines.append(f"    {mark} {r.rule:<24} {r.text}{note}")
                if not r.held and why_not is not None:
                    lines += [f"        why: {reason}" for reason in why_not(p, r)]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _goals_line(outcome: Any) -> str:
    hits = []
    for hit in outcome.goals:
        text = hit.goal if hit.first else f"{hit.goal} again"
        if hit.value is not None:
            text += f" (value {_points(hit.value)})"
        hits.append(text)
    return "  goals reached: " + (", ".join(hits) or "—")


def _experiments_line(outcome: Any) -> str:
    exposed = {name for name, _ in outcome.exposures}
    parts = []
    for name, variant in outcome.experiments.items():
        if variant is None:
            parts.append(f"{name}: not enrolled")
        else:
            parts.append(f"{name}: {variant}" + (" (exposed now)" if name in exposed else ""))
    return "  experiments: " + " · ".join(parts)


def _exact(x: float) -> float:
    """Machine-readable output carries the engine's full value (JSON keeps every digit
    of a float: `json.loads` gives back the very same number); only the text output
    rounds."""
    return float(x)


def step_json(p: Any, *, explain: bool) -> dict[str, Any]:
    from ..journey import reached_goals

    outcome = p.outcome
    groups = {
        name: {
            "confidence": {seg: _exact(x) for seg, x in g.confidences.items()},
            "most_likely": g.most_likely,
            "certain": g.certain,
            "known": g.known,
        }
        for name, g in outcome.groups.items()
    }
    slots: dict[str, Any] = {}
    for slot, d in sorted(outcome.decisions.items()):
        entry: dict[str, Any] = {"action": d.action, "rule": d.rule}
        if d.text is not None:
            entry["text"] = d.text
        if d.template is not None:
            entry["template"] = d.template
        if d.group is not None:
            entry["group"] = d.group
        if d.question is not None:
            entry["question"] = d.question
            entry["about"] = d.about
        slots[slot] = entry
    out: dict[str, Any] = {
        "step": p.step.number,
        "groups": groups,
        "audiences": list(outcome.audiences),
        "slots": slots,
        "holdout": outcome.holdout,
        "goals": reached_goals(outcome),
        "experiments": dict(outcome.experiments),
    }
    if outcome.exposures:
        out["exposures"] = [{"experiment": e, "variant": v} for e, v in outcome.exposures]
    values = [
        {"goal": hit.goal, "value": hit.value} for hit in outcome.goals if hit.value is not None
    ]
    if values:
        out["goal_values"] = values
    if explain:
        trace = outcome.trace
        out["explain"] = {
            "signals": [
                {
                    "segment": c.segment,
                    "signal": c.signal,
                    "where": c.where,
                    "points": _exact(c.points),
                    "decayed": _exact(c.decayed),
                }
                for c in trace.contributions
            ],
            "rules": [
                {
                    "rule": r.rule,
                    "held": r.held,
                    "won": list(r.won),
                    "lost": list(r.lost),
                    "suppressed": list(r.suppressed),
                }
                for r in trace.rules
            ],
        }
    return out


def render_json(played: Sequence[Any], *, explain: bool) -> str:
    doc = {"steps": [step_json(p, explain=explain) for p in played]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


@click.command("simulate")
@click.argument("rules", nargs=-1, required=True, type=click.Path())
@click.option(
    "--journey", "journey_path", required=True, type=click.Path(), help="Journey JSON file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--explain", is_flag=True, help="Show each signal's points and each rule's result.")
def simulate_command(rules: tuple[str, ...], journey_path: str, fmt: str, explain: bool) -> None:
    """Play a visitor journey and show what the rules decide at each step."""
    from ..journey import JourneyError, load_journey, play

    compiled = _load(rules)
    try:
        journey = load_journey(journey_path)
        played = play(journey, compiled)
    except JourneyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(render_json(played, explain=explain), nl=False)
    else:
        title = f"Journey {journey_path} — {len(played)} step(s), rules: {', '.join(rules)}"
        text = render_text(
            played,
            explain=explain,
            title=title,
            measuring=compiled.measuring,
            why_not=_why_not(rules) if explain else None,
        )
        click.echo(text, nl=False)
