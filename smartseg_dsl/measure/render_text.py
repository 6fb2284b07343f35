"""`smartseg report --format text`: the report as tables a marketer can read.

Reads the document of `build_report` (and the spec for labels), so the text
always says what the JSON says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .report import NO_VISITORS
from .spec import ReportSpec
from .wording import chance, count, number, p_value, pct, verdict

__all__ = ["render_text", "table"]


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ", left: int = 1
) -> list[str]:
    """Columns padded to width: the first `left` left-aligned (names), the rest
    right-aligned (numbers)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return (indent + "  ".join(padded)).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _when(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", " UTC")


def _heading(text: str) -> list[str]:
    return ["", text, "-" * len(text)]


def render_text(report: dict[str, Any], spec: ReportSpec) -> str:
    period = report["period"]
    out = [
        "smartseg measurement report",
        f"Period: {_when(period['from'])} … {_when(period['until'])} (until excluded)",
        f"Visitors: {count(report['visitors'])}",
    ]
    if report["visitors"] == 0:
        out += ["", NO_VISITORS.capitalize() + "."]
    if report["goals"]:
        out += _heading("Goals")
        out += table(
            ["goal", "what", "kind"],
            [
                [name, g["label"] or "", "value" if g["value"] else "conversion"]
                for name, g in report["goals"].items()
            ],
            left=3,
        )
    for group, cells in report["segments"].items():
        out += _segments(group, cells, report)
    if report["holdout"] is not None:
        out += _holdout(report["holdout"], spec)
    for name, experiment in report["experiments"].items():
        out += _experiment(name, experiment, report)
    if report["notes"]:
        out += _heading("Notes")
        out += [f"  - {note}" for note in report["notes"] if note != NO_VISITORS]
    return "\n".join(out) + "\n"


def _segments(group: str, cells: dict[str, Any], report: dict[str, Any]) -> list[str]:
    header = ["segment", "visitors", "share"]
    for name, goal in report["goals"].items():
        header += [f"{name} rate", "vs all"] + (["value/visitor"] if goal["value"] else [])
    rows = []
    for segment, cell in cells.items():
        row = [segment, count(cell["visitors"]), pct(cell["share"])]
        for name, goal in report["goals"].items():
            entry = cell["goals"][name]
            ratio = f"{entry['vs_all']:.2f}×" if entry["vs_all"] is not None else "–"
            if cell["visitors"] and entry["vs_all"] is None and cell["visitors"] < 50:
                ratio = "too few visitors"
            row += [pct(entry["rate"]), ratio]
            if goal["value"]:
                row.append(number(entry["value_per_visitor"]))
        rows.append(row)
    return [*_heading(f"Segments: {group}"), *table(header, rows)]


def _cell_text(cell: dict[str, Any], valued: bool) -> str:
    if valued:
        return f"{number(cell['value_per_visitor'])}/visitor"
    return f"{count(cell['conversions'])}/{count(cell['visitors'])} = {pct(cell['rate'], 2)}"


def _stats_cells(stats: dict[str, Any]) -> list[str]:
    if stats["lift"] is None:
        return [stats.get("note") or "too few visitors", "", "", ""]
    lo, hi = stats["ci95"]
    return [
        pct(stats["lift"], 1, signed=True),
        f"{pct(lo, 1, signed=True)} … {pct(hi, 1, signed=True)}",
        p_value(stats["p_value"]),
        chance(stats["chance_to_beat"]),
    ]


def _holdout(holdout: dict[str, Any], spec: ReportSpec) -> list[str]:
    planned = f" (rules: {pct(spec.holdout, 0)})" if spec.holdout is not None else ""
    out = _heading("Holdout vs personalized")
    out.append(f"  Holdout: {pct(holdout['share'])} of visitors{planned}; no rule acts on them.")
    out.append("")
    rows = []
    for name, entry in holdout["goals"].items():
        valued = spec.goal(name).has_value if name in spec.goal_names else False
        rows.append(
            [
                name,
                _cell_text(entry["holdout"], valued),
                _cell_text(entry["personalized"], valued),
                *_stats_cells(entry),
            ]
        )
    header = ["goal", "holdout", "personalized", "lift", "95 % interval", "p-value"]
    return out + table([*header, "chance to beat"], rows)


def _experiment(name: str, experiment: dict[str, Any], report: dict[str, Any]) -> list[str]:
    baseline = experiment["baseline"]
    label = experiment.get("label")
    out = _heading(f"Experiment: {name}" + (f" — {label}" if label else ""))
    srm = experiment["srm_p_value"]
    if experiment["srm_flag"]:
        out.append(
            f"  !! SAMPLE RATIO MISMATCH (p = {p_value(srm)}): the variants did not get the"
            " traffic their weights promise; do not trust this experiment's numbers until"
            " the cause is found."
        )
    elif srm is not None:
        out.append(f"  Traffic split check (SRM): p = {p_value(srm)}, ok.")
    variants = experiment["variants"]
    goal_names = list(next(iter(variants.values()))["goals"]) if variants else []
    verdicts = []
    for position, goal in enumerate(goal_names):
        valued = report["goals"][goal]["value"]
        role = "primary goal" if position == 0 else "secondary goal"
        out += ["", f"  {goal} ({role})"]
        rows = []
        for variant, entry in variants.items():
            stats = entry["goals"][goal]
            measure = number(stats["value_per_visitor"]) if valued else pct(stats["rate"], 2)
            row = [variant, count(entry["visitors"]), count(stats["conversions"]), measure]
            if variant == baseline:
                row += ["baseline", "", "", ""]
            else:
                row += _stats_cells(stats)
                verdicts.append(verdict(variant, baseline, goal, stats))
            rows.append(row)
        header = ["variant", "visitors", "conversions", "value/visitor" if valued else "rate"]
        header += ["lift", "95 % interval", "p-value", "chance to beat"]
        out += table(header, rows, indent="    ")
    if verdicts:
        out += ["", "  Verdicts:"] + [f"  - {v}" for v in verdicts]
    return out
