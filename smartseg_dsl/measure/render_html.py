"""`smartseg report --format html`: one self-contained page with charts.

Python lays the charts out (every bar, whisker and reference line as numbers);
the Jinja2 template `smartseg/report.html` only draws them as inline SVG, with
autoescaping on, so a segment or goal name can never inject markup. No script,
no external asset: the file opens anywhere, offline, and prints.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .report import NO_VISITORS
from .spec import ReportSpec
from .stats import MIN_VISITORS
from .wording import count, number, p_value, pct, verdict

__all__ = ["render_html"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LABEL_W = 150  # left column of every chart: the row's name
PLOT_W = 380  # the plotted area
ROW_H = 26
WIDTH = LABEL_W + PLOT_W + 130  # room on the right for the value text


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(report: dict[str, Any], spec: ReportSpec) -> str:
    template = _environment().get_template("smartseg/report.html")
    return template.render(
        report=report,
        empty=report["visitors"] == 0,
        no_visitors=NO_VISITORS,
        goals=report["goals"],
        shares=[_share_chart(g, cells) for g, cells in report["segments"].items()],
        conversions=[
            _conversion_chart(group, cells, goal, meta, report)
            for group, cells in report["segments"].items()
            for goal, meta in report["goals"].items()
        ],
        holdout=_holdout(report["holdout"], spec),
        experiments=[_experiment(n, e, report) for n, e in report["experiments"].items()],
        notes=[n for n in report["notes"] if n != NO_VISITORS],
        fmt={"count": count, "pct": pct, "number": number, "p": p_value},
        geometry={"label_w": LABEL_W, "plot_w": PLOT_W, "row_h": ROW_H, "width": WIDTH},
    )


def _x(value: float, scale: float) -> float:
    """Plot x of `value` on a 0…`scale` axis."""
    return round(LABEL_W + PLOT_W * (value / scale if scale else 0.0), 1)


def _share_chart(group: str, cells: dict[str, Any]) -> dict[str, Any]:
    rows = [
        {
            "label": segment,
            "width": round(PLOT_W * (cell["share"] or 0.0), 1),
            "text": f"{pct(cell['share'])} · {count(cell['visitors'])}",
        }
        for segment, cell in cells.items()
    ]
    return {"group": group, "rows": rows, "height": ROW_H * len(rows) + 8}


def _conversion_chart(
    group: str, cells: dict[str, Any], goal: str, meta: dict[str, Any], report: dict[str, Any]
) -> dict[str, Any]:
    valued = meta["value"]
    key = "value_per_visitor" if valued else "rate"
    all_value = _all_visitors(report, goal, key)
    values = [cell["goals"][goal][key] or 0.0 for cell in cells.values()]
    scale = max([*values, all_value or 0.0]) * 1.15 or 1.0
    rows = []
    for (segment, cell), value in zip(cells.items(), values, strict=True):
        few = cell["visitors"] < MIN_VISITORS
        shown = number(value) if valued else pct(value)
        rows.append(
            {
                "label": segment,
                "width": round(_x(value, scale) - LABEL_W, 1),
                "few": few,
                "text": f"{shown} · too few visitors" if few else shown,
            }
        )
    return {
        "group": group,
        "goal": goal,
        "label": meta["label"],
        "measure": "value per visitor" if valued else "conversion rate",
        "rows": rows,
        "height": ROW_H * len(rows) + 24,
        "reference_x": _x(all_value or 0.0, scale),
        "reference_text": "all visitors " + (number(all_value) if valued else pct(all_value)),
    }


def _all_visitors(report: dict[str, Any], goal: str, key: str) -> float | None:
    """The all-visitors rate (or value per visitor): any group's cells add up to it."""
    total = report["visitors"]
    if not total:
        return None
    cells = next(iter(report["segments"].values()), None)
    if cells is None:
        holdout = report["holdout"]
        if holdout is None:
            return None
        arms = [holdout["goals"][goal]["holdout"], holdout["goals"][goal]["personalized"]]
        return sum((a[key] or 0.0) * a["visitors"] for a in arms) / total
    return sum((c["goals"][goal][key] or 0.0) * c["visitors"] for c in cells.values()) / total


