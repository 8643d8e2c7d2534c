"""Per-weight saliency arrays of the gradient-based zero-cost proxies.

Definitions follow Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021) and
their code (mohsaied/zero-cost-nas, ``foresight/pruners/measures``), as also used by NASLib:

- ``grad_norm``: per layer the Frobenius norm of ``g = dL/dW`` (Liu et al. gradient norm);
- ``plain``: ``g * W``; ``snip``: ``|g * W|`` (Lee et al., ICLR 2019; the derivative of the loss
  with respect to a ones mask multiplied into ``W`` equals ``g * W``);
- ``grasp``: ``-W * (H g)`` (Wang et al., ICLR 2020), with ``H g`` the Hessian-gradient product;
- ``fisher``: per output channel ``0.5 * mean_n (sum_spatial a * dL/da)^2`` of the layer's output
  activation ``a`` (Theis et al. 2018; Turner et al. 2020), broadcast to the channel's weights;
- ``synflow``: ``|W * dR/dW|`` with ``R`` the summed output of the network run in float64 with
  batch norm disabled, ``|theta|`` in place of every parameter and buffer and an all-ones input
  of batch size 1 (Tanaka et al., NeurIPS 2020);
- ``l2_norm``: per layer the Frobenius norm of ``W``.

Every function returns ``{layer name: tensor}``; the proxy score is the sum of all entries.
The network runs in train mode (batch statistics), as in the reference code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from symnas.algorithms.zero_cost.common import (
    first_output,
    layers,
    leaf_weights,
    param_names,
    run,
    train_mode,
    weight_name,
)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _weight_grads(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, create_graph: bool
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    weights, overrides = leaf_weights(module)
    loss = loss_fn(first_output(run(module, x, overrides)), y)
    grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)
    return weights, list(grads)


def gradients(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{layer: (W, dL/dW)}`` from one forward/backward pass; unused layers get zero grads."""
    with train_mode(module):
        weights, grads = _weight_grads(module, x, y, loss_fn, create_graph=False)
    return {
        name: (w.detach(), torch.zeros_like(w) if g is None else g.detach())
        for (name, _), w, g in zip(layers(module), weights, grads, strict=True)
    }


def grad_norm_arrays(
    grads: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """Per-layer ``||dL/dW||_F``."""
    return {name: g.norm() for name, (_, g) in grads.items()}


def plain_arrays(grads: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-weight ``dL/dW * W``."""
    return {name: g * w for name, (w, g) in grads.items()}


def snip_arrays(grads: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-weight ``|dL/dW * W|``."""
    return {name: (g * w).abs() for name, (w, g) in grads.items()}


def grasp_arrays(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> dict[str, torch.Tensor]:
    """Per-weight ``-W * Hg`` with ``z = sum(g.detach() * g)`` and ``Hg = dz/dW`` (T = 1).

    Attention runs with the math kernel, the one with a second derivative.
    """
    with train_mode(module), sdpa_kernel(SDPBackend.MATH):
        weights, grads = _weight_grads(module, x, y, loss_fn, create_graph=True)
        z = sum((g.detach() * g).sum() for g in grads if g is not None)
        if isinstance(z, torch.Tensor) and z.requires_grad:
            hg = torch.autograd.grad(z, weights, allow_unused=True)
        else:
            hg = (None,) * len(weights)
    return {
        name: torch.zeros_like(w) if h is None else -w.detach() * h
        for (name, _), w, h in zip(layers(module), weights, hg, strict=True)
    }


def fisher_arrays(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> dict[str, torch.Tensor]:
    """Per-weight channel Fisher information, ``|F_k|`` broadcast over output channel ``k``.

    For convolutions the channel axis is 1 and spatial axes are summed; for linear layers the
    channel axis is the last one and any token axes in between are summed.
    """
    found = layers(module)
    fisher: dict[str, torch.Tensor] = {}

    def hook_for(name: str, layer: nn.Module) -> Callable[..., None]:
        def forward_hook(_: nn.Module, __: tuple, out: torch.Tensor) -> None:
            if not out.requires_grad:
                return
            act = out.detach().clone()
            if act.dim() > 2 and not isinstance(layer, nn.modules.conv._ConvNd):
                act = act.movedim(-1, 1)

            def grad_hook(grad: torch.Tensor) -> None:
                grad = grad.detach()
                if grad.dim() > 2 and not isinstance(layer, nn.modules.conv._ConvNd):
                    grad = grad.movedim(-1, 1)
                g_nk = (act * grad).flatten(2).sum(2) if act.dim() > 2 else act * grad
                delta = g_nk.pow(2).mean(0).mul(0.5)
                fisher[name] = fisher[name] + delta if name in fisher else delta

            out.register_hook(grad_hook)

        return forward_hook

    handles = [layer.register_forward_hook(hook_for(name, layer)) for name, layer in found]
    try:
        with train_mode(module):
            weights, overrides = leaf_weights(module)
            loss = loss_fn(first_output(run(module, x, overrides)), y)
            torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    arrays: dict[str, torch.Tensor] = {}
    for name, layer in found:
        w = layer.weight.detach()
        per_channel = fisher.get(name, torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
        if per_channel.numel() != w.shape[0]:
            raise ValueError(
                f"fisher: layer {name!r} has {per_channel.numel()} output channels but its "
                f"weight has shape {tuple(w.shape)}; fisher needs weight.shape[0] == channels."
            )
        arrays[name] = per_channel.abs().view(-1, *([1] * (w.dim() - 1))).expand_as(w)
    return arrays


@contextmanager
def _batch_norm_disabled(module: nn.Module) -> Iterator[None]:
    """Makes every batch-norm layer the identity (the reference's ``bn=False`` copy)."""
    patched = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.__dict__.get("forward") for m in patched]
    for m in patched:
        m.forward = _identity
    try:
        yield
    finally:
        for m, previous in zip(patched, saved, strict=True):
            if previous is None:
                del m.forward
            else:
                m.forward = previous


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def synflow_parameter(param: torch.Tensor) -> torch.Tensor:
    """synflow's stand-in for a parameter: ``|theta|`` in float64 (sign-linearised network)."""
    return param.detach().abs().double()


def synflow_buffer(buf: torch.Tensor) -> torch.Tensor:
    """synflow's stand-in for a buffer: floating buffers as ``|b|`` in float64, others copied."""
    return buf.abs().double() if buf.is_floating_point() else buf.clone()


def synflow_arrays(module: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-weight ``|W * dR/dW|`` on the float64, ``|theta|``, BN-free network and a ones input."""
    names = param_names(module)
    overrides: dict[str, torch.Tensor] = {}
    for param in {id(p): p for p in module.parameters()}.values():
        magnitude = synflow_parameter(param)
        for name in names[id(param)]:
            overrides[name] = magnitude
    for name, buf in module.named_buffers(remove_duplicate=False):
        overrides[name] = synflow_buffer(buf)
    weights: list[torch.Tensor] = []
    for name, _ in layers(module):
        weights.append(overrides[weight_name(name)].requires_grad_(True))
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    with train_mode(module), _batch_norm_disabled(module):
        total = first_output(run(module, ones, overrides)).sum()
    grads = torch.autograd.grad(total, weights, allow_unused=True)
    return {
        name: torch.zeros_like(w) if g is None else (w.detach() * g).abs()
        for (name, _), w, g in zip(layers(module), weights, grads, strict=True)
    }


def l2_norm_arrays(module: nn.Module) -> dict[str, torch.Tensor]:
    """Per-layer ``||W||_F`` (no data)."""
    return {name: layer.weight.detach().norm() for name, layer in layers(module)}
