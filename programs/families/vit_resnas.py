"""ViT-ResNAS multi-stage Vision Transformers: standalone models and the weight-sharing supernet.

Implements the networks of Liao, Karaman and Sze, "Searching for Efficient Multi-Stage Vision
Transformers" (2021; reference code yilunliao/vit-search, ``nets/vit_sr_supernet.py``): a patch
embedding (optionally the reference's conv stem), a class token and position embedding, stages of
pre-norm transformer blocks (LayerNorm eps 1e-6, qkv bias, ``heads * head_dim`` qkv channels),
and residual spatial reduction (RSR) between stages:

    main = [Linear(LN(cls)), Conv3x3/2(LN(patches)) + pos]      residual = [cls, AvgPool2(patches)]
    out  = main + zero_pad(residual, C_out)

The reference trains its supernet with channel masks that keep the leading channels; here a
sub-network takes the same leading slices directly (identical outputs, no masking cost) and
dropped blocks are skipped. The ``differentiable`` relaxation is TangleNAS's weight
superposition (``programs.families.entangle``): every layer runs once at its largest width with the
mixture of its zero-padded slices, and a block's keep choice mixes the block's output with its
input (the outputs of the candidate depths).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyglove as pg
import torch
import torch.nn.functional as F
from torch import nn

from symnas.programs import registry
from symnas.programs.families.entangle import (
    EntangledSupernet,
    Superposition,
    entangled,
    mix_depths,
    mixed_layer_norm,
    ones,
    size,
)
from symnas.programs.families.vit import Block, SuperBlock
from symnas.programs.families.vit_layers import (
    TASK_FIELDS,
    field_defaults,
    stochastic_depth_rates,
    trunc_normal_,
)
from symnas.programs.supernet_base import SizedSupernet, SlicedSupernet
from symnas.spaces.vit import check_task, choices_of
from symnas.spaces.vit_resnas import ViTResNASSpace, ViTResNASStage

_EPS = 1e-6  # the reference's MaskedLayerNorm
_DEFAULTS = field_defaults(ViTResNASSpace)


@dataclass(frozen=True)
class StageArch:
    """One validated stage: width, head dim and the (heads, mlp width, keep) of every block."""

    embed_dim: int
    head_dim: int
    num_heads: tuple[int, ...]
    mlp_hidden: tuple[int, ...]
    keep: tuple[bool, ...]

    def kept(self) -> list[int]:
        """Indices of the blocks that exist."""
        return [b for b, keep in enumerate(self.keep) if keep]


@dataclass(frozen=True)
class ResNASArch:
    """A validated ViT-ResNAS spec."""

    stages: tuple[StageArch, ...]
    image_size: int
    patch_size: int
    in_chans: int
    num_classes: int
    conv_stem: bool
    stem_channels: int

    @property
    def grid(self) -> int:
        """Tokens per side in the first stage."""
        return self.image_size // self.patch_size


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"spec field {name!r} must be a positive int; got {value!r}.")
    return value


def _parse_stage(stage: Any, name: str) -> StageArch:
    if not isinstance(stage, dict):
        raise ValueError(f"spec field {name!r} must be a stage dict; got {stage!r}.")
    lists = {}
    for field in ("num_heads", "mlp_hidden", "keep"):
        values = stage.get(field)
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(
                f"spec field '{name}.{field}' must be a non-empty list; got {values!r}."
            )
        lists[field] = tuple(values)
    if len({len(v) for v in lists.values()}) != 1:
        raise ValueError(f"spec fields '{name}.num_heads/mlp_hidden/keep' differ in length.")
    for b, (heads, hidden) in enumerate(zip(lists["num_heads"], lists["mlp_hidden"], strict=True)):
        _positive_int(heads, f"{name}.num_heads[{b}]")
        _positive_int(hidden, f"{name}.mlp_hidden[{b}]")
    if any(not isinstance(k, bool) for k in lists["keep"]):
        raise ValueError(f"spec field '{name}.keep' must hold bools; got {list(lists['keep'])}.")
    return StageArch(
        embed_dim=_positive_int(stage.get("embed_dim"), f"{name}.embed_dim"),
        head_dim=_positive_int(stage.get("head_dim"), f"{name}.head_dim"),
        **lists,
    )


def parse_spec(spec: Any, **task: Any) -> ResNASArch:
    """Validates a decoded ``ViTResNASSpace`` spec into a ``ResNASArch``.

    ``task`` may override ``num_classes``, ``image_size``, ``patch_size`` and ``in_chans``.
    """
    if isinstance(spec, pg.Object):
        if not spec.is_deterministic:
            raise ValueError("parse_spec expects a concrete spec; got a space with decisions.")
        spec = pg.to_json(spec)
    if not isinstance(spec, dict):
        raise TypeError(f"a ViT-ResNAS spec must be a dict; got {type(spec).__name__}.")
    unknown = sorted(set(task) - set(TASK_FIELDS))
    if unknown:
        raise TypeError(f"unknown task arguments {unknown}; allowed: {list(TASK_FIELDS)}.")
    spec = {**_DEFAULTS, **spec, **task}
    raw = spec.get("stages")
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ValueError(f"spec field 'stages' must be a non-empty list; got {raw!r}.")
    stages = tuple(_parse_stage(stage, f"stages[{s}]") for s, stage in enumerate(raw))
    check_task(spec["image_size"], spec["patch_size"], spec["in_chans"], spec["num_classes"])
    for s in range(1, len(stages)):
        if stages[s].embed_dim < stages[s - 1].embed_dim:
            raise ValueError(
                f"spec field 'stages[{s}].embed_dim' ({stages[s].embed_dim}) must be >= "
                f"stages[{s - 1}].embed_dim ({stages[s - 1].embed_dim}): RSR zero-pads channels."
            )
    arch = ResNASArch(
        stages=stages,
        image_size=spec["image_size"],
        patch_size=spec["patch_size"],
        in_chans=spec["in_chans"],
        num_classes=spec["num_classes"],
        conv_stem=bool(spec["conv_stem"]),
        stem_channels=_positive_int(spec["stem_channels"], "stem_channels"),
    )
    if arch.grid % 2 ** (len(stages) - 1):
        raise ValueError(
            f"spec fields 'image_size'/'patch_size' give a {arch.grid}-token grid that "
            f"{len(stages) - 1} spatial reductions cannot halve cleanly."
        )
    if arch.conv_stem and arch.patch_size % 2:
        raise ValueError(
            f"spec field 'patch_size' must be even with conv_stem; got {arch.patch_size}."
        )
    return arch


class PatchStem(nn.Module):
    """Patch embedding: one ``patch x patch`` conv, or the reference's conv stem.

    The conv stem is conv3x3/2-BN-ReLU, then two conv3x3-BN-ReLU with a residual around them,
    then a ``patch/2`` projection. ``forward(x, width)`` uses the first ``width`` projection
    filters.
    """

    def __init__(self, in_chans: int, width: int, patch: int, conv: bool, mid: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        if conv:
            for c_in, stride in ((in_chans, 2), (mid, 1), (mid, 1)):
                self.convs.append(
                    nn.Sequential(
                        nn.Conv2d(c_in, mid, 3, stride, 1, bias=False),
                        nn.BatchNorm2d(mid),
                        nn.ReLU(),
                    )
                )
            in_chans, patch = mid, patch // 2
        self.stride = patch
        self.proj = nn.Conv2d(in_chans, width, patch, patch)

    def forward(self, x: torch.Tensor, width: int) -> torch.Tensor:
        """Images -> tokens ``(B, N, width)``."""
        if len(self.convs):
            x = self.convs[0](x)
            x = x + self.convs[2](self.convs[1](x))
        x = F.conv2d(x, self.proj.weight[:width], self.proj.bias[:width], stride=self.stride)
        return x.flatten(2).transpose(1, 2)

    def weighted(self, x: torch.Tensor, width: Superposition) -> torch.Tensor:
        """Images -> tokens of the largest width with the projection filters superimposed by
        the width decision ``width`` (``programs.families.entangle``)."""
        if len(self.convs):
            x = self.convs[0](x)
            x = x + self.convs[2](self.convs[1](x))
        proj = self.proj
        x = entangled(
            lambda w, b: F.conv2d(x, w, b, stride=self.stride), proj.weight, proj.bias, width
        )
        return x.flatten(2).transpose(1, 2)


class SpatialReduction(nn.Module):
    """Residual spatial reduction between stages (halves the grid, widens the tokens).

    ``forward(x, out_dim, grid)`` uses the leading ``in_dim = x.shape[-1]`` / ``out_dim``
    slices of every weight, so a full-width instance is also a standalone layer.
    """

    def __init__(self, in_dim: int, out_dim: int, grid: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim, eps=_EPS)
        self.conv = nn.Conv2d(in_dim, out_dim, 3, 2, 1)
        self.token = nn.Linear(in_dim, out_dim)
        self.pos_embed = nn.Parameter(trunc_normal_(torch.zeros(1, (grid // 2) ** 2, out_dim)))

    def forward(self, x: torch.Tensor, out_dim: int, grid: int) -> torch.Tensor:
        """``(B, 1 + grid**2, in_dim) -> (B, 1 + (grid/2)**2, out_dim)``."""
        batch, _, in_dim = x.shape
        normed = F.layer_norm(
            x, (in_dim,), self.norm.weight[:in_dim], self.norm.bias[:in_dim], _EPS
        )
        image = normed[:, 1:].transpose(1, 2).reshape(batch, in_dim, grid, grid)
        patches = F.conv2d(
            image,
            self.conv.weight[:out_dim, :in_dim],
            self.conv.bias[:out_dim],
            stride=2,
            padding=1,
        )
        patches = patches.flatten(2).transpose(1, 2) + self.pos_embed[..., :out_dim]
        cls = F.linear(
            normed[:, :1], self.token.weight[:out_dim, :in_dim], self.token.bias[:out_dim]
        )
        raw = x[:, 1:].transpose(1, 2).reshape(batch, in_dim, grid, grid)
        pooled = F.avg_pool2d(raw, 2).flatten(2).transpose(1, 2)
        residual = F.pad(torch.cat((x[:, :1], pooled), dim=1), (0, out_dim - in_dim))
        return torch.cat((cls, patches), dim=1) + residual


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight)
        nn.init.zeros_(module.bias)


def _stages(
    arch: ResNASArch,
    block: type[nn.Module],
    blocks_of: Callable[[StageArch], Sequence[int]],
    drop_path_rate: float,
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The transformer blocks of every stage (``blocks_of`` picks their indices) and the
    residual spatial reductions between stages; drop-path rates grow linearly over all blocks."""
    rates = iter(
        stochastic_depth_rates(drop_path_rate, sum(len(blocks_of(s)) for s in arch.stages))
    )
    stages, reductions = nn.ModuleList(), nn.ModuleList()
    grid = arch.grid
    for s, stage in enumerate(arch.stages):
        if s:
            reductions.append(SpatialReduction(arch.stages[s - 1].embed_dim, stage.embed_dim, grid))
            grid //= 2
        stages.append(
            nn.ModuleList(
                block(
                    stage.embed_dim,
                    stage.num_heads[b],
                    stage.head_dim,
                    stage.mlp_hidden[b],
                    None,
                    next(rates),
                    eps=_EPS,
                )
                for b in blocks_of(stage)
            )
        )
    return stages, reductions


