"""Cell paths drawn from one categorical distribution over op types, moved toward a target at
the end of every epoch: the path half of PA&DA (Lu et al., CVPR 2023) and its gradient-free
control share this schedule.

Every edge of a NAS-Bench-201 cell draws its op independently from ``p``, one distribution over
the op types shared by all edges (ShunLu91/PA-DA ``nasbench201/train_panda_201.py``,
``path_importance_sampling``). ``p`` starts uniform; after epoch ``e`` (0-based) of ``E`` it
becomes ``tau_e * target + (1 - tau_e) * uniform`` with ``tau_e = e / E``, where ``target`` is
what a subclass measured or fixed (``epoch_target``). ``per_cell`` and ``accept`` behave as in
``UniformSampler`` (one draw per searched cell; rejected cells are redrawn from ``p``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from symnas.algorithms.samplers.base import PathSampler, Spec
from symnas.core.redraw import MAX_REDRAWS
from symnas.spaces.cells import NB201_OPS, NB201Cell


class OpTypeSampler(PathSampler):
    """Every edge's op drawn from ``p`` over the op types, ``p`` annealed toward
    ``epoch_target()`` after each epoch (see the module doc)."""

    family = "nb201"

    def __init__(
        self, per_cell: bool = False, accept: Callable[[Spec], bool] | None = None
    ) -> None:
        if accept is not None and not callable(accept):
            raise TypeError(
                f"{type(self).__name__}: accept must be a callable or None; got {accept!r}."
            )
        self.per_cell = bool(per_cell)
        self.accept = accept
        self.ops = NB201_OPS
        self.uniform = np.full(len(self.ops), 1.0 / len(self.ops))
        self.probabilities = self.uniform.copy()

    def bind(self, space: Any, supernet: Any = None) -> OpTypeSampler:
        super().bind(space, supernet)
        template = self.codec.decode(self.codec.random(1, np.random.default_rng(0))[0])
        if template.get("_type") != NB201Cell.__type_name__:
            raise ValueError(
                f"{type(self).__name__} draws NAS-Bench-201 cells (space nb201_cell); got a space "
                f"of {template.get('_type')!r}."
            )
        self.template = template
        self.cells = supernet.search_cells if self.per_cell else 1
        self.edges = edge_modules(supernet)
        return self

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        cells = [self._draw(rng) for _ in range(self.cells)]
        return [cells if self.per_cell else cells[0]]

    def _draw(self, rng: np.random.Generator) -> Spec:
        for _ in range(MAX_REDRAWS):
            picks = rng.choice(
                len(self.ops), size=len(self.template["edges"]), p=self.probabilities
            )
            spec = {**self.template, "edges": [self.ops[int(i)] for i in picks]}
            if self.accept is None or self.accept(spec):
                return spec
        raise RuntimeError(
            f"{type(self).__name__}: {MAX_REDRAWS} draws in a row were rejected by accept at "
            f"op probabilities {self.probabilities.round(4).tolist()}."
        )

    def epoch_target(self) -> np.ndarray | None:
        """The distribution ``p`` moves toward after the epoch that just ended (None keeps
        uniform)."""
        raise NotImplementedError

    def end_epoch(self, epoch: int, epochs: int) -> None:
        tau = epoch / epochs
        target = self.epoch_target()
        self.probabilities = (
            self.uniform.copy() if target is None else tau * target + (1 - tau) * self.uniform
        )

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "per_cell": self.per_cell,
            "accept": None if self.accept is None else getattr(self.accept, "__name__", "callable"),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"probabilities": self.probabilities.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        probabilities = np.asarray(state["probabilities"], dtype=float)
        if probabilities.shape != self.uniform.shape or not np.isclose(probabilities.sum(), 1):
            raise ValueError(
                f"{type(self).__name__}: probabilities must be {len(self.ops)} values summing to "
                f"1 (ops {list(self.ops)}); got {state['probabilities']!r}."
            )
        self.probabilities = probabilities


def edge_modules(supernet: Any) -> list[list[nn.Module]]:
    """``[cell][edge]`` the mixed edges of a cell supernet's searched cells, in forward order
    (each holds every candidate op in ``.ops``)."""
    cells = [m for m in getattr(supernet, "cells", []) if hasattr(m, "edges")]
    if len(cells) != getattr(supernet, "search_cells", None):
        raise ValueError(
            f"op-type samplers need a NAS-Bench-201 cell supernet (searched cells with edges); "
            f"got {type(supernet).__name__}."
        )
    return [list(cell.edges) for cell in cells]


def conv_parameters(op: nn.Module) -> list[nn.Parameter]:
    """The parameters of the convolutions inside an op (not its BatchNorm's)."""
    return [p for m in op.modules() if isinstance(m, nn.Conv2d) for p in m.parameters()]


def parametric_ops(edge: nn.Module, ops: tuple[str, ...]) -> list[str]:
    """The ops of a mixed edge that hold convolutions (the ops PA&DA measures gradients of)."""
    return [name for name in ops if conv_parameters(edge.ops[name])]
