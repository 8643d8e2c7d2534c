"""AutoFormer / PreNAS Vision Transformers: standalone models and the weight-entangled supernet.

Implements the networks of AutoFormer (Chen et al., "AutoFormer: Searching Transformers for
Visual Recognition", ICCV 2021) as used by PreNAS (Wang et al., ICML 2023): a conv patch
embedding, a class token and absolute position embedding, pre-norm blocks (LayerNorm ->
multi-head attention with qkv bias and ``heads * head_dim`` qkv channels, optional 2-D relative
position embeddings -> residual; LayerNorm -> Linear -> GELU -> Linear -> residual), a final
LayerNorm, a global average pool over patch tokens (or the class token) and a linear head.

``ViTSupernet`` shares one set of weights between every spec of a ``ViTSpace`` (AutoFormer
weight entanglement): sub-networks take leading slices of each tensor and skip layers at index
``>= depth``. Its ``differentiable`` relaxation is TangleNAS's weight superposition
(``programs.families.entangle``): one forward of the largest network with every layer's weight the
mixture of its zero-padded slices, and the candidate depths' outputs mixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyglove as pg
import torch
import torch.nn.functional as F
from torch import nn

from symnas.programs import registry
from symnas.programs.families.entangle import (
    EntangledSupernet,
    entangled,
    joint,
    mix_depths,
    ones,
    size,
)
from symnas.programs.families.vit_layers import (
    TASK_FIELDS,
    LayerNormSuper,
    LinearSuper,
    QKVSuper,
    RelativePosition2D,
    attend,
    count_linear,
    count_relative_positions,
    drop_path,
    field_defaults,
    stochastic_depth_rates,
    trunc_normal_,
)
from symnas.programs.supernet_base import SizedSupernet, SlicedSupernet
from symnas.spaces.vit import ViTSpace, check_task, choices_of

_FIELDS = [str(key) for key in ViTSpace.__schema__.fields]

#: Full-size ``(fc1 weight, fc1 bias, fc2 weight, fc2 bias)`` of one encoder layer.
FFNWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
_DEFAULTS = field_defaults(ViTSpace)


@dataclass(frozen=True)
class ViTArch:
    """A validated ViT spec: only the first ``depth`` per-layer entries are kept."""

    embed_dim: int
    depth: int
    mlp_ratio: tuple[float, ...]
    num_heads: tuple[int, ...]
    head_dim: int
    image_size: int
    patch_size: int
    in_chans: int
    num_classes: int
    global_pool: bool
    relative_position: bool
    max_relative_position: int

    @property
    def num_patches(self) -> int:
        """Number of patch tokens."""
        return (self.image_size // self.patch_size) ** 2

    def hidden(self, layer: int) -> int:
        """MLP width of one layer, ``int(embed_dim * ratio)`` as in AutoFormer."""
        return int(self.embed_dim * self.mlp_ratio[layer])


def _int_field(spec: dict[str, Any], name: str, minimum: int = 1) -> int:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"spec field {name!r} must be an int >= {minimum}; got {value!r}.")
    return value


def parse_spec(spec: Any, **task: Any) -> ViTArch:
    """Validates a decoded ``ViTSpace`` spec (dict or concrete ``pg.Object``) into a ``ViTArch``.

    ``task`` may override the fixed task fields ``num_classes``, ``image_size``,
    ``patch_size`` and ``in_chans``.
    """
    if isinstance(spec, pg.Object):
        if not spec.is_deterministic:
            raise ValueError("parse_spec expects a concrete spec; got a space with decisions.")
        spec = pg.to_json(spec)
    if not isinstance(spec, dict):
        raise TypeError(f"a ViT spec must be a dict; got {type(spec).__name__}.")
    unknown = sorted(set(task) - set(TASK_FIELDS))
    if unknown:
        raise TypeError(f"unknown task arguments {unknown}; allowed: {list(TASK_FIELDS)}.")
    spec = {**_DEFAULTS, **spec, **task}
    embed_dim = _int_field(spec, "embed_dim")
    depth = _int_field(spec, "depth")
    head_dim = _int_field(spec, "head_dim")
    ratios, heads = spec.get("mlp_ratio"), spec.get("num_heads")
    for name, values in (("mlp_ratio", ratios), ("num_heads", heads)):
        if not isinstance(values, (list, tuple)) or len(values) < depth:
            raise ValueError(
                f"spec field {name!r} must be a list with at least depth={depth} entries; "
                f"got {values!r}."
            )
    ratios, heads = tuple(ratios[:depth]), tuple(heads[:depth])
    if any(isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0 for r in ratios):
        raise ValueError(f"spec field 'mlp_ratio' must hold positive numbers; got {ratios!r}.")
    if any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in heads):
        raise ValueError(f"spec field 'num_heads' must hold positive ints; got {heads!r}.")
    check_task(spec["image_size"], spec["patch_size"], spec["in_chans"], spec["num_classes"])
    return ViTArch(
        embed_dim=embed_dim,
        depth=depth,
        mlp_ratio=tuple(float(r) for r in ratios),
        num_heads=heads,
        head_dim=head_dim,
        image_size=spec["image_size"],
        patch_size=spec["patch_size"],
        in_chans=spec["in_chans"],
        num_classes=spec["num_classes"],
        global_pool=bool(spec["global_pool"]),
        relative_position=bool(spec["relative_position"]),
        max_relative_position=_int_field(spec, "max_relative_position", minimum=0),
    )


def param_count(spec: Any, **task: Any) -> int:
    """Exact parameter count of ``build(spec, **task)``, without building it.

    Equals PreNAS's ``get_sampled_params_numel`` (used to bucket candidates by size).
    """
    arch = parse_spec(spec, **task)
    e = arch.embed_dim
    total = arch.in_chans * arch.patch_size**2 * e + e  # patch embedding
    total += e * (arch.num_patches + 2)  # class token and position embedding
    for layer in range(arch.depth):
        qkv_dim = arch.num_heads[layer] * arch.head_dim
        hidden = arch.hidden(layer)
        total += 4 * e  # two LayerNorms
        total += count_linear(e, 3 * qkv_dim) + count_linear(qkv_dim, e)
        total += count_linear(e, hidden) + count_linear(hidden, e)
        if arch.relative_position:
            total += count_relative_positions(arch.head_dim, arch.max_relative_position)
    return total + 2 * e + count_linear(e, arch.num_classes)


class Attention(nn.Module):
    """Multi-head self-attention with ``num_heads * head_dim`` qkv channels."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, max_rel: int | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim)
        self.proj = nn.Linear(num_heads * head_dim, dim)
        self.rel_k = None if max_rel is None else RelativePosition2D(head_dim, max_rel)
        self.rel_v = None if max_rel is None else RelativePosition2D(head_dim, max_rel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, dim) -> (B, N, dim)``."""
        tokens = x.shape[1]
        rel_k = None if self.rel_k is None else self.rel_k(tokens)
        rel_v = None if self.rel_v is None else self.rel_v(tokens)
        return self.proj(attend(self.qkv(x), self.num_heads, rel_k, rel_v))


class Block(nn.Module):
    """Pre-norm transformer encoder layer (attention and MLP, each with a residual)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int,
        hidden: int,
        max_rel: int | None,
        rate: float,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.rate = rate
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, head_dim, max_rel)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, dim) -> (B, N, dim)``."""
        x = x + drop_path(self.attn(self.norm1(x)), self.rate, self.training)
        mlp = self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x + drop_path(mlp, self.rate, self.training)


class VisionTransformer(nn.Module):
    """A standalone AutoFormer ViT built from a ``ViTArch``."""

    def __init__(self, arch: ViTArch, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        _build_body(self, arch, drop_path_rate, Block, nn.LayerNorm, nn.Linear)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, in_chans, H, W)`` -> logits ``(B, num_classes)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(x[:, 1:].mean(dim=1) if self.arch.global_pool else x[:, 0])


def _build_body(
    module: nn.Module,
    arch: ViTArch,
    drop_path_rate: float,
    block: type[nn.Module],
    norm: type[nn.Module],
    head: type[nn.Module],
) -> None:
    """Gives ``module`` the patch embedding, class token, position embedding, ``block`` layers,
    final ``norm`` and classifier ``head`` of ``arch``: the standalone network and the supernet
    (its largest architecture, with the elastic layers) are built by this one sequence, so the
    same seed draws the same initial values for both."""
    e = arch.embed_dim
    max_rel = arch.max_relative_position if arch.relative_position else None
    module.patch_embed = nn.Conv2d(arch.in_chans, e, arch.patch_size, arch.patch_size)
    module.cls_token = nn.Parameter(trunc_normal_(torch.empty(1, 1, e)))
    module.pos_embed = nn.Parameter(trunc_normal_(torch.empty(1, arch.num_patches + 1, e)))
    rates = stochastic_depth_rates(drop_path_rate, arch.depth)
    module.blocks = nn.ModuleList(
        block(e, arch.num_heads[i], arch.head_dim, arch.hidden(i), max_rel, rates[i])
        for i in range(arch.depth)
    )
    module.norm = norm(e)
    module.head = head(e, arch.num_classes)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight)
        nn.init.zeros_(module.bias)


def build(spec: Any, drop_path_rate: float = 0.0, **task: Any) -> VisionTransformer:
    """Builds the standalone model of a decoded ``ViTSpace`` spec."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}.")
    return VisionTransformer(parse_spec(spec, **task), drop_path_rate)


