"""TangleNAS weight superposition: the differentiable relaxation of weight-entangled supernets.

Implements the superposition of Sukthanker, Krishnakumar, Safari & Hutter, "Weight-Entanglement
Meets Gradient-Based Neural Architecture Search" (TangleNAS, AutoML-Conf 2024; reference
``automl/TangleNAS``, ``search_spaces/AutoFormer/model_one_shot`` with ``--use_we_v2`` and
``optimizers/mixop/entangle.py``). In a weight-entangled space every choice of a layer (a width,
a head count, an MLP ratio, a kernel) is a slice of one shared tensor. Instead of mixing the
outputs of separate operations (DARTS), the layer runs once with the superimposed weight

    W_mix = sum_k w_k * pad(slice_k(W))        (w = the decision's mixing weights)

where ``pad`` zero-pads a slice back to the shared tensor's shape (leading channels; kernels
centred). Along one dimension ``sum_k w_k * pad(W[:n_k]) = W * m`` with the per-index
coefficient ``m[i] = sum_k w_k [i < n_k]``. A :class:`Superposition` keeps the terms of such a
sum, a weight and a 0/1 indicator of the slice per choice (:func:`size`): two independent
decisions on one tensor (heads on the rows, embedding width on the columns) combine by
:meth:`Superposition.outer`, the joint weight ``w_a[i] * w_b[j]`` of every pair of choices (the
reference's "combi-superposition"), and one decision that sets both dimensions (an MLP width
that depends on the embedding width and the ratio; a Res2 group's square kernel) is a
:func:`joint` superposition. :func:`entangled` runs a layer once with the superimposed weight
``W * mask``. Depth choices mix the outputs of the candidate depths,
``sum_d w_d * x_d`` (:func:`mix_depths`). Per-channel layers (LayerNorm, BatchNorm, activations)
are mixed at their outputs: ``sum_k w_k * pad(LN(x[:e_k]))``; the reference's second
superposition normalises over the largest width instead, which does not reproduce a single path
with one-hot weights, so this follows its first superposition for norms.

With one-hot weights every mask is exactly 0/1, so a supernet's weighted forward equals the
single path's forward (the ``differentiable`` contract); compute and memory stay those of one
largest network, whatever the number of choices. Inside :func:`mix_outputs` the same layers run
DARTS-style instead, once per term with its own slice and the outputs summed
(``sum_k w_k * layer(x; pad(slice_k(W)))``): the output mixing the superposition replaces, kept
to measure what it saves.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from symnas.programs.supernet_base import DifferentiableSupernet
from symnas.spaces.relaxation import SizeRelaxation, size_decisions

_OUTPUT_MIXING = contextvars.ContextVar("output_mixing", default=False)

#: ``op(weight, bias) -> output`` of one layer call.
LayerCall = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class Superposition:
    """The terms of a weight superposition: ``weights[k]`` and the 0/1 ``indicators[k]`` of the
    slice term ``k`` keeps (its zero-padded ones), for a tensor of shape ``indicators.shape[1:]``."""

    weights: torch.Tensor
    indicators: torch.Tensor

    def mask(self) -> torch.Tensor:
        """``sum_k weights[k] * indicators[k]``: the coefficient of every entry of the shared
        tensor in the superimposed one."""
        return torch.tensordot(self.weights, self.indicators, dims=1)

    def outer(self, cols: Superposition) -> Superposition:
        """Two independent decisions on the rows (self) and columns of a matrix: every pair of
        terms, with the product of their weights."""
        weights = (self.weights[:, None] * cols.weights[None, :]).flatten()
        indicators = self.indicators[:, None, :, None] * cols.indicators[None, :, None, :]
        return Superposition(weights, indicators.flatten(0, 1))

    def transposed(self) -> Superposition:
        """The superposition of the transposed matrix."""
        return Superposition(self.weights, self.indicators.transpose(1, 2))

    def rows(self) -> Superposition:
        """The terms' indicators without the last (input) dimension, a row kept when any of its
        entries is: the superposition of a layer's bias (a 1-D superposition is its own)."""
        if self.indicators.dim() == 2:
            return self
        return Superposition(self.weights, self.indicators.amax(dim=-1))

    def tiled(self, times: int) -> Superposition:
        """A 1-D superposition repeated ``times`` along its dimension (channel groups)."""
        return Superposition(self.weights, self.indicators.repeat(1, times))

    def concatenated(self, other: Superposition) -> Superposition:
        """Two 1-D superpositions with the same terms, one after the other."""
        return Superposition(self.weights, torch.cat([self.indicators, other.indicators], dim=1))

    def stacked(self, times: int) -> Superposition:
        """The superposition with a new leading dimension of ``times`` (q, k and v alike)."""
        shape = (self.indicators.shape[0], times) + tuple(self.indicators.shape[1:])
        return Superposition(self.weights, self.indicators[:, None].expand(shape))


def _inside(length: int, sizes: Sequence[int], weights: torch.Tensor, period: int | None):
    index = torch.arange(length, device=weights.device)
    if period is not None:
        index = index % period
    bounds = torch.as_tensor(list(sizes), device=weights.device)
    return (index[None, :] < bounds[:, None]).to(weights.dtype)


def size(
    length: int, sizes: Sequence[int], weights: torch.Tensor, period: int | None = None
) -> Superposition:
    """The leading slices ``[:sizes[k]]`` of one dimension of ``length``, weighed by
    ``weights``; its mask is ``m[i] = sum_k weights[k] * [i < sizes[k]]``. With ``period`` the
    index restarts every ``period`` entries (the first ``sizes[k]`` channels of every group)."""
    return Superposition(weights, _inside(length, sizes, weights, period))


