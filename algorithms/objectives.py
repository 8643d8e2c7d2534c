"""Which metrics a search optimises, in which direction, and under which constraints."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

MODES = ("max", "min")
CONSTRAINT_OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Objectives:
    """Named metrics with a direction each, plus ``{metric: (op, bound)}`` constraints.

    ``names=None`` means "the one metric the objective returns" (an error if it returns more).
    """

    names: tuple[str, ...] | None = None
    modes: tuple[str, ...] = ("max",)
    constraints: Mapping[str, tuple[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"Objective mode must be one of {MODES}; got {mode!r}.")
        if self.names is not None and len(self.names) != len(self.modes):
            raise ValueError("Objectives: one mode per metric name is required.")
        for name, rule in self.constraints.items():
            if (
                not isinstance(rule, (tuple, list))
                or len(rule) != 2
                or rule[0] not in CONSTRAINT_OPS
                or not isinstance(rule[1], (int, float))
            ):
                raise ValueError(
                    f"Constraint on {name!r} must be (op, bound) with op in "
                    f"{sorted(CONSTRAINT_OPS)} and a numeric bound; got {rule!r}."
                )

    @classmethod
    def create(
        cls,
        objectives: str | Mapping[str, str] | None,
        mode: str = "max",
        constraints: Mapping[str, tuple[str, float]] | None = None,
    ) -> Objectives:
        """From a metric name (with ``mode``), a ``{name: mode}`` mapping, or None."""
        constraints = dict(constraints or {})
        if objectives is None:
            return cls(None, (mode,), constraints)
        if isinstance(objectives, str):
            return cls((objectives,), (mode,), constraints)
        if not objectives:
            raise ValueError("objectives: name at least one metric.")
        return cls(tuple(objectives), tuple(objectives.values()), constraints)

    def resolve(self, metrics: Mapping[str, float]) -> tuple[str, ...]:
        """The metric names to optimise for a trial's metrics."""
        if self.names is not None:
            missing = [n for n in self.names if n not in metrics]
            if missing:
                raise ValueError(
                    f"The objective returned metrics {sorted(metrics)}, but the algorithm "
                    f"optimises {missing}."
                )
            return self.names
        keys = [k for k in metrics if k not in self.constraints]
        if len(keys) != 1:
            raise ValueError(
                f"The objective returned metrics {sorted(metrics)}; tell the algorithm which to "
                "optimise (metric='name', mode='max'|'min' or objectives={'name': 'max', ...})."
            )
        return (keys[0],)

    def reward(self, metrics: Mapping[str, float]) -> np.ndarray:
        """The metrics as a maximisation vector."""
        names = self.resolve(metrics)
        modes = self.modes if self.names is not None else self.modes[:1]
        return np.array(
            [metrics[n] if m == "max" else -metrics[n] for n, m in zip(names, modes, strict=True)],
            dtype=np.float64,
        )

    def violation(self, metrics: Mapping[str, float]) -> float:
        """Total relative constraint violation (0 when every constraint holds)."""
        total = 0.0
        for name, (op, bound) in self.constraints.items():
            if name not in metrics:
                raise ValueError(
                    f"Constraint metric {name!r} is missing; the objective returned "
                    f"{sorted(metrics)}."
                )
            value = metrics[name]
            if not CONSTRAINT_OPS[op](value, bound):
                total += abs(value - bound) / max(abs(bound), 1e-12)
        return total

    def is_finite(self, metrics: Mapping[str, float]) -> bool:
        """Whether every metric is a finite number."""
        return all(isinstance(v, (int, float)) and math.isfinite(v) for v in metrics.values())