class _SuperAttention(nn.Module):
    def __init__(self, max_dim: int, max_qkv_dim: int, head_dim: int, max_rel: int | None):
        super().__init__()
        self.qkv = QKVSuper(max_dim, max_qkv_dim)
        self.proj = LinearSuper(max_qkv_dim, max_dim)
        self.rel_k = None if max_rel is None else RelativePosition2D(head_dim, max_rel)
        self.rel_v = None if max_rel is None else RelativePosition2D(head_dim, max_rel)


class SuperBlock(nn.Module):
    """Entangled pre-norm encoder layer; the input width selects the embedding slice."""

    def __init__(
        self,
        max_dim: int,
        max_heads: int,
        head_dim: int,
        max_hidden: int,
        max_rel: int | None,
        rate: float,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.rate = rate
        self.head_dim = head_dim
        self.norm1 = LayerNormSuper(max_dim, eps)
        self.attn = _SuperAttention(max_dim, max_heads * head_dim, head_dim, max_rel)
        self.norm2 = LayerNormSuper(max_dim, eps)
        self.fc1 = LinearSuper(max_dim, max_hidden)
        self.fc2 = LinearSuper(max_hidden, max_dim)

    def forward(
        self, x: torch.Tensor, heads: int, hidden: int, ffn: FFNWeights | None = None
    ) -> torch.Tensor:
        """Runs the sub-layer with ``heads`` heads and MLP width ``hidden``; ``ffn`` replaces the
        shared MLP weights by full-size ``(fc1 weight, fc1 bias, fc2 weight, fc2 bias)`` whose
        leading slices the sub-layer takes (a mixture of supernets)."""
        dim, tokens = x.shape[-1], x.shape[1]
        attn = self.attn
        rel_k = None if attn.rel_k is None else attn.rel_k(tokens)
        rel_v = None if attn.rel_v is None else attn.rel_v(tokens)
        out = attend(attn.qkv(self.norm1(x), heads * self.head_dim), heads, rel_k, rel_v)
        x = x + drop_path(attn.proj(out, dim), self.rate, self.training)
        if ffn is None:
            mlp = self.fc2(F.gelu(self.fc1(self.norm2(x), hidden)), dim)
        else:
            w1, b1, w2, b2 = ffn
            h = F.gelu(F.linear(self.norm2(x), w1[:hidden, :dim], b1[:hidden]))
            mlp = F.linear(h, w2[:dim, :hidden], b2[:dim])
        return x + drop_path(mlp, self.rate, self.training)

    def weighted(
        self,
        x: torch.Tensor,
        embed: tuple[list[int], torch.Tensor],
        heads: tuple[list[int], torch.Tensor],
        hidden: tuple[list[tuple[int, int]], torch.Tensor],
        ffn: FFNWeights | None = None,
    ) -> torch.Tensor:
        """The layer with superimposed weights (``programs.families.entangle``) on the zero-padded
        largest-width ``x``. ``embed`` and ``heads`` are ``(candidates, mixing weights)`` of the
        embedding width and head count; ``hidden`` lists ``(MLP width, embedding width)`` pairs
        with their joint weights (AutoFormer's MLP width ``int(e * ratio)`` depends on both);
        ``ffn`` replaces the shared MLP weights as in ``forward``."""
        dims, w_e = embed
        attn, tokens = self.attn, x.shape[1]
        width, max_qkv = attn.qkv.weight.shape[2], attn.qkv.weight.shape[1]
        m_e = size(width, dims, w_e)
        m_q = size(max_qkv, [h * self.head_dim for h in heads[0]], heads[1])
        rel_k = None if attn.rel_k is None else attn.rel_k(tokens)
        rel_v = None if attn.rel_v is None else attn.rel_v(tokens)
        qkv = attn.qkv.weighted(self.norm1.weighted(x, dims, w_e), m_q.outer(m_e))
        out = attn.proj.weighted(
            attend(qkv, max_qkv // self.head_dim, rel_k, rel_v), m_e.outer(m_q)
        )
        x = x + drop_path(out, self.rate, self.training)
        mlp = joint(self.fc1.weight.shape, hidden[0], hidden[1])
        normed = self.norm2.weighted(x, dims, w_e)
        if ffn is None:
            h = F.gelu(self.fc1.weighted(normed, mlp))
            out = self.fc2.weighted(h, mlp.transposed())
        else:
            w1, b1, w2, b2 = ffn
            h = F.gelu(entangled(lambda w, b: F.linear(normed, w, b), w1, b1, mlp))
            out = entangled(lambda w, b: F.linear(h, w, b), w2, b2, mlp.transposed())
        return x + drop_path(out, self.rate, self.training)

    def sliced(self, dim: int, heads: int, hidden: int) -> dict[str, torch.Tensor]:
        """The weights of one sub-layer, keyed like a standalone ``Block``'s state dict."""
        qkv_dim = heads * self.head_dim
        parts = {
            "norm1": self.norm1.sliced(dim),
            "attn.qkv": self.attn.qkv.sliced(dim, qkv_dim),
            "attn.proj": self.attn.proj.sliced(qkv_dim, dim),
            "norm2": self.norm2.sliced(dim),
            "fc1": self.fc1.sliced(dim, hidden),
            "fc2": self.fc2.sliced(hidden, dim),
        }
        for name in ("rel_k", "rel_v"):
            rel = getattr(self.attn, name)
            if rel is not None:
                parts[f"attn.{name}"] = {"table_v": rel.table_v, "table_h": rel.table_h}
        return {f"{module}.{key}": t for module, ts in parts.items() for key, t in ts.items()}


class ViTSupernet(SlicedSupernet, SizedSupernet, EntangledSupernet):
    """AutoFormer weight-entangled supernet of a ``ViTSpace``.

    Sized by the largest choice of every dimension; ``activate(spec)`` selects a sub-network
    that takes leading slices (``W[:out, :in]``, ``gamma[:d]``, the first ``heads`` heads of q,
    k and v) and skips layers at index ``>= depth``.
    """

    def __init__(self, space: ViTSpace, drop_path_rate: float = 0.0, **task: Any) -> None:
        super().__init__()
        if not isinstance(space, ViTSpace):
            raise TypeError(f"ViTSupernet expects a ViTSpace; got {type(space).__name__}.")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}.")
        self.choices = {
            "embed_dim": choices_of(space.sym_getattr("embed_dim")),
            "depth": choices_of(space.sym_getattr("depth")),
            "mlp_ratio": [choices_of(r) for r in space.sym_getattr("mlp_ratio")],
            "num_heads": [choices_of(h) for h in space.sym_getattr("num_heads")],
        }
        max_spec = {
            **{key: space.sym_getattr(key) for key in _FIELDS},
            "embed_dim": max(self.choices["embed_dim"]),
            "depth": max(self.choices["depth"]),
            "mlp_ratio": [max(r) for r in self.choices["mlp_ratio"]],
            "num_heads": [max(h) for h in self.choices["num_heads"]],
        }
        self.max_arch = parse_spec(max_spec, **task)
        self.task = {name: getattr(self.max_arch, name) for name in TASK_FIELDS}
        _build_body(self, self.max_arch, drop_path_rate, SuperBlock, LayerNormSuper, LinearSuper)
        self.active_arch: ViTArch | None = None
        self.relax(space)

    def arch_of(self, spec: Any) -> ViTArch:
        """Validates that ``spec`` is a member of this supernet's space."""
        arch = parse_spec(spec, **self.task)
        fixed = ("head_dim", "global_pool", "relative_position", "max_relative_position")
        for name in fixed:
            if getattr(arch, name) != getattr(self.max_arch, name):
                raise ValueError(
                    f"spec field {name!r} is {getattr(arch, name)!r}; this supernet has "
                    f"{getattr(self.max_arch, name)!r}."
                )
        for name in ("embed_dim", "depth"):
            if getattr(arch, name) not in self.choices[name]:
                raise ValueError(
                    f"spec field {name!r} = {getattr(arch, name)!r} is not one of "
                    f"{self.choices[name]}."
                )
        for name, values in (("mlp_ratio", arch.mlp_ratio), ("num_heads", arch.num_heads)):
            for layer, value in enumerate(values):
                if value not in self.choices[name][layer]:
                    raise ValueError(
                        f"spec field {name!r}[{layer}] = {value!r} is not one of "
                        f"{self.choices[name][layer]}."
                    )
        return arch

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active sub-network on images ``(B, in_chans, H, W)``."""
        arch = self.active_arch
        e = arch.embed_dim
        x = F.conv2d(
            x,
            self.patch_embed.weight[:e],
            self.patch_embed.bias[:e],
            stride=arch.patch_size,
        ).flatten(2)
        x = x.transpose(1, 2)
        x = torch.cat((self.cls_token[..., :e].expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed[..., :e]
        route = self.route(arch=arch)
        for layer in range(arch.depth):
            ffn = self.ffn_weights(layer, route)
            x = self.blocks[layer](x, arch.num_heads[layer], arch.hidden(layer), ffn)
        x = self.norm(x)
        return self.head(x[:, 1:].mean(dim=1) if arch.global_pool else x[:, 0], arch.num_classes)

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """TangleNAS forward: superimposed weights in every layer, candidate depths mixed."""
        arch = self.max_arch
        embed = self.choice(weights, "embed_dim", arch.embed_dim)
        m_e = size(arch.embed_dim, *embed)
        patch = self.patch_embed
        x = entangled(
            lambda w, b: F.conv2d(x, w, b, stride=arch.patch_size), patch.weight, patch.bias, m_e
        )
        x = x.flatten(2).transpose(1, 2)
        mask = m_e.mask()
        x = torch.cat(((self.cls_token * mask).expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed * mask
        depths = self.choice(weights, "depth", arch.depth)
        route = self.route(weights=weights)
        outputs = {}
        for layer in range(arch.depth):
            heads = self.choice(weights, f"num_heads[{layer}]", arch.num_heads[layer])
            ratios = self.choice(weights, f"mlp_ratio[{layer}]", arch.mlp_ratio[layer])
            pairs = [(int(e * r), e) for e in embed[0] for r in ratios[0]]
            joint_weights = (embed[1][:, None] * ratios[1][None, :]).flatten()
            ffn = self.ffn_weights(layer, route)
            x = self.blocks[layer].weighted(x, embed, heads, (pairs, joint_weights), ffn)
            outputs[layer + 1] = x
        x = mix_depths([outputs[d] for d in depths[0]], depths[1])
        x = self.norm.weighted(x, *embed)
        pooled = x[:, 1:].mean(dim=1) if arch.global_pool else x[:, 0]
        return self.head.weighted(pooled, ones(arch.num_classes, m_e).outer(m_e))

    def route(
        self, arch: ViTArch | None = None, weights: Mapping[str, torch.Tensor] | None = None
    ) -> Any:
        """What selects the MLP weights of the sub-network ``arch`` (or of the mixture
        ``weights``): nothing for the plain supernet; a mixture of supernets routes here."""
        return None

    def ffn_weights(self, layer: int, route: Any) -> FFNWeights | None:
        """Full-size MLP weights of ``layer`` under ``route`` (None: the shared ``fc1``/``fc2``)."""
        return None

    def sliced_state(self, spec: Any) -> dict[str, torch.Tensor]:
        """The inherited weights of ``spec`` as views, keyed like ``build(spec).state_dict()``."""
        arch = self.arch_of(spec)
        e = arch.embed_dim
        state = {
            "patch_embed.weight": self.patch_embed.weight[:e],
            "patch_embed.bias": self.patch_embed.bias[:e],
            "cls_token": self.cls_token[..., :e],
            "pos_embed": self.pos_embed[..., :e],
        }
        for layer in range(arch.depth):
            heads, hidden = arch.num_heads[layer], arch.hidden(layer)
            block_state = self.blocks[layer].sliced(e, heads, hidden)
            state.update({f"blocks.{layer}.{key}": t for key, t in block_state.items()})
        for key, tensor in self.norm.sliced(e).items():
            state[f"norm.{key}"] = tensor
        for key, tensor in self.head.sliced(e, arch.num_classes).items():
            state[f"head.{key}"] = tensor
        return state

    def standalone(self, arch: ViTArch) -> VisionTransformer:
        """A fresh standalone model of a parsed architecture."""
        return VisionTransformer(arch)

    def sampled_param_count(self, spec: Any) -> int:
        """Number of shared parameters that ``spec`` uses (equals ``param_count(spec)``)."""
        return sum(t.numel() for t in self.sliced_state(spec).values())

    def max_spec(self) -> dict[str, Any]:
        """The spec of the largest sub-network (the largest choice everywhere)."""
        arch = self.max_arch
        spec = {name: getattr(arch, name) for name in _FIELDS}
        spec.update(mlp_ratio=list(arch.mlp_ratio), num_heads=list(arch.num_heads))
        return {"_type": ViTSpace.__type_name__, **spec}

    def min_spec(self) -> dict[str, Any]:
        """The spec of the smallest sub-network (the smallest choice everywhere)."""
        return {
            **self.max_spec(),
            "embed_dim": min(self.choices["embed_dim"]),
            "depth": min(self.choices["depth"]),
            "mlp_ratio": [min(r) for r in self.choices["mlp_ratio"]],
            "num_heads": [min(h) for h in self.choices["num_heads"]],
        }


def supernet(space: ViTSpace, drop_path_rate: float = 0.0, **task: Any) -> ViTSupernet:
    """Builds the weight-entangled supernet of a ``ViTSpace``."""
    return ViTSupernet(space, drop_path_rate=drop_path_rate, **task)


registry.register(ViTSpace, build=build, supernet=supernet)

__all__ = [
    "Block",
    "SuperBlock",
    "ViTArch",
    "ViTSupernet",
    "VisionTransformer",
    "build",
    "param_count",
    "parse_spec",
    "supernet",
]
