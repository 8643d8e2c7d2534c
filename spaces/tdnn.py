"""EfficientTDNN supernet space: depth, kernel size and width of a dilated SE-Res2 TDNN.

Implements the search space of "EfficientTDNN: Efficient Architecture Search for Speaker
Recognition" (Wang, Wei, Duan, Ji, Long, Hong; IEEE/ACM TASLP 2022, arXiv 2103.13581), as in the
``tdnn8m2g`` supernet of the reference code (mechanicalsea/sugar). A speaker model is

- a stem: Conv1d(in_feats -> C, kernel k0) + ReLU + BN,
- ``depth`` SE-Res2 dilated TDNN blocks (block ``i`` has dilation ``i + 2``): 1x1 conv to the
  block's mid width, a Res2 conv (``scale`` groups, kernel k_i), 1x1 conv back to C, and
  squeeze-excitation; block outputs are aggregated densely (each block adds the sum of all
  earlier outputs),
- a 1x1 conv over the concatenated block outputs to ``cat_channels``, attentive statistics
  pooling, BN, a linear embedding layer with BN, and a speaker classifier.

Searched: the depth, the width and kernel of the stem and of every block, and ``cat_channels``.
The published (coarse) space has depth {2, 3, 4}, kernels {1, 3, 5}, widths
{128, 176, 256, 384, 512} (ratios 0.25/0.35/0.5/0.75/1 of 512 made divisible by 8) and
cat channels {384, 536, 768, 1152, 1536}: ``5 * (15**3 + 15**4 + 15**5) = 4,066,875``
architectures. The fine space (widths 128..512 and cat 384..1536 in steps of 8) has
``sum_d (49 * 3)**(d + 1) * 145`` (about 1.0e13). Blocks beyond the chosen depth do not exist in
the spec, so every architecture is counted once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyglove as pg

from symnas.spaces.registry import register_space

COARSE_WIDTHS = (128, 176, 256, 384, 512)
COARSE_CAT_CHANNELS = (384, 536, 768, 1152, 1536)
FINE_WIDTHS = tuple(range(128, 513, 8))
FINE_CAT_CHANNELS = tuple(range(384, 1537, 8))
KERNELS = (1, 3, 5)
DEPTHS = (2, 3, 4)


class TDNNLayer(pg.Object):
    """One searched layer: the stem (``dilation`` 1) or a TDNN block (``dilation`` = index + 2).

    ``width`` is the stem's output channels, or the block's mid (Res2) channels; ``kernel`` the
    temporal kernel size.
    """

    width: int
    kernel: int
    dilation: int


class TDNNSpace(pg.Object):
    """An EfficientTDNN speaker model: stem, blocks, aggregation, pooling, embedding, classifier.

    Fixed fields: ``in_feats`` (features per frame), ``num_classes`` (speakers), ``embed_dim``,
    ``scale`` (Res2 groups), ``se_reduction``, ``attention_dim`` (bottleneck of attentive
    statistics pooling). The published coarse space has 4,066,875 architectures (about 1.0e13
    for the fine one); see :func:`tdnn_space` for the general count.
    """

    stem: TDNNLayer
    blocks: list[TDNNLayer]
    cat_channels: int
    in_feats: int
    num_classes: int
    embed_dim: int
    scale: int
    se_reduction: int
    attention_dim: int


def tdnn_space(
    widths: Sequence[int],
    kernels: Sequence[int],
    depths: Sequence[int],
    cat_channels: Sequence[int],
    in_feats: int,
    num_classes: int,
    embed_dim: int,
    scale: int = 8,
    se_reduction: int = 4,
    attention_dim: int = 128,
) -> TDNNSpace:
    """A TDNN space with the given choices (the same for the stem and every block).

    Size: ``len(cat_channels) * sum_d (len(widths) * len(kernels)) ** (d + 1)`` over ``depths``.
    """
    widths, kernels, depths, cats = (list(v) for v in (widths, kernels, depths, cat_channels))
    for name, values in (
        ("widths", widths),
        ("kernels", kernels),
        ("depths", depths),
        ("cat_channels", cats),
    ):
        _check_choices(name, values)
    if any(k % 2 == 0 for k in kernels):
        raise ValueError(f"kernels must be odd (same padding); got {kernels}.")
    for name, value in (
        ("in_feats", in_feats),
        ("num_classes", num_classes),
        ("embed_dim", embed_dim),
        ("scale", scale),
        ("se_reduction", se_reduction),
        ("attention_dim", attention_dim),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    bad = [w for w in widths if w % scale or w % se_reduction]
    if bad:
        raise ValueError(
            f"widths must be divisible by scale={scale} (Res2 groups) and se_reduction="
            f"{se_reduction}; got {bad}."
        )

    def layer(dilation: int) -> TDNNLayer:
        return TDNNLayer(width=pg.oneof(widths), kernel=pg.oneof(kernels), dilation=dilation)

    return TDNNSpace(
        stem=layer(1),
        blocks=pg.oneof([[layer(i + 2) for i in range(d)] for d in depths]),
        cat_channels=pg.oneof(cats),
        in_feats=in_feats,
        num_classes=num_classes,
        embed_dim=embed_dim,
        scale=scale,
        se_reduction=se_reduction,
        attention_dim=attention_dim,
    )


@register_space(
    "tdnn", "EfficientTDNN tdnn8m2g, coarse: 4,066,875 architectures", architectures=4_066_875
)
def tdnn(
    in_feats: int = 80, num_classes: int = 5994, embed_dim: int = 192, fine: bool = False
) -> TDNNSpace:
    """The published EfficientTDNN space (``tdnn8m2g``): 4,066,875 architectures (coarse).

    ``fine=True`` gives the fine-grained space (widths and cat channels in steps of 8): about
    1.0e13 architectures. ``num_classes`` defaults to the 5,994 VoxCeleb2-dev speakers.
    """
    return tdnn_space(
        widths=FINE_WIDTHS if fine else COARSE_WIDTHS,
        kernels=KERNELS,
        depths=DEPTHS,
        cat_channels=FINE_CAT_CHANNELS if fine else COARSE_CAT_CHANNELS,
        in_feats=in_feats,
        num_classes=num_classes,
        embed_dim=embed_dim,
    )


def _check_choices(name: str, values: list) -> None:
    if not values or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value; got {values!r}.")
