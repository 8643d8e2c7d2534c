"""The fidelity a flow declares: the range of budgets (epochs, a data fraction) its objective
takes, for budgeted algorithms (``hyperband``, ``asha``...) and the objective forms
``objective(spec, budget)`` and ``objective(spec, trial)`` (``trial.budget``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

UNITS = ("epochs", "fraction")


@dataclass(frozen=True)
class Fidelity:
    """Budgets from ``low`` to ``high`` in ``unit``: whole ``"epochs"``, or a ``"fraction"`` of
    the training data in (0, 1]."""

    low: float
    high: float
    unit: str = "epochs"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"Fidelity: 'unit' must be one of {list(UNITS)}; got {self.unit!r}.")
        for name in ("low", "high"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value > 0)
            ):
                raise ValueError(f"Fidelity: {name!r} must be a positive number; got {value!r}.")
            if self.integer and not float(value).is_integer():
                raise ValueError(
                    f"Fidelity: {name!r} counts epochs, a whole number; got {value!r}."
                )
        if self.low > self.high:
            raise ValueError(f"Fidelity: 'low'={self.low} exceeds 'high'={self.high}.")
        if self.unit == "fraction" and self.high > 1:
            raise ValueError(f"Fidelity: a data fraction's 'high' is at most 1; got {self.high}.")

    @property
    def integer(self) -> bool:
        """Whether budgets are whole numbers (epochs)."""
        return self.unit == "epochs"

    def value(self, budget: float) -> int | float:
        """A budget as the objective receives it (an int for epochs); a ``ValueError`` names
        the range when it lies outside."""
        if not self.low <= budget <= self.high:
            raise ValueError(
                f"budget {budget:g} lies outside the declared fidelity range "
                f"[{self.low:g}, {self.high:g}] {self.unit}."
            )
        return int(round(budget)) if self.integer else float(budget)

    def to_json(self) -> dict[str, Any]:
        """The range as recorded in ``config.json``."""
        return {"low": self.low, "high": self.high, "unit": self.unit}
