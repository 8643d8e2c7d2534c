"""EfficientTDNN speaker models and their weight-entangled supernet.

Implements the dynamic TDNN of "EfficientTDNN: Efficient Architecture Search for Speaker
Recognition" (Wang, Wei, Duan, Ji, Long, Hong; IEEE/ACM TASLP 2022, arXiv 2103.13581), following
``DynamicTDNN`` of the reference code (mechanicalsea/sugar, ``sugar/models/dynamictdnn.py``):

- stem: Conv1d(in_feats -> C, k0, no bias) -> ReLU -> BN;
- block ``i`` (dilation ``i + 2``): 1x1 conv-ReLU-BN to the mid width ``m``; Res2 conv with
  ``scale`` groups of ``m / scale`` channels (``scale - 1`` dilated conv-ReLU-BN, each fed its
  group plus the previous group's output; the last group passes through); 1x1 conv-ReLU-BN back
  to C; squeeze-excitation (C -> C / se_reduction -> C, sigmoid gate);
- dense aggregation: ``out_i = block_i(out_{i-1}) + sum_{j<i} out_j`` (``out_0`` = stem);
- a 1x1 conv (no bias) + ReLU over the concatenated block outputs to ``cat_channels``,
  attentive statistics pooling (channel-wise attention through an ``attention_dim`` bottleneck,
  weighted mean and standard deviation), BN, a linear embedding layer and BN (the speaker
  embedding), and a linear speaker classifier (the reference trains with an AAM-softmax loss
  head instead; ``embed`` returns the embedding for verification scoring).

The supernet holds the largest network of a space. A sub-network takes the first blocks
(elastic depth), the first channels of every layer (elastic width; for a block's mid channels,
the first ``m / scale`` channels of every Res2 group, so the groups stay aligned), and the centre
of the largest kernel passed through learnable kernel-transformation matrices, one per conv and
per step 5 -> 3 -> 1, initialised to the identity (elastic kernel, as in EfficientTDNN and
Once-for-All). The supernet runs a sub-network by deriving its weights from the shared tensors
and calling the stand-alone module definition with them, so ``extract`` (the same derived
weights, copied) gives equal outputs. BN statistics: the sub-network uses (and in training
updates) the matching slices of the supernet's running statistics, and ``extract`` copies them.
EfficientTDNN re-estimates BN statistics per sub-network before evaluation; use
:func:`symnas.programs.training.estimator.recalibrate_bn` for that.

The ``differentiable`` relaxation is TangleNAS's weight superposition (``programs.families.entangle``):
every conv and linear layer runs once at the largest size with the mixture of its zero-padded
slices (kernels: the mixture of the transformed centre kernels, each zero-padded to the largest),
every BN output is scaled by its width mixture (the mixture of the zero-padded per-width outputs),
and the candidate depths' concatenated block outputs are mixed before the aggregation conv (a
bias-free 1x1 conv, so this equals mixing the depths' aggregated outputs). BN running statistics
follow the mixed activations.
"""

from __future__ import annotations

import copy
import functools
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
    Superposition,
    entangled,
    joint,
    kernel_mixture,
    mix_depths,
    ones,
    size,
)
from symnas.programs.supernet_base import SizedSupernet, SlicedSupernet
from symnas.spaces.tdnn import TDNNSpace

_TYPE = TDNNSpace.__type_name__
_TASK_KEYS = ("in_feats", "num_classes", "embed_dim")
_FIXED_KEYS = ("in_feats", "num_classes", "embed_dim", "scale", "se_reduction", "attention_dim")

# A channel selection: None (all), an int k (the first k channels) or a LongTensor of indices.
Selection = int | torch.Tensor | None


@dataclass(frozen=True)
class TDNNArch:
    """A validated TDNN architecture: ``layers[0]`` is the stem, the rest are the blocks.

    Each layer is ``(width, kernel, dilation)``.
    """

    layers: tuple[tuple[int, int, int], ...]
    cat_channels: int
    in_feats: int
    num_classes: int
    embed_dim: int
    scale: int
    se_reduction: int
    attention_dim: int

    @property
    def depth(self) -> int:
        """Number of TDNN blocks."""
        return len(self.layers) - 1


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return value


