"""EQ-Net's two losses for training a quantization supernet.

From "EQ-Net: Elastic Quantization Neural Networks" (Xu et al., ICCV 2023), as its reference code
(xuke225/EQ-Net, ``runner/criterion.py`` and ``QuantSuperNetTrainer``) computes them:

- **Weight Distribution Regularization** (WDR): the shared weights should stay close to a
  distribution that quantizes well at every bit-width. For every Conv2d/Linear weight but the
  first layer's, the kurtosis ``mean(((w - mean) / std)^4)`` is pulled to 1.8 and the skewness
  ``mean(((w - mean) / std)^3)`` to 0 by squared errors, each averaged over the layers and
  weighted by its rate (EQ-Net's ``kurt_rate = 0.015``, ``skew_rate = 1.0``); ``std`` is the
  unbiased standard deviation, as ``torch.std``.
- **Group Progressive Guidance** (GPG): the sub-networks of a step are ordered from the highest
  precision group to the lowest; the first learns from the labels, each next one from
  ``alpha * KL(softmax(previous logits) || softmax(its logits)) + (1 - alpha) * CE`` (EQ-Net's
  ``KLLossSoft`` with ``alpha = 0.5``, temperature 1), the previous sub-network's logits
  detached, so guidance flows from high to low precision group by group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from symnas.spaces.quantization import unit_bits

KURTOSIS_TARGET = 1.8
SKEWNESS_TARGET = 0.0


def _standardized_moments(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = (weight - weight.mean()) / weight.std()
    return z.pow(4).mean(), z.pow(3).mean()


def weight_distribution_loss(
    module: nn.Module, kurtosis_rate: float, skewness_rate: float
) -> torch.Tensor:
    """WDR of every Conv2d/Linear weight of ``module`` except the first layer's."""
    weights = [m.weight for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][1:]
    if not weights:
        raise ValueError("weight_distribution_loss: the module has fewer than two layers.")
    kurtosis, skewness = zip(*(_standardized_moments(w) for w in weights), strict=True)
    kurtosis_loss = torch.stack([(k - KURTOSIS_TARGET) ** 2 for k in kurtosis]).mean()
    skewness_loss = torch.stack([(s - SKEWNESS_TARGET) ** 2 for s in skewness]).mean()
    return kurtosis_rate * kurtosis_loss + skewness_rate * skewness_loss


def mean_bits(spec: Any) -> float:
    """The mean of a quantized spec's weight and activation bit-widths over its units (the
    precision that orders GPG's groups)."""
    widths = unit_bits(spec).values()
    return sum(w + a for w, a in widths) / (2 * len(widths))


def progressive_guidance_losses(
    specs: Sequence[Any],
    logits_of: Callable[[Any], torch.Tensor],
    y: torch.Tensor,
    alpha: float,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[list[Any], list[torch.Tensor]]:
    """GPG: the specs from the highest to the lowest mean bit-width and their losses.

    ``logits_of(spec)`` runs one sub-network; ``criterion`` is the label loss.
    """
    ordered = sorted(specs, key=mean_bits, reverse=True)
    losses, teacher = [], None
    for spec in ordered:
        logits = logits_of(spec)
        loss = criterion(logits, y)
        if teacher is not None:
            guidance = F.kl_div(
                F.log_softmax(logits, dim=1), F.softmax(teacher, dim=1), reduction="batchmean"
            )
            loss = alpha * guidance + (1 - alpha) * loss
        losses.append(loss)
        teacher = logits.detach()
    return ordered, losses
