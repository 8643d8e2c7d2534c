"""Shared machinery of the zero-cost proxies: which layers they score and how a module is run.

The proxies of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR 2021) score
the weights of every convolution and linear layer. Here a *layer* is any module holding a
direct parameter named ``weight`` with two or more dimensions: exactly ``Conv2d`` and ``Linear``
on NAS-Bench-201 networks, and also ``Conv1d`` (TDNN) and weight-entangled supernet layers.

Every proxy runs the module functionally (``torch.func.functional_call``) on cloned buffers and
substituted parameters, so the module's weights, running statistics, ``.grad`` fields and
train/eval flags are exactly as they were once a proxy returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call


def layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of each scored layer, each shared weight listed once."""
    found: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()
    for name, sub in module.named_modules():
        weight = sub._parameters.get("weight")
        if weight is None or weight.dim() < 2 or id(weight) in seen:
            continue
        seen.add(id(weight))
        found.append((name, sub))
    return found


def weight_name(layer_name: str) -> str:
    """The ``functional_call`` key of a layer's weight."""
    return f"{layer_name}.weight" if layer_name else "weight"


def param_names(module: nn.Module) -> dict[int, list[str]]:
    """Every name (tied names included) under which each parameter appears, keyed by ``id``."""
    names: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    return names


def leaf_weights(module: nn.Module) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Detached, grad-requiring stand-ins for the layer weights and the overrides that use them."""
    names = param_names(module)
    tensors: list[torch.Tensor] = []
    overrides: dict[str, torch.Tensor] = {}
    for _, layer in layers(module):
        stand_in = layer.weight.detach().requires_grad_(True)
        tensors.append(stand_in)
        for name in names[id(layer.weight)]:
            overrides[name] = stand_in
    return tensors, overrides


def run(
    module: nn.Module, x: torch.Tensor, overrides: dict[str, torch.Tensor] | None = None
) -> Any:
    """``module(x)`` with ``overrides`` in place of its parameters and cloned buffers.

    Train-mode batch norm updates the clones, never the module's own running statistics.
    """
    state = {name: buf.clone() for name, buf in module.named_buffers(remove_duplicate=False)}
    state.update(overrides or {})
    return functional_call(module, state, (x,))


def first_output(output: Any) -> torch.Tensor:
    """The prediction tensor of a forward pass (the first element of a tuple output)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the module must return a tensor (or a tuple of them); got {output!r}.")
    return output


@contextmanager
def mode(module: nn.Module, training: bool) -> Iterator[None]:
    """Puts every submodule in train (or eval) mode, then restores each one's flag."""
    flags = [(sub, sub.training) for sub in module.modules()]
    module.train(training)
    try:
        yield
    finally:
        for sub, flag in flags:
            sub.training = flag


def train_mode(module: nn.Module) -> AbstractContextManager[None]:
    """Train mode (batch statistics), as the reference code runs every data-dependent proxy."""
    return mode(module, True)
