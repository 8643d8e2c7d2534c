"""PreNAS as a one-shot searcher: select, train on the preferred set, rank, specialise.

Implements PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning Towards Efficient
Neural Architecture Search", ICML 2023; tinyvision/PreNAS) on the weight-sharing contract:

1. the zero-cost selector (``prenas_selector.PreNASSelector``) picks the preferred set of an
   AutoFormer ViT space on the untrained supernet;
2. the supernet trains on the preferred set only (``samplers.PreferredSampler`` through the shared
   ``SupernetTrainer``: AdamW, label smoothing 0.1, weight decay 0.05, cosine schedule; PreNAS's
   learning rate ``5e-4 * batch / 512`` unless ``lr`` is given), checkpointed and resumable;
3. every preferred architecture's inherited accuracy is read on a validation split held out of the
   training data, and the finalists are proposed best first (``flows.search`` evaluates them).

``specialize`` is PreNAS's search-free deployment: after training, a budget (parameters, MACs or
measured latency) is met by picking among the preferred architectures with their inherited
weights, with no search and no retraining: the feasible one with the highest inherited validation
accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyglove as pg
import torch
from torch import nn

from symnas.algorithms.oneshot.base import OneShotSearcher, Spec
from symnas.algorithms.oneshot.prenas_selector import OWN_SCORES, Preferred, PreNASSelector
from symnas.algorithms.registry import register_algorithm
from symnas.algorithms.samplers import PreferredSampler, UniformSampler
from symnas.algorithms.samplers.preferred import GROUP_KEYS
from symnas.core.files import write_json_atomic
from symnas.programs.cost.count import count
from symnas.programs.cost.latency import cpu_latency
from symnas.programs.data import Dataset, load_dataset, validation_split
from symnas.programs.families.vit import ViTSupernet
from symnas.programs.training.estimator import SupernetEstimator
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.vit import ViTSpace

#: Budgets ``specialize`` accepts: parameters, MACs per sample, CPU latency (ms, batch 1).
CONSTRAINTS = ("params", "macs", "latency_ms")
#: PreNAS's base learning rate for a total batch of 512 (linear scaling rule).
BASE_LR = 5e-4
PREFERRED_FILE = "preferred.json"


@dataclass
class Specialized:
    """The architecture ``specialize`` picked: spec, extracted module and its metrics."""

    spec: dict[str, Any]
    module: nn.Module
    metrics: dict[str, float] = field(default_factory=dict)


def prenas_config(
    epochs: int,
    batch_size: int = 64,
    lr: float | None = None,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    grad_clip: float | None = None,
    seed: int = 0,
    max_steps: int | None = None,
) -> TrainConfig:
    """PreNAS's (and AutoFormer's) supernet recipe: AdamW, cosine, label smoothing."""
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adamw",
        lr=BASE_LR * batch_size / 512 if lr is None else lr,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        grad_clip=grad_clip,
        seed=seed,
        max_steps=max_steps,
    )


def train_preferred(
    supernet: ViTSupernet,
    preferred: Sequence[Any],
    data: Dataset,
    epochs: int,
    group_by: Sequence[str] = GROUP_KEYS,
    sandwich: int = 0,
    shuffle: bool = False,
    out: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """PreNAS Stage 2: trains ``supernet`` on the ``preferred`` specs (or ``Preferred`` records,
    smallest to largest) with the shared trainer; ``options`` go to :func:`prenas_config`.
    Returns the last epoch's record, with the largest preferred spec's test ``accuracy``."""
    specs = [getattr(p, "spec", p) for p in preferred]
    sampler = PreferredSampler(specs, group_by, sandwich, shuffle)
    trainer = SupernetTrainer(
        supernet,
        data,
        prenas_config(epochs, **options),
        sampler=sampler,
        eval_spec=specs[-1],
        out=out,
        resume=resume,
        device=device,
        progress=progress,
    )
    return trainer.fit()


def train_uniform(
    supernet: ViTSupernet,
    space: ViTSpace,
    data: Dataset,
    epochs: int,
    out: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The AutoFormer baseline (Chen et al., ICCV 2021): a uniformly random architecture of the
    whole space per step, with the same recipe and number of steps as ``train_preferred``."""
    trainer = SupernetTrainer(
        supernet,
        data,
        prenas_config(epochs, **options),
        sampler=UniformSampler(),
        space=space,
        eval_spec=supernet.max_spec(),
        out=out,
        resume=resume,
        device=device,
        progress=progress,
    )
    return trainer.fit()


