"""Every zero-cost proxy ``zero_cost.score`` knows, registered with its flags, in listing order.

Adding a proxy is one function here (its computation may live in ``activation``, ``saliency``
or ``cost``).
"""

from __future__ import annotations

import torch

from symnas.algorithms.zero_cost import activation, cost
from symnas.algorithms.zero_cost.registry import ProxyInputs, register_proxy
from symnas.algorithms.zero_cost.saliency import (
    fisher_arrays,
    grad_norm_arrays,
    grasp_arrays,
    l2_norm_arrays,
    plain_arrays,
    snip_arrays,
    synflow_arrays,
)

Arrays = dict[str, torch.Tensor]


@register_proxy(
    "epsinas",
    "output gap under two constant weight initialisations (Gracheva 2023)",
    supernet_safe=True,
    nan_when_undefined=True,  # constant outputs (float32 underflow), as published
)
def epsinas(inputs: ProxyInputs) -> float:
    """epsinas of the module on the batch, with the inputs' two constants."""
    return activation.epsinas(inputs.module, inputs.x, inputs.epsinas_weights)


@register_proxy(
    "synflow",
    "synaptic flow, data-free (Tanaka et al. 2020; Abdelfattah et al. 2021)",
    supernet_safe=True,
    saliency=True,
)
def synflow(inputs: ProxyInputs) -> Arrays:
    """Per-weight ``|W * dR/dW|`` of the linearised float64 network."""
    return synflow_arrays(inputs.module, inputs.x)


@register_proxy(
    "snip",
    "connection sensitivity |g * W| (Lee et al. 2019)",
    labelled=True,
    supernet_safe=True,
    saliency=True,
)
def snip(inputs: ProxyInputs) -> Arrays:
    """Per-weight ``|dL/dW * W|``."""
    return snip_arrays(inputs.gradients())


@register_proxy(
    "grasp",
    "gradient signal preservation -W * (H g) (Wang et al. 2020)",
    labelled=True,
    supernet_safe=True,
    saliency=True,
)
def grasp(inputs: ProxyInputs) -> Arrays:
    """Per-weight ``-W * (H g)``."""
    return grasp_arrays(inputs.module, inputs.x, inputs.y, inputs.loss_fn)


@register_proxy(
    "fisher",
    "per-channel Fisher information of the activations (Theis et al. 2018)",
    labelled=True,
    saliency=True,
)
def fisher(inputs: ProxyInputs) -> Arrays:
    """Per-channel Fisher information broadcast to the channel's weights."""
    return fisher_arrays(inputs.module, inputs.x, inputs.y, inputs.loss_fn)


@register_proxy(
    "grad_norm",
    "per-layer gradient norm (Abdelfattah et al. 2021)",
    labelled=True,
    supernet_safe=True,
    saliency=True,
)
def grad_norm(inputs: ProxyInputs) -> Arrays:
    """Per-layer ``||dL/dW||_F``."""
    return grad_norm_arrays(inputs.gradients())


@register_proxy("jacov", "input-Jacobian correlation (Mellor et al. 2021, v1)", supernet_safe=True)
def jacov(inputs: ProxyInputs) -> float:
    """The Jacobian covariance score of the batch."""
    return activation.jacov(inputs.module, inputs.x)


@register_proxy(
    "nwot",
    "NASWOT: log-determinant of the activation-code kernel (Mellor et al. 2021, v2)",
    supernet_safe=True,
)
def nwot(inputs: ProxyInputs) -> float:
    """The NASWOT score of the batch."""
    return activation.nwot(inputs.module, inputs.x)


@register_proxy(
    "plain",
    "g * W summed (Abdelfattah et al. 2021)",
    labelled=True,
    supernet_safe=True,
    saliency=True,
)
def plain(inputs: ProxyInputs) -> Arrays:
    """Per-weight ``dL/dW * W``."""
    return plain_arrays(inputs.gradients())


@register_proxy("l2_norm", "per-layer weight norm (NASLib)", saliency=True)
def l2_norm(inputs: ProxyInputs) -> Arrays:
    """Per-layer ``||W||_F``."""
    return l2_norm_arrays(inputs.module)


@register_proxy("params", "millions of parameters (NASLib)")
def params(inputs: ProxyInputs) -> float:
    """Millions of parameters of the module."""
    return cost.params(inputs.module)


@register_proxy("flops", "millions of FLOPs, torchstat counting (NASLib)")
def flops(inputs: ProxyInputs) -> float:
    """Millions of FLOPs of one forward pass on the batch."""
    return cost.flops(inputs.module, inputs.x)


@register_proxy("macs", "millions of multiply-accumulates, attention included")
def macs(inputs: ProxyInputs) -> float:
    """Millions of multiply-accumulates of one forward pass on the batch."""
    return cost.macs(inputs.module, inputs.x)
