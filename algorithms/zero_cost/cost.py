"""Size and compute proxies: ``params``, ``flops`` and ``macs``.

``params`` and ``flops`` use the units and counting rules of NASLib's zero-cost benchmark
(Krishnakumar et al., "NAS-Bench-Suite-Zero", NeurIPS 2022 Datasets and Benchmarks;
``naslib/predictors/utils/pruners/predictive.py``), which reads them from tensorwatch's
``ModelStats`` (a torchstat port) on a batch-1 input: millions of parameters, and millions of
FLOPs counted per leaf module as

- convolution: ``prod(kernel) * C_in * C_out / groups * prod(out_spatial)`` (+ ``C_out`` per
  output position with a bias) -- a multiply-accumulate counts once;
- batch norm: input elements, doubled when affine; ReLU family: input elements;
- average/max pooling: ``C * prod(out_spatial) * prod(kernel)``; adaptive pooling:
  ``C * prod_d sum_i (end_i - start_i + 1)`` over the output bins (torchstat's rule);
- linear: ``rows * in_features * out_features``; upsampling: output elements;
- anything else (attention matmuls, layer norm, GELU, additions): 0.

``macs`` counts every matmul and convolution (attention included) with
``torch.utils.flop_counter`` on a batch-1 input: millions of multiply-accumulates.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from symnas.algorithms.zero_cost.common import mode

_RELUS = (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)
_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_ADAPTIVE = (
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)


def params(module: nn.Module) -> float:
    """Millions of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def _adaptive_bins(size_in: int, size_out: int) -> int:
    return sum(
        math.ceil((i + 1) * size_in / size_out) - math.floor(i * size_in / size_out) + 1
        for i in range(size_out)
    )


def _kernel_volume(kernel: int | tuple[int, ...], dims: int) -> int:
    return kernel**dims if isinstance(kernel, int) else math.prod(kernel)


def module_flops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """FLOPs of one call of a leaf module under the torchstat rules (0 for unlisted types)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        positions = out.shape[0] * math.prod(out.shape[2:])
        per_position = (
            math.prod(module.kernel_size) * inp.shape[1] * (out.shape[1] // module.groups)
        )
        bias = out.shape[1] * positions if module.bias is not None else 0
        return per_position * positions + bias
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return inp.numel() * (2 if module.affine else 1)
    if isinstance(module, _RELUS):
        return inp.numel()
    if isinstance(module, _POOLS):
        dims = out.dim() - 2
        return out.numel() * _kernel_volume(module.kernel_size, dims)
    if isinstance(module, _ADAPTIVE):
        bins = math.prod(
            _adaptive_bins(i, o) for i, o in zip(inp.shape[2:], out.shape[2:], strict=True)
        )
        return inp.shape[0] * inp.shape[1] * bins
    if isinstance(module, nn.Linear):
        return inp.numel() // inp.shape[-1] * module.in_features * module.out_features
    if isinstance(module, nn.Upsample):
        return out.numel()
    return 0


def flops(module: nn.Module, x: torch.Tensor) -> float:
    """Millions of FLOPs of one sample (``x[:1]``) under NASLib's torchstat rules, eval mode."""
    total = 0

    def count(sub: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            total += module_flops(sub, inputs[0], output)

    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad(), mode(module, False):
            module(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return total / 1e6


def macs(module: nn.Module, x: torch.Tensor) -> float:
    """Millions of multiply-accumulates of one sample (``x[:1]``), attention included."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), mode(module, False), counter:
        module(x[:1])
    return counter.get_total_flops() / 2e6
