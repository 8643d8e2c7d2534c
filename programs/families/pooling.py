"""ResNet with searched max-pool positions and its weight-shared supernet.

Implements the networks of "Balanced Mixture of SuperNets for Learning the CNN Pooling
Architecture" (Javan, Toews, Pedersoli; AutoML-Conf 2023, arXiv 2306.11982), following the
reference ResNet20 (mehravehj/Balanced-Mixture-of-SuperNets): layer 0 is conv3x3-BN-ReLU, layers
1.. are basic blocks (two conv3x3 + BN, identity shortcut, or 1x1 conv + BN when the width
changes), and a 2x2 max-pool is applied to the input of every layer listed in ``pool_at`` (so
both the residual branch and the shortcut see the pooled input). Global average pooling and a
linear classifier close the network.

Because the widths do not depend on the pool positions, every configuration has the same
weights: the supernet is one network whose pool positions change per forward (the paper's single
supernet, ``M = 1``). BN follows the reference supernet by default (``batch_stats=True``:
``affine=False, track_running_stats=False``, so normalisation uses the statistics of the current
batch in training and evaluation; shared running statistics would mix resolutions of different
configurations). ``batch_stats=False`` uses ordinary affine BN with running statistics, which
stand-alone training uses and which an extracted model inherits from the supernet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyglove as pg
import torch
import torch.nn.functional as F
from torch import nn

from symnas.programs import registry
from symnas.programs.supernet_base import QuantizableSupernet
from symnas.spaces.pooling import PoolingSpace

_TYPE = PoolingSpace.__type_name__
_TASK_KEYS = ("num_classes", "in_chans", "image_size")


def _bn(channels: int, batch_stats: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, affine=not batch_stats, track_running_stats=not batch_stats)


class Stem(nn.Module):
    """Layer 0: conv3x3-BN-ReLU."""

    def __init__(self, in_chans: int, out_chans: int, batch_stats: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False)
        self.bn = _bn(out_chans, batch_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conv, BN, ReLU."""
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """Residual basic block at stride 1; a 1x1 conv + BN shortcut when the width changes."""

    def __init__(self, in_chans: int, out_chans: int, batch_stats: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False)
        self.bn1 = _bn(out_chans, batch_stats)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.bn2 = _bn(out_chans, batch_stats)
        self.shortcut: nn.Module = nn.Identity()
        if in_chans != out_chans:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, bias=False), _bn(out_chans, batch_stats)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two convs plus the shortcut, then ReLU."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PoolingResNet(nn.Module):
    """A residual CNN that max-pools (2x2) the input of the layers in ``pool_at``."""

    def __init__(
        self,
        channels: Sequence[int],
        pool_at: Sequence[int],
        num_classes: int,
        in_chans: int,
        batch_stats: bool = False,
    ) -> None:
        super().__init__()
        self.channels = list(channels)
        self.pool_at = tuple(pool_at)
        self.in_chans = in_chans
        layers: list[nn.Module] = [Stem(in_chans, self.channels[0], batch_stats)]
        for c_in, c_out in zip(self.channels[:-1], self.channels[1:], strict=True):
            layers.append(BasicBlock(c_in, c_out, batch_stats))
        self.layers = nn.ModuleList(layers)
        self.fc = nn.Linear(self.channels[-1], num_classes)

    def run(self, x: torch.Tensor, pool_at: Sequence[int]) -> torch.Tensor:
        """Logits of ``x`` (B, in_chans, H, W) with max-pools before the layers in ``pool_at``."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"PoolingResNet expects input of shape (B, {self.in_chans}, H, W); got "
                f"{tuple(x.shape)}."
            )
        for index, layer in enumerate(self.layers):
            if index in pool_at:
                x = F.max_pool2d(x, kernel_size=2)
            x = layer(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits with this model's own pool positions."""
        return self.run(x, self.pool_at)


def _as_dict(spec: Any) -> dict[str, Any]:
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    if not isinstance(spec, dict) or spec.get("_type") != _TYPE:
        raise TypeError(f"Expected a decoded {_TYPE} spec (a dict with '_type'); got {spec!r}.")
    return spec


def _int_list(spec: dict[str, Any], key: str) -> list[int]:
    value = spec.get(key)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) for v in value):
        raise ValueError(f"spec[{key!r}] must be a list of ints; got {value!r}.")
    return list(value)


