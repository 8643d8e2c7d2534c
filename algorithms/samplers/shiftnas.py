"""ShiftNAS: complexity-shifted sampling with an architecture generator (Zhang, Yu, Zhao, Ou,
"ShiftNAS: Improving One-shot NAS via Probability Shift", ICCV 2023; arXiv 2307.08300).

Uniform sampling trains mostly sub-networks of intermediate size. ShiftNAS splits the space into
``bins`` sub-spaces of close complexity (here: parameter count), samples a bin ``k`` from a
probability vector ``p`` that is shifted toward the sub-spaces whose performance still varies
(under-trained ones), and lets an LSTM architecture generator (AG) produce a sub-network of that
complexity. The AG's decisions are straight-through Gumbel one-hots that become differentiable
masks of the weight-entangled supernet (the paper's "matrix mapping"; here the ``differentiable``
supernet's one-hot weight superposition, ``forward_weighted``), so one loss trains the supernet
and the AG end to end:

- bins: ``bins`` equal-width intervals over [params(min spec), params(max spec)], target
  ``c_k`` = the bin centre;
- AG: an ``LSTMCell`` of width ``hidden`` unrolled over the supernet's decisions (in
  ``arch_decisions()`` order), input = the bin's embedding plus the embedding of the previous
  decision's one-hot; per decision a linear head gives logits, ``o_t = gumbel_softmax(logits,
  tau, hard=True)`` (straight-through);
- complexity of the one-hots: ``P(o) = P(a) + sum_t sum_j (o_tj - sg(o_tj)) * P(a[t <- j])``,
  the multilinear extension of the parameter count at the sampled vertex ``a`` (value ``P(a)``,
  gradient ``P(a with decision t set to j)``);
- AG loss: ``CE(supernet(x; o), y) + penalty * |P(o) - c_k| / c_k``, minimised with its own Adam
  (``lr``) after every supernet step; the supernet's weights get the same CE gradient;
- probability shift: the mean training loss ``l_k`` of the sub-networks whose parameter count
  falls in bin ``k`` is kept per epoch; after each epoch the variation is
  ``v_k = (l_k(e-1) - l_k(e)) / l_k(e-1)`` (relative improvement; a bin without samples in both
  epochs takes the largest variation, so it is not starved) and
  ``p = (1 - epsilon) * softmax(v / temperature) + epsilon / bins``.

The authors' repository (``bestfleer/ShiftNAS``) holds only a README, so no reference code fixes
the details. Interpretations, documented in ``docs/architecture.md``: the complexity measure
(parameters, what the ViT benchmarks budget by; the paper uses FLOPs), equal-width bins, the
variation statistic and its per-epoch update, the AG's width (64), its input, the Gumbel
temperature (1), the penalty weight (1), Adam(1e-3), ``epsilon`` (0.1) and ``temperature``
(0.05). ``generate(bin)`` gives the AG's greedy (argmax) architecture for a bin, the paper's way
of deploying a sub-network for a complexity target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler
from symnas.programs.supernet_base import require


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"ShiftNASSampler: {name} must be a positive number; got {value!r}.")
    return float(value)


class ArchitectureGenerator(nn.Module):
    """LSTM generator of one straight-through one-hot per decision, conditioned on a bin."""

    def __init__(self, sizes: Sequence[int], bins: int, hidden: int) -> None:
        super().__init__()
        self.bin_embedding = nn.Embedding(bins, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.choice_embeddings = nn.ModuleList(nn.Linear(n, hidden, bias=False) for n in sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in sizes)

    def forward(
        self, bin_index: int, noise: Sequence[torch.Tensor] | None, tau: float
    ) -> list[torch.Tensor]:
        """One one-hot per decision: straight-through Gumbel samples with ``noise`` (one
        Gumbel vector per decision), or the argmax choices without it."""
        target = self.bin_embedding(torch.tensor([bin_index]))
        inputs, state, onehots = target, None, []
        for t, head in enumerate(self.heads):
            state = self.cell(inputs, state)
            logits = head(state[0])[0]
            if noise is None:
                onehot = F.one_hot(logits.argmax(), len(logits)).to(logits.dtype)
            else:
                soft = F.softmax((logits + noise[t]) / tau, dim=-1)
                hard = F.one_hot(soft.argmax(), len(soft)).to(soft.dtype)
                onehot = hard - soft.detach() + soft
            onehots.append(onehot)
            inputs = target + self.choice_embeddings[t](onehot[None])
        return onehots


def _tensor_json(value: Any) -> Any:
    """Optimizer/module state with tensors as ``{"tensor": values, "dtype": name}`` (JSON)."""
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach().cpu().tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): _tensor_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tensor_json(v) for v in value]
    return value


def _tensor_value(value: Any) -> Any:
    """Inverse of :func:`_tensor_json`."""
    if isinstance(value, dict) and set(value) == {"tensor", "dtype"}:
        return torch.tensor(value["tensor"], dtype=getattr(torch, value["dtype"].split(".")[-1]))
    if isinstance(value, dict):
        return {k: _tensor_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tensor_value(v) for v in value]
    return value


@register_sampler(
    "shiftnas",
    "ShiftNAS: complexity bins drawn by shifted probabilities, sub-networks from an LSTM "
    "generator trained end to end",
)
class ShiftNASSampler(PathSampler):
    """ShiftNAS path sampler (see the module doc).

    Args:
      bins: number of complexity sub-spaces.
      hidden: width of the generator's LSTM.
      tau: Gumbel-softmax temperature of the generator's samples.
      penalty: weight of the complexity term of the generator's loss.
      lr: Adam learning rate of the generator.
      epsilon: probability mass spread uniformly over the bins.
      temperature: softmax temperature of the variation.
      seed: seed of the generator's initial weights.
    """

    requires = "sized"

    def __init__(
        self,
        bins: int = 4,
        hidden: int = 64,
        tau: float = 1.0,
        penalty: float = 1.0,
        lr: float = 1e-3,
        epsilon: float = 0.1,
        temperature: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.bins = check_count("ShiftNASSampler: bins", bins, 1)
        self.hidden = check_count("ShiftNASSampler: hidden", hidden, 1)
        self.tau = _positive("tau", tau)
        self.penalty = _positive("penalty", penalty)
        self.lr = _positive("lr", lr)
        self.temperature = _positive("temperature", temperature)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
            raise ValueError(f"ShiftNASSampler: epsilon must be a number; got {epsilon!r}.")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"ShiftNASSampler: epsilon must lie in [0, 1]; got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.seed = check_count("ShiftNASSampler: seed", seed, 0)

    # ------------------------------------------------------------------ set-up
    def bind(self, space: Any, supernet: Any = None) -> ShiftNASSampler:
        super().bind(space, supernet)
        require(supernet, "differentiable", "ShiftNASSampler (its generator's masks)")
        require(supernet, "sliced", "ShiftNASSampler (its parameter counts)")
        self.decisions = {k: tuple(v) for k, v in supernet.arch_decisions().items()}
        self._counts: dict[tuple[int, ...], int] = {}
        low = supernet_params(supernet, supernet.min_spec())
        high = supernet_params(supernet, supernet.max_spec())
        self.edges = np.linspace(low, high, self.bins + 1)
        self.targets = (self.edges[:-1] + self.edges[1:]) / 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.generator = ArchitectureGenerator(
                [len(v) for v in self.decisions.values()], self.bins, self.hidden
            )
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.lr)
        self.probabilities = np.full(self.bins, 1.0 / self.bins)
        self.epoch_losses = [[0.0, 0] for _ in range(self.bins)]
        self.last_losses: list[float | None] = [None] * self.bins
        self.variation: list[float] | None = None
        self._pending: list[tuple[Spec, dict[str, torch.Tensor]]] = []
        self.last_bin: int | None = None  # the bin of the last sample
        return self

    # ------------------------------------------------------------------ complexity
    def spec_of(self, indices: Sequence[int]) -> Spec:
        """The spec that takes candidate ``indices[t]`` at every decision ``t``."""
        weights = {
            name: F.one_hot(torch.tensor(i), len(values)).float()
            for (name, values), i in zip(self.decisions.items(), indices, strict=True)
        }
        return self.supernet.discretize(weights)

    def count(self, indices: tuple[int, ...]) -> int:
        """Parameter count of the spec of ``indices`` (cached)."""
        if indices not in self._counts:
            self._counts[indices] = supernet_params(self.supernet, self.spec_of(indices))
        return self._counts[indices]

    def complexity(self, onehots: Sequence[torch.Tensor]) -> torch.Tensor:
        """Differentiable parameter count of straight-through one-hots (see the module doc)."""
        chosen = tuple(int(o.detach().argmax()) for o in onehots)
        value = torch.tensor(float(self.count(chosen)))
        for t, onehot in enumerate(onehots):
            table = torch.tensor(
                [float(self.count(chosen[:t] + (j,) + chosen[t + 1 :])) for j in range(len(onehot))]
            )
            value = value + ((onehot - onehot.detach()) * table).sum()
        return value

    def bin_of(self, params: float) -> int:
        """The bin a parameter count falls in (counts outside the range go to the end bins)."""
        return int(np.clip(np.searchsorted(self.edges, params, side="right") - 1, 0, self.bins - 1))

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator) -> list[Spec]:
        """Draws a bin from ``p`` and a sub-network from the generator for it; the generator's
        complexity loss is back-propagated now (its CE term follows with the step's loss)."""
        k = self.last_bin = self.draw_bin(rng)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = []
        for values in self.decisions.values():
            uniform = torch.rand(len(values), generator=generator).clamp(1e-10, 1 - 1e-10)
            noise.append(-torch.log(-torch.log(uniform)))
        onehots = self.generator(k, noise, self.tau)
        target = float(self.targets[k])
        loss = self.penalty * (self.complexity(onehots) - target).abs() / target
        loss.backward(retain_graph=True)
        spec = self.spec_of([int(o.detach().argmax()) for o in onehots])
        self._pending = [(spec, dict(zip(self.decisions, onehots, strict=True)))]
        return [spec]

    def draw_bin(self, rng: np.random.Generator) -> int:
        """A complexity bin drawn from the probabilities ``p``."""
        return int(rng.choice(self.bins, p=self.probabilities))

    def logits(self, supernet: Any, x: torch.Tensor, spec: Spec) -> torch.Tensor:
        """The sampled sub-network's logits through the generator's one-hot masks, so the step's
        loss reaches the generator."""
        for pending, onehots in self._pending:
            if pending is spec:
                device = supernet.device
                return supernet.forward_weighted(x, {k: v.to(device) for k, v in onehots.items()})
        return supernet(x, spec)

    def update(self, specs: Sequence[Spec], losses: Sequence[float]) -> None:
        """Steps the generator on its accumulated gradients and files each loss under the bin
        of its sub-network's parameter count."""
        self._pending = []
        if any(p.grad is not None for p in self.generator.parameters()):
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        for spec, loss in zip(specs, losses, strict=True):
            entry = self.epoch_losses[self.bin_of(supernet_params(self.supernet, spec))]
            entry[0] += float(loss)
            entry[1] += 1

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Shifts ``p`` toward the bins whose loss still improves (see the module doc)."""
        means = [total / n if n else None for total, n in self.epoch_losses]
        changes = [
            (old - new) / old
            for old, new in zip(self.last_losses, means, strict=True)
            if old is not None and new is not None and old > 0
        ]
        if changes:
            top = max(changes)
            variation = [
                (old - new) / old if old is not None and new is not None and old > 0 else top
                for old, new in zip(self.last_losses, means, strict=True)
            ]
            self.variation = variation
            self.probabilities = shifted_probabilities(variation, self.temperature, self.epsilon)
        self.last_losses = [
            new if new is not None else old
            for old, new in zip(self.last_losses, means, strict=True)
        ]
        self.epoch_losses = [[0.0, 0] for _ in range(self.bins)]

    def generate(self, bin_index: int) -> Spec:
        """The generator's greedy (argmax) sub-network for bin ``bin_index``."""
        if not 0 <= bin_index < self.bins:
            raise ValueError(
                f"ShiftNASSampler.generate: bin_index must lie in [0, {self.bins}); got "
                f"{bin_index!r}."
            )
        with torch.no_grad():
            onehots = self.generator(bin_index, None, self.tau)
        return self.spec_of([int(o.argmax()) for o in onehots])

    # ------------------------------------------------------------------ state
    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "bins": self.bins,
            "hidden": self.hidden,
            "tau": self.tau,
            "penalty": self.penalty,
            "lr": self.lr,
            "epsilon": self.epsilon,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    def state_dict(self) -> dict[str, Any]:
        """JSON state: the generator and its Adam, ``p``, the per-bin losses and variation."""
        return {
            "generator": _tensor_json(self.generator.state_dict()),
            "optimizer": _tensor_json(self.optimizer.state_dict()),
            "probabilities": self.probabilities.tolist(),
            "epoch_losses": [list(entry) for entry in self.epoch_losses],
            "last_losses": list(self.last_losses),
            "variation": self.variation,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``."""
        self.generator.load_state_dict(_tensor_value(state["generator"]))
        optimizer = _tensor_value(state["optimizer"])
        optimizer["state"] = {int(k): v for k, v in optimizer["state"].items()}
        self.optimizer.load_state_dict(optimizer)
        self.probabilities = np.asarray(state["probabilities"], dtype=float)
        self.epoch_losses = [[float(total), int(n)] for total, n in state["epoch_losses"]]
        self.last_losses = [None if v is None else float(v) for v in state["last_losses"]]
        self.variation = state["variation"]


def shifted_probabilities(
    variation: Sequence[float], temperature: float, epsilon: float
) -> np.ndarray:
    """``(1 - epsilon) * softmax(variation / temperature) + epsilon / K``."""
    scaled = np.asarray(variation, dtype=float) / temperature
    weights = np.exp(scaled - scaled.max())
    return (1 - epsilon) * weights / weights.sum() + epsilon / len(weights)


def supernet_params(supernet: Any, spec: Spec) -> int:
    """Number of shared parameters a ``sliced`` supernet's sub-network of ``spec`` uses."""
    return int(sum(t.numel() for t in supernet.sliced_state(spec).values()))


__all__ = ["ArchitectureGenerator", "ShiftNASSampler", "shifted_probabilities", "supernet_params"]
