"""Zero-cost proxies: score an untrained network from one minibatch, without training it.

One entry point, ``score(module, (x, y), proxies=[...])``, for any ``nn.Module`` a program
builds, and ``score_specs`` for many specs of a space (built afresh, or read from one
weight-sharing supernet). The proxies and the papers they implement:

==========  ==========================================================================
epsinas     Gracheva, "Neural Architecture Search: Two Constant Shared Weights
            Initialisations", arXiv 2302.04406 (egracheva/epsinas)
synflow     Tanaka et al., NeurIPS 2020, as a NAS proxy in Abdelfattah et al.,
            "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (mohsaied/zero-cost-nas)
snip        Lee et al., ICLR 2019 (same source)
grasp       Wang et al., ICLR 2020 (same source)
fisher      Theis et al. 2018 / Turner et al., ICLR 2020 (same source)
grad_norm   Abdelfattah et al., ICLR 2021
plain       Abdelfattah et al., ICLR 2021
jacov       Mellor et al., "Neural Architecture Search without Training", ICML 2021 (v1)
nwot        Mellor et al., ICML 2021 (v2, NASWOT)
l2_norm     NASLib (Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022)
params      NASLib: millions of parameters
flops       NASLib: millions of FLOPs, torchstat counting (see ``zero_cost.cost``)
macs        millions of multiply-accumulates, attention included
==========  ==========================================================================

Conventions of the reference code kept here: data-dependent proxies run in train mode on one
batch with cross-entropy loss; per-weight scores cover the weights of convolution and linear
layers and are summed over weights and layers. Scores are raw sums: NASLib reports ``synflow``
as ``log(score)`` and replaces NaN or infinite scores with ``-1e8``, both rank-preserving
transforms left to the caller. The module itself is left exactly as it was (weights, buffers,
``.grad``, train/eval flags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from symnas.algorithms.zero_cost import activation
from symnas.algorithms.zero_cost.batched import score_many
from symnas.algorithms.zero_cost.registry import (
    PROXY_REGISTRY,
    LossFn,
    ProxyInputs,
    proxy_names,
)

# The name lists below are read from the registry when asked, so proxies registered later count.
_LISTS = {
    "PROXIES": proxy_names,  # every proxy name ``score`` accepts
    "LABELLED": lambda: frozenset(proxy_names("labelled")),  # proxies that need labels ``y``
    # Proxies a weight-sharing supernet computes on its active sub-network as-is: their
    # per-weight terms vanish on the weights the sub-network does not use. The others (weight
    # norms, counts, fisher's fan-in weighting) need the extracted standalone module.
    "SUPERNET_SAFE": lambda: frozenset(proxy_names("supernet_safe")),
    "SALIENCY_PROXIES": lambda: proxy_names("saliency"),  # per-weight arrays ``saliency`` gives
}


def __getattr__(name: str) -> Any:
    """``PROXIES``, ``LABELLED``, ``SUPERNET_SAFE`` and ``SALIENCY_PROXIES`` from the registry."""
    if name in _LISTS:
        return _LISTS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_proxies(proxies: Iterable[str]) -> list[str]:
    """The validated list of proxy names (duplicates removed, order kept)."""
    if isinstance(proxies, str):
        proxies = [proxies]
    names = list(dict.fromkeys(proxies))
    known = proxy_names()
    if not names:
        raise ValueError(f"proxies must name at least one of {list(known)}.")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown zero-cost proxy {name!r}; valid proxies: {list(known)}.")
    return names


def _check_batch(batch: Any, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(
            f"batch must be a pair (x, y) of tensors (y may be None for label-free proxies); "
            f"got {type(batch).__name__}."
        )
    x, y = batch
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise TypeError(f"batch x must be a tensor of shape (batch, ...); got {x!r:.80}.")
    needs_labels = sorted(set(names) & set(proxy_names("labelled")))
    if needs_labels and not isinstance(y, torch.Tensor):
        raise ValueError(f"proxies {needs_labels} need labels: batch y must be a tensor.")
    if isinstance(y, torch.Tensor) and y.shape[0] != x.shape[0]:
        raise ValueError(f"batch x has {x.shape[0]} samples but y has {y.shape[0]}.")
    return x, y


def _check_weights(weights: Sequence[float]) -> tuple[float, float]:
    pair = tuple(float(w) for w in weights)
    if len(pair) != 2 or not 0.0 < pair[0] < pair[1]:
        raise ValueError(f"epsinas_weights must be two constants 0 < w1 < w2; got {weights!r}.")
    return pair


def _total(arrays: dict[str, torch.Tensor]) -> float:
    return float(sum(t.double().sum() for t in arrays.values())) if arrays else 0.0


def saliency(
    module: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor | None],
    proxy: str,
    loss_fn: LossFn | None = None,
) -> dict[str, torch.Tensor]:
    """Per-layer saliency tensors of one proxy (one of ``SALIENCY_PROXIES``), before summation.

    Keys are the layers' qualified module names; ``grad_norm`` and ``l2_norm`` give one scalar
    per layer, the others one value per weight.
    """
    if proxy not in proxy_names("saliency"):
        raise ValueError(
            f"saliency: proxy must be one of {list(proxy_names('saliency'))}; got {proxy!r}."
        )
    x, y = _check_batch(batch, [proxy])
    inputs = ProxyInputs(module, x, y, loss_fn or F.cross_entropy, activation.NB201_EPSINAS_WEIGHTS)
    return PROXY_REGISTRY.get(proxy).obj(inputs)


def _one(name: str, inputs: ProxyInputs) -> float:
    entry = PROXY_REGISTRY.get(name)
    value = entry.obj(inputs)
    return _total(value) if entry.meta["saliency"] else value


def score(
    module: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor | None],
    proxies: Iterable[str] = ("synflow",),
    loss_fn: LossFn | None = None,
    seed: int = 0,
    epsinas_weights: Sequence[float] = activation.NB201_EPSINAS_WEIGHTS,
) -> dict[str, float]:
    """``{proxy: score}`` of ``module`` on one batch ``(x, y)``; higher is better for all but
    the cost proxies (``params``, ``flops``, ``macs``).

    ``loss_fn`` defaults to cross-entropy. Each proxy runs after ``torch.manual_seed(seed)``
    (inside a forked RNG, so the caller's random state is untouched), which makes stochastic
    layers such as dropout deterministic. NaN marks an undefined score (constant outputs).
    """
    names = check_proxies(proxies)
    x, y = _check_batch(batch, names)
    weights = _check_weights(epsinas_weights)
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    inputs = ProxyInputs(module, x, y, loss_fn or F.cross_entropy, weights)
    scores: dict[str, float] = {}
    for name in names:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            scores[name] = _one(name, inputs)
    return scores


def score_specs(
    specs: Iterable[Any],
    batch: tuple[torch.Tensor, torch.Tensor | None],
    proxies: Iterable[str] = ("synflow",),
    *,
    build_fn: Callable[[Any], nn.Module] | None = None,
    supernet: nn.Module | None = None,
    loss_fn: LossFn | None = None,
    seed: int = 0,
    epsinas_weights: Sequence[float] = activation.NB201_EPSINAS_WEIGHTS,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Scores of many specs, one dict per spec, with a progress bar.

    Give exactly one of ``build_fn`` (``spec -> nn.Module``, called after
    ``torch.manual_seed(seed)`` so every spec's initialisation is reproducible) or ``supernet``
    (a ``programs.Supernet``: ``SUPERNET_SAFE`` proxies run on the activated supernet itself,
    the others on ``supernet.extract(spec)``; synflow and epsinas replace the supernet's weights
    once for all specs, see ``zero_cost.batched``).
    """
    names = check_proxies(proxies)
    _check_batch(batch, names)
    if (build_fn is None) == (supernet is None):
        raise ValueError("score_specs: give exactly one of build_fn= or supernet=.")
    if supernet is not None and not all(hasattr(supernet, a) for a in ("activate", "extract")):
        raise TypeError(
            "score_specs: supernet must provide activate(spec) and extract(spec) "
            f"(a programs.Supernet); got {type(supernet).__name__}."
        )
    options = {"loss_fn": loss_fn, "seed": seed, "epsinas_weights": epsinas_weights}
    if supernet is not None:
        options["epsinas_weights"] = _check_weights(epsinas_weights)
        return score_many(supernet, list(specs), batch, names, options=options, progress=progress)
    results = []
    for spec in tqdm(list(specs), desc="zero-cost", disable=not progress):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = build_fn(spec)
        results.append(score(module, batch, names, **options))
    return results