def parse_spec(spec: Any, **task: Any) -> dict[str, Any]:
    """Validated architecture of a pooling spec; ``task`` overrides its task fields.

    Returns ``channels``, ``pool_at``, ``num_classes``, ``in_chans`` and ``image_size``.
    """
    spec = _as_dict(spec)
    unknown = sorted(set(task) - set(_TASK_KEYS))
    if unknown:
        raise TypeError(f"Unknown task arguments {unknown}; allowed: {list(_TASK_KEYS)}.")
    arch = {"channels": _int_list(spec, "channels"), "pool_at": _int_list(spec, "pool_at")}
    for key in _TASK_KEYS:
        value = task.get(key, spec.get(key))
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int; got {value!r}.")
        arch[key] = value
    channels, pool_at = arch["channels"], arch["pool_at"]
    if len(channels) < 2 or min(channels) < 1:
        raise ValueError(f"spec['channels'] must hold >= 2 positive widths; got {channels}.")
    allowed = range(1, len(channels))
    if any(p not in allowed for p in pool_at) or sorted(set(pool_at)) != pool_at:
        raise ValueError(
            f"spec['pool_at'] must be strictly increasing layer indices in 1..{len(channels) - 1};"
            f" got {pool_at}."
        )
    if arch["image_size"] < 2 ** len(pool_at):
        raise ValueError(
            f"image_size {arch['image_size']} is too small for {len(pool_at)} 2x2 pools."
        )
    return arch


def build(spec: Any, batch_stats: bool = False, **task: Any) -> PoolingResNet:
    """The stand-alone network of a pooling spec (ordinary BN unless ``batch_stats``)."""
    arch = parse_spec(spec, **task)
    return PoolingResNet(
        arch["channels"], arch["pool_at"], arch["num_classes"], arch["in_chans"], batch_stats
    )


class PoolingSupernet(QuantizableSupernet):
    """One set of weights shared by every pooling configuration of a :class:`PoolingSpace`."""

    def __init__(self, space: PoolingSpace, batch_stats: bool = True, **task: Any) -> None:
        super().__init__()
        if not isinstance(space, PoolingSpace):
            raise TypeError(f"PoolingSupernet expects a PoolingSpace; got {type(space).__name__}.")
        choice = space.sym_init_args.pool_at
        if not isinstance(choice, pg.hyper.ManyOf):
            raise ValueError("PoolingSupernet: space.pool_at must be a pg.manyof of positions.")
        self.num_pools = choice.num_choices
        self.positions = list(choice.candidates)
        self.batch_stats = batch_stats
        template = pg.to_json(space.clone(override={"pool_at": self.positions[: self.num_pools]}))
        self.arch = parse_spec(template, **task)
        self.net = PoolingResNet(
            self.arch["channels"],
            self.arch["pool_at"],
            self.arch["num_classes"],
            self.arch["in_chans"],
            batch_stats,
        )

    def arch_of(self, spec: Any) -> dict[str, Any]:
        arch = parse_spec(spec, **{k: self.arch[k] for k in ("num_classes", "in_chans")})
        if arch["channels"] != self.arch["channels"]:
            raise ValueError(
                f"spec['channels'] {arch['channels']} differs from the supernet's "
                f"{self.arch['channels']}."
            )
        if len(arch["pool_at"]) != self.num_pools or any(
            p not in self.positions for p in arch["pool_at"]
        ):
            raise ValueError(
                f"spec['pool_at'] must be {self.num_pools} sorted distinct positions from "
                f"{self.positions}; got {arch['pool_at']}."
            )
        return arch

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the shared network with the active pool positions."""
        return self.net.run(x, self.active_arch["pool_at"])

    def sliced_state(self, spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Every shared weight and BN statistic: all configurations use the whole network."""
        self.arch_of(spec)
        return self.net.state_dict(keep_vars=True)

    def standalone(self, arch: dict[str, Any]) -> PoolingResNet:
        """A fresh network with ``arch``'s pool positions."""
        return PoolingResNet(
            arch["channels"],
            arch["pool_at"],
            arch["num_classes"],
            arch["in_chans"],
            self.batch_stats,
        )


registry.register(PoolingSpace, build=build, supernet=PoolingSupernet)