def _layer(value: Any, name: str) -> tuple[int, int, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict with width, kernel, dilation; got {value!r}.")
    width, kernel, dilation = (
        _positive_int(value.get(k), f"{name}.{k}") for k in ("width", "kernel", "dilation")
    )
    if kernel % 2 == 0:
        raise ValueError(f"{name}.kernel must be odd (same padding); got {kernel}.")
    return width, kernel, dilation


def parse_spec(spec: Any, **task: Any) -> TDNNArch:
    """Validated :class:`TDNNArch` of a decoded TDNN spec; ``task`` overrides its task fields."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    if not isinstance(spec, dict) or spec.get("_type") != _TYPE:
        raise TypeError(f"Expected a decoded {_TYPE} spec (a dict with '_type'); got {spec!r}.")
    unknown = sorted(set(task) - set(_TASK_KEYS))
    if unknown:
        raise TypeError(f"Unknown task arguments {unknown}; allowed: {list(_TASK_KEYS)}.")
    blocks = spec.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError(f"spec['blocks'] must be a non-empty list of layers; got {blocks!r}.")
    layers = (_layer(spec.get("stem"), "stem"),) + tuple(
        _layer(b, f"blocks[{i}]") for i, b in enumerate(blocks)
    )
    fixed = {k: _positive_int(task.get(k, spec.get(k)), k) for k in _FIXED_KEYS}
    arch = TDNNArch(layers, _positive_int(spec.get("cat_channels"), "cat_channels"), **fixed)
    if layers[0][0] % arch.se_reduction:
        raise ValueError(
            f"stem.width {layers[0][0]} must be divisible by se_reduction {arch.se_reduction}."
        )
    for i, (width, _, _) in enumerate(layers[1:]):
        if width % arch.scale:
            raise ValueError(f"blocks[{i}].width {width} must be divisible by scale {arch.scale}.")
    return arch


class ConvReLUBN(nn.Module):
    """Conv1d (same padding, no bias) -> ReLU -> BN, the reference's layer order."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, dilation: int = 1) -> None:
        super().__init__()
        padding = (kernel - 1) // 2 * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conv, ReLU, BN."""
        return self.bn(F.relu(self.conv(x)))


class Res2Conv(nn.Module):
    """Res2Net-style multi-scale conv over ``scale`` channel groups."""

    def __init__(self, channels: int, scale: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.group = channels // scale
        self.scale = scale
        count = 1 if scale == 1 else scale - 1
        self.convs = nn.ModuleList(
            ConvReLUBN(self.group, self.group, kernel, dilation) for _ in range(count)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each group's conv sees its input plus the previous group's output."""
        groups = torch.split(x, self.group, dim=1)
        outs: list[torch.Tensor] = []
        for i, conv in enumerate(self.convs):
            outs.append(conv(groups[i] if i == 0 else groups[i] + outs[-1]))
        if self.scale > 1:
            outs.append(groups[-1])
        return torch.cat(outs, dim=1)


class SqueezeExcite(nn.Module):
    """Channel gate: mean over time -> Linear-ReLU -> Linear-sigmoid."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(channels, channels // reduction)
        self.expand = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescales every channel of ``x`` (B, C, T)."""
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=2)))))
        return x * gate.unsqueeze(2)


class TDNNBlock(nn.Module):
    """SE-Res2 dilated TDNN block: 1x1 -> Res2 -> 1x1 -> SE."""

    def __init__(
        self, channels: int, mid: int, kernel: int, dilation: int, scale: int, reduction: int
    ) -> None:
        super().__init__()
        self.first = ConvReLUBN(channels, mid)
        self.res2 = Res2Conv(mid, scale, kernel, dilation)
        self.last = ConvReLUBN(mid, channels)
        self.se = SqueezeExcite(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's residual branch (the caller adds the aggregated sum)."""
        return self.se(self.last(self.res2(self.first(x))))


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation over time, channel-wise attention."""

    def __init__(self, channels: int, attention_dim: int) -> None:
        super().__init__()
        self.attn1 = nn.Conv1d(channels, attention_dim, 1, bias=False)
        self.attn2 = nn.Conv1d(attention_dim, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, 2C): weighted means, then weighted standard deviations."""
        alpha = torch.softmax(self.attn2(torch.tanh(self.attn1(x))), dim=2)
        mean = torch.sum(alpha * x, dim=2)
        var = torch.sum(alpha * x * x, dim=2) - mean * mean
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-9))], dim=1)