class ViTResNAS(nn.Module):
    """A standalone multi-stage ViT-ResNAS network built from a ``ResNASArch``."""

    def __init__(self, arch: ResNASArch, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        first = arch.stages[0].embed_dim
        self.stem = PatchStem(
            arch.in_chans, first, arch.patch_size, arch.conv_stem, arch.stem_channels
        )
        self.cls_token = nn.Parameter(trunc_normal_(torch.zeros(1, 1, first)))
        self.pos_embed = nn.Parameter(trunc_normal_(torch.zeros(1, arch.grid**2 + 1, first)))
        self.stages, self.reductions = _stages(arch, Block, StageArch.kept, drop_path_rate)
        self.norm = nn.LayerNorm(arch.stages[-1].embed_dim, eps=_EPS)
        self.head = nn.Linear(arch.stages[-1].embed_dim, arch.num_classes)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, in_chans, H, W)`` -> logits ``(B, num_classes)``."""
        x = self.stem(x, self.pos_embed.shape[-1])
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        grid = self.arch.grid
        for s, blocks in enumerate(self.stages):
            if s:
                x = self.reductions[s - 1](x, self.arch.stages[s].embed_dim, grid)
                grid //= 2
            for block in blocks:
                x = block(x)
        return self.head(self.norm(x[:, 0]))


def build(spec: Any, drop_path_rate: float = 0.0, **task: Any) -> ViTResNAS:
    """Builds the standalone model of a decoded ``ViTResNASSpace`` spec."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}.")
    return ViTResNAS(parse_spec(spec, **task), drop_path_rate)


