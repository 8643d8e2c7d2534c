"""PreNAS end to end: select, train on the preferred set, specialise instantly.

Implements the search-free deployment of PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot
Learning Towards Efficient Neural Architecture Search", ICML 2023): after preferred one-shot
training the deployable models are the preferred architectures with their inherited weights, so
a budget (parameters, MACs or measured latency) is met by picking among them, with no search and
no retraining. The best feasible one is the one with the highest inherited validation accuracy
when the preferred set has been evaluated, else the largest feasible one (PreNAS deploys the top
architecture of the largest bucket that fits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from symnas.algorithms import prenas_train
from symnas.algorithms.prenas import Preferred, PreNASSelector
from symnas.programs.count import count
from symnas.programs.data import Dataset, validation_split  # noqa: F401 - re-exported
from symnas.programs.latency import cpu_latency
from symnas.programs.train import evaluate
from symnas.programs.vit import ViTSupernet
from symnas.spaces.vit import ViTSpace

#: Budgets ``specialize`` accepts: parameters, MACs per sample, CPU latency (ms, batch 1).
CONSTRAINTS = ("params", "macs", "latency_ms")


@dataclass
class Specialized:
    """The architecture ``specialize`` picked: spec, extracted module and its metrics."""

    spec: dict[str, Any]
    module: nn.Module
    metrics: dict[str, float] = field(default_factory=dict)


class PreNAS:
    """The three PreNAS steps on one ``ViTSpace`` and one weight-entangled supernet.

    ``select()`` runs the zero-cost selector, ``train(data, epochs)`` the preferred one-shot
    training, ``evaluate(data)`` reads every preferred architecture's inherited accuracy and
    ``specialize({"params": 2e4})`` returns the best preferred architecture under a budget.
    ``supernet`` defaults to ``programs.supernet(space, drop_path_rate=drop_path_rate)``
    initialised with ``seed``.
    """

    def __init__(
        self,
        space: ViTSpace,
        selector: PreNASSelector | None = None,
        supernet: ViTSupernet | None = None,
        drop_path_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not isinstance(space, ViTSpace):
            raise TypeError(f"PreNAS expects a ViTSpace; got {type(space).__name__}.")
        if supernet is None:
            from symnas import programs

            torch.manual_seed(seed)
            supernet = programs.supernet(space, drop_path_rate=drop_path_rate)
        self.space = space
        self.selector = selector or PreNASSelector(seed=seed)
        self.supernet = supernet
        self.seed = seed
        self.preferred: list[Preferred] = []
        self.accuracy: dict[int, float] = {}
        self._costs: dict[tuple[int, str], float] = {}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample of the space."""
        arch = self.supernet.max_arch
        return (arch.in_chans, arch.image_size, arch.image_size)

    def select(
        self, batch: tuple[torch.Tensor, torch.Tensor | None] | None = None
    ) -> list[Preferred]:
        """Runs the selector on the (untrained) supernet and keeps the preferred set."""
        self.preferred = self.selector.select(self.space, self.supernet, batch)
        self.accuracy, self._costs = {}, {}
        return self.preferred

    def _require_preferred(self) -> None:
        if not self.preferred:
            raise ValueError("PreNAS: no preferred set; call select() (or set .preferred) first.")

    def train(self, data: Dataset, epochs: int, **options: Any) -> dict[str, float]:
        """Preferred one-shot training (``prenas_train.train_preferred`` options)."""
        self._require_preferred()
        options.setdefault("seed", self.seed)
        self.accuracy = {}
        return prenas_train.train_preferred(self.supernet, self.preferred, data, epochs, **options)

    def evaluate(self, data: Dataset, split: str = "test") -> list[float]:
        """Inherited accuracy of every preferred architecture on ``split`` of ``data``; these
        accuracies rank the feasible architectures in ``specialize``."""
        self._require_preferred()
        self.accuracy = {
            i: evaluate(self.supernet, data, split, forward=lambda m, x, s=p.spec: m(x, s))[
                "accuracy"
            ]
            for i, p in enumerate(self.preferred)
        }
        return [self.accuracy[i] for i in range(len(self.preferred))]

    def cost(self, index: int, name: str) -> float:
        """``params``, ``macs`` or ``latency_ms`` of preferred architecture ``index`` (cached)."""
        if name not in CONSTRAINTS:
            raise ValueError(f"constraint must be one of {CONSTRAINTS}; got {name!r}.")
        key = (index, name)
        if key not in self._costs:
            preferred = self.preferred[index]
            if name == "params":
                self._costs[key] = float(preferred.params)
            else:
                module = self.supernet.extract(preferred.spec).cpu()
                if name == "macs":
                    self._costs[key] = float(count(module, self.input_shape)["macs"])
                else:
                    self._costs[key] = cpu_latency(module, self.input_shape)
        return self._costs[key]

    def specialize(self, constraint: Mapping[str, float]) -> Specialized:
        """The best preferred architecture within every budget of ``constraint``, with its
        inherited weights (``supernet.extract``), with zero search.

        ``constraint`` maps any of ``"params"``, ``"macs"``, ``"latency_ms"`` to a maximum.
        """
        self._require_preferred()
        if not isinstance(constraint, Mapping) or not constraint:
            raise ValueError(
                f"constraint must be a non-empty mapping with keys from {CONSTRAINTS}; "
                f"got {constraint!r}."
            )
        for name, limit in constraint.items():
            if name not in CONSTRAINTS:
                raise ValueError(f"constraint keys must be among {CONSTRAINTS}; got {name!r}.")
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
                raise ValueError(f"constraint {name!r} must be a positive number; got {limit!r}.")
        feasible = [
            i
            for i in range(len(self.preferred))
            if all(self.cost(i, name) <= limit for name, limit in constraint.items())
        ]
        if not feasible:
            smallest = {
                name: min(self.cost(i, name) for i in range(len(self.preferred)))
                for name in constraint
            }
            raise ValueError(
                f"no preferred architecture meets {dict(constraint)}; the smallest values "
                f"available are {smallest}."
            )
        if self.accuracy:
            best = max(feasible, key=lambda i: (self.accuracy[i], self.preferred[i].params))
        else:
            best = max(feasible, key=lambda i: (self.preferred[i].params, self.preferred[i].score))
        chosen = self.preferred[best]
        metrics = {name: self.cost(best, name) for name in constraint}
        metrics["params"] = float(chosen.params)
        if self.accuracy:
            metrics["inherited_accuracy"] = self.accuracy[best]
        metrics["index"] = float(best)
        return Specialized(
            spec=chosen.spec, module=self.supernet.extract(chosen.spec), metrics=metrics
        )