class TDNNEncoder(nn.Module):
    """Features (B, in_feats, T) or (B, 1, in_feats, T) -> speaker embeddings (B, embed_dim)."""

    def __init__(self, arch: TDNNArch) -> None:
        super().__init__()
        self.arch = arch
        channels, k0, d0 = arch.layers[0]
        self.stem = ConvReLUBN(arch.in_feats, channels, k0, d0)
        self.blocks = nn.ModuleList(
            TDNNBlock(channels, mid, k, d, arch.scale, arch.se_reduction)
            for mid, k, d in arch.layers[1:]
        )
        self.cat = nn.Conv1d(channels * arch.depth, arch.cat_channels, 1, bias=False)
        self.pool = AttentiveStatsPool(arch.cat_channels, arch.attention_dim)
        self.pool_bn = nn.BatchNorm1d(2 * arch.cat_channels)
        self.embed_fc = nn.Linear(2 * arch.cat_channels, arch.embed_dim)
        self.embed_bn = nn.BatchNorm1d(arch.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Speaker embeddings (B, embed_dim)."""
        if x.ndim == 4 and x.shape[1] == 1:
            x = x.squeeze(1)
        if x.ndim != 3 or x.shape[1] != self.arch.in_feats:
            raise ValueError(
                f"TDNN expects input (B, in_feats, T) or (B, 1, in_feats, T) with in_feats="
                f"{self.arch.in_feats}; got {tuple(x.shape)}."
            )
        out = self.stem(x)
        total, outs = out, []
        for block in self.blocks:
            out = block(out) + total
            outs.append(out)
            total = total + out
        out = F.relu(self.cat(torch.cat(outs, dim=1)))
        return self.embed_bn(self.embed_fc(self.pool_bn(self.pool(out))))


class TDNN(nn.Module):
    """An EfficientTDNN speaker model: ``forward`` gives speaker logits, ``embed`` embeddings."""

    def __init__(self, arch: TDNNArch) -> None:
        super().__init__()
        self.arch = arch
        self.encoder = TDNNEncoder(arch)
        self.classifier = nn.Linear(arch.embed_dim, arch.num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Speaker embeddings (B, embed_dim) of features (B, in_feats, T)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Speaker logits (B, num_classes)."""
        return self.classifier(self.encoder(x))


def build(spec: Any, **task: Any) -> TDNN:
    """The stand-alone speaker model of a TDNN spec (``task``: in_feats, num_classes, embed_dim)."""
    return TDNN(parse_spec(spec, **task))


def _select(tensor: torch.Tensor, dim: int, sel: Selection) -> torch.Tensor:
    if sel is None:
        return tensor
    if isinstance(sel, int):
        return tensor.narrow(dim, 0, sel)
    return tensor.index_select(dim, sel)


def _grouped(total: int, groups: int, active: int, device: torch.device) -> torch.Tensor:
    """Indices of the first ``active`` channels of each of ``groups`` equal groups of ``total``."""
    return torch.arange(total, device=device).view(groups, total // groups)[:, :active].reshape(-1)


def _choices(value: Any) -> list[Any]:
    return list(value.candidates) if isinstance(value, pg.hyper.OneOf) else [value]


def se_call(layer: nn.Linear, x: torch.Tensor, weights: Superposition) -> torch.Tensor:
    """A squeeze-excitation linear layer with its weight superimposed by ``weights``."""
    return entangled(lambda w, b: F.linear(x, w, b), layer.weight, layer.bias, weights)


@functools.lru_cache(maxsize=64)
def _template(arch: TDNNArch) -> TDNN:
    """A weightless (meta-device) module of ``arch`` that the supernet calls functionally."""
    with torch.device("meta"):
        return TDNN(arch)


class TDNNSupernet(SlicedSupernet, SizedSupernet, EntangledSupernet):
    """Weight-entangled supernet of a :class:`TDNNSpace` (elastic depth, width and kernel)."""

    def __init__(self, space: TDNNSpace, **task: Any) -> None:
        super().__init__()
        if not isinstance(space, TDNNSpace):
            raise TypeError(f"TDNNSupernet expects a TDNNSpace; got {type(space).__name__}.")
        args = space.sym_init_args
        self.stem_choices = {k: _choices(args.stem.sym_init_args[k]) for k in ("width", "kernel")}
        self.depth_choices: list[list[dict[str, list[int]]]] = [
            [{k: _choices(b.sym_init_args[k]) for k in ("width", "kernel")} for b in blocks]
            for blocks in _choices(args.blocks)
        ]
        self.cat_choices = _choices(args.cat_channels)
        widest = max(self.depth_choices, key=len)
        max_blocks = [
            (
                max(max(bs[i]["width"]) for bs in self.depth_choices if len(bs) > i),
                max(max(bs[i]["kernel"]) for bs in self.depth_choices if len(bs) > i),
                i + 2,
            )
            for i in range(len(widest))
        ]
        largest = {
            "_type": _TYPE,
            "stem": {
                "width": max(self.stem_choices["width"]),
                "kernel": max(self.stem_choices["kernel"]),
                "dilation": 1,
            },
            "blocks": [{"width": w, "kernel": k, "dilation": d} for w, k, d in max_blocks],
            "cat_channels": max(self.cat_choices),
            **{k: args[k] for k in _FIXED_KEYS},
        }
        self._largest = largest
        shallowest = min(self.depth_choices, key=len)
        self._smallest = {
            **largest,
            "stem": {
                "width": min(self.stem_choices["width"]),
                "kernel": min(self.stem_choices["kernel"]),
                "dilation": 1,
            },
            "blocks": [
                {"width": min(b["width"]), "kernel": min(b["kernel"]), "dilation": i + 2}
                for i, b in enumerate(shallowest)
            ],
            "cat_channels": min(self.cat_choices),
        }
        self.max_arch = parse_spec(largest, **task)
        self.net = TDNN(self.max_arch)
        self.kernel_transforms = nn.ParameterDict()
        for name, module in self.net.named_modules():
            if isinstance(module, nn.Conv1d):
                size = module.kernel_size[0]
                while size > 1:
                    self.kernel_transforms[self._transform_key(name, size)] = nn.Parameter(
                        torch.eye(size - 2)
                    )
                    size -= 2
        self.relax(space)

    @staticmethod
    def _transform_key(conv: str, size: int) -> str:
        return f"{conv.replace('.', '_')}_{size}to{size - 2}"

    def arch_of(self, spec: Any) -> TDNNArch:
        arch = parse_spec(spec, **{k: getattr(self.max_arch, k) for k in _TASK_KEYS})
        for key in ("scale", "se_reduction", "attention_dim"):
            if getattr(arch, key) != getattr(self.max_arch, key):
                raise ValueError(f"spec[{key!r}] must be {getattr(self.max_arch, key)}.")
        depths = sorted({len(bs) for bs in self.depth_choices})
        if arch.depth not in depths:
            raise ValueError(f"spec depth (len(blocks)) must be one of {depths}; got {arch.depth}.")
        (blocks,) = (bs for bs in self.depth_choices if len(bs) == arch.depth)
        allowed = [self.stem_choices, *blocks]
        for i, ((width, kernel, dilation), choice) in enumerate(
            zip(arch.layers, allowed, strict=True)
        ):
            where = "stem" if i == 0 else f"blocks[{i - 1}]"
            for key, value in (("width", width), ("kernel", kernel)):
                if value not in choice[key]:
                    raise ValueError(f"{where}.{key} must be one of {choice[key]}; got {value}.")
            if dilation != (1 if i == 0 else i + 1):
                raise ValueError(f"{where}.dilation must be {1 if i == 0 else i + 1}.")
        if arch.cat_channels not in self.cat_choices:
            raise ValueError(
                f"cat_channels must be one of {self.cat_choices}; got {arch.cat_channels}."
            )
        return arch

    def _plan(self, arch: TDNNArch) -> dict[str, tuple[Selection, Selection, int | None]]:
        """Per module of ``arch``: (output selection, input selection, kernel) in the supernet."""
        top, device = self.max_arch, self.net.classifier.weight.device
        channels, kernel0, _ = arch.layers[0]
        reduced = channels // arch.se_reduction
        plan: dict[str, tuple[Selection, Selection, int | None]] = {
            "encoder.stem.conv": (channels, None, kernel0),
            "encoder.stem.bn": (channels, None, None),
        }
        for i, (mid, kernel, _) in enumerate(arch.layers[1:]):
            group = mid // arch.scale
            mids = _grouped(top.layers[i + 1][0], arch.scale, group, device)
            block = f"encoder.blocks.{i}"
            plan[f"{block}.first.conv"] = (mids, channels, None)
            plan[f"{block}.first.bn"] = (mids, None, None)
            for j in range(max(1, arch.scale - 1)):
                plan[f"{block}.res2.convs.{j}.conv"] = (group, group, kernel)
                plan[f"{block}.res2.convs.{j}.bn"] = (group, None, None)
            plan[f"{block}.last.conv"] = (channels, mids, None)
            plan[f"{block}.last.bn"] = (channels, None, None)
            plan[f"{block}.se.reduce"] = (reduced, channels, None)
            plan[f"{block}.se.expand"] = (channels, reduced, None)
        cat_in = _grouped(top.layers[0][0] * top.depth, top.depth, channels, device)
        stats = _grouped(2 * top.cat_channels, 2, arch.cat_channels, device)
        plan["encoder.cat"] = (arch.cat_channels, cat_in[: channels * arch.depth], None)
        plan["encoder.pool.attn1"] = (None, arch.cat_channels, None)
        plan["encoder.pool.attn2"] = (arch.cat_channels, None, None)
        plan["encoder.pool_bn"] = (stats, None, None)
        plan["encoder.embed_fc"] = (None, stats, None)
        plan["encoder.embed_bn"] = (None, None, None)
        plan["classifier"] = (None, None, None)
        return plan

    def _shrink_kernel(self, conv: str, weight: torch.Tensor, kernel: int) -> torch.Tensor:
        size = weight.shape[-1]
        while size > kernel:
            weight = weight[..., 1:-1] @ self.kernel_transforms[self._transform_key(conv, size)]
            size -= 2
        return weight

    def _derive(self, arch: TDNNArch, plan: dict[str, tuple]) -> dict[str, torch.Tensor]:
        """The sub-network's parameters and buffers, derived from (and differentiable into) the
        shared tensors; 1-D buffers selected by a prefix are views that BN updates in place."""
        shared = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
        derived: dict[str, torch.Tensor] = {}
        for name in _template(arch).state_dict():
            module, leaf = name.rsplit(".", 1)
            out_sel, in_sel, kernel = plan[module]
            tensor = shared[name]
            if leaf != "num_batches_tracked":
                tensor = _select(tensor, 0, out_sel)
                if tensor.ndim > 1:
                    tensor = _select(tensor, 1, in_sel)
                if kernel is not None:
                    tensor = self._shrink_kernel(module, tensor, kernel)
            derived[name] = tensor
        return derived

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Speaker logits of the active sub-network."""
        return self._run(x, embed=False)

    def embed(self, x: torch.Tensor, spec: dict[str, Any] | None = None) -> torch.Tensor:
        """Speaker embeddings of ``spec``'s (or the active) sub-network."""
        if spec is not None:
            self.activate(spec)
        if self.active_spec is None:
            raise RuntimeError("TDNNSupernet: call activate(spec) or pass a spec before embed.")
        return self._run(x, embed=True)

    def _run(self, x: torch.Tensor, embed: bool) -> torch.Tensor:
        arch = self.active_arch
        plan = self._plan(arch)
        derived = self._derive(arch, plan)
        template = _template(arch).train(self.training)
        if embed:
            prefix = "encoder."
            encoder_state = {
                k[len(prefix) :]: v for k, v in derived.items() if k.startswith(prefix)
            }
            out = torch.func.functional_call(template.encoder, encoder_state, (x,), strict=True)
        else:
            out = torch.func.functional_call(template, derived, (x,), strict=True)
        if self.training:
            self._write_back(plan, derived)
        return out

    @torch.no_grad()
    def _write_back(self, plan: dict[str, tuple], derived: dict[str, torch.Tensor]) -> None:
        """Stores running statistics that BN updated in index-selected (copied) buffers."""
        buffers = dict(self.net.named_buffers())
        for name, tensor in derived.items():
            module, leaf = name.rsplit(".", 1)
            sel = plan[module][0]
            if leaf in ("running_mean", "running_var") and isinstance(sel, torch.Tensor):
                buffers[name][sel] = tensor

    def _mixed_conv(
        self,
        layer: nn.Module,
        name: str,
        x: torch.Tensor,
        channels: Superposition,
        kernels: tuple[list[int], torch.Tensor] | None = None,
        dilation: int = 1,
    ) -> torch.Tensor:
        """Conv (weight superimposed over ``channels``, ``(out,)`` or ``(out, in)`` terms, and
        over the kernel choices when given) -> ReLU -> BN of a ``ConvReLUBN`` at its largest
        size."""
        padding = (layer.conv.weight.shape[-1] - 1) // 2 * dilation

        def conv(weight: torch.Tensor, _: Any = None) -> torch.Tensor:
            return F.conv1d(x, weight, padding=padding, dilation=dilation)

        def call(weight: torch.Tensor, _: Any) -> torch.Tensor:
            if kernels is None:
                return conv(weight)
            shrunk = [self._shrink_kernel(name, weight, k) for k in kernels[0]]
            return kernel_mixture(conv, shrunk, kernels[1])

        return layer.bn(F.relu(entangled(call, layer.conv.weight, None, channels)))

    def _mixed_block(
        self,
        index: int,
        x: torch.Tensor,
        weights: Mapping[str, torch.Tensor],
        channels: tuple[list[int], torch.Tensor],
    ) -> torch.Tensor:
        """Block ``index``'s residual branch with its width and kernel mixtures; ``channels``
        is the stem width's decision."""
        top, scale = self.max_arch, self.max_arch.scale
        block, prefix = self.net.encoder.blocks[index], f"encoder.blocks.{index}"
        mid, kernel, dilation = top.layers[index + 1]
        group = mid // scale
        widths = self.choice(weights, f"blocks[{index}].width", mid)
        kernels = self.choice(weights, f"blocks[{index}].kernel", kernel)
        groups = [w // scale for w in widths[0]]
        m_c = size(top.layers[0][0], *channels)
        m_mid = size(mid, groups, widths[1], period=group)
        square = joint((group, group), [(g, g) for g in groups], widths[1])
        h = self._mixed_conv(block.first, f"{prefix}.first.conv", x, m_mid.outer(m_c))
        parts, outs = torch.split(h * m_mid.mask()[:, None], group, dim=1), []
        group_mask = size(group, groups, widths[1]).mask()[:, None]
        for j, conv in enumerate(block.res2.convs):
            inp = parts[j] if j == 0 else parts[j] + outs[-1]
            name = f"{prefix}.res2.convs.{j}.conv"
            outs.append(self._mixed_conv(conv, name, inp, square, kernels, dilation) * group_mask)
        if scale > 1:
            outs.append(parts[-1])
        name = f"{prefix}.last.conv"
        h = self._mixed_conv(block.last, name, torch.cat(outs, 1), m_c.outer(m_mid))
        h = h * m_c.mask()[:, None]
        se = block.se
        pairs = [(c // top.se_reduction, c) for c in channels[0]]
        squeeze = joint(se.reduce.weight.shape, pairs, channels[1])
        gate = F.relu(se_call(se.reduce, h.mean(dim=2), squeeze))
        gate = torch.sigmoid(se_call(se.expand, gate, squeeze.transposed()))
        return h * gate.unsqueeze(2)

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """TangleNAS forward: superimposed weights in every layer, candidate depths mixed."""
        top, encoder = self.max_arch, self.net.encoder
        if x.ndim == 4 and x.shape[1] == 1:
            x = x.squeeze(1)
        width, kernel, _ = top.layers[0]
        channels = self.choice(weights, "stem.width", width)
        m_c = size(width, *channels)
        kernels = self.choice(weights, "stem.kernel", kernel)
        out = self._mixed_conv(encoder.stem, "encoder.stem.conv", x, m_c, kernels)
        out = out * m_c.mask()[:, None]
        total, outs = out, []
        for index in range(top.depth):
            out = self._mixed_block(index, out, weights, channels) + total
            outs.append(out)
            total = total + out
        depths = self.choice(weights, "blocks", top.depth)
        stacked = [
            F.pad(torch.cat(outs[:d], dim=1), (0, 0, 0, width * (top.depth - d))) for d in depths[0]
        ]
        m_cat = size(top.cat_channels, *self.choice(weights, "cat_channels", top.cat_channels))
        mixed = mix_depths(stacked, depths[1])
        out = F.relu(
            entangled(
                lambda w, _: F.conv1d(mixed, w),
                encoder.cat.weight,
                None,
                m_cat.outer(m_c.tiled(top.depth)),
            )
        )
        pool = encoder.pool
        hidden = ones(pool.attn1.weight.shape[0], m_cat)
        scores = torch.tanh(
            entangled(lambda w, _: F.conv1d(out, w), pool.attn1.weight, None, hidden.outer(m_cat))
        )
        alpha = torch.softmax(
            entangled(
                lambda w, _: F.conv1d(scores, w), pool.attn2.weight, None, m_cat.outer(hidden)
            ),
            dim=2,
        )
        mean = torch.sum(alpha * out, dim=2)
        var = torch.sum(alpha * out * out, dim=2) - mean * mean
        m_stats = m_cat.concatenated(m_cat)
        stats = torch.cat([mean, torch.sqrt(var.clamp(min=1e-9))], dim=1)
        stats = encoder.pool_bn(stats) * m_stats.mask()
        fc = encoder.embed_fc
        embedded = entangled(
            lambda w, b: F.linear(stats, w, b),
            fc.weight,
            fc.bias,
            ones(fc.weight.shape[0], m_cat).outer(m_stats),
        )
        return self.net.classifier(encoder.embed_bn(embedded))

    def sliced_state(self, spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The sub-network's weights and BN statistics, derived from the shared tensors."""
        arch = self.arch_of(spec)
        return self._derive(arch, self._plan(arch))

    def standalone(self, arch: TDNNArch) -> TDNN:
        """A fresh standalone :class:`TDNN` of a parsed architecture."""
        return TDNN(arch)

    def max_spec(self) -> dict[str, Any]:
        """The deepest, widest configuration with the largest kernels."""
        return copy.deepcopy(self._largest)

    def min_spec(self) -> dict[str, Any]:
        """The shallowest, narrowest configuration with the smallest kernels."""
        return copy.deepcopy(self._smallest)


registry.register(TDNNSpace, build=build, supernet=TDNNSupernet)
