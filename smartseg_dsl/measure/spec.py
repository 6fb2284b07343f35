"""What the report needs to know about the rules: groups, goals, holdout, experiments.

A small value type of its own, so the report (its SQL, statistics, renderers and
tests) does not depend on the compiler's internals; `ReportSpec.from_ruleset`
reads a compiled rule set into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExperimentSpec", "GoalSpec", "ReportSpec", "VariantSpec"]


@dataclass(frozen=True, slots=True)
class GoalSpec:
    name: str
    label: str | None = None
    has_value: bool = False


@dataclass(frozen=True, slots=True)
class VariantSpec:
    name: str
    weight: float = 1.0
    is_control: bool = False


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    name: str
    variants: tuple[VariantSpec, ...]
    goals: tuple[str, ...] = ()
    label: str | None = None

    @property
    def baseline(self) -> VariantSpec:
        """The first control, or the first variant when none is a control (SPEC §6)."""
        return next((v for v in self.variants if v.is_control), self.variants[0])


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """Groups (`{G: (S, ...)}` in declaration order), goals, holdout and experiments."""

    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    goals: tuple[GoalSpec, ...] = ()
    holdout: float | None = None
    experiments: tuple[ExperimentSpec, ...] = ()

    @property
    def goal_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.goals)

    def goal(self, name: str) -> GoalSpec:
        return next(g for g in self.goals if g.name == name)

    def experiment_goals(self, experiment: ExperimentSpec) -> tuple[GoalSpec, ...]:
        """The experiment's goals (primary first); every goal when it names none."""
        names = experiment.goals or self.goal_names
        return tuple(self.goal(n) for n in names if n in self.goal_names)

    @classmethod
    def from_ruleset(cls, compiled: Any) -> ReportSpec:
        """Read a `CompiledRuleSet`; goals, holdout and experiments are optional there."""
        groups = {g.name: tuple(g.segments) for g in compiled.groups}
        goals = tuple(
            GoalSpec(g.name, getattr(g, "label", None), _has_value(g))
            for g in getattr(compiled, "goals", ())
        )
        holdout = getattr(compiled, "holdout", None)
        experiments = tuple(
            ExperimentSpec(
                e.name,
                tuple(
                    VariantSpec(v.name, float(v.weight), bool(getattr(v, "control", False)))
                    for v in e.variants
                ),
                tuple(getattr(e, "goals", ())),
                getattr(e, "label", None),
            )
            for e in getattr(compiled, "experiments", ())
        )
        return cls(groups, goals, None if holdout is None else float(holdout), experiments)


def _has_value(goal: Any) -> bool:
    """`has_value` when the compiled goal says so, else whether it computes a value."""
    flag = getattr(goal, "has_value", None)
    return bool(flag) if flag is not None else getattr(goal, "value", None) is not None