def _whisker(stats: dict[str, Any]) -> dict[str, Any] | None:
    """A lift and its 95 % interval on an axis symmetric around zero."""
    if stats["lift"] is None:
        return None
    lo, hi = stats["ci95"]
    half = max(abs(lo), abs(hi), 0.05) * 1.15

    def x(v: float) -> float:
        return round(LABEL_W + PLOT_W * (v + half) / (2 * half), 1)

    return {
        "zero": x(0.0),
        "lo": x(lo),
        "hi": x(hi),
        "mid": x(stats["lift"]),
        "axis_lo": pct(-half, 0, signed=True),
        "axis_hi": pct(half, 0, signed=True),
        "positive": lo > 0,
        "negative": hi < 0,
    }


def _holdout(holdout: dict[str, Any] | None, spec: ReportSpec) -> dict[str, Any] | None:
    if holdout is None:
        return None
    rows = []
    for goal, entry in holdout["goals"].items():
        valued = goal in spec.goal_names and spec.goal(goal).has_value
        key = "value_per_visitor" if valued else "rate"
        show = number if valued else pct
        rows.append(
            {
                "goal": goal,
                "holdout": show(entry["holdout"][key]),
                "personalized": show(entry["personalized"][key]),
                "whisker": _whisker(entry),
                "note": entry["note"],
                "verdict": verdict("personalized", "holdout", goal, entry),
            }
        )
    return {"share": holdout["share"], "planned": spec.holdout, "rows": rows}


def _experiment(name: str, experiment: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    baseline = experiment["baseline"]
    variants = experiment["variants"]
    goals = list(next(iter(variants.values()))["goals"]) if variants else []
    charts, verdicts = [], []
    for goal in goals:
        valued = report["goals"][goal]["value"]
        key = "value_per_visitor" if valued else "rate"
        base = variants[baseline]["goals"][goal][key] or 0.0
        spans = []
        for variant, entry in variants.items():
            stats = entry["goals"][goal]
            value = stats[key] or 0.0
            # the variant's plausible range: the baseline moved by the lift's interval
            lo = hi = None
            if variant != baseline and stats["ci95"] is not None:
                lo, hi = max(0.0, base * (1 + stats["ci95"][0])), base * (1 + stats["ci95"][1])
                verdicts.append(verdict(variant, baseline, goal, stats))
            elif variant != baseline:
                verdicts.append(verdict(variant, baseline, goal, stats))
            spans.append((variant, entry, stats, value, lo, hi))
        scale = max([base, *(s[3] for s in spans), *(s[5] or 0.0 for s in spans)]) * 1.1 or 1.0
        show = number if valued else pct
        rows = [
            {
                "label": variant,
                "baseline": variant == baseline,
                "width": round(_x(value, scale) - LABEL_W, 1),
                "lo": None if lo is None else _x(lo, scale),
                "hi": None if hi is None else _x(hi, scale),
                "text": f"{show(value)} · {count(entry['visitors'])} visitors"
                + (" · too few visitors" if stats["note"] == "too few visitors" else ""),
            }
            for variant, entry, stats, value, lo, hi in spans
        ]
        charts.append(
            {
                "goal": goal,
                "measure": "value per visitor" if valued else "conversion rate",
                "rows": rows,
                "height": ROW_H * len(rows) + 24,
                "reference_x": _x(base, scale),
            }
        )
    return {
        "name": name,
        "label": experiment.get("label"),
        "baseline": baseline,
        "srm_flag": experiment["srm_flag"],
        "srm_p": experiment["srm_p_value"],
        "charts": charts,
        "verdicts": verdicts,
    }
