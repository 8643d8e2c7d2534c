"""Building blocks shared by the ViT families: attention, relative positions, entangled weights.

The weight-entangled super layers follow AutoFormer (Chen et al., "AutoFormer: Searching
Transformers for Visual Recognition", ICCV 2021): a sub-network uses the leading slice of every
shared tensor (``W[:out, :in]``, ``b[:out]``, ``gamma[:d]``), as views, never copies. The qkv
weight is stored as ``(3, max_qkv_dim, max_in)``, so ``W[i, :heads*head_dim, :in]`` are the q, k
or v rows of the first ``heads`` heads (AutoFormer's ``qkv_super`` keeps the same rows
interleaved, ``W[i::3]``).
"""

from __future__ import annotations

from typing import Any

import pyglove as pg
import torch
import torch.nn.functional as F
from torch import nn

from symnas.programs.families.entangle import Superposition, entangled, mixed_layer_norm

TASK_FIELDS = ("num_classes", "image_size", "patch_size", "in_chans")


def field_defaults(space_cls: type[pg.Object]) -> dict[str, Any]:
    """The default values of a space class's fields that have one."""
    return {
        str(key): field.default_value
        for key, field in space_cls.__schema__.fields.items()
        if field.default_value != pg.MISSING_VALUE
    }


def trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Truncated normal init at +-2 std, as timm and AutoFormer use for ViT weights."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability ``rate``."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


