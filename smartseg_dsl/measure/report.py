"""The report as data (SPEC §6): counts from `aggregate`, statistics from `stats`.

`build_report` returns the JSON document of `smartseg report --format json`; the
text and HTML renderers read that same document, so all three always agree.
Beyond the SPEC's shape it carries `notes` (plain-words remarks such as events
for a goal the rules no longer declare), each comparison's `note` (why its
statistics are null) and each experiment's `baseline` variant.
"""

from __future__ import annotations

from typing import Any

from .aggregate import Aggregates, Counts
from .events import format_time
from .spec import ExperimentSpec, GoalSpec, ReportSpec
from .stats import MIN_VISITORS, Cell, Comparison, compare, srm_p_value

__all__ = ["NO_VISITORS", "SRM_THRESHOLD", "UNKNOWN_SEGMENT", "build_report"]

UNKNOWN_SEGMENT = "(unknown)"
NO_VISITORS = "no visitors in this period"
SRM_THRESHOLD = 0.001
BASELINE = "baseline"


def build_report(spec: ReportSpec, counts: Aggregates, lo: float, hi: float) -> dict[str, Any]:
    total = counts.total
    notes = [NO_VISITORS] if total.visitors == 0 else []
    notes += [
        f"events for unknown goal {name} ({n} visitor{'s' if n != 1 else ''})"
        " — renamed or removed from the rules?"
        for name, n in counts.unknown_goals.items()
    ]
    report: dict[str, Any] = {
        "period": {"from": format_time(lo), "until": format_time(hi)},
        "visitors": total.visitors,
        "goals": {g.name: {"label": g.label, "value": g.has_value} for g in spec.goals},
        "segments": _segments(spec, counts, total),
        "holdout": _holdout(spec, counts, total),
        "experiments": {},
        "notes": notes,
    }
    for experiment in spec.experiments:
        report["experiments"][experiment.name] = _experiment(
            spec, experiment, counts.experiments.get(experiment.name, {}), notes
        )
    for name, variants in counts.experiments.items():
        if name not in report["experiments"]:
            n = sum(c.visitors for c in variants.values())
            notes.append(
                f"exposures to unknown experiment {name} ({n} visitor{'s' if n != 1 else ''})"
                " — renamed or removed from the rules?"
            )
    return report


def _num(x: float | None) -> float | None:
    """Twelve significant digits: the last bits of a float sum depend on the database's
    summation order, and the same events must give the same report on every backend."""
    return None if x is None else float(f"{x:.12g}")


def _rate(part: float, whole: int) -> float | None:
    return _num(part / whole) if whole else None


def _segment_order(declared: tuple[str, ...], seen: dict[str | None, Counts]) -> list[str | None]:
    """Declared segments first (even without visitors), then renamed ones, then unknown."""
    extra = sorted(s for s in seen if s is not None and s not in declared)
    return [*declared, *extra, *([None] if None in seen else [])]


def _segments(spec: ReportSpec, counts: Aggregates, total: Counts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, declared in spec.groups.items():
        seen = counts.by_segment.get(group, {})
        cells: dict[str, Any] = {}
        for segment in _segment_order(declared, seen):
            cell = seen.get(segment, Counts())
            goals: dict[str, Any] = {}
            for goal in spec.goals:
                rate = _rate(cell.conversions.get(goal.name, 0), cell.visitors)
                all_rate = _rate(total.conversions.get(goal.name, 0), total.visitors)
                entry: dict[str, Any] = {
                    "conversions": cell.conversions.get(goal.name, 0),
                    "rate": rate,
                    # a ratio of rates is a statistic: none below the visitor threshold
                    "vs_all": _num(rate / all_rate)
                    if rate is not None and all_rate and cell.visitors >= MIN_VISITORS
                    else None,
                }
                if goal.has_value:
                    entry["value_per_visitor"] = _rate(
                        cell.value_sum.get(goal.name, 0.0), cell.visitors
                    )
                goals[goal.name] = entry
            cells[UNKNOWN_SEGMENT if segment is None else segment] = {
                "visitors": cell.visitors,
                "share": _rate(cell.visitors, total.visitors),
                "goals": goals,
            }
        out[group] = cells
    return out


def _cell(counts: Counts, goal: GoalSpec) -> dict[str, Any]:
    conversions = counts.conversions.get(goal.name, 0)
    cell: dict[str, Any] = {
        "visitors": counts.visitors,
        "conversions": conversions,
        "rate": _rate(conversions, counts.visitors),
    }
    if goal.has_value:
        cell["value_per_visitor"] = _rate(counts.value_sum.get(goal.name, 0.0), counts.visitors)
    return cell


def _stat_cell(counts: Counts, goal: GoalSpec) -> Cell:
    if goal.has_value:
        return Cell(
            counts.visitors,
            counts.value_sum.get(goal.name, 0.0),
            counts.value_squares.get(goal.name, 0.0),
        )
    return Cell(counts.visitors, counts.conversions.get(goal.name, 0))


def _statistics(result: Comparison | None, note: str | None = None) -> dict[str, Any]:
    if result is None:
        return {"lift": None, "ci95": None, "p_value": None, "chance_to_beat": None, "note": note}
    return {
        "lift": _num(result.lift),
        "ci95": None if result.ci95 is None else [_num(result.ci95[0]), _num(result.ci95[1])],
        "p_value": _num(result.p_value),
        "chance_to_beat": _num(result.chance_to_beat),
        "note": result.note,
    }


def _holdout(spec: ReportSpec, counts: Aggregates, total: Counts) -> dict[str, Any] | None:
    held, personalized = counts.by_holdout.get(True, Counts()), counts.by_holdout.get(False)
    if spec.holdout is None and not held.visitors:
        return None
    personalized = personalized or Counts()
    goals = {}
    for goal in spec.goals:
        result = compare(_stat_cell(held, goal), _stat_cell(personalized, goal))
        goals[goal.name] = {
            "holdout": _cell(held, goal),
            "personalized": _cell(personalized, goal),
            **_statistics(result),
        }
    return {"share": _rate(held.visitors, total.visitors), "goals": goals}


def _experiment(
    spec: ReportSpec, experiment: ExperimentSpec, seen: dict[str, Counts], notes: list[str]
) -> dict[str, Any]:
    names = [v.name for v in experiment.variants]
    exposed = [seen.get(name, Counts()).visitors for name in names]
    srm = srm_p_value(exposed, [v.weight for v in experiment.variants]) if sum(exposed) else None
    baseline = experiment.baseline.name
    base_counts = seen.get(baseline, Counts())
    variants: dict[str, Any] = {}
    for name in names:
        counts = seen.get(name, Counts())
        goals = {}
        for goal in spec.experiment_goals(experiment):
            stats = (
                _statistics(None, BASELINE)
                if name == baseline
                else _statistics(compare(_stat_cell(base_counts, goal), _stat_cell(counts, goal)))
            )
            goals[goal.name] = {**_cell(counts, goal), **stats}
        variants[name] = {"visitors": counts.visitors, "goals": goals}
    for name in sorted(set(seen) - set(names)):
        n = seen[name].visitors
        notes.append(
            f"exposures to unknown variant {name} of {experiment.name}"
            f" ({n} visitor{'s' if n != 1 else ''}) — renamed or removed from the rules?"
        )
    return {
        "label": experiment.label,
        "baseline": baseline,
        "srm_p_value": _num(srm),
        "srm_flag": srm is not None and srm < SRM_THRESHOLD,
        "variants": variants,
    }
