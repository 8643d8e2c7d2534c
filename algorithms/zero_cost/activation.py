"""Activation- and output-based zero-cost proxies: ``jacov``, ``nwot`` and ``epsinas``.

- ``jacov``: Mellor et al., "Neural Architecture Search without Training" (ICML 2021, v1),
  as implemented in NASLib (``measures/jacov.py``): the input Jacobians ``J`` of the summed
  outputs, their sample correlation matrix ``C`` with eigenvalues ``l``, and
  ``-sum(log(l + 1e-5) + 1 / (l + 1e-5))``.
- ``nwot``: Mellor et al. (ICML 2021, v2), as in NASLib (``measures/nwot.py``): binary codes
  ``c = 1[input > 0]`` of every rectifier call, ``K = sum c c^T + (1 - c)(1 - c)^T`` over layers, and
  ``log|det K|``.
- ``epsinas``: Gracheva, "Neural Architecture Search: Two Constant Shared Weights
  Initialisations" (arXiv 2302.04406), as in egracheva/epsinas (``compute_epsinas``): all
  weights set to one constant ``w`` and biases to 0, for two values ``w1 < w2``; each raw output
  vector min-max normalised; exact zeros dropped;
  ``mean|y1 - y2| / mean(y1, y2)``. No labels, no gradients.

All three run the network in train mode (batch statistics) on one batch, as the references do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from symnas.algorithms.zero_cost.common import first_output, param_names, run, train_mode

#: Rectifier-like activations whose inputs give NASWOT's binary codes, caught as calls (module
#: or functional, in-place or not). The reference hooks ``nn.ReLU`` modules; GELU, SiLU and ELU
#: networks (transformers) are coded the same way.
CODED_FUNCTIONS = frozenset(
    {
        F.relu,
        F.relu_,
        torch.relu,
        torch.relu_,
        torch.Tensor.relu,
        torch.Tensor.relu_,
        F.relu6,
        F.leaky_relu,
        F.leaky_relu_,
        F.gelu,
        F.silu,
        F.elu,
        F.elu_,
    }
)


class _BinaryCodes(TorchFunctionMode):
    """Accumulates ``K += c c^T + (1 - c)(1 - c)^T`` for the input ``c = 1[x > 0]`` of every
    coded activation call."""

    def __init__(self, batch: int, device: torch.device) -> None:
        super().__init__()
        self.batch = batch
        self.calls = 0
        self.kernel = torch.zeros(batch, batch, dtype=torch.float64, device=device)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func in CODED_FUNCTIONS and args and args[0].shape[:1] == (self.batch,):
            codes = (args[0].detach().reshape(self.batch, -1) > 0).double()
            self.kernel.add_(codes @ codes.T).add_((1.0 - codes) @ (1.0 - codes).T)
            self.calls += 1
        return func(*args, **(kwargs or {}))


#: epsinas constants for NAS-Bench-201 (the reference's Reproduce notebook).
NB201_EPSINAS_WEIGHTS = (1e-7, 1.0)


def jacov(module: nn.Module, x: torch.Tensor) -> float:
    """Jacobian-covariance score; NaN when the correlation matrix is undefined."""
    inputs = x.detach().clone().requires_grad_(True)
    with train_mode(module):
        out = first_output(run(module, inputs))
        (jac,) = torch.autograd.grad(out, inputs, torch.ones_like(out))
    jac = jac.reshape(jac.shape[0], -1).double().cpu().numpy()
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jac)
        if not np.all(np.isfinite(corr)):
            return float("nan")
        try:
            eig = np.linalg.eigvalsh(corr)
        except np.linalg.LinAlgError:
            return float("nan")
        k = 1e-5
        return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


def nwot(module: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score ``log|det K|``; ``-inf`` for a singular ``K``, NaN without rectifiers."""
    codes = _BinaryCodes(x.shape[0], x.device)
    with torch.no_grad(), train_mode(module), codes:
        run(module, x)
    if codes.calls == 0:
        return float("nan")
    return float(torch.linalg.slogdet(codes.kernel.cpu())[1])


