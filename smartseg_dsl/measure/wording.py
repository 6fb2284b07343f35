"""Numbers and verdicts in plain words, shared by the text and HTML reports.

One place decides how a lift, an interval or a p-value reads, so the two
renderers never disagree ("+12 % (95 % CI +3 % … +21 %), chance to beat 99 %").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .stats import TOO_FEW

__all__ = [
    "NOT_ENOUGH",
    "chance",
    "count",
    "lift_phrase",
    "number",
    "p_value",
    "pct",
    "significant",
    "verdict",
]

NOT_ENOUGH = "not enough data yet"
#: two-sided p below this: the difference is called a win or a loss
SIGNIFICANCE = 0.05


def count(n: int) -> str:
    return f"{n:,}"


def pct(x: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """0.0642 → "6.4 %"; signed: "+6.4 %" / "−6.4 %" (a real minus sign)."""
    if x is None:
        return "–"
    text = f"{abs(x) * 100:.{digits}f} %"
    if not signed:
        return text if x >= 0 else "−" + text
    return ("−" if x < 0 else "+") + text


def chance(x: float | None) -> str:
    """A probability in whole percent that never rounds to a certainty: "> 99 %"."""
    if x is None:
        return "–"
    if x >= 0.995:
        return "> 99 %"
    if x < 0.005:
        return "< 1 %"
    return pct(x, 0)


def number(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def p_value(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def significant(stats: Mapping[str, Any]) -> bool:
    return stats.get("p_value") is not None and stats["p_value"] < SIGNIFICANCE


def lift_phrase(stats: Mapping[str, Any]) -> str:
    """ "+12 % (95 % CI +3 % … +21 %), chance to beat 99 %" — statistics present."""
    lo, hi = stats["ci95"]
    return (
        f"{pct(stats['lift'], 0, signed=True)} "
        f"(95 % CI {pct(lo, 0, signed=True)} … {pct(hi, 0, signed=True)}), "
        f"chance to beat {chance(stats['chance_to_beat'])}"
    )


def verdict(variant: str, baseline: str, goal: str, stats: Mapping[str, Any]) -> str:
    """One line a marketer can act on, for `variant` against `baseline` on `goal`."""
    if stats.get("lift") is None:
        why = stats.get("note") or TOO_FEW
        return f"{variant} vs {baseline} on {goal}: {NOT_ENOUGH} ({why})"
    if significant(stats):
        word = "beats" if stats["lift"] > 0 else "loses to"
        return f"{variant} {word} {baseline} on {goal}: {lift_phrase(stats)}"
    return f"{variant} vs {baseline} on {goal}: no clear difference yet, {lift_phrase(stats)}"
