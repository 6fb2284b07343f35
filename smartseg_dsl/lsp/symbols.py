"""The outline of a file: groups with their segments, audiences, goals, experiments, rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .. import ast
from ..printer import action_text, expr_text, short

__all__ = ["Symbol", "outline"]

SymbolKind = Literal["group", "segment", "audience", "goal", "experiment", "variant", "rule"]


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    kind: SymbolKind
    detail: str
    span: ast.Span  # the whole item
    name_span: ast.Span  # what to select
    children: tuple[Symbol, ...] = field(default=())


def _label(label: ast.String | None) -> str:
    return label.value if label is not None else ""


def outline(file: ast.RuleFile) -> list[Symbol]:
    out: list[Symbol] = []
    for item in file.items:
        if isinstance(item, ast.Group):
            segments = tuple(
                Symbol(s.name.value, "segment", _label(s.label), s.span, s.name.span)
                for s in item.segments
            )
            out.append(
                Symbol(
                    item.name.value,
                    "group",
                    _label(item.label),
                    item.span,
                    item.name.span,
                    segments,
                )
            )
        elif isinstance(item, ast.Audience):
            out.append(
                Symbol(
                    item.name.value,
                    "audience",
                    short(expr_text(item.condition)),
                    item.span,
                    item.name.span,
                )
            )
        elif isinstance(item, ast.Goal):
            out.append(
                Symbol(item.name.value, "goal", _label(item.label), item.span, item.name.span)
            )
        elif isinstance(item, ast.Experiment):
            variants = tuple(
                Symbol(v.name.value, "variant", "control" if v.control else "", v.span, v.name.span)
                for v in item.variants
            )
            out.append(
                Symbol(
                    item.name.value,
                    "experiment",
                    _label(item.label),
                    item.span,
                    item.name.span,
                    variants,
                )
            )
        elif isinstance(item, ast.Rule):
            head = (
                f"when {short(expr_text(item.condition))}"
                if item.condition is not None
                else "always"
            )
            actions = "; ".join(action_text(a) for a in item.actions)
            out.append(Symbol(head, "rule", short(actions), item.span, item.span))
    return out