@register_algorithm(
    "prenas",
    "PreNAS: zero-cost preferred set, preferred one-shot training, finalists by inherited "
    "accuracy (Wang et al. ICML 2023)",
    defaults={"data": "digits"},
)
@pg.members(
    [
        ("epochs", pg.typing.Int(min_value=1, default=40), "Supernet training epochs."),
        ("buckets", pg.typing.Int(min_value=1, default=4), "Parameter buckets of the selector."),
        ("per_bucket", pg.typing.Int(min_value=1, default=1), "Preferred candidates per bucket."),
        (
            "score",
            pg.typing.Str(default="taylor"),
            f"Selector score: {list(OWN_SCORES)} or a proxy.",
        ),
        ("lr", pg.typing.Float(min_value=0.0).noneable(), "AdamW rate; None: 5e-4 * batch / 512."),
        ("batch_size", pg.typing.Int(min_value=1, default=64), "Training batch size."),
        ("weight_decay", pg.typing.Float(min_value=0.0, default=0.05), "AdamW weight decay."),
        ("label_smoothing", pg.typing.Float(min_value=0.0, default=0.1), "Label smoothing."),
        ("group_by", pg.typing.List(pg.typing.Str(), default=list(GROUP_KEYS)), "Sampling groups."),
        ("sandwich", pg.typing.Int(min_value=0, default=0), "Sandwich size (0: off, as released)."),
        ("validation_fraction", pg.typing.Float(default=0.2), "Training data held out to rank."),
        ("drop_path_rate", pg.typing.Float(min_value=0.0, default=0.0), "Stochastic depth rate."),
    ]
)
class PreNAS(OneShotSearcher):
    """PreNAS on a ``ViTSpace``: ``flows.search(space, objective, algorithm=PreNAS(data=...))``.

    After ``prepare`` (which ``flows.search`` runs), ``supernet``, ``preferred`` (smallest to
    largest) and ``accuracy`` (inherited validation accuracy of each preferred architecture) are
    set, and ``specialize`` picks a deployable architecture under a budget.
    """

    def _reset(self) -> None:
        super()._reset()
        self.supernet: ViTSupernet | None = None
        self.preferred: list[Preferred] = []
        self.accuracy: dict[int, float] = {}
        self._costs: dict[tuple[int, str], float] = {}

    def search(self, space: Any, out: Path | None, resume: bool, progress: bool) -> list[Spec]:
        if not isinstance(space, ViTSpace):
            raise TypeError(
                f"PreNAS searches AutoFormer ViT spaces (spaces.vit_space(...), vit_tiny()...); "
                f"got {type(space).__name__}."
            )
        from symnas import programs

        seed = self.train_seed
        data = load_dataset(self.data)
        train_data, validation = validation_split(data, self.validation_fraction, seed)
        torch.manual_seed(seed)
        self.supernet = programs.supernet(space, drop_path_rate=self.drop_path_rate)
        self.preferred = self._select(space, out, resume)
        self.training = train_preferred(
            self.supernet,
            self.preferred,
            train_data,
            self.epochs,
            group_by=self.group_by,
            sandwich=self.sandwich,
            out=None if out is None else out / "supernet",
            resume=resume,
            device=self.device,
            progress=progress,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            label_smoothing=self.label_smoothing,
            seed=seed,
        )
        specs = [p.spec for p in self.preferred]
        scores = SupernetEstimator(self.supernet, validation, device=self.device).evaluate_batch(
            specs
        )
        self.accuracy = {i: s["accuracy"] for i, s in enumerate(scores)}
        order = sorted(
            range(len(specs)), key=lambda i: (-self.accuracy[i], -self.preferred[i].params)
        )
        return [specs[i] for i in order]

    def _select(self, space: ViTSpace, out: Path | None, resume: bool) -> list[Preferred]:
        path = None if out is None else out / PREFERRED_FILE
        if resume and path is not None and path.exists():
            try:
                record = json.loads(path.read_text())
                self.candidates = int(record["candidates"])
                return [Preferred.from_json(r) for r in record["preferred"]]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}: corrupt preferred set ({e}).") from None
        selector = PreNASSelector(
            buckets=self.buckets,
            per_bucket=self.per_bucket,
            score=self.score,
            seed=self.train_seed,
        )
        preferred = selector.select(space, self.supernet, None)
        self.candidates = len(selector.candidates)
        if path is not None:
            write_json_atomic(
                path,
                {
                    "candidates": len(selector.candidates),
                    "preferred": [p.to_json() for p in preferred],
                },
            )
        return preferred

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample of the space."""
        arch = self.supernet.max_arch
        return (arch.in_chans, arch.image_size, arch.image_size)

    def _require_preferred(self) -> None:
        if not getattr(self, "preferred", None) or getattr(self, "supernet", None) is None:
            raise ValueError(
                "PreNAS: nothing trained yet; run it through flows.search or prepare()."
            )

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