def constant_fill(name: str, param: torch.Tensor, value: float) -> torch.Tensor | None:
    """epsinas's stand-in for the parameter ``name``: ``value`` everywhere for a ``*weight``, zeros
    for a ``*bias``, ``None`` (kept) for anything else. The stand-ins are dense tensors, so layers
    compute their products as the reference does (its rounding decides which outputs are exact
    zeros, which epsinas drops)."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf.endswith("bias"):
        return torch.zeros_like(param)
    if leaf.endswith("weight"):
        return torch.full_like(param, value)
    return None


def _constant_overrides(module: nn.Module, value: float) -> dict[str, torch.Tensor]:
    """Weights (parameters named ``*weight``) set to ``value``, biases to 0, others kept."""
    names = param_names(module)
    overrides: dict[str, torch.Tensor] = {}
    for param in {id(p): p for p in module.parameters()}.values():
        fill = constant_fill(names[id(param)][0], param, value)
        if fill is None:
            continue
        for name in names[id(param)]:
            overrides[name] = fill
    return overrides


def normalise_output(out: torch.Tensor, drop_inf: bool = False) -> np.ndarray:
    """The raw output as one min-max normalised float64 vector (infinities as NaN if
    ``drop_inf``)."""
    pred = out.detach().double().cpu().numpy().ravel()
    if drop_inf:
        pred[np.isinf(pred)] = np.nan
    if np.all(np.isnan(pred)):
        return pred
    low, high = np.nanmin(pred), np.nanmax(pred)
    with np.errstate(all="ignore"):
        return (pred - low) / (high - low)


def _normalised_output(
    module: nn.Module, x: torch.Tensor, value: float, drop_inf: bool
) -> np.ndarray:
    with torch.no_grad(), train_mode(module):
        out = first_output(run(module, x, _constant_overrides(module, value)))
    return normalise_output(out, drop_inf)


def epsinas_gap(first: np.ndarray, second: np.ndarray) -> float:
    """epsinas from the normalised outputs of the two initialisations: exact zeros dropped,
    ``mean|y1 - y2| / mean(y1, y2)``; NaN when no output is defined under both."""
    preds = np.stack([first, second])
    preds[preds == 0.0] = np.nan
    gaps = np.abs(preds[0] - preds[1])
    if np.all(np.isnan(gaps)):
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.nanmean(gaps) / np.nanmean(preds))


def _epsinas(module: nn.Module, x: torch.Tensor, weights: Sequence[float], drop_inf: bool) -> float:
    first, second = (_normalised_output(module, x, float(w), drop_inf) for w in weights)
    return epsinas_gap(first, second)


def epsinas(
    module: nn.Module, x: torch.Tensor, weights: Sequence[float] = NB201_EPSINAS_WEIGHTS
) -> float:
    """epsinas score (higher is better); NaN for a constant output or an overflow."""
    return _epsinas(module, x, weights, drop_inf=False)


def search_epsinas_weights(
    modules: Sequence[nn.Module],
    x: torch.Tensor,
    low: int = -7,
    high: int = 0,
    max_nan_fraction: float = 0.1,
) -> tuple[float, float]:
    """The reference's ``search_weights``: the widest pair ``(10^a, 10^(a+window))``, window
    shrinking from ``high - low``, for which fewer than ``max_nan_fraction`` of ``modules``
    score NaN (an infinite output counts as missing, as in the reference)."""
    if not low < high:
        raise ValueError(f"search_epsinas_weights: need low < high; got low={low}, high={high}.")
    if not 0.0 < max_nan_fraction <= 1.0:
        raise ValueError(f"max_nan_fraction must be in (0, 1]; got {max_nan_fraction!r}.")
    nets = list(modules)
    if not nets:
        raise ValueError("search_epsinas_weights: modules is empty.")
    for window in range(high - low, 0, -1):
        for a in range(low, high + 1 - window):
            pair = (10.0**a, 10.0 ** (a + window))
            scores = [_epsinas(net, x, pair, drop_inf=True) for net in nets]
            if np.mean(np.isnan(scores)) < max_nan_fraction:
                return pair
    raise ValueError(
        f"search_epsinas_weights: every pair in [1e{low}, 1e{high}] gives at least "
        f"{max_nan_fraction:.0%} NaN scores."
    )
