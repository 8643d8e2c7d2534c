"""A non-parametric scheduler of quantization configurations (after "One QuantLLM for ALL:
Fine-tuning Quantized LLMs Once for Efficient Deployments", Yi et al., 2024).

LLM-QFA observes that uniform sampling of per-layer bit-widths allocates training unevenly: the
mean bit-width of a uniform draw concentrates in the middle of the range, and configurations of
different precision need different amounts of training. It samples configurations per
resource group and shifts the sampling rate toward the groups that lag, with no learned
parameters. The paper states the principle; the rule here is this module's, written out so that
its rates can be checked:

- **groups**: one per bit-width level ``b_0 < ... < b_{K-1}`` that the space's searched units
  can take (32, float, is the top level when searched). A configuration of group ``k`` draws
  every searched operand's bit-width with probability proportional to
  ``exp(-(level(b) - k)^2 / (2 sigma^2))`` (level: the index of ``b`` among the ``b_j``), so its
  mean precision sits around ``b_k``; the architecture, the granularity and the symmetry are
  drawn uniformly, as ``uniform`` does;
- **running loss**: each group's ``L_k`` is an exponential average (``momentum``) of the
  training losses of its configurations (``update``);
- **rates**: uniform ``1 / K`` until every group has a loss; then
  ``p_k = floor / K + (1 - floor) * softmax((L_k - mean(L)) / (tau * mean(L)))``: a group whose
  running loss lags the mean by a larger relative gap is drawn more often, and every group keeps
  at least ``floor / K``.

Every step draws ``num_paths`` groups independently by these rates, one configuration each.
The state (running losses, counts) is JSON, so a resumed training draws what an uninterrupted
one draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler
from symnas.spaces.quantization import QuantizedSpace


def _positive(name: str, value: Any, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"QuantScheduler: {name} must be a positive number; got {value!r}.")
    if upper is not None and value > upper:
        raise ValueError(f"QuantScheduler: {name} must be at most {upper}; got {value!r}.")
    return float(value)


@register_sampler(
    "quant_scheduler",
    "QuantLLM-style scheduler: configurations drawn per bit-width group, rates shifted toward "
    "groups whose running loss lags",
)
class QuantScheduler(PathSampler):
    """Draws quantized configurations per precision group at rates that follow the groups'
    running losses (see the module doc).

    Args:
      num_paths: configurations per training step.
      sigma: width of a group's kernel over bit-width levels.
      momentum: the running losses' exponential averaging factor.
      temperature: ``tau`` of the rates' softmax over relative loss gaps.
      floor: the share of the rates spread uniformly over the groups (in (0, 1]).
    """

    example = "pooling_digits_quantized"

    def __init__(
        self,
        num_paths: int = 1,
        sigma: float = 1.0,
        momentum: float = 0.9,
        temperature: float = 0.1,
        floor: float = 0.2,
    ) -> None:
        self.num_paths = check_count("QuantScheduler: num_paths", num_paths, 1)
        self.sigma = _positive("sigma", sigma)
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not (0 <= momentum < 1)
        ):
            raise ValueError(f"QuantScheduler: momentum must lie in [0, 1); got {momentum!r}.")
        self.momentum = float(momentum)
        self.temperature = _positive("temperature", temperature)
        self.floor = _positive("floor", floor, upper=1.0)
        self._pending: list[tuple[Spec, int]] = []

    def bind(self, space: Any, supernet: Any = None) -> QuantScheduler:
        if not isinstance(space, QuantizedSpace):
            raise ValueError(
                "QuantScheduler draws from a quantized space (spaces.quantized(...)); got "
                f"{type(space).__name__}."
            )
        super().bind(space, supernet)
        self.operands: list[tuple[str, str, list[int]]] = []
        for unit, widths in space.sym_init_args.quant["units"].items():
            for key in ("weight_bits", "act_bits"):
                if isinstance(widths[key], pg.hyper.OneOf):
                    self.operands.append((unit, key, list(widths[key].candidates)))
        if not self.operands:
            raise ValueError("QuantScheduler: the space searches no bit-width.")
        self.levels = sorted({b for _, _, bits in self.operands for b in bits})
        if len(self.levels) < 2:
            raise ValueError(f"QuantScheduler: one bit-width level only ({self.levels}).")
        self.loss: list[float | None] = [None] * len(self.levels)
        self.seen = [0] * len(self.levels)
        return self

    def rates(self) -> np.ndarray:
        """The sampling rate of every group (uniform until every group has a running loss)."""
        count = len(self.levels)
        if any(loss is None for loss in self.loss):
            return np.full(count, 1.0 / count)
        losses = np.asarray(self.loss, dtype=float)
        mean = losses.mean()
        gaps = (losses - mean) / (self.temperature * mean) if mean > 0 else np.zeros(count)
        soft = np.exp(gaps - gaps.max())
        soft /= soft.sum()
        return self.floor / count + (1.0 - self.floor) * soft

    def group_kernel(self, group: int, bits: Sequence[int]) -> np.ndarray:
        """The probability of each of ``bits`` for an operand of a configuration of ``group``."""
        levels = np.array([self.levels.index(b) for b in bits], dtype=float)
        weights = np.exp(-((levels - group) ** 2) / (2 * self.sigma**2))
        return weights / weights.sum()

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        groups = rng.choice(len(self.levels), size=self.num_paths, p=self.rates())
        specs = [self._draw(int(group), rng) for group in groups]
        self._pending = list(zip(specs, (int(g) for g in groups), strict=True))
        return specs

    def _draw(self, group: int, rng: np.random.Generator) -> Spec:
        spec = self._random_spec(rng)
        units = spec["quant"]["units"]
        for unit, key, bits in self.operands:
            units[unit][key] = int(bits[rng.choice(len(bits), p=self.group_kernel(group, bits))])
        return spec

    def update(self, specs: Sequence[Spec], losses: Sequence[float]) -> None:
        """Folds each configuration's loss into its group's running loss."""
        pending = list(self._pending)
        for spec, loss in zip(specs, losses, strict=True):
            at = next((i for i, (drawn, _) in enumerate(pending) if drawn == spec), None)
            if at is None:
                raise ValueError("QuantScheduler.update: a spec it did not draw in the last step.")
            group = pending.pop(at)[1]
            if not math.isfinite(loss):
                continue
            previous = self.loss[group]
            self.loss[group] = (
                float(loss)
                if previous is None
                else self.momentum * previous + (1 - self.momentum) * float(loss)
            )
            self.seen[group] += 1
        self._pending = []

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "num_paths": self.num_paths,
            "sigma": self.sigma,
            "momentum": self.momentum,
            "temperature": self.temperature,
            "floor": self.floor,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"levels": list(self.levels), "loss": list(self.loss), "seen": list(self.seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("levels") != self.levels:
            raise ValueError(
                f"QuantScheduler: the state's levels {state.get('levels')} are not the space's "
                f"{self.levels}."
            )
        self.loss = [None if v is None else float(v) for v in state["loss"]]
        self.seen = [int(v) for v in state["seen"]]
