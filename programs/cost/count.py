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

The counts come from one pass of ``programs.cost.trace``: matrix products, convolutions and attention
are priced from their operand shapes without being computed, norms, adaptive pooling and
upsampling at their ``torch.nn.functional`` call (the level fvcore's traced graph sees), and the
few composite functions that hide matrix products (``einsum``, ``nn.MultiheadAttention``'s
functional form) at the ATen level. Layers already traced with the same shapes, in this or an
earlier model, are replayed from the trace's layer cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from symnas.programs.cost.trace import trace


def count(
    module: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
    forward: Callable[[nn.Module, torch.Tensor], Any] | None = None,
) -> dict[str, int]:
    """Parameters and MACs of one forward pass on an input batch of ``input_shape``.

    ``input_shape`` is the shape of one sample (``Dataset.input_shape``); the pass runs on a
    batch of ``batch_size`` (default 1, so ``macs`` is per sample) in eval mode without
    gradients, and the train/eval mode of every submodule is restored afterwards.
    ``forward(module, x)`` replaces ``module(x)`` (``lambda m, x: m(x, spec)`` counts one
    sub-network of a supernet). ``params`` counts every parameter of ``module``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"count: module must be a torch.nn.Module; got {type(module).__name__}.")
    rows = trace(module, input_shape, batch_size, forward)
    return {
        "params": sum(p.numel() for p in module.parameters()),
        "macs": sum(row.macs for row in rows),
    }
