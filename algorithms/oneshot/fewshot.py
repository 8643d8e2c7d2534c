"""Few-shot supernet training: exhaustive splits (Few-Shot NAS) and gradient-matching splits (GM-NAS).

Few-Shot NAS (Zhao, Wang, Tian, Fonseca, Guo, ICML 2021) trains the one-shot supernet, splits
one op decision into one sub-supernet per choice, and trains each sub-supernet, which inherits
the parent's weights, on its part of the space (NB201: one-shot 600 epochs, then 300 per
sub-supernet, so the split comes after 2/3 of each lineage's epochs). GM-NAS (Hu, Wang et al.,
ICLR 2022) splits at several epochs (NB201: at epochs 15 and 30 of 60, i.e. 1/4 and 1/2) and
chooses each split by gradient matching (``fewshot_split``), two children per split, up to a
budget of sub-supernets (NB201: 4).

:class:`FewShotTrainer` runs either schedule (and ``"one_shot"``, no split, as the baseline) with
the shared ``SupernetTrainer``: every stage of every sub-supernet trains with a
``UniformSampler`` bound to its restricted space (single-path uniform sampling, as GM-NAS with
RSPS), with a fresh optimizer and cosine schedule over each stage's epochs. That matches Few-Shot
NAS, whose sub-supernets are trained by a separate run from the one-shot checkpoint, and GM-NAS's
final stage with ``restart final`` (``restart_final=True``: fresh weights too). It departs from
GM-NAS's intermediate splits, where the children inherit the weights and the optimizer state and
continue the lineage's one cosine schedule.
Checkpoints go to ``out/<sub-supernet>/stage<k>/`` and every split decision to ``out/plan.json``,
so ``resume=True`` continues a cut-off training and ends with the same weights.
:class:`FewShotSearcher` is the one-shot searcher on top: it trains, then proposes the best
sampled architecture of each sub-supernet (GM-NAS + RSPS's selection).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
import torch

from symnas.algorithms.oneshot.base import OneShotSearcher
from symnas.algorithms.oneshot.fewshot_split import (
    GRADIENT_SCOPES,
    Split,
    exhaustive_split,
    gm_split,
    op_choices,
)
from symnas.algorithms.registry import register_algorithm
from symnas.algorithms.samplers.uniform import UniformSampler
from symnas.core.compare import first_difference, short_repr
from symnas.core.files import write_text_atomic
from symnas.programs.data import Dataset, load_dataset, validation_split
from symnas.programs.supernet_base import Supernet, require
from symnas.programs.training.fewshot import FewShotEstimator, FewShotSupernet, restrict_space
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig, resolve_device
from symnas.spaces.codec import compile as compile_space

METHODS = ("one_shot", "exhaustive", "gm")
PLAN = "plan.json"


@dataclass
class SubSupernet:
    """One node of the split tree: its name, restrictions, restricted space and weights."""

    name: str
    restrictions: dict[str, tuple[str, ...]]
    space: Any
    supernet: Supernet


def default_split_epochs(method: str, epochs: int) -> tuple[int, ...]:
    """The papers' split epochs scaled to ``epochs``: GM-NAS 1/4 and 1/2 of training,
    Few-Shot NAS 2/3 (600 one-shot epochs, then 300 per sub-supernet), none for one-shot."""
    if method == "gm":
        return tuple(sorted({max(1, epochs // 4), max(1, epochs // 2)}))
    if method == "exhaustive":
        return (max(1, 2 * epochs // 3),)
    return ()


class FewShotTrainer:
    """Trains a few-shot supernet of ``space`` (see the module doc).

    Args:
      space: an op-choice space whose supernet is ``differentiable`` (NB201, DARTS cells).
      data: training data (its train split; the gradients of GM splits use it too).
      train: settings of every lineage (``epochs`` is each sub-supernet's total from the root).
      method: ``"gm"``, ``"exhaustive"`` or ``"one_shot"``.
      split_epochs: epochs (from the start) at which leaves split; None: the paper's.
      max_supernets: budget of sub-supernets (None: GM 2**splits, exhaustive the choices).
      decision: the decision an exhaustive split takes (None: the first open op decision).
      gradient_batches: mini-batches averaged per GM score (reference 100).
      gradient_scope: ``"cells"`` (searched cells and reduction blocks, the reference) or
        ``"all"``.
      task: macro overrides and supernet options for ``programs.supernet(space, **task)``
        (for NB201, ``affine=False`` as the weight-sharing references).
      per_cell, accept: the ``UniformSampler`` options of every stage (a cell drawn per
        searched cell; a predicate a drawn spec must pass).
      restart_final: GM-NAS's ``restart final``: the sub-supernets of the last split start from
        freshly initialised weights (and, as every stage, a fresh optimizer and schedule)
        instead of their parent's; the splits themselves are still chosen on the trained parent.
        None: each method's reference rule (GM-NAS restarts, Few-Shot NAS transfers weights).
      out, resume, device, progress: as ``SupernetTrainer``.

    The root supernet is built after ``torch.manual_seed(train.seed)``, so a training is a
    function of its settings.
    """

    def __init__(
        self,
        space: Any,
        data: Dataset,
        train: TrainConfig,
        method: str = "gm",
        split_epochs: tuple[int, ...] | None = None,
        max_supernets: int | None = None,
        decision: str | None = None,
        gradient_batches: int = 100,
        gradient_scope: str = "cells",
        task: dict[str, Any] | None = None,
        per_cell: bool = False,
        accept: Callable[[dict[str, Any]], bool] | None = None,
        restart_final: bool | None = None,
        out: str | os.PathLike | None = None,
        resume: bool = False,
        device: str | torch.device = "auto",
        progress: bool | None = None,
    ) -> None:
        from symnas import programs

        if method not in METHODS:
            raise ValueError(f"FewShotTrainer: method must be one of {METHODS}; got {method!r}.")
        if gradient_scope not in GRADIENT_SCOPES:
            raise ValueError(
                f"FewShotTrainer: gradient_scope must be one of {GRADIENT_SCOPES}; got "
                f"{gradient_scope!r}."
            )
        if (
            isinstance(gradient_batches, bool)
            or not isinstance(gradient_batches, int)
            or (gradient_batches < 1)
        ):
            raise ValueError(
                f"FewShotTrainer: gradient_batches must be a positive int; got {gradient_batches!r}."
            )
        train.check()
        self.space, self.data, self.train, self.method = space, data, train, method
        self.task = dict(task or {})
        self.device = resolve_device(device)
        torch.manual_seed(train.seed)
        root = programs.supernet(space, **self.task)
        require(root, "differentiable", "FewShotTrainer (splits over op decisions)")
        self.choices = op_choices(space)
        if not self.choices:
            raise ValueError("FewShotTrainer: the space has no op decision (pg.oneof over ops).")
        self.split_epochs = self._check_split_epochs(
            default_split_epochs(method, train.epochs) if split_epochs is None else split_epochs
        )
        if decision is not None and decision not in self.choices:
            raise ValueError(
                f"FewShotTrainer: decision must be one of {list(self.choices)}; got {decision!r}."
            )
        self.decision = decision
        self.per_cell, self.accept = bool(per_cell), accept
        self.restart_final = method == "gm" if restart_final is None else bool(restart_final)
        self.max_supernets = self._check_budget(max_supernets)
        self.gradient_batches, self.gradient_scope = gradient_batches, gradient_scope
        self.root = SubSupernet("s", {}, space, root.to(self.device))
        self.out = Path(out) if out is not None else None
        self.resume, self.progress = resume, progress
        self.plan: dict[str, Any] = {"config": self.config(), "splits": {}}
        self.leaves: list[SubSupernet] = []
        self.steps = 0

    def _check_split_epochs(self, value: Any) -> tuple[int, ...]:
        epochs = tuple(value)
        if self.method == "one_shot" and epochs:
            raise ValueError(f"FewShotTrainer: one_shot takes no split_epochs; got {epochs}.")
        if (
            any(isinstance(e, bool) or not isinstance(e, int) for e in epochs)
            or list(epochs) != sorted(set(epochs))
            or any(not 0 < e < self.train.epochs for e in epochs)
        ):
            raise ValueError(
                f"FewShotTrainer: split_epochs must be increasing ints in (0, {self.train.epochs})"
                f" (train.epochs); got {epochs}."
            )
        if self.method != "one_shot" and not epochs:
            raise ValueError(f"FewShotTrainer: method {self.method!r} needs split_epochs.")
        return epochs

    def _check_budget(self, value: int | None) -> int:
        if value is None:
            if self.method == "gm":
                return 2 ** len(self.split_epochs)
            if self.method == "exhaustive":
                first = self.decision or next(iter(self.choices))
                return len(self.choices[first])
            return 1
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"FewShotTrainer: max_supernets must be a positive int; got {value!r}."
            )
        return value

    def config(self) -> dict[str, Any]:
        """The training's settings as JSON (recorded in ``plan.json`` and checked on resume)."""
        return {
            "method": self.method,
            "train": json.loads(json.dumps(dataclasses.asdict(self.train), default=str)),
            "split_epochs": list(self.split_epochs),
            "max_supernets": self.max_supernets,
            "decision": self.decision,
            "gradient_batches": self.gradient_batches,
            "gradient_scope": self.gradient_scope,
            "task": json.loads(json.dumps(self.task, default=str)),
            "sampler": UniformSampler(per_cell=self.per_cell, accept=self.accept).config(),
            "restart_final": self.restart_final,
            "data": {
                "name": self.data.name,
                "train": len(self.data.y_train),
                "input_shape": list(self.data.input_shape),
            },
            "space": pg.to_json(self.space),
        }

    # ------------------------------------------------------------------ training
    def fit(self) -> FewShotSupernet:
        """Trains every stage (resuming when asked) and returns the few-shot supernet."""
        self._load_plan()
        self.steps = 0
        leaves = [self.root]
        bounds = (0, *self.split_epochs, self.train.epochs)
        for stage, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if stage > 0:
                leaves = self._split_leaves(leaves, stage)
            for leaf in leaves:
                self._train(leaf, stage, end - start)
        self.leaves = leaves
        return FewShotSupernet([(leaf.restrictions, leaf.supernet) for leaf in leaves])

    def _train(self, leaf: SubSupernet, stage: int, epochs: int) -> None:
        config = dataclasses.replace(
            self.train, epochs=epochs, seed=self.train.seed + _offset(f"{leaf.name}/{stage}")
        )
        folder = None if self.out is None else self.out / leaf.name / f"stage{stage}"
        trainer = SupernetTrainer(
            leaf.supernet,
            self.data,
            config,
            sampler=UniformSampler(per_cell=self.per_cell, accept=self.accept),
            space=leaf.space,
            out=folder,
            resume=self.resume,
            device=self.device,
            progress=self.progress,
            fingerprint={"restrictions": leaf.restrictions, "method": self.method},
        )
        trainer.fit()
        self.steps += trainer.step

    def _split_leaves(self, leaves: list[SubSupernet], stage: int) -> list[SubSupernet]:
        restart = self.restart_final and stage == len(self.split_epochs)
        out: list[SubSupernet] = []
        for i, leaf in enumerate(leaves):
            count = len(out) + len(leaves) - i
            split = self._split(leaf, stage, budget=self.max_supernets - count + 1)
            if split is None:
                out.append(leaf)
                continue
            for k, group in enumerate(split.groups):
                restrictions = {**leaf.restrictions, split.decision: tuple(group)}
                name = f"{leaf.name}.{k}"
                out.append(
                    SubSupernet(
                        name,
                        restrictions,
                        restrict_space(self.space, restrictions),
                        self._fresh(name) if restart else copy.deepcopy(leaf.supernet),
                    )
                )
        return out

    def _fresh(self, name: str) -> Supernet:
        """A newly initialised supernet for sub-supernet ``name`` (seeded by its name)."""
        from symnas import programs

        torch.manual_seed(self.train.seed + _offset(f"{name}/init"))
        return programs.supernet(self.space, **self.task).to(self.device)

    def _split(self, leaf: SubSupernet, stage: int, budget: int) -> Split | None:
        """The split of ``leaf`` (from ``plan.json`` if recorded), or None when none fits."""
        recorded = self.plan["splits"].get(leaf.name)
        if recorded is not None:
            return Split.from_json(recorded) if recorded else None
        open_choices = {
            path: ops
            for path, ops in op_choices(leaf.space).items()
            if ops == self.choices.get(path)
        }
        split: Split | None = None
        if self.method == "exhaustive" and open_choices:
            decision = self.decision if self.decision in open_choices else next(iter(open_choices))
            if len(open_choices[decision]) <= budget:
                split = exhaustive_split(open_choices, decision)
        elif self.method == "gm" and open_choices and budget >= 2:
            split = gm_split(
                leaf.supernet,
                leaf.space,
                list(open_choices),
                self.data,
                self.gradient_batches,
                self.train.batch_size,
                self.train.seed + _offset(f"{leaf.name}/split{stage}"),
                self.gradient_scope,
            )
        self.plan["splits"][leaf.name] = split.to_json() if split else {}
        self._save_plan()
        return split

    # ------------------------------------------------------------------ plan file
    def _load_plan(self) -> None:
        if self.out is None:
            return
        path = self.out / PLAN
        if not self.resume:
            if path.exists():
                raise ValueError(
                    f"{self.out} already holds a few-shot training; pass resume=True to continue "
                    "it, or choose another folder."
                )
            return
        if not path.exists():
            return
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: unreadable few-shot plan ({e}).") from None
        found = first_difference(saved.get("config"), json.loads(json.dumps(self.config())))
        if found:
            where, was, now = found
            raise ValueError(
                f"Cannot resume from {path}: it was written by a few-shot training with other "
                f"settings (its '{where}' was {short_repr(was)}, this training has "
                f"{short_repr(now)})."
            )
        self.plan = saved

    def _save_plan(self) -> None:
        if self.out is None:
            return
        write_text_atomic(self.out / PLAN, json.dumps(self.plan, indent=1))


def _offset(name: str) -> int:
    """A stable seed offset per sub-supernet and stage."""
    return zlib.crc32(name.encode()) % 100_003


@register_algorithm(
    "fewshot",
    "Few-shot supernets (GM-NAS gradient-matching or Few-Shot NAS exhaustive splits); proposes "
    "the best sampled architecture of each sub-supernet",
    defaults={"data": "digits"},
    aliases=("gm_nas", "few_shot"),
    kind="one_shot",
)
@pg.members(
    [
        ("method", pg.typing.Enum("gm", list(METHODS)), "Split method."),
        ("epochs", pg.typing.Int(min_value=1, default=8), "Epochs of every lineage."),
        ("split_epochs", pg.typing.List(pg.typing.Int(min_value=1)).noneable(), "Split epochs."),
        ("max_supernets", pg.typing.Int(min_value=1).noneable(), "Sub-supernet budget."),
        ("gradient_batches", pg.typing.Int(min_value=1, default=100), "Batches per GM score."),
        ("batch_size", pg.typing.Int(min_value=1, default=64), "Training batch size."),
        ("lr", pg.typing.Float(min_value=0.0, default=0.025), "SGD learning rate."),
        ("weight_decay", pg.typing.Float(min_value=0.0, default=1e-4), "Weight decay."),
        ("samples", pg.typing.Int(min_value=1, default=200), "Sampled specs per sub-supernet."),
        ("eval_batches", pg.typing.Int(min_value=1).noneable(), "Validation batches per spec."),
    ]
)
class FewShotSearcher(OneShotSearcher):
    """Trains a few-shot supernet on a validation split of ``data`` (half the training
    images), scores ``samples`` distinct specs of every sub-supernet on the held-out half and
    proposes each sub-supernet's best, best first (GM-NAS with RSPS selects so on NB201)."""

    def search(self, space: Any, out: Path | None, resume: bool, progress: bool) -> list[dict]:
        seed = self.train_seed
        train_data, valid = validation_split(load_dataset(self.data), 0.5, seed)
        trainer = FewShotTrainer(
            space,
            train_data,
            TrainConfig(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                seed=seed,
            ),
            method=self.method,
            split_epochs=None if self.split_epochs is None else tuple(self.split_epochs),
            max_supernets=self.max_supernets,
            gradient_batches=self.gradient_batches,
            out=out,
            resume=resume,
            device=self.device,
            progress=progress,
        )
        supernet = trainer.fit()
        estimator = FewShotEstimator(
            supernet, valid, max_batches=self.eval_batches, device=self.device
        )
        rng = np.random.default_rng(seed)
        best = []
        for leaf in trainer.leaves:
            codec = compile_space(leaf.space)
            genomes = codec.distinct(self.samples, rng)
            specs = [codec.decode(g) for g in genomes]
            scores = estimator.evaluate_batch(specs)
            top = max(range(len(specs)), key=lambda i: scores[i]["accuracy"])
            best.append((scores[top]["accuracy"], specs[top]))
        best.sort(key=lambda item: -item[0])
        return [spec for _, spec in best]