def ones(length: int, like: Superposition) -> Superposition:
    """A dimension of ``length`` that no decision slices (one term of weight 1)."""
    weights = torch.ones(1, device=like.weights.device, dtype=like.weights.dtype)
    return Superposition(weights, torch.ones(1, length, device=weights.device, dtype=weights.dtype))


def joint(
    shape: Sequence[int], sizes: Sequence[Sequence[int]], weights: torch.Tensor
) -> Superposition:
    """Slices whose every dimension is set by the same choice ``k`` (``sizes[k]`` per
    dimension) of a tensor of ``shape``."""
    indicators = 1.0
    for dim, length in enumerate(shape):
        inside = _inside(length, [s[dim] for s in sizes], weights, None)
        view = [len(sizes)] + [1] * len(shape)
        view[dim + 1] = length
        indicators = indicators * inside.reshape(view)
    return Superposition(weights, indicators)


def superimpose(tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``tensor * mask`` with the mask aligned on the leading dimensions and broadcast over the
    trailing ones it lacks (an ``(out,)`` or ``(out, in)`` mask on an ``(out, in, kernel)``
    conv weight)."""
    return tensor * mask.reshape(mask.shape + (1,) * (tensor.dim() - mask.dim()))


@contextlib.contextmanager
def mix_outputs() -> Iterator[None]:
    """Within the block, entangled layers mix the outputs of their choices (DARTS-style, one
    call per choice) instead of superimposing the weights."""
    token = _OUTPUT_MIXING.set(True)
    try:
        yield
    finally:
        _OUTPUT_MIXING.reset(token)


def entangled(
    op: LayerCall,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weights: Superposition,
    bias_weights: Superposition | None = None,
) -> torch.Tensor:
    """``op`` with the superimposed weight ``weight * mask`` and bias (``bias_weights``, by
    default the rows of ``weights``): one call. Under :func:`mix_outputs`, the sum over the
    terms of ``w_k * op(weight * indicator_k, bias * bias_indicator_k)``."""
    bias_weights = weights.rows() if bias_weights is None else bias_weights
    if not _OUTPUT_MIXING.get():
        masked = None if bias is None else bias * bias_weights.mask()
        return op(superimpose(weight, weights.mask()), masked)
    out = 0.0
    for k, w in enumerate(weights.weights):
        masked = None if bias is None else bias * bias_weights.indicators[k]
        out = out + w * op(superimpose(weight, weights.indicators[k]), masked)
    return out


def kernel_mixture(
    op: Callable[[torch.Tensor], torch.Tensor],
    kernels: Sequence[torch.Tensor],
    weights: torch.Tensor,
) -> torch.Tensor:
    """``op`` (a conv of a weight) with ``sum_k weights[k] * pad(kernels[k])``, kernels of odd
    sizes along the last dimension zero-padded on both sides to the largest (the transformed
    centre kernels of one shared kernel); under :func:`mix_outputs`, the sum of
    ``weights[k] * op(pad(kernels[k]))``."""
    largest = max(k.shape[-1] for k in kernels)
    padded = [F.pad(k, ((largest - k.shape[-1]) // 2,) * 2) for k in kernels]
    if not _OUTPUT_MIXING.get():
        return op(_weighted_sum(padded, weights))
    return _weighted_sum([op(k) for k in padded], weights)


def _weighted_sum(tensors: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    out = 0.0
    for weight, tensor in zip(weights, tensors, strict=True):
        out = out + weight * tensor
    return out


def mix_depths(outputs: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """``sum_d weights[d] * outputs[d]``: the mixture of the candidate depths' outputs."""
    return _weighted_sum(outputs, weights)


def mixed_layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    sizes: Sequence[int],
    weights: torch.Tensor,
) -> torch.Tensor:
    """``sum_k weights[k] * pad(LayerNorm_k(x[..., :sizes[k]]))`` with the leading affine
    slices; the output keeps ``x``'s width."""
    width = x.shape[-1]
    out = 0.0
    for w, size_k in zip(weights, sizes, strict=True):
        normed = F.layer_norm(x[..., :size_k], (size_k,), weight[:size_k], bias[:size_k], eps)
        out = out + w * F.pad(normed, (0, width - size_k))
    return out


class EntangledSupernet(DifferentiableSupernet):
    """A ``differentiable`` supernet whose decisions are the size choices of a weight-entangled
    space (``spaces.relaxation.size_decisions``) and whose mixture superimposes weights.

    Subclasses call ``relax(space)`` in ``__init__`` and implement ``_forward_mixed``.
    """

    def relax(self, space: Any) -> None:
        """Keeps ``space``, whose decision points give the decisions (derived on first use, so
        a space without size choices still builds its supernet)."""
        self._relaxed_space = space
        self._relaxation: SizeRelaxation | None = None

    @property
    def relaxation(self) -> SizeRelaxation:
        """The size decisions of the space (``spaces.relaxation.size_decisions``)."""
        if self._relaxation is None:
            self._relaxation = size_decisions(self._relaxed_space)
        return self._relaxation

    @property
    def decisions(self) -> dict[str, tuple[Any, ...]]:
        """Every size decision and its candidate values."""
        return self.relaxation.decisions

    def choice(
        self, weights: Mapping[str, torch.Tensor], name: str, fixed: Any
    ) -> tuple[list[Any], torch.Tensor]:
        """``(candidates, mixing weights)`` of the decision ``name``; a field the space fixes
        to ``fixed`` is the single candidate with weight 1."""
        if name in self.decisions:
            return list(self.decisions[name]), weights[name]
        return [fixed], torch.ones(1, device=self.device)

    def discretize(self, weights: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """The spec with the argmax candidate of every decision."""
        self.check_weights(weights)
        return self.relaxation.discretize({k: v.detach().cpu().numpy() for k, v in weights.items()})
