"""Parameter and multiply-accumulate (MAC) counts of a module, by fvcore's conventions.

The counts follow fvcore's ``FlopCountAnalysis`` (the convention of most NAS papers, where a
"FLOP" is one fused multiply-add):

- convolutions (any dimension, stride, dilation, groups, transposed): ``N * prod(out_spatial)
  * C_out * C_in / groups * prod(kernel)``; linear layers, ``mm``/``bmm``/``matmul``/``@``
  and ``einsum``: the product of the output size and the contracted size. Bias additions are
  not counted.
- ``scaled_dot_product_attention``: its two matrix products (``q k^T`` and ``attn v``), as if
  written with ``matmul``; scaling and softmax are not counted.
- batch norm at inference: one MAC per element, two with an affine transform; layer and group
  norm: five per element with an affine transform, four without; instance norm likewise.
- ``adaptive_avg_pool2d``: one per input element; bilinear upsampling: four per output
  element; nearest upsampling: one.
- everything else (activations, additions, softmax, max and average pooling, ``mean``) is free.

Matrix products, convolutions and attention kernels are counted from the ATen operators the
forward pass runs (``torch.utils.flop_counter.FlopCounterMode``, which reports FLOPs = 2 * MACs),
so functional attention inside any module is included. Norms, adaptive pooling and upsampling
are counted at their ``torch.nn.functional`` call, the level fvcore's traced graph sees, because
ATen lowers them into other operators (global adaptive pooling into ``mean``, nearest upsampling
into indexing).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _flops(macs: int) -> int:
    return 2 * macs


def _sdpa(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    """``q k^T`` then ``attn v`` for (batch, heads, length, dim) operands."""
    *lead, length_q, dim_qk = query_shape
    length_k, dim_v = key_shape[-2], value_shape[-1]
    return _flops(prod(lead) * length_q * length_k * (dim_qk + dim_v))


_DISPATCH_FORMULAS = {aten._scaled_dot_product_flash_attention_for_cpu: _sdpa}


def _norm_macs(x: torch.Tensor, affine: bool, training: bool = True) -> int:
    """fvcore: normalising costs 4 per element (5 with affine); inference batch norm 1 (2)."""
    if training:
        return x.numel() * (5 if affine else 4)
    return x.numel() * (2 if affine else 1)


class _FunctionalCounter(TorchFunctionMode):
    """Counts the functional-level operators fvcore prices: norms, pooling and upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _FUNCTIONAL_FORMULAS:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            self.macs += _FUNCTIONAL_FORMULAS[func](bound.arguments, out)
        return out


def _interpolate_macs(arguments: dict[str, Any], out: torch.Tensor) -> int:
    """fvcore prices 2-D upsampling only: nearest 1 and bilinear 4 per output element."""
    per_output = {"nearest": 1, "bilinear": 4}.get(arguments["mode"], 0)
    return per_output * out.numel() if out.ndim == 4 else 0


_FUNCTIONAL_FORMULAS: dict[Callable[..., Any], Callable[[dict[str, Any], Any], int]] = {
    F.batch_norm: lambda a, out: _norm_macs(a["input"], a["weight"] is not None, a["training"]),
    F.instance_norm: lambda a, out: _norm_macs(a["input"], a["weight"] is not None),
    F.layer_norm: lambda a, out: _norm_macs(a["input"], a["weight"] is not None),
    F.group_norm: lambda a, out: _norm_macs(a["input"], a["weight"] is not None),
    F.adaptive_avg_pool2d: lambda a, out: a["input"].numel(),
    F.interpolate: _interpolate_macs,
}


def _call_module(module: nn.Module, x: torch.Tensor) -> Any:
    return module(x)


def count(
    module: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
    forward: Callable[[nn.Module, torch.Tensor], Any] | None = None,
) -> dict[str, int]:
    """Parameters and MACs of one forward pass on a random input of ``input_shape``.

    ``input_shape`` is the shape of one sample (``Dataset.input_shape``); the pass runs on a
    batch of ``batch_size`` (default 1, so ``macs`` is per sample) in eval mode without
    gradients, and the train/eval mode of every submodule is restored afterwards.
    ``forward(module, x)`` replaces ``module(x)`` (``lambda m, x: m(x, spec)`` counts one
    sub-network of a supernet). ``params`` counts every parameter of ``module``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"count: module must be a torch.nn.Module; got {type(module).__name__}.")
    shape = tuple(input_shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(
            f"count: input_shape must be a tuple of positive ints; got {input_shape!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"count: batch_size must be a positive int; got {batch_size!r}.")
    forward = forward or _call_module
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    x = torch.randn((batch_size, *shape), generator=torch.Generator().manual_seed(0)).to(device)
    modes = {m: m.training for m in module.modules()}
    module.eval()
    flop_counter = FlopCounterMode(display=False, custom_mapping=_DISPATCH_FORMULAS)
    functional_counter = _FunctionalCounter()
    try:
        with torch.no_grad(), flop_counter, functional_counter:
            forward(module, x)
    finally:
        for submodule, training in modes.items():
            submodule.training = training
    return {
        "params": sum(p.numel() for p in module.parameters()),
        "macs": flop_counter.get_total_flops() // 2 + functional_counter.macs,
    }
