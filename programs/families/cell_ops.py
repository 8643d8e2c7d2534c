"""Candidate operations of the NAS-Bench-201 and DARTS cell spaces, and the mixed edge.

NAS-Bench-201 ops follow Dong & Yang (ICLR 2020) and their released code (ReLU-Conv-BN with
affine BN and running statistics; 3x3 average pooling without padded zeros in the mean; ResNet
basic block with an avg-pool + 1x1-conv shortcut between stages). The weight-sharing references
(NB201's search models, Few-Shot NAS, GM-NAS, DARTS-PT) build the cell ops' BN with
``affine=False`` and choose whether it tracks running statistics: :class:`CellNorm` carries that
choice. DARTS ops follow Liu et al.
(ICLR 2019): separable convolutions applied twice, dilated separable convolutions, factorized
reduction for strided skips.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def macro_args(
    fields: Mapping[str, Any], task: Mapping[str, Any], names: Sequence[str], where: str
) -> dict[str, int]:
    """Positive-int macro arguments of a cell network: ``task`` values override ``fields``."""
    unknown = sorted(set(task) - set(names))
    if unknown:
        raise TypeError(f"{where}: unknown task argument(s) {unknown}; allowed: {list(names)}.")
    macro = {k: task.get(k, fields.get(k)) for k in names}
    for k, v in macro.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{where}: {k} must be a positive int; got {v!r}.")
    return macro


@dataclass(frozen=True)
class CellNorm:
    """How the BatchNorm of a cell op is built.

    ``affine``: a learned scale and shift (standalone networks; the weight-sharing references
    use ``False``); ``track_running_stats``: keep running averages for evaluation (``False``
    normalises with every batch's own statistics, in training and evaluation alike).
    """

    affine: bool = True
    track_running_stats: bool = True

    def __call__(self, channels: int) -> nn.BatchNorm2d:
        """A BatchNorm over ``channels`` channels with these settings."""
        return nn.BatchNorm2d(
            channels, affine=self.affine, track_running_stats=self.track_running_stats
        )


STANDALONE_NORM = CellNorm()


class ReLUConvBN(nn.Sequential):
    """ReLU, bias-free convolution, BatchNorm (built by ``norm``)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, bias=False),
            norm(c_out),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) convolution, pointwise convolution, BatchNorm."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            norm(c_out),
        )


class SepConv(nn.Sequential):
    """DARTS separable convolution: two depthwise-separable blocks, the first one strided."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, norm),
            DilConv(c_in, c_out, kernel, 1, padding, 1, norm),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) input shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zeros shaped like ``x`` subsampled by the stride."""
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return x.mul(0.0)


class FactorizedReduce(nn.Module):
    """Halves the resolution with two 1x1 stride-2 convolutions on offset grids, concatenated."""

    def __init__(self, c_in: int, c_out: int, norm: CellNorm = STANDALONE_NORM) -> None:
        super().__init__()
        if c_out < 2:
            raise ValueError(f"FactorizedReduce: c_out must be >= 2; got {c_out}.")
        self.relu = nn.ReLU(inplace=False)
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c, 1, stride=2, bias=False) for c in (c_out // 2, c_out - c_out // 2)
        )
        self.bn = norm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenates the even-grid and the odd-grid projections (odd sizes padded)."""
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201 reduction block: two ReLU-Conv-BN 3x3 (stride 2 first) plus a shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum of the two-conv branch and the pooled projection of ``x``."""
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def nb201_op(name: str, channels: int, norm: CellNorm = STANDALONE_NORM) -> nn.Module:
    """A NAS-Bench-201 cell op on ``channels`` channels, stride 1 (all cell edges are C -> C);
    ``norm`` builds the BatchNorm of its convolutions."""
    factories: dict[str, Callable[[], nn.Module]] = {
        "none": lambda: Zero(1),
        "skip_connect": nn.Identity,
        "nor_conv_1x1": lambda: ReLUConvBN(channels, channels, 1, 1, 0, norm=norm),
        "nor_conv_3x3": lambda: ReLUConvBN(channels, channels, 3, 1, 1, norm=norm),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    }
    if name not in factories:
        raise ValueError(f"nb201_op: unknown op {name!r}; allowed ops: {sorted(factories)}.")
    return factories[name]()


def darts_op(name: str, channels: int, stride: int, norm: CellNorm = STANDALONE_NORM) -> nn.Module:
    """A DARTS cell op on ``channels`` channels with stride 1 or 2 (reduction-cell inputs);
    ``norm`` builds the BatchNorm of its convolutions."""
    if stride not in (1, 2):
        raise ValueError(f"darts_op: stride must be 1 or 2; got {stride}.")
    c = channels
    factories: dict[str, Callable[[], nn.Module]] = {
        "none": lambda: Zero(stride),
        "max_pool_3x3": lambda: nn.MaxPool2d(3, stride=stride, padding=1),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
        "skip_connect": lambda: nn.Identity() if stride == 1 else FactorizedReduce(c, c, norm),
        "sep_conv_3x3": lambda: SepConv(c, c, 3, stride, 1, norm),
        "sep_conv_5x5": lambda: SepConv(c, c, 5, stride, 2, norm),
        "dil_conv_3x3": lambda: DilConv(c, c, 3, stride, 2, 2, norm),
        "dil_conv_5x5": lambda: DilConv(c, c, 5, stride, 4, 2, norm),
    }
    if name not in factories:
        raise ValueError(f"darts_op: unknown op {name!r}; allowed ops: {sorted(factories)}.")
    return factories[name]()


class MixedEdge(nn.Module):
    """One supernet edge holding every candidate op, ``ops[name]``.

    ``forward(x, name)`` runs a single op (single-path sampling); ``weighted(x, weights)`` is the
    DARTS mixed op, the sum of every op's output scaled by its weight.
    """

    def __init__(self, names: Sequence[str], make_op: Callable[[str], nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({name: make_op(name) for name in names})

    def forward(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Output of the op ``name`` alone."""
        return self.ops[name](x)

    def weighted(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Sum over ops of ``weights[k] * op_k(x)``, ops in ``self.ops`` order."""
        if weights.shape != (len(self.ops),):
            raise ValueError(
                f"MixedEdge.weighted: weights must have shape ({len(self.ops)},) for ops "
                f"{list(self.ops)}; got {tuple(weights.shape)}."
            )
        return sum(w * op(x) for w, op in zip(weights, self.ops.values(), strict=True))


_EDGE_OP_KEY = re.compile(r"^cells\.(\d+)\.edges\.(\d+)\.ops\.([^.]+)\.(.+)$")


def single_path_state(
    supernet: nn.Module, route: Callable[[int, int, str], str | None]
) -> dict[str, torch.Tensor]:
    """A single-path sub-network's state from a cell supernet's ``state_dict``.

    Keys ``cells.<k>.edges.<e>.ops.<op>.<rest>`` are kept as ``<route(k, e, op)>.<rest>``, or
    dropped where ``route`` returns None; every other key (stem, reduction blocks, head) is kept
    as it is. Tensors are the supernet's own (``keep_vars``), not copies.
    """
    state = {}
    for key, tensor in supernet.state_dict(keep_vars=True).items():
        match = _EDGE_OP_KEY.match(key)
        if match is None:
            state[key] = tensor
            continue
        prefix = route(int(match[1]), int(match[2]), match[3])
        if prefix is not None:
            state[f"{prefix}.{match[4]}"] = tensor
    return state
