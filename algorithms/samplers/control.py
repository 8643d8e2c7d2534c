"""The gradient-free control of PA&DA's path sampling: the same schedule toward parametric ops,
with no gradient information.

PA&DA's path half (``pada_path``) ends up moving the op distribution ``p`` toward the
convolution ops only because parameter-free ops have no gradient norm (``n_o = 0``). This
sampler keeps that schedule and drops the measurement: after epoch ``e`` of ``E``,
``p = (e/E) * target + (1 - e/E) * uniform`` with a fixed ``target`` (by default equal mass on
the ops that hold convolutions, ``nor_conv_1x1`` and ``nor_conv_3x3``, and 0 elsewhere; or any
distribution over ``NB201_OPS`` given as ``target``, such as a PA&DA run's final one). A ranking
benchmark that shows ``pada_path`` above ``control`` shows that the gradient norms help beyond
the shift toward parametric ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import register_sampler
from symnas.algorithms.samplers.op_types import OpTypeSampler, parametric_ops


@register_sampler(
    "control",
    "PA&DA's schedule toward the conv ops with a fixed target and no gradient information",
)
class ControlSampler(OpTypeSampler):
    """Edge ops drawn from ``p``, annealed toward a fixed ``target`` (see the module doc).

    Args:
      target: a distribution over ``NB201_OPS`` (None: equal mass on the convolution ops).
      per_cell, accept: as ``OpTypeSampler``.
    """

    def __init__(self, target: Sequence[float] | None = None, **options: Any) -> None:
        super().__init__(**options)
        if target is not None:
            values = np.asarray(target, dtype=float)
            if values.shape != self.uniform.shape or (values < 0).any() or not values.sum() > 0:
                raise ValueError(
                    f"ControlSampler: target must be {len(self.ops)} non-negative weights over "
                    f"ops {list(self.ops)}, not all 0; got {target!r}."
                )
            target = values / values.sum()
        self.target = target

    def bind(self, space: Any, supernet: Any = None) -> ControlSampler:
        super().bind(space, supernet)
        if self.target is None:
            convs = parametric_ops(self.edges[0][0], self.ops)
            self.target = np.array([1.0 if op in convs else 0.0 for op in self.ops]) / len(convs)
        return self

    def epoch_target(self) -> np.ndarray:
        return self.target

    def config(self) -> dict[str, Any]:
        target = None if self.target is None else np.round(self.target, 12).tolist()
        return {**super().config(), "target": target}