def relative_position_index(
    num_tokens: int, max_distance: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """AutoFormer's 2-D relative position indices for a class token plus a square patch grid.

    Returns ``(vertical, horizontal)`` index matrices of shape ``(num_tokens, num_tokens)``:
    clipped row / column distances shifted to ``1..2*max_distance+1``; index 0 marks every pair
    involving the class token.
    """
    length = num_tokens - 1
    side = int(length**0.5)
    pos = torch.arange(length, device=device)
    rows, cols = pos // side, pos % side
    vertical = (rows[None, :] - rows[:, None]).clamp(-max_distance, max_distance)
    horizontal = (cols[None, :] - cols[:, None]).clamp(-max_distance, max_distance)
    vertical = F.pad(vertical + max_distance + 1, (1, 0, 1, 0))
    horizontal = F.pad(horizontal + max_distance + 1, (1, 0, 1, 0))
    return vertical, horizontal


class RelativePosition2D(nn.Module):
    """Learned vertical + horizontal relative position embeddings (one table pair)."""

    def __init__(self, head_dim: int, max_distance: int) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.table_v = nn.Parameter(trunc_normal_(torch.empty(2 * max_distance + 2, head_dim)))
        self.table_h = nn.Parameter(trunc_normal_(torch.empty(2 * max_distance + 2, head_dim)))

    def forward(self, num_tokens: int) -> torch.Tensor:
        """Embeddings of shape ``(num_tokens, num_tokens, head_dim)``."""
        vertical, horizontal = relative_position_index(
            num_tokens, self.max_distance, self.table_v.device
        )
        return self.table_v[vertical] + self.table_h[horizontal]


def attend(
    qkv: torch.Tensor,
    num_heads: int,
    rel_k: torch.Tensor | None = None,
    rel_v: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-head attention on a ``(B, N, 3 * heads * head_dim)`` qkv tensor (q, k, v blocks).

    With relative embeddings ``rel_k``/``rel_v`` of shape ``(N, N, head_dim)`` it adds
    ``q . rel_k`` to the logits and ``attn @ rel_v`` to the output, as AutoFormer does.
    Returns ``(B, N, heads * head_dim)``.
    """
    batch, tokens, _ = qkv.shape
    q, k, v = qkv.view(batch, tokens, 3, num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    if rel_k is None:
        out = F.scaled_dot_product_attention(q, k, v)
    else:
        scale = q.shape[-1] ** -0.5
        logits = (q @ k.transpose(-2, -1) + torch.einsum("bhnd,nmd->bhnm", q, rel_k)) * scale
        attn = logits.softmax(dim=-1)
        out = attn @ v + torch.einsum("bhnm,nmd->bhnd", attn, rel_v)
    return out.transpose(1, 2).reshape(batch, tokens, -1)


class LinearSuper(nn.Module):
    """Entangled linear layer: a sub-layer uses ``weight[:out, :in]`` and ``bias[:out]``."""

    def __init__(self, max_in: int, max_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(max_out, max_in)))
        self.bias = nn.Parameter(torch.zeros(max_out)) if bias else None

    def forward(self, x: torch.Tensor, out_features: int) -> torch.Tensor:
        """Applies the ``(out_features, x.shape[-1])`` slice."""
        bias = None if self.bias is None else self.bias[:out_features]
        return F.linear(x, self.weight[:out_features, : x.shape[-1]], bias)

    def sliced(self, in_features: int, out_features: int) -> dict[str, torch.Tensor]:
        """The weights of one sub-layer, keyed as in ``nn.Linear``."""
        out = {"weight": self.weight[:out_features, :in_features]}
        if self.bias is not None:
            out["bias"] = self.bias[:out_features]
        return out

    def weighted(
        self, x: torch.Tensor, weights: Superposition, bias_weights: Superposition | None = None
    ) -> torch.Tensor:
        """The layer with the superimposed weight of ``weights`` (``(out, in)`` terms;
        ``programs.families.entangle``) and bias of ``bias_weights`` (default: the rows of ``weights``)
        on the full-width ``x``."""
        return entangled(
            lambda w, b: F.linear(x, w, b), self.weight, self.bias, weights, bias_weights
        )


class LayerNormSuper(nn.Module):
    """Entangled LayerNorm: a sub-layer of width ``d`` uses ``gamma[:d]`` and ``beta[:d]``."""

    def __init__(self, max_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.bias = nn.Parameter(torch.zeros(max_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises over the last dimension of ``x`` with the leading affine slice."""
        dim = x.shape[-1]
        return F.layer_norm(x, (dim,), self.weight[:dim], self.bias[:dim], self.eps)

    def sliced(self, dim: int) -> dict[str, torch.Tensor]:
        """The weights of one sub-layer, keyed as in ``nn.LayerNorm``."""
        return {"weight": self.weight[:dim], "bias": self.bias[:dim]}

    def weighted(self, x: torch.Tensor, sizes: list[int], weights: torch.Tensor) -> torch.Tensor:
        """The ``weights``-mixture of the zero-padded norms of the widths ``sizes``."""
        return mixed_layer_norm(x, self.weight, self.bias, self.eps, sizes, weights)


class QKVSuper(nn.Module):
    """Entangled qkv projection stored as ``(3, max_qkv_dim, max_in)``.

    A sub-layer with ``qkv_dim = heads * head_dim`` uses ``weight[:, :qkv_dim, :in]``; its
    output is laid out as q, k, v blocks, the layout ``attend`` and ``nn.Linear`` qkv use.
    """

    def __init__(self, max_in: int, max_qkv_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(3, max_qkv_dim, max_in)))
        self.bias = nn.Parameter(torch.zeros(3, max_qkv_dim)) if bias else None

    def sliced(self, in_features: int, qkv_dim: int) -> dict[str, torch.Tensor]:
        """The ``nn.Linear(in_features, 3 * qkv_dim)`` weights of one sub-layer."""
        weight = self.weight[:, :qkv_dim, :in_features]
        out = {"weight": weight.reshape(3 * qkv_dim, in_features)}
        if self.bias is not None:
            out["bias"] = self.bias[:, :qkv_dim].reshape(3 * qkv_dim)
        return out

    def forward(self, x: torch.Tensor, qkv_dim: int) -> torch.Tensor:
        """``(B, N, in) -> (B, N, 3 * qkv_dim)``."""
        weights = self.sliced(x.shape[-1], qkv_dim)
        return F.linear(x, weights["weight"], weights.get("bias"))

    def weighted(self, x: torch.Tensor, weights: Superposition) -> torch.Tensor:
        """``(B, N, max_in) -> (B, N, 3 * max_qkv_dim)`` with the superimposed weight of
        ``weights`` (``(max_qkv_dim, max_in)`` terms, q, k and v alike)."""
        return entangled(
            lambda w, b: F.linear(x, w.flatten(0, 1), None if b is None else b.flatten()),
            self.weight,
            self.bias,
            weights.stacked(3),
        )


def count_linear(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of an ``nn.Linear``."""
    return in_features * out_features + (out_features if bias else 0)


def count_relative_positions(head_dim: int, max_distance: int) -> int:
    """Parameters of the two ``RelativePosition2D`` table pairs (k and v) of one attention."""
    return 2 * 2 * (2 * max_distance + 2) * head_dim


def stochastic_depth_rates(rate: float, depth: int) -> list[float]:
    """Linearly increasing drop-path rates ``0 .. rate`` over ``depth`` blocks."""
    if depth <= 1:
        return [0.0] * depth
    return [rate * i / (depth - 1) for i in range(depth)]
