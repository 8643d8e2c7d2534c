"""PA&DA: jointly sampling paths and data by importance (Lu, Hu, Yang, Wang, Li, Wang, Zeng,
"PA&DA: Jointly Sampling PAth and DAta for Consistent NAS", CVPR 2023; reference code
ShunLu91/PA-DA ``nasbench201/train_panda_201.py``).

The variance of the supernet's gradient is smallest when paths and training examples are drawn
with probabilities proportional to their normalised gradient norms. As the reference does:

- **Paths** (``pada_path``): one distribution ``p`` over the op types shared by every edge
  (``OpTypeSampler``). After each step, for each convolution op in the path, the gradient norm
  of its convolution weights (summed over the edges that use it, divided by how many do) is
  folded into a running value ``n_o <- (n_o + g_o) / 2``, restarted from 0 every epoch;
  parameter-free ops keep ``n_o = 0``. After epoch ``e`` of ``E``,
  ``p = (e/E) * n / sum(n) + (1 - e/E) * uniform``.
- **Data** (``pada_data``): each example's importance is the norm of the cross-entropy's
  gradient with respect to its logits, ``||softmax(z) - onehot(y)||``, kept by dataset index
  (an index seen twice in an epoch gets the mean of its old and new value). After epoch ``e``,
  ``q = (e/E) * s / sum(s) + (1 - e/E) / N`` (``s = 0`` for examples not drawn), and the trainer
  draws the next epoch's ``N`` training indices from ``q`` with replacement. The loss is the
  plain batch mean (the reference applies no importance-weight correction).
- ``pada``: both.

Departures: the reference's NB201 convolutions have a bias whose gradient norm it adds; the
benchmark's (and this project's) are bias-free, so only the weights count. With ``per_cell``
(a cell per searched cell) the divisor is the number of edge instances in the whole path, not
in one cell: the reference's value times a constant (the number of cells) that the
normalisation removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from symnas.algorithms.samplers.base import PathSampler, Spec, register_sampler
from symnas.algorithms.samplers.op_types import OpTypeSampler, conv_parameters, parametric_ops
from symnas.algorithms.samplers.uniform import UniformSampler


class DataImportance:
    """PA&DA's per-example importance and the draw probabilities it gives (see the module doc)."""

    def __init__(self) -> None:
        self.current: dict[int, float] = {}  # this epoch's importance by dataset index
        self.last: dict[int, float] = {}  # the last finished epoch's
        self.tau: float | None = None  # e / E of the last finished epoch

    def observe(self, indices: np.ndarray, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Folds in ``||softmax(z_i) - onehot(y_i)||`` of every example of a batch."""
        with torch.no_grad():
            probs = F.softmax(logits.detach().float(), dim=1)
            onehot = F.one_hot(targets.long(), num_classes=probs.shape[1]).to(probs.dtype)
            norms = torch.linalg.vector_norm(probs - onehot, dim=1).cpu().numpy()
        for index, norm in zip(np.asarray(indices).tolist(), norms.tolist(), strict=True):
            old = self.current.get(index, 0.0)
            self.current[index] = (old + norm) / 2 if old != 0 else norm

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Freezes this epoch's importance with ``tau = epoch / epochs``; starts a new epoch."""
        self.last, self.current, self.tau = self.current, {}, epoch / epochs

    def weights(self, size: int) -> np.ndarray | None:
        """``q`` over ``size`` examples, or None before the first epoch has ended."""
        if self.tau is None:
            return None
        uniform = np.full(size, 1.0 / size)
        scores = np.zeros(size)
        for index, value in self.last.items():
            if not 0 <= index < size:
                raise ValueError(
                    f"PA&DA data importance holds example {index}; the training split has {size}."
                )
            scores[index] = value
        total = scores.sum()
        if total == 0:
            return uniform
        return self.tau * scores / total + (1 - self.tau) * uniform

    def state_dict(self) -> dict[str, Any]:
        """JSON state: both epochs' importance as ``[indices, values]`` and ``tau``."""
        return {
            "current": [list(self.current), list(self.current.values())],
            "last": [list(self.last), list(self.last.values())],
            "tau": self.tau,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``."""
        self.current = {int(i): float(v) for i, v in zip(*state["current"], strict=True)}
        self.last = {int(i): float(v) for i, v in zip(*state["last"], strict=True)}
        self.tau = None if state["tau"] is None else float(state["tau"])


class PathImportance(OpTypeSampler):
    """PA&DA's path half: ``p`` moves toward the normalised running gradient norms."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.grad_norms = np.zeros(len(self.ops))

    def bind(self, space: Any, supernet: Any = None) -> PathImportance:
        super().bind(space, supernet)
        # [op][cell][edge]: the convolution parameters of that op on that edge
        self.convolutions = {
            name: [[conv_parameters(edge.ops[name]) for edge in cell] for cell in self.edges]
            for name in parametric_ops(self.edges[0][0], self.ops)
        }
        return self

    def update(self, specs: Sequence[Spec], losses: Sequence[float]) -> None:
        """Folds the gradient norms of the step's convolution ops into ``grad_norms`` (the step's
        gradients are still on the parameters; a step without them changes nothing)."""
        super().update(specs, losses)
        for spec in specs:
            arch = self.supernet.arch_of(spec)
            cells = arch if self.per_cell else [arch] * len(self.edges)
            for name, params in self.convolutions.items():
                total, used = 0.0, 0
                for c, ops in enumerate(cells):
                    for e, op in enumerate(ops):
                        if op != name:
                            continue
                        grads = [p.grad for p in params[c][e] if p.grad is not None]
                        total += sum(float(torch.linalg.vector_norm(g)) for g in grads)
                        used += 1
                if total != 0.0:
                    k = self.ops.index(name)
                    self.grad_norms[k] = (self.grad_norms[k] + total / used) / 2

    def epoch_target(self) -> np.ndarray | None:
        total = self.grad_norms.sum()
        return None if total == 0 else self.grad_norms / total

    def end_epoch(self, epoch: int, epochs: int) -> None:
        super().end_epoch(epoch, epochs)
        self.grad_norms = np.zeros(len(self.ops))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "grad_norms": self.grad_norms.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "grad_norms"})
        self.grad_norms = np.asarray(state["grad_norms"], dtype=float)


class DataImportanceMixin(PathSampler):
    """Adds PA&DA's data half to a path sampler (its state under ``"data"``)."""

    observes_data = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.data = DataImportance()

    def observe_data(self, indices: np.ndarray, logits: Any, targets: Any) -> None:
        self.data.observe(indices, logits, targets)

    def data_weights(self, size: int) -> np.ndarray | None:
        return self.data.weights(size)

    def end_epoch(self, epoch: int, epochs: int) -> None:
        super().end_epoch(epoch, epochs)
        self.data.end_epoch(epoch, epochs)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "data": self.data.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "data"})
        self.data.load_state_dict(state["data"])


@register_sampler(
    "pada_path", "PA&DA path half: edge ops drawn by normalised gradient norms of the ops"
)
class PADAPathSampler(PathImportance):
    """PA&DA's path importance sampling alone (uniform data)."""


@register_sampler(
    "pada_data",
    "PA&DA data half: uniform paths, training examples drawn by their gradient norms",
)
class PADADataSampler(DataImportanceMixin, UniformSampler):
    """Uniform paths (``UniformSampler``'s options) with PA&DA's data importance sampling."""


@register_sampler("pada", "PA&DA: path and data importance sampling by normalised gradient norms")
class PADASampler(DataImportanceMixin, PathImportance):
    """PA&DA: path and data importance sampling together."""
