"""Linear and convolution layers with one constant weight, evaluated as the rank-one maps they are.

epsinas (Gracheva, "Neural Architecture Search: Two Constant Shared Weights Initialisations",
arXiv 2302.04406) runs a network with every weight set to one constant ``c`` and every bias to
0. Such a linear layer is rank one: each output unit is ``c * sum(x)`` over the inputs it reads
(plus its bias), and a convolution's output channels all equal ``c`` times a ones-kernel
convolution of the per-group channel sum. ``constant_weight`` builds the constant stand-ins as
one element broadcast to the weight's shape (all strides 0, no memory), and
``ConstantWeightLayers`` evaluates ``F.linear`` and ``F.conv1d/2d/3d`` on such weights that way:
the same values as the dense product up to float rounding, without its multiply-adds. Every other
operation, and every layer whose weight is stored normally, runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def constant_weight(like: torch.Tensor, value: float) -> torch.Tensor:
    """A read-only tensor shaped like ``like`` holding ``value`` everywhere (zero strides)."""
    return torch.full((), value, dtype=like.dtype, device=like.device).expand(like.shape)


def constant_value(weight: torch.Tensor) -> torch.Tensor | None:
    """The single value of a layer weight stored as one broadcast element, else ``None``."""
    if weight.dim() < 2 or weight.numel() == 0 or any(weight.stride()):
        return None
    return weight[(0,) * weight.dim()]


def _linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor | None:
    value = constant_value(weight)
    if value is None or x.shape[-1] != weight.shape[1]:  # a mismatch raises on the dense path
        return None
    out = (x.sum(-1, keepdim=True) * value).expand(*x.shape[:-1], weight.shape[0])
    return out.contiguous() if bias is None else out + bias


def _convolution(
    conv: Callable[..., torch.Tensor],
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor | None:
    value = constant_value(weight)
    if value is None or x.dim() != weight.dim() or x.shape[1] != weight.shape[1] * groups:
        return None  # unbatched input or a channel mismatch: left to the dense path
    sums = x.unflatten(1, (groups, -1)).sum(2)
    ones = torch.ones((groups, 1, *weight.shape[2:]), dtype=x.dtype, device=x.device)
    out = conv(sums, ones, None, stride, padding, dilation, groups) * value
    out = out.repeat_interleave(weight.shape[0] // groups, dim=1)
    if bias is not None:
        out = out + bias.view(1, -1, *([1] * (out.dim() - 2)))
    return out


_CONVOLUTIONS = (F.conv1d, F.conv2d, F.conv3d)


class ConstantWeightLayers(TorchFunctionMode):
    """Inside this mode, linear and convolution calls whose weight is a ``constant_weight``
    compute their rank-one form; everything else runs as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        out = None
        if func is F.linear:
            out = _linear(*args, **kwargs)
        elif func in _CONVOLUTIONS:
            out = _convolution(func, *args, **kwargs)
        return func(*args, **kwargs) if out is None else out
