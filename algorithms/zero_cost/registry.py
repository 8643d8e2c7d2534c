"""The registry of zero-cost proxies: each proxy is one registered function with its flags.

``@register_proxy(name, description, labelled=..., supernet_safe=..., saliency=...)`` registers a
function of :class:`ProxyInputs`. A saliency proxy returns per-layer tensors (``{layer:
tensor}``, summed into its score); any other proxy returns its score. The flags say what the
scoring code needs to know: ``labelled``, the proxy needs labels ``y``; ``supernet_safe``, a
weight-sharing supernet may compute it on its active sub-network as-is (its per-weight terms
vanish on the weights the sub-network does not use); ``saliency``, ``zero_cost.saliency``
returns its tensors; ``nan_when_undefined``, the proxy reports an undefined score as NaN (the
conformance kit, ``symnas.testing``, accepts NaN from it and a finite score from every other).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from symnas.algorithms.zero_cost.saliency import gradients
from symnas.core.registry import Registry

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

PROXY_REGISTRY = Registry(
    "zero-cost proxy", loaders=["symnas.algorithms.zero_cost.proxies"], plural="zero-cost proxies"
)


@dataclass
class ProxyInputs:
    """What a proxy function receives: the module, one batch and the scoring settings, with a
    cache shared by the proxies of one ``score`` call (the gradients of one backward pass)."""

    module: nn.Module
    x: torch.Tensor
    y: torch.Tensor | None
    loss_fn: LossFn
    epsinas_weights: tuple[float, float]
    cache: dict[str, Any] = field(default_factory=dict)

    def gradients(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{layer: (W, dL/dW)}`` of the batch, computed once per cache."""
        if "gradients" not in self.cache:
            self.cache["gradients"] = gradients(self.module, self.x, self.y, self.loss_fn)
        return self.cache["gradients"]


def register_proxy(
    name: str,
    description: str,
    *,
    labelled: bool = False,
    supernet_safe: bool = False,
    saliency: bool = False,
    nan_when_undefined: bool = False,
) -> Callable[[Callable[[ProxyInputs], Any]], Callable[[ProxyInputs], Any]]:
    """Decorator that registers a proxy function of :class:`ProxyInputs` under ``name``;
    ``nan_when_undefined``: the proxy reports a score its definition leaves undefined as NaN,
    as its reference does (every other proxy gives a finite score)."""
    return PROXY_REGISTRY.register(
        name,
        description,
        labelled=labelled,
        supernet_safe=supernet_safe,
        saliency=saliency,
        nan_when_undefined=nan_when_undefined,
    )


def proxy_names(flag: str | None = None) -> tuple[str, ...]:
    """The registered proxy names in registration order; with ``flag``, those that set it."""
    return tuple(e.name for e in PROXY_REGISTRY.entries().values() if flag is None or e.meta[flag])
