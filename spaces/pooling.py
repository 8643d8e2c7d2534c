"""Pooling-position space of a residual CNN (ResNet20 by default).

Implements the search space of "Balanced Mixture of SuperNets for Learning the CNN Pooling
Architecture" (Javan, Toews, Pedersoli; AutoML-Conf 2023, arXiv 2306.11982). The network is a
stem conv3x3-BN-ReLU followed by residual basic blocks; the channel widths are fixed per layer
and do not depend on where the resolution is reduced. The search decides before which layers a
2x2 max-pool halves the resolution. The stem is never preceded by a pool, so with ``L`` layers
and ``P`` pools there are ``C(L - 1, P)`` configurations; ResNet20 (10 layers, 2 pools, 3
resolutions) has ``C(9, 2) = 36``.

The paper writes a configuration as ``[b1, b2, b3]``: the number of layers (stem included) at
each resolution; :func:`stage_depths` converts. The default ResNet20 ``[4, 3, 3]`` pools before
layers 4 and 7.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyglove as pg

from symnas.spaces.registry import register_space

RESNET20_CHANNELS = (16, 16, 16, 16, 32, 32, 32, 64, 64, 64)


class PoolingSpace(pg.Object):
    """A residual CNN whose max-pool positions are searched.

    Fields: ``channels`` (output channels of the stem and of each basic block), ``pool_at``
    (sorted layer indices, each in ``1..len(channels)-1``, before which a 2x2 max-pool is
    applied), and the task: ``num_classes``, ``in_chans``, ``image_size``. A space with
    ``P`` pools has ``C(len(channels) - 1, P)`` architectures: 36 for ResNet20.
    """

    channels: list[int]
    pool_at: list[int]
    num_classes: int
    in_chans: int
    image_size: int


@register_space(
    "resnet_pooling",
    "max-pool positions over a residual CNN (default ResNet20, 2 pools): 36 architectures",
    architectures=36,
)
def resnet_pooling(
    channels: Sequence[int] = RESNET20_CHANNELS,
    num_pools: int = 2,
    num_classes: int = 10,
    in_chans: int = 3,
    image_size: int = 32,
) -> PoolingSpace:
    """A pooling-position space over a residual CNN with the given layer widths.

    It has ``C(len(channels) - 1, num_pools)`` architectures: each is a sorted set of
    ``num_pools`` distinct layer indices in ``1..len(channels) - 1``.
    """
    channels = list(channels)
    _check_positive_ints("channels", channels)
    if len(channels) < 2:
        raise ValueError(f"channels: need a stem and at least one block; got {channels}.")
    positions = len(channels) - 1
    if not isinstance(num_pools, int) or not 1 <= num_pools <= positions:
        raise ValueError(f"num_pools must be an int in 1..{positions}; got {num_pools!r}.")
    _check_task(num_classes, in_chans, image_size, num_pools)
    return PoolingSpace(
        channels=channels,
        pool_at=pg.manyof(num_pools, list(range(1, positions + 1)), distinct=True, sorted=True),
        num_classes=num_classes,
        in_chans=in_chans,
        image_size=image_size,
    )


@register_space(
    "resnet20_pooling",
    "ResNet20 with 2 searched max-pool positions: 36 architectures",
    architectures=36,
)
def resnet20_pooling(
    num_classes: int = 10, in_chans: int = 3, image_size: int = 32
) -> PoolingSpace:
    """ResNet20 (widths 16/32/64, 3 x 3 basic blocks) with 2 searched max-pools: 36 architectures.

    ``num_classes=10, in_chans=1, image_size=8`` serves the 8x8 digits; the defaults serve CIFAR.
    """
    return resnet_pooling(RESNET20_CHANNELS, 2, num_classes, in_chans, image_size)


def stage_depths(pool_at: Sequence[int], num_layers: int) -> list[int]:
    """The paper's ``[b1, b2, ...]``: layers (stem included) at each resolution.

    ``stage_depths([4, 7], 10) == [4, 3, 3]``, the default ResNet20.
    """
    bounds = [0, *pool_at, num_layers]
    return [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def pool_positions(depths: Sequence[int]) -> list[int]:
    """Inverse of :func:`stage_depths`: ``[4, 3, 3] -> [4, 7]``."""
    _check_positive_ints("depths", list(depths))
    return [sum(depths[: i + 1]) for i in range(len(depths) - 1)]


def _check_positive_ints(name: str, values: list) -> None:
    if not values or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {values!r}.")


def _check_task(num_classes: int, in_chans: int, image_size: int, num_pools: int) -> None:
    for name, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    smallest = 2**num_pools
    if not isinstance(image_size, int) or image_size < smallest:
        raise ValueError(
            f"image_size must be an int >= {smallest} so that {num_pools} 2x2 pools leave at "
            f"least one pixel; got {image_size!r}."
        )
