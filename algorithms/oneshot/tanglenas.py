"""TangleNAS: gradient-based search on weight-entangled spaces.

Implements Sukthanker, Krishnakumar, Safari & Hutter, "Weight-Entanglement Meets Gradient-Based
Neural Architecture Search" (TangleNAS, AutoML-Conf 2024, PMLR 256; arXiv 2312.10440; reference
``automl/TangleNAS``, ``search_spaces/AutoFormer`` with ``--use_we_v2``). Every size decision of
a weight-entangled space (embedding width, MLP ratios, head counts, depth; TDNN widths, kernels,
depth) gets a vector of architecture logits, initialised ``1e-3 * N(0, 1)``; the supernet's
``forward_weighted`` superimposes the zero-padded weight slices with their softmax weights
(``programs.families.entangle``), so a step costs about one largest-network pass whatever the number of
choices. The logits and the shared weights are trained by DARTS's bilevel alternation
(``darts.DARTSTrainer``): an architecture step on a validation batch (first order by default,
the reference's ``--unrolled False``; ``order=2`` unrolls one weight step with the DARTS
finite-difference Hessian-vector product, as the reference's ``architect.py``), then a weight
step on a training batch. The architecture is the argmax of every decision (``get_best_config``
of the reference), read off with ``supernet.discretize``.

Defaults follow the reference's AutoFormer search (``supernet_train_cifar10.py`` and
``job_scripts/job_autoformer_cifar10.sh``): weights AdamW lr 5e-4, weight decay 0.05, cosine
decay to 1e-5, no gradient clipping; alphas Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3;
80 % of the training data for the weights (``--ratio 0.8``), the rest for the alphas; DARTS
softmax mixing (``--one_shot_opt darts``). Scaled down: 50 epochs of batch 64 without the
reference's warm-up, mixed precision and RandAugment/mixup recipe (``augment`` offers the crop
and flip). Its checkpoints and resume are DARTS's: ``search/checkpoint.pt`` after every epoch,
``result.json`` once selected.
"""

from __future__ import annotations

from typing import Any

import pyglove as pg

from symnas.algorithms.oneshot.darts import AUGMENT_OPTIONS, ORDERS, BilevelSearcher
from symnas.algorithms.registry import register_algorithm
from symnas.programs.supernet_base import Supernet, require
from symnas.programs.training.supernet_train import TrainConfig

#: The weight optimizers the search may use (the reference: AdamW).
OPTIMIZERS = ("adamw", "sgd")


@register_algorithm(
    "tanglenas",
    "TangleNAS: bilevel search over superimposed entangled weights, argmax selection "
    "(Sukthanker et al. AutoML 2024)",
    defaults={"data": "digits"},
)
@pg.members(
    [
        ("epochs", pg.typing.Int(min_value=1, default=50), "Search epochs."),
        ("order", pg.typing.Enum(1, list(ORDERS)), "1: first order; 2: unrolled second order."),
        ("optimizer", pg.typing.Enum("adamw", list(OPTIMIZERS)), "Weights' optimizer."),
        ("lr", pg.typing.Float(min_value=0.0, default=5e-4), "Weights' learning rate."),
        ("lr_min", pg.typing.Float(min_value=0.0, default=1e-5), "End of the cosine decay."),
        ("momentum", pg.typing.Float(min_value=0.0, default=0.9), "SGD momentum (sgd only)."),
        ("weight_decay", pg.typing.Float(min_value=0.0, default=0.05), "Weights' decay."),
        ("grad_clip", pg.typing.Float(min_value=0.0).noneable(), "Clip norm; None: no clip."),
        (
            "train_portion",
            pg.typing.Float(min_value=0.0, max_value=1.0, default=0.8),
            "Share of the training data that trains the weights; the rest trains the alphas.",
        ),
        (
            "augment",
            pg.typing.Enum("none", list(AUGMENT_OPTIONS)),
            "Augmentation of the weight and architecture batches.",
        ),
    ]
)
class TangleNAS(BilevelSearcher):
    """TangleNAS on any space whose supernet is ``sized`` and ``differentiable`` (the
    weight-entangled families); proposes the argmax architecture.

    ``flows.search(space, objective, algorithm=TangleNAS(data=...), budget=1, out=...)``.
    """

    def build_supernet(self, space: Any) -> Supernet:
        """The entangled supernet of ``space``; a family without entangled (``sized``) choices,
        or without their relaxation (``differentiable``), is refused naming the families that
        have it."""
        from symnas import programs

        cls = programs.registry.supernet_class(space)
        require(cls, "sized", type(self).__name__)
        require(cls, "differentiable", type(self).__name__)
        return programs.supernet(space)

    def train_config(self, seed: int) -> TrainConfig:
        """The reference's AutoFormer search recipe with this searcher's settings."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            lr_min=self.lr_min,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            arch_lr=self.arch_lr if self.trains_alpha() else None,
            arch_betas=(0.5, 0.999),
            arch_weight_decay=self.arch_weight_decay,
            seed=seed,
            augment=self.augmentation(),
        )
