"""Balanced Mixture of SuperNets (Javan, Toews, Pedersoli, "Balanced Mixture of SuperNets for
Learning the CNN Pooling Architecture", AutoML-Conf 2023, arXiv 2306.11982).

``M`` supernets (a ``programs.training.mixture.SupernetMixture``: the trainer's supernet and
``M - 1`` independently initialised copies, made by :meth:`BalancedMixtureSampler.prepare`)
share the training steps; every architecture ``a`` of the space has a logit ``W[a, m]`` per
supernet, initialised to ``init_logit`` (1). As the reference code
(``mehravehj/Balanced-Mixture-of-SuperNets``, ``utils/NAS_trainer.py``,
``utils/search_space_design.py``, ``main.py``) does:

- **temperature**: epoch ``e`` of ``E`` uses ``T_e = 1 + (max_temperature - 1) * e / (E - 1)``,
  linear from 1 in the first epoch to ``max_temperature`` (100) in the last (the reference runs
  epochs ``0..E'`` with ``T = 1 + 99 e / E'``: the same with ``E = E' + 1``);
- **balancing**, once at the start of every epoch: ``P = softmax(T_e W)`` over supernets
  (``p(m|a)``), its marginal ``p(m) = mean_a P[a, :]``; while ``|sum_m p(m) log(M p(m))|``
  (the KL divergence of the marginal from uniform) exceeds ``threshold`` (1e-4), the marginal is
  stored, ``P`` divided by it column-wise and renormalised row-wise (iterative proportional
  fitting);
- **per step**: an architecture ``a`` drawn uniformly, a supernet ``m ~ P[a, :]``, where ``P`` is
  ``softmax(T_e W)`` with the current ``W`` and the epoch's stored marginals divided out in turn
  (each followed by the row renormalisation); one SGD step of supernet ``m`` on ``a`` (the
  shared trainer's step: only that member's weights get gradients); supernet ``m`` with ``a``
  scores the next validation batch in eval mode and ``W[a, m] <- ema_decay W[a, m] + (1 -
  ema_decay) accuracy`` (``ema_decay`` 0.9).

An architecture is estimated with the supernet it is assigned to: the most probable ``m`` of
its row of the balanced ``P`` (after each epoch; ``SupernetMixture.assign``). With ``models=1``
no supernet is drawn and training is plain uniform single-path weight sharing, step for step.

The sampler needs the validation stream (``observes_valid``: the trainer's ``valid=``, the held-out
half of the training set in the paper) and a space small enough to enumerate (``W`` has a row per
architecture: 36 for the ResNet20 pooling space).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler
from symnas.programs.supernet_base import Supernet
from symnas.programs.training.mixture import SupernetMixture, spec_key

#: Balancing rounds at most per epoch (iterative proportional fitting converges long before).
MAX_ROUNDS = 10_000
#: Largest space whose architectures the sampler enumerates (one row of ``W`` each).
MAX_ARCHITECTURES = 100_000


def temperature(epoch: int, epochs: int, max_temperature: float = 100.0) -> float:
    """The paper's linear schedule: 1 in epoch 0, ``max_temperature`` in epoch ``epochs - 1``."""
    if epochs <= 1:
        return 1.0
    return 1.0 + (max_temperature - 1.0) * min(epoch, epochs - 1) / (epochs - 1)


def conditional(logits: np.ndarray, temp: float) -> np.ndarray:
    """``p(m|a) = softmax(temp * W[a, :])`` for every architecture (rows sum to 1)."""
    scaled = temp * np.asarray(logits, dtype=np.float64)
    scaled -= scaled.max(axis=1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=1, keepdims=True)


def kl_to_uniform(marginal: np.ndarray) -> float:
    """``|sum_m p(m) log(M p(m))|``: the reference's distance of a marginal from uniform."""
    marginal = np.asarray(marginal, dtype=np.float64)
    return float(abs(np.sum(marginal * np.log(marginal * len(marginal)))))