class ViTResNASSupernet(SlicedSupernet, SizedSupernet, EntangledSupernet):
    """Weight-sharing supernet of a ``ViTResNASSpace``.

    Holds every stage at its widest choice and every block; a sub-network takes leading slices
    of the stage widths, heads and MLP widths (the channels the reference's masks keep) and
    skips dropped blocks.
    """

    def __init__(self, space: ViTResNASSpace, drop_path_rate: float = 0.0, **task: Any) -> None:
        super().__init__()
        if not isinstance(space, ViTResNASSpace):
            raise TypeError(
                f"ViTResNASSupernet expects a ViTResNASSpace; got {type(space).__name__}."
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}.")
        self.choices = [
            {
                "embed_dim": choices_of(stage.sym_getattr("embed_dim")),
                "head_dim": stage.sym_getattr("head_dim"),
                "num_heads": [choices_of(h) for h in stage.sym_getattr("num_heads")],
                "mlp_hidden": [choices_of(h) for h in stage.sym_getattr("mlp_hidden")],
                "keep": [choices_of(k) for k in stage.sym_getattr("keep")],
            }
            for stage in space.sym_getattr("stages")
        ]
        widest = {
            **{key: space.sym_getattr(key) for key in _DEFAULTS},
            "stages": [
                {
                    "embed_dim": max(c["embed_dim"]),
                    "head_dim": c["head_dim"],
                    "num_heads": [max(h) for h in c["num_heads"]],
                    "mlp_hidden": [max(h) for h in c["mlp_hidden"]],
                    "keep": [True] * len(c["keep"]),
                }
                for c in self.choices
            ],
        }
        self.max_arch = arch = parse_spec(widest, **task)
        self.task = {name: getattr(arch, name) for name in TASK_FIELDS}
        first = arch.stages[0].embed_dim
        self.stem = PatchStem(
            arch.in_chans, first, arch.patch_size, arch.conv_stem, arch.stem_channels
        )
        self.cls_token = nn.Parameter(trunc_normal_(torch.zeros(1, 1, first)))
        self.pos_embed = nn.Parameter(trunc_normal_(torch.zeros(1, arch.grid**2 + 1, first)))
        self.stages, self.reductions = _stages(
            arch, SuperBlock, lambda stage: range(len(stage.keep)), drop_path_rate
        )
        self.norm = nn.LayerNorm(arch.stages[-1].embed_dim, eps=_EPS)
        self.head = nn.Linear(arch.stages[-1].embed_dim, arch.num_classes)
        self.apply(_init_weights)
        self.active_arch: ResNASArch | None = None
        self.relax(space)

    def arch_of(self, spec: Any) -> ResNASArch:
        """Validates that ``spec`` is a member of this supernet's space."""
        arch = parse_spec(spec, **self.task)
        for name in ("conv_stem", "stem_channels"):
            if getattr(arch, name) != getattr(self.max_arch, name):
                raise ValueError(
                    f"spec field {name!r} is {getattr(arch, name)!r}; this supernet has "
                    f"{getattr(self.max_arch, name)!r}."
                )
        if len(arch.stages) != len(self.choices):
            raise ValueError(f"spec field 'stages' must hold {len(self.choices)} stages.")
        for s, (stage, choices) in enumerate(zip(arch.stages, self.choices, strict=True)):
            if stage.embed_dim not in choices["embed_dim"]:
                raise ValueError(
                    f"spec field 'stages[{s}].embed_dim' = {stage.embed_dim} is not one of "
                    f"{choices['embed_dim']}."
                )
            if stage.head_dim != choices["head_dim"]:
                raise ValueError(
                    f"spec field 'stages[{s}].head_dim' must be {choices['head_dim']}; "
                    f"got {stage.head_dim}."
                )
            for field in ("num_heads", "mlp_hidden", "keep"):
                values = getattr(stage, field)
                if len(values) != len(choices[field]):
                    raise ValueError(
                        f"spec field 'stages[{s}].{field}' must have {len(choices[field])} entries."
                    )
                for b, value in enumerate(values):
                    if value not in choices[field][b]:
                        raise ValueError(
                            f"spec field 'stages[{s}].{field}[{b}]' = {value!r} is not one of "
                            f"{choices[field][b]}."
                        )
        return arch

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active sub-network on images ``(B, in_chans, H, W)``."""
        arch = self.active_arch
        e = arch.stages[0].embed_dim
        x = self.stem(x, e)
        x = torch.cat((self.cls_token[..., :e].expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed[..., :e]
        grid = arch.grid
        for s, stage in enumerate(arch.stages):
            if s:
                x = self.reductions[s - 1](x, stage.embed_dim, grid)
                grid //= 2
            for b in stage.kept():
                x = self.stages[s][b](x, stage.num_heads[b], stage.mlp_hidden[b])
        e = arch.stages[-1].embed_dim
        cls = F.layer_norm(x[:, 0], (e,), self.norm.weight[:e], self.norm.bias[:e], _EPS)
        return F.linear(cls, self.head.weight[:, :e], self.head.bias)

    def _mixed_reduction(
        self,
        index: int,
        x: torch.Tensor,
        inputs: tuple[list[int], torch.Tensor],
        outputs: tuple[list[int], torch.Tensor],
        grid: int,
    ) -> torch.Tensor:
        """The residual spatial reduction before stage ``index + 1`` with superimposed weights
        (input width mixture ``inputs``, output width mixture ``outputs``)."""
        rsr = self.reductions[index]
        batch, _, in_dim = x.shape
        out_dim = rsr.conv.weight.shape[0]
        m_out = size(out_dim, *outputs)
        pairs = m_out.outer(size(in_dim, *inputs))
        normed = mixed_layer_norm(x, rsr.norm.weight, rsr.norm.bias, _EPS, *inputs)
        image = normed[:, 1:].transpose(1, 2).reshape(batch, in_dim, grid, grid)
        patches = entangled(
            lambda w, b: F.conv2d(image, w, b, stride=2, padding=1),
            rsr.conv.weight,
            rsr.conv.bias,
            pairs,
        )
        patches = patches.flatten(2).transpose(1, 2) + rsr.pos_embed * m_out.mask()
        cls = entangled(
            lambda w, b: F.linear(normed[:, :1], w, b), rsr.token.weight, rsr.token.bias, pairs
        )
        raw = x[:, 1:].transpose(1, 2).reshape(batch, in_dim, grid, grid)
        pooled = F.avg_pool2d(raw, 2).flatten(2).transpose(1, 2)
        residual = F.pad(torch.cat((x[:, :1], pooled), dim=1), (0, out_dim - in_dim))
        return torch.cat((cls, patches), dim=1) + residual * m_out.mask()

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """TangleNAS forward: superimposed weights in every layer; a block's keep choice mixes
        its output with its input."""
        arch = self.max_arch
        widths = [
            self.choice(weights, f"stages[{s}].embed_dim", stage.embed_dim)
            for s, stage in enumerate(arch.stages)
        ]
        m_e = size(arch.stages[0].embed_dim, *widths[0])
        x = self.stem.weighted(x, m_e)
        mask = m_e.mask()
        x = torch.cat(((self.cls_token * mask).expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed * mask
        grid = arch.grid
        for s, stage in enumerate(arch.stages):
            if s:
                x = self._mixed_reduction(s - 1, x, widths[s - 1], widths[s], grid)
                grid //= 2
            for b in range(len(stage.keep)):
                where = f"stages[{s}]"
                heads = self.choice(weights, f"{where}.num_heads[{b}]", stage.num_heads[b])
                hidden = self.choice(weights, f"{where}.mlp_hidden[{b}]", stage.mlp_hidden[b])
                pairs = [(h, e) for e in widths[s][0] for h in hidden[0]]
                joint = (widths[s][1][:, None] * hidden[1][None, :]).flatten()
                keep = self.choice(weights, f"{where}.keep[{b}]", True)
                out = self.stages[s][b].weighted(x, widths[s], heads, (pairs, joint))
                x = mix_depths([out if kept else x for kept in keep[0]], keep[1])
        cls = mixed_layer_norm(x[:, 0], self.norm.weight, self.norm.bias, _EPS, *widths[-1])
        m_last = size(arch.stages[-1].embed_dim, *widths[-1])
        head = self.head
        return entangled(
            lambda w, b: F.linear(cls, w, b),
            head.weight,
            head.bias,
            ones(arch.num_classes, m_last).outer(m_last),
        )

    def sliced_state(self, spec: Any) -> dict[str, torch.Tensor]:
        """The inherited weights of ``spec`` as views, keyed like ``build(spec).state_dict()``."""
        arch = self.arch_of(spec)
        first, last = arch.stages[0].embed_dim, arch.stages[-1].embed_dim
        stem = self.stem.state_dict(keep_vars=True)
        state = {f"stem.{key}": t for key, t in stem.items() if not key.startswith("proj.")}
        state.update(
            {
                "stem.proj.weight": self.stem.proj.weight[:first],
                "stem.proj.bias": self.stem.proj.bias[:first],
                "cls_token": self.cls_token[..., :first],
                "pos_embed": self.pos_embed[..., :first],
                "norm.weight": self.norm.weight[:last],
                "norm.bias": self.norm.bias[:last],
                "head.weight": self.head.weight[:, :last],
                "head.bias": self.head.bias,
            }
        )
        for s, stage in enumerate(arch.stages):
            if s:
                c_in, c_out, rsr = (
                    arch.stages[s - 1].embed_dim,
                    stage.embed_dim,
                    self.reductions[s - 1],
                )
                prefix = f"reductions.{s - 1}."
                state.update(
                    {
                        prefix + "norm.weight": rsr.norm.weight[:c_in],
                        prefix + "norm.bias": rsr.norm.bias[:c_in],
                        prefix + "conv.weight": rsr.conv.weight[:c_out, :c_in],
                        prefix + "conv.bias": rsr.conv.bias[:c_out],
                        prefix + "token.weight": rsr.token.weight[:c_out, :c_in],
                        prefix + "token.bias": rsr.token.bias[:c_out],
                        prefix + "pos_embed": rsr.pos_embed[..., :c_out],
                    }
                )
            for j, b in enumerate(stage.kept()):
                block = self.stages[s][b].sliced(
                    stage.embed_dim, stage.num_heads[b], stage.mlp_hidden[b]
                )
                state.update({f"stages.{s}.{j}.{key}": t for key, t in block.items()})
        return state

    def standalone(self, arch: ResNASArch) -> ViTResNAS:
        """A fresh standalone model of a parsed architecture."""
        return ViTResNAS(arch)

    def sampled_param_count(self, spec: Any) -> int:
        """Number of shared parameters (not BatchNorm statistics) that ``spec`` uses."""
        buffers = {f"stem.{name}" for name, _ in self.stem.named_buffers()}
        return sum(t.numel() for k, t in self.sliced_state(spec).items() if k not in buffers)

    def max_spec(self) -> dict[str, Any]:
        """The spec of the widest network with every block kept."""
        arch = self.max_arch
        stages = [
            {
                "_type": ViTResNASStage.__type_name__,
                "embed_dim": st.embed_dim,
                "head_dim": st.head_dim,
                "num_heads": list(st.num_heads),
                "mlp_hidden": list(st.mlp_hidden),
                "keep": list(st.keep),
            }
            for st in arch.stages
        ]
        fixed = {name: getattr(arch, name) for name in _DEFAULTS}
        return {"_type": ViTResNASSpace.__type_name__, "stages": stages, **fixed}

    def min_spec(self) -> dict[str, Any]:
        """The spec of the narrowest network with as few blocks as the space allows."""
        spec = self.max_spec()
        for stage, choices in zip(spec["stages"], self.choices, strict=True):
            stage.update(
                embed_dim=min(choices["embed_dim"]),
                num_heads=[min(h) for h in choices["num_heads"]],
                mlp_hidden=[min(h) for h in choices["mlp_hidden"]],
                keep=[min(k) for k in choices["keep"]],
            )
        return spec


def supernet(space: ViTResNASSpace, drop_path_rate: float = 0.0, **task: Any) -> ViTResNASSupernet:
    """Builds the weight-sharing supernet of a ``ViTResNASSpace``."""
    return ViTResNASSupernet(space, drop_path_rate=drop_path_rate, **task)


registry.register(ViTResNASSpace, build=build, supernet=supernet)
