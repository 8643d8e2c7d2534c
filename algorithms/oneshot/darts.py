"""DARTS: differentiable architecture search on any op-choice space.

Implements DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019)
on the weight-sharing contract: one architecture-parameter vector per op decision of a
``differentiable`` supernet (``arch_decisions()``, derived from the space's decision points, so
the NAS-Bench-201 cell, the DARTS cell and any new op-choice space relax without code of their
own), softmax mixing through ``forward_weighted``, and the bilevel optimisation on the train and
validation halves of the training data, alternating per step:

1. an architecture step on a validation batch, first order (the gradient of the validation loss
   at the current weights; DARTS-PT's setting and the default here) or second order (the
   gradient through one unrolled weight step ``w' = w - xi * grad_w L_train(w, alpha)`` with the
   weight optimizer's momentum and weight decay, ``xi`` its current learning rate, and the
   Hessian-vector product by central finite differences at ``w +- eps * grad_w' L_val``,
   ``eps = 0.01 / ||grad_w' L_val||``);
2. a weight step on a training batch.

Defaults are the paper's: weights SGD lr 0.025 with per-step cosine decay to 0.001, momentum 0.9,
weight decay 3e-4, gradient clipping 5; alphas Adam lr 3e-4, betas (0.5, 0.999), weight decay
1e-3, initialised as ``1e-3 * N(0, 1)``; batch 64; 50 epochs; half the training data for the
weights, half for the alphas. The architecture is selected by magnitude (the argmax op of every
decision; DARTS cell nodes keep their two sources with the strongest non-``none`` op).

Two further defaults follow the DARTS-PT reference (ruocwang/darts-pt, ``nasbench201/`` and
``sota/cnn/``): the cells' BatchNorm has no affine parameters (``affine=False``; the search cells
of ``nasbench201/search_cells.py`` and ``sota/cnn/model_search.py``; ``affine=True`` restores the
library's affine BN), and both halves of the split training set are augmented with the CIFAR
crop and flip (``augment="crop_flip"``: the reference's train and validation queues both read the
training set with its training transform, so the weight step's and the architecture step's
batches are augmented; ``augment="none"`` turns it off).

Outputs under the searcher's folder: ``search/`` (the shared trainer's ``checkpoint.pt`` and
``train_log.jsonl``, whose ``arch_weights`` per epoch are the alpha history) and
``result.json`` (the selected spec).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyglove as pg
import torch

from symnas.algorithms.oneshot.base import OneShotSearcher, Spec, describe_data
from symnas.algorithms.registry import register_algorithm
from symnas.core.files import write_json_atomic
from symnas.programs.data import Dataset, load_dataset, validation_split
from symnas.programs.supernet_base import Supernet, require
from symnas.programs.training.supernet_train import (
    ArchitectureParameters,
    SupernetTrainer,
    TrainConfig,
)

RESULT = "result.json"
ORDERS = (1, 2)
#: The searchers' ``augment`` choices: a ``programs.data.augment`` recipe, or ``"none"``.
AUGMENT_OPTIONS = ("crop_flip", "none")
#: The finite-difference step of the Hessian-vector product, divided by the vector's norm.
HVP_RADIUS = 0.01

Weights = dict[str, torch.Tensor]


class DARTSTrainer(SupernetTrainer):
    """The shared trainer with DARTS's first- or second-order architecture step.

    ``weights_fn(arch)`` gives the mixing weights of every step (default: the softmax of the
    logits); perturbation-based selection passes its projected weights here. ``hvp_radius`` is
    the finite-difference step of the second-order Hessian-vector product over the vector's norm
    (DARTS: 0.01).
    """

    def __init__(
        self,
        *args: Any,
        order: int = 1,
        weights_fn: Callable[[ArchitectureParameters], Weights] | None = None,
        hvp_radius: float = HVP_RADIUS,
        **kwargs: Any,
    ) -> None:
        if order not in ORDERS:
            raise ValueError(f"DARTS: order must be one of {list(ORDERS)}; got {order!r}.")
        if not hvp_radius > 0:
            raise ValueError(f"DARTS: hvp_radius must be positive; got {hvp_radius!r}.")
        self.order, self.hvp_radius = order, hvp_radius
        self.weights_fn = weights_fn or (lambda arch: arch.weights())
        fingerprint = {**dict(kwargs.pop("fingerprint", None) or {}), "order": order}
        if order == 2:
            fingerprint["hvp_radius"] = hvp_radius
        super().__init__(*args, fingerprint=fingerprint, **kwargs)

    def weighted_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the supernet mixed by ``weights_fn(arch)``."""
        return self.supernet.forward_weighted(x, self.weights_fn(self.arch))

    def arch_step(
        self, x_valid: torch.Tensor, y_valid: torch.Tensor, x: torch.Tensor, y: torch.Tensor
    ) -> float:
        """One architecture step (first or second order) on a validation batch."""
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss, grads = self.arch_gradient(x_valid, y_valid, x, y)
        for param, grad in zip(self.arch.parameters(), grads, strict=True):
            param.grad = grad
        self.arch_optimizer.step()
        return loss

    def arch_gradient(
        self, x_valid: torch.Tensor, y_valid: torch.Tensor, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[float, list[torch.Tensor]]:
        """The validation loss and its gradient for every logit vector of ``arch``.

        First order: ``grad_alpha L_val(w, alpha)``. Second order:
        ``grad_alpha L_val(w', alpha) - xi * (grad_alpha L_train(w+) - grad_alpha L_train(w-))
        / (2 eps)`` with ``w'`` the unrolled weights and ``w+-`` as in the module doc.
        """
        alphas = list(self.arch.parameters())
        if self.order == 1:
            loss = self.loss(self.weighted_logits(x_valid), y_valid)
            return float(loss.detach()), _grads(loss, alphas)
        params = [p for p in self.supernet.parameters() if p.requires_grad]
        buffers = {k: v.clone() for k, v in self.supernet.named_buffers()}
        original = [p.detach().clone() for p in params]
        xi = self.optimizer.param_groups[0]["lr"]
        try:
            train_grads = _grads(self.loss(self.weighted_logits(x), y), params)
            with torch.no_grad():
                for p, w, g in zip(params, original, train_grads, strict=True):
                    p.copy_(w - xi * (self._momentum(p) + g + self.config.weight_decay * w))
            loss = self.loss(self.weighted_logits(x_valid), y_valid)
            grads = _grads(loss, alphas + params)
            d_alpha, d_weights = grads[: len(alphas)], grads[len(alphas) :]
            norm = torch.sqrt(sum((g * g).sum() for g in d_weights))
            eps = self.hvp_radius / max(float(norm), 1e-12)
            sides = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for p, w, v in zip(params, original, d_weights, strict=True):
                        p.copy_(w + sign * eps * v)
                sides.append(_grads(self.loss(self.weighted_logits(x), y), alphas))
        finally:
            with torch.no_grad():
                for p, w in zip(params, original, strict=True):
                    p.copy_(w)
                for name, value in self.supernet.named_buffers():
                    value.copy_(buffers[name])
        hvp = [(plus - minus) / (2 * eps) for plus, minus in zip(*sides, strict=True)]
        return float(loss.detach()), [d - xi * h for d, h in zip(d_alpha, hvp, strict=True)]

    def _momentum(self, param: torch.Tensor) -> torch.Tensor | float:
        """The momentum term of the weight optimizer's next step for ``param`` (0 if none)."""
        buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
        momentum = self.optimizer.param_groups[0].get("momentum", 0.0)
        return 0.0 if buffer is None else momentum * buffer


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of ``loss`` for ``tensors`` (zeros where a tensor does not affect it)."""
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads, strict=True)]


def darts_config(
    epochs: int,
    batch_size: int = 64,
    lr: float = 0.025,
    lr_min: float = 0.001,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    grad_clip: float | None = 5.0,
    arch_lr: float | None = 3e-4,
    arch_weight_decay: float = 1e-3,
    seed: int = 0,
    augment: str | None = None,
) -> TrainConfig:
    """DARTS's search recipe as a ``TrainConfig`` (``arch_lr=None`` keeps the alphas fixed;
    ``augment`` names the batch augmentation of both the weight and the architecture steps)."""
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="sgd",
        lr=lr,
        lr_min=lr_min,
        momentum=momentum,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        arch_lr=arch_lr,
        arch_betas=(0.5, 0.999),
        arch_weight_decay=arch_weight_decay,
        seed=seed,
        augment=augment,
    )


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: corrupt search result ({e}); delete it to select again."
        ) from None


@pg.members(
    [
        ("epochs", pg.typing.Int(min_value=1, default=50), "Search epochs."),
        ("order", pg.typing.Enum(1, list(ORDERS)), "1: first order; 2: unrolled second order."),
        ("batch_size", pg.typing.Int(min_value=1, default=64), "Batch size of both streams."),
        ("lr", pg.typing.Float(min_value=0.0, default=0.025), "Weights' SGD learning rate."),
        ("lr_min", pg.typing.Float(min_value=0.0, default=0.001), "End of the cosine decay."),
        ("momentum", pg.typing.Float(min_value=0.0, default=0.9), "SGD momentum."),
        ("weight_decay", pg.typing.Float(min_value=0.0, default=3e-4), "Weights' decay."),
        ("grad_clip", pg.typing.Float(min_value=0.0, default=5.0).noneable(), "Clip norm."),
        ("arch_lr", pg.typing.Float(min_value=0.0, default=3e-4), "Alphas' Adam rate."),
        ("arch_weight_decay", pg.typing.Float(min_value=0.0, default=1e-3), "Alphas' decay."),
        (
            "train_portion",
            pg.typing.Float(min_value=0.0, max_value=1.0, default=0.5),
            "Share of the training data that trains the weights; the rest trains the alphas.",
        ),
        (
            "augment",
            pg.typing.Enum("crop_flip", list(AUGMENT_OPTIONS)),
            "Augmentation of the weight and architecture batches (the reference: crop_flip).",
        ),
    ]
)
class BilevelSearcher(OneShotSearcher):
    """The bilevel search of a ``differentiable`` supernet (DARTS's recipe), then selection.

    Subclasses build the supernet (``build_supernet``) and may change the training recipe
    (``train_config``) and the selection (``select``). After ``prepare``, ``supernet``, ``arch``
    (the trained architecture parameters) and ``selected`` (``{"magnitude": spec}``, the argmax
    of every decision) are set.
    """

    def _reset(self) -> None:
        super()._reset()
        self.supernet: Supernet | None = None
        self.arch: ArchitectureParameters | None = None
        self.selected: dict[str, Spec] = {}
        self.record: dict[str, Any] = {}

    def trains_alpha(self) -> bool:
        """Whether the search trains the alphas (bilevel) or keeps them at their init."""
        return True

    def search(self, space: Any, out: Path | None, resume: bool, progress: bool) -> list[Spec]:
        """Runs the search and the selection (or reads a finished ``result.json``)."""
        if out is not None and resume and (out / RESULT).exists():
            self.record = _read_result(out / RESULT)
            self.selected = self.record["selected"]
            return [self.selected[self.record["finalist"]]]
        start = time.perf_counter()
        trainer = self.train_supernet(space, out, resume, progress)
        self.record = {
            "algorithm": type(self).__name__,
            "data": describe_data(self.data),
            "search_s": round(time.perf_counter() - start, 3),
            "arch_weights": self.arch.as_json(),
        }
        self.selected = {"magnitude": self.supernet.discretize(self.arch.weights())}
        self.record["finalist"] = self.select(space, trainer, out, resume, progress)
        self.record["selected"] = self.selected
        if out is not None:
            write_json_atomic(out / RESULT, self.record)
        return [self.selected[self.record["finalist"]]]

    def select(
        self, space: Any, trainer: DARTSTrainer, out: Path | None, resume: bool, progress: bool
    ) -> str:
        """Selects the finalist after the search; returns its key in ``selected``."""
        return "magnitude"

    def augmentation(self) -> str | None:
        """The ``TrainConfig.augment`` of the search (None for ``augment="none"``)."""
        return None if self.augment == "none" else self.augment

    def split(self) -> tuple[Dataset, Dataset]:
        """``(train, valid)``: the weights' half and the alphas' half of the training data."""
        return validation_split(load_dataset(self.data), 1.0 - self.train_portion, self.train_seed)

    def build_supernet(self, space: Any) -> Supernet:
        """The ``differentiable`` supernet of ``space`` (subclasses implement it)."""
        raise NotImplementedError

    def train_config(self, seed: int) -> TrainConfig:
        """DARTS's search recipe with this searcher's settings."""
        return darts_config(
            self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            lr_min=self.lr_min,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            arch_lr=self.arch_lr if self.trains_alpha() else None,
            arch_weight_decay=self.arch_weight_decay,
            seed=seed,
            augment=self.augmentation(),
        )

    def train_supernet(
        self, space: Any, out: Path | None, resume: bool, progress: bool
    ) -> DARTSTrainer:
        """Builds the supernet and its alphas and runs the bilevel search (resumable)."""
        if not 0.0 < self.train_portion < 1.0:
            raise ValueError(
                f"DARTS: train_portion must lie strictly between 0 and 1; got {self.train_portion!r}."
            )
        seed = self.train_seed
        train, valid = self.split()
        torch.manual_seed(seed)
        self.supernet = self.build_supernet(space)
        self.arch = ArchitectureParameters(self.supernet.arch_decisions(), seed=seed)
        config = self.train_config(seed)
        trainer = DARTSTrainer(
            self.supernet,
            train,
            config,
            arch=self.arch,
            valid=valid,
            out=None if out is None else out / "search",
            resume=resume,
            device=self.device,
            progress=progress,
            order=self.order,
            fingerprint={
                "space": pg.to_json(space),
                "source": describe_data(self.data),
                **self.supernet_fingerprint(),
            },
        )
        trainer.fit()
        return trainer

    def supernet_fingerprint(self) -> dict[str, Any]:
        """Settings of the supernet a resumed search must share (beyond space and data)."""
        return {}


@register_algorithm(
    "darts",
    "DARTS: bilevel softmax relaxation of the op choices, magnitude selection "
    "(Liu et al. ICLR 2019)",
    defaults={"data": "digits"},
)
@pg.members(
    [
        (
            "affine",
            pg.typing.Bool(default=False),
            "Affine BatchNorm in the supernet's cells (the reference: False).",
        ),
    ]
)
class DARTS(BilevelSearcher):
    """DARTS on any space whose supernet is ``differentiable``; proposes the magnitude cell.

    ``flows.search(space, objective, algorithm=DARTS(data=...), budget=1, out=...)``.
    """

    def build_supernet(self, space: Any) -> Supernet:
        """The ``differentiable`` supernet of ``space`` with the cells' BatchNorm ``affine`` as
        configured (a family whose factory takes no ``affine`` is refused by that factory)."""
        from symnas import programs

        require(programs.registry.supernet_class(space), "differentiable", type(self).__name__)
        return programs.supernet(space, affine=self.affine)

    def supernet_fingerprint(self) -> dict[str, Any]:
        """The cells' BatchNorm setting."""
        return {"affine": self.affine}