def _divide(prob: np.ndarray, marginal: np.ndarray) -> np.ndarray:
    scaled = prob / marginal
    return scaled / scaled.sum(axis=1, keepdims=True)


def balancing_marginals(
    logits: np.ndarray, temp: float, threshold: float = 1e-4
) -> list[np.ndarray]:
    """The marginals that balancing divides out, in order, until the marginal of the supernets
    is within ``threshold`` of uniform (at most :data:`MAX_ROUNDS`)."""
    prob = conditional(logits, temp)
    marginal = prob.mean(axis=0)
    marginals: list[np.ndarray] = []
    while kl_to_uniform(marginal) > threshold and len(marginals) < MAX_ROUNDS:
        marginals.append(marginal)
        prob = _divide(prob, marginal)
        marginal = prob.mean(axis=0)
    return marginals


def balanced(logits: np.ndarray, temp: float, marginals: Sequence[np.ndarray]) -> np.ndarray:
    """``softmax(temp * W)`` with ``marginals`` divided out in turn, each followed by the row
    renormalisation: the probabilities a step draws the supernet of an architecture from."""
    prob = conditional(logits, temp)
    for marginal in marginals:
        prob = _divide(prob, np.asarray(marginal, dtype=np.float64))
    return prob


@register_sampler(
    "balanced_mixture",
    "Balanced Mixture of SuperNets: M supernets (models=4), each architecture routed by a balanced "
    "assignment learned from validation accuracy",
)
class BalancedMixtureSampler(PathSampler):
    """Uniform architectures, each step trained in a supernet drawn from the balanced assignment.

    Args:
      models: the number of supernets ``M`` (the paper: 4 for ResNet20).
      max_temperature: the temperature of the last epoch (100).
      ema_decay: decay of the moving average of validation accuracy in ``W`` (0.9).
      init_logit: the initial value of every ``W[a, m]`` (1).
      threshold: balancing stops when the marginal is this close to uniform (1e-4).
      seed: the copies of the supernet are initialised from seeds ``1000 * seed + k``.
    """

    family = "pooling"
    observes_valid = True

    def __init__(
        self,
        models: int = 4,
        max_temperature: float = 100.0,
        ema_decay: float = 0.9,
        init_logit: float = 1.0,
        threshold: float = 1e-4,
        seed: int = 0,
    ) -> None:
        self.models = check_count("BalancedMixtureSampler: models", models, 1)
        self.seed = check_count("BalancedMixtureSampler: seed", seed, 0)
        for name, value, ok, allowed in (
            ("max_temperature", max_temperature, lambda v: v >= 1.0, ">= 1"),
            ("ema_decay", ema_decay, lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
            ("init_logit", init_logit, np.isfinite, "finite"),
            ("threshold", threshold, lambda v: v > 0.0, "> 0"),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
                raise ValueError(
                    f"BalancedMixtureSampler: {name} must be a number {allowed}; got {value!r}."
                )
        self.max_temperature = float(max_temperature)
        self.ema_decay = float(ema_decay)
        self.init_logit = float(init_logit)
        self.threshold = float(threshold)

    def prepare(self, supernet: Supernet) -> SupernetMixture:
        """``supernet`` and ``models - 1`` independently initialised copies of it (a mixture of
        the right size is used as it is)."""
        if isinstance(supernet, SupernetMixture):
            self._check_mixture(supernet)
            return supernet
        return SupernetMixture.of(supernet, self.models, self.seed)

    def _check_mixture(self, supernet: Any) -> None:
        if not isinstance(supernet, SupernetMixture) or supernet.size != self.models:
            raise TypeError(
                f"BalancedMixtureSampler(models={self.models}) trains a SupernetMixture of "
                f"{self.models} supernets; got {type(supernet).__name__}"
                f"{f' of {supernet.size}' if isinstance(supernet, SupernetMixture) else ''}: "
                "bind it to sampler.prepare(supernet) (the SupernetTrainer does)."
            )

    def bind(self, space: Any, supernet: Any = None) -> BalancedMixtureSampler:
        super().bind(space, supernet)
        self._check_mixture(supernet)
        if self.codec is None or not self.codec.size <= MAX_ARCHITECTURES:
            raise ValueError(
                "BalancedMixtureSampler: needs a space of at most "
                f"{MAX_ARCHITECTURES} architectures (W has a row per architecture)."
            )
        specs = [
            self.codec.decode(g)
            for g in self.codec.distinct(int(self.codec.size), np.random.default_rng(0))
        ]
        self.keys = sorted(spec_key(s) for s in specs)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.logits = np.full((len(self.keys), self.models), self.init_logit)
        self.epoch = 0
        self.temperature = 1.0
        self.marginals = balancing_marginals(self.logits, self.temperature, self.threshold)
        self.drawn: tuple[int, int] | None = None
        self._publish()
        return self

    def probabilities(self) -> np.ndarray:
        """The balanced ``p(m|a)`` the next step draws from (rows in ``self.keys`` order)."""
        return balanced(self.logits, self.temperature, self.marginals)

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        spec = self._random_spec(rng)
        row = self.index[spec_key(spec)]
        member = 0
        if self.models > 1:
            member = int(rng.choice(self.models, p=self.probabilities()[row]))
        self.drawn = (row, member)
        self.supernet.pin(spec, member)
        return [spec]

    def observe_valid(self, specs: Sequence[Spec], logits: Sequence[Any], targets: Any) -> None:
        """Moves ``W[a, m]`` of the step's architecture and supernet toward the accuracy of its
        validation batch; the architecture follows the assignment again."""
        if self.drawn is None:
            raise RuntimeError("BalancedMixtureSampler: observe_valid() before sample().")
        row, member = self.drawn
        accuracy = float((logits[0].argmax(dim=-1) == targets).float().mean())
        self.logits[row, member] = (
            self.ema_decay * self.logits[row, member] + (1.0 - self.ema_decay) * accuracy
        )
        self.drawn = None
        self.supernet.unpin()

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Sets the next epoch's temperature and balancing, and assigns every architecture to its
        most probable supernet."""
        self.epoch = epoch + 1
        self.temperature = temperature(self.epoch, epochs, self.max_temperature)
        self.marginals = balancing_marginals(self.logits, self.temperature, self.threshold)
        self._publish()

    def assignment(self) -> dict[str, int]:
        """``{spec_key(spec): supernet}``: the most probable supernet of every architecture."""
        best = self.probabilities().argmax(axis=1)
        return {key: int(m) for key, m in zip(self.keys, best, strict=True)}

    def _publish(self) -> None:
        self.supernet.assign(self.assignment())

    def balance(self) -> list[float]:
        """The marginal share of every supernet under the balanced probabilities."""
        return [float(v) for v in self.probabilities().mean(axis=0)]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "models": self.models,
            "max_temperature": self.max_temperature,
            "ema_decay": self.ema_decay,
            "init_logit": self.init_logit,
            "threshold": self.threshold,
            "seed": self.seed,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "logits": self.logits.tolist(),
            "epoch": self.epoch,
            "temperature": self.temperature,
            "marginals": [m.tolist() for m in self.marginals],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("keys") != self.keys:
            raise ValueError(
                "BalancedMixtureSampler: the state is of another space (its architectures "
                "differ from this space's)."
            )
        logits = np.asarray(state["logits"], dtype=np.float64)
        if logits.shape != self.logits.shape:
            raise ValueError(
                f"BalancedMixtureSampler: state logits have shape {logits.shape}; this sampler's "
                f"are {self.logits.shape}."
            )
        self.logits = logits
        self.epoch = int(state["epoch"])
        self.temperature = float(state["temperature"])
        self.marginals = [np.asarray(m, dtype=np.float64) for m in state["marginals"]]
        self.drawn = None
        self._publish()

    def summary(self) -> dict[str, Any]:
        """The temperature, each supernet's share and how many architectures are assigned to it."""
        counts = np.bincount(list(self.assignment().values()), minlength=self.models)
        return {
            "temperature": self.temperature,
            "balance": self.balance(),
            "assigned": counts.tolist(),
        }
