"""ViT-ResNAS multi-stage Vision Transformer search spaces.

Implements the space of Liao, Karaman and Sze, "Searching for Efficient Multi-Stage Vision
Transformers" (2021; reference code yilunliao/vit-search, ``supernet_config/sr_*_mh.py``). A
network has several stages joined by residual spatial reduction (RSR): each stage has its own
embedding width and head dim, every block its own number of heads and MLP width, and every other
block (positions 1, 3, 5...) can be dropped. A dropped block's widths do not matter, so a stage
with ``k`` fixed and ``s`` skippable blocks of ``c`` width combinations each gives
``|E| * c**k * (c + 1)**s`` distinct stages (DNAs: ``|E| * c**(k+s) * 2**s``), and a network is
one choice per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyglove as pg

from symnas.spaces.registry import register_space
from symnas.spaces.vit import check_task, choices_of


class ViTResNASStage(pg.Object):
    """One stage: a width, a fixed head dim, and per-block heads, MLP width and keep flag."""

    embed_dim: int
    head_dim: int
    num_heads: list[int]
    mlp_hidden: list[int]
    keep: list[bool]


class ViTResNASSpace(pg.Object):
    """Root of a ViT-ResNAS space; a concrete instance is one multi-stage network.

    ``conv_stem`` selects the reference's convolutional patch embedding (three 3x3
    conv-BN-ReLU layers with a residual, then a ``patch/2`` projection; network_def type 4)
    instead of one ``patch x patch`` convolution.
    """

    stages: list[ViTResNASStage]
    image_size: int = 224
    patch_size: int = 14
    in_chans: int = 3
    num_classes: int = 1000
    conv_stem: bool = True
    stem_channels: int = 24


def _int_list(name: str, values: Any) -> list[int]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {values!r}.")
    values = list(values)
    if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {values!r}.")
    return values


def _oneof(values: list[Any]) -> Any:
    values = sorted(set(values), reverse=True)
    return values[0] if len(values) == 1 else pg.oneof(values)


def vit_resnas_space(
    embed_dims: Sequence[Sequence[int]],
    head_dims: Sequence[int],
    num_heads: Sequence[Sequence[int]],
    mlp_hidden: Sequence[Sequence[int]],
    depths: Sequence[int],
    *,
    image_size: int = 224,
    patch_size: int = 14,
    in_chans: int = 3,
    num_classes: int = 1000,
    conv_stem: bool = True,
    stem_channels: int = 24,
) -> ViTResNASSpace:
    """General ViT-ResNAS space; every argument before ``*`` holds one entry per stage.

    Blocks at odd positions of a stage are skippable (``keep`` in {True, False}). Widths must
    grow across stages (RSR zero-pads channels), and the token grid
    ``image_size / patch_size`` must halve cleanly at each of the ``len(depths) - 1`` RSRs.
    Size: see ``num_architectures``.
    """
    n = len(depths)
    for name, values in (
        ("embed_dims", embed_dims),
        ("head_dims", head_dims),
        ("num_heads", num_heads),
        ("mlp_hidden", mlp_hidden),
    ):
        if len(values) != n:
            raise ValueError(f"{name} must have one entry per stage ({n}); got {len(values)}.")
    depths = _int_list("depths", depths)
    head_dims = _int_list("head_dims", head_dims)
    check_task(image_size, patch_size, in_chans, num_classes)
    if isinstance(stem_channels, bool) or not isinstance(stem_channels, int) or stem_channels <= 0:
        raise ValueError(f"stem_channels must be a positive int; got {stem_channels!r}.")
    if conv_stem and patch_size % 2:
        raise ValueError(f"patch_size must be even with conv_stem=True; got {patch_size}.")
    grid = image_size // patch_size
    if grid % 2 ** (n - 1):
        raise ValueError(
            f"image_size / patch_size = {grid} tokens per side must be divisible by "
            f"2**(stages - 1) = {2 ** (n - 1)} for the spatial reductions."
        )
    stages = []
    for s in range(n):
        widths = _int_list(f"embed_dims[{s}]", embed_dims[s])
        if s and min(widths) < max(_int_list(f"embed_dims[{s - 1}]", embed_dims[s - 1])):
            raise ValueError(
                f"embed_dims[{s}] (min {min(widths)}) must not be narrower than "
                f"embed_dims[{s - 1}] (max {max(embed_dims[s - 1])}): RSR zero-pads channels."
            )
        heads = _int_list(f"num_heads[{s}]", num_heads[s])
        hidden = _int_list(f"mlp_hidden[{s}]", mlp_hidden[s])
        stages.append(
            ViTResNASStage(
                embed_dim=_oneof(widths),
                head_dim=head_dims[s],
                num_heads=[_oneof(heads) for _ in range(depths[s])],
                mlp_hidden=[_oneof(hidden) for _ in range(depths[s])],
                keep=[pg.oneof([True, False]) if b % 2 else True for b in range(depths[s])],
            )
        )
    return ViTResNASSpace(
        stages=stages,
        image_size=image_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        conv_stem=conv_stem,
        stem_channels=stem_channels,
    )


@register_space(
    "vit_resnas_tiny",
    "ViT-ResNAS Tiny, 3 stages x 6 blocks: about 1.9e28 architectures",
    architectures=(5 * 28**3 * 29**3) ** 3,
)
def vit_resnas_tiny(**task: Any) -> ViTResNASSpace:
    """ViT-ResNAS Tiny (``sr_tiny_mh``): 3 stages x 6 blocks, head dims 32 / 48 / 64.

    Stage widths {256, 224, 192, 176, 160} x1, x2, x4; heads {6, 5, 4, 3} then {12, 10, 8, 6}
    twice; MLP widths 768..384, 1536..768, 3072..1536 in 7 steps; blocks 2, 4, 6 droppable.
    (5 * 28**3 * 29**3)**3 = 19,182,900,589,423,791,619,538,944,000 distinct networks
    (DNAs: (5 * 28**6 * 2**3)**3, about 7.2e30).
    ``task`` sets ``image_size``, ``patch_size``, ``in_chans``, ``num_classes``, ``conv_stem``.
    """
    base = [256, 224, 192, 176, 160]
    return vit_resnas_space(
        [base, [2 * w for w in base], [4 * w for w in base]],
        [32, 48, 64],
        [[6, 5, 4, 3], [12, 10, 8, 6], [12, 10, 8, 6]],
        [[768 - 64 * i for i in range(7)], [1536 - 128 * i for i in range(7)]]
        + [[3072 - 256 * i for i in range(7)]],
        [6, 6, 6],
        **task,
    )


@register_space(
    "vit_resnas_small",
    "ViT-ResNAS Small, 3 stages x 7 blocks: about 4.2e32 architectures",
    architectures=(5 * 28**4 * 29**3) ** 3,
)
def vit_resnas_small(**task: Any) -> ViTResNASSpace:
    """ViT-ResNAS Small (``sr_small_mh``): 3 stages x 7 blocks, head dims 32 / 48 / 64.

    Stage widths {320, 280, 240, 220, 200} x1, x2, x4; heads {8, 7, 6, 5}, {16, 14, 12, 10},
    {16, 14, 12, 10}; MLP widths 960..480, 1920..960, 3840..1920 in 7 steps; blocks 2, 4, 6
    droppable. (5 * 28**4 * 29**3)**3 distinct networks (about 4.2e32).
    """
    base = [320, 280, 240, 220, 200]
    return vit_resnas_space(
        [base, [2 * w for w in base], [4 * w for w in base]],
        [32, 48, 64],
        [[8, 7, 6, 5], [16, 14, 12, 10], [16, 14, 12, 10]],
        [[960 - 80 * i for i in range(7)], [1920 - 160 * i for i in range(7)]]
        + [[3840 - 320 * i for i in range(7)]],
        [7, 7, 7],
        **task,
    )


@register_space(
    "vit_resnas",
    "ViT-ResNAS by size: 'tiny' (default, about 1.9e28) or 'small' (about 4.2e32 architectures)",
    architectures=(5 * 28**3 * 29**3) ** 3,
)
def vit_resnas(size: str = "tiny", **task: Any) -> ViTResNASSpace:
    """The published ViT-ResNAS space: ``size="tiny"`` (``vit_resnas_tiny``, about 1.9e28
    networks) or ``"small"`` (``vit_resnas_small``, about 4.2e32); ``task`` as there."""
    presets = {"tiny": vit_resnas_tiny, "small": vit_resnas_small}
    if size not in presets:
        raise ValueError(f"vit_resnas: size must be one of {sorted(presets)}; got {size!r}.")
    return presets[size](**task)


def num_architectures(space: ViTResNASSpace) -> int:
    """Number of distinct networks of ``space`` (a dropped block's widths do not count)."""
    if not isinstance(space, ViTResNASSpace):
        raise TypeError(f"num_architectures expects a ViTResNASSpace; got {type(space).__name__}.")
    total = 1
    for stage in space.sym_getattr("stages"):
        count = len(choices_of(stage.sym_getattr("embed_dim")))
        for heads, hidden, keep in zip(
            stage.sym_getattr("num_heads"),
            stage.sym_getattr("mlp_hidden"),
            stage.sym_getattr("keep"),
            strict=True,
        ):
            widths = len(choices_of(heads)) * len(choices_of(hidden))
            count *= widths + (1 if False in choices_of(keep) else 0)
        total *= count
    return total
