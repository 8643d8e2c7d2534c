"""AutoFormer / PreNAS Vision Transformer search spaces.

Implements the one-stage ViT spaces of AutoFormer (Chen et al., "AutoFormer: Searching
Transformers for Visual Recognition", ICCV 2021) as trimmed by PreNAS (Wang et al., "PreNAS:
Preferred One-Shot Learning Towards Efficient Neural Architecture Search", ICML 2023).

A network has one embedding dimension and one depth; every layer up to the largest depth has its
own MLP ratio and number of heads. Layers at index ``>= depth`` are ignored, as in AutoFormer, so
the number of distinct architectures is ``|E| * sum_d prod_{l<d} |R_l| * |H_l|`` while the number of
DNAs is ``|E| * |D| * prod_{l<max D} |R_l| * |H_l|``. Attention uses ``num_heads * head_dim`` qkv
channels (head dim 64 in the published spaces, AutoFormer's ``--change_qkv``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyglove as pg

from symnas.spaces.registry import register_space


class ViTSpace(pg.Object):
    """Root of an AutoFormer ViT space; a concrete instance is one architecture.

    ``mlp_ratio`` and ``num_heads`` hold one entry per layer up to the largest depth; the
    remaining fields are fixed task and recipe settings (AutoFormer trains with a global average
    pool, ``--gp``, and 2-D relative position embeddings, ``--relative_position``).
    """

    embed_dim: int
    depth: int
    mlp_ratio: list[float]
    num_heads: list[int]
    head_dim: int = 64
    image_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    global_pool: bool = True
    relative_position: bool = True
    max_relative_position: int = 14


class ViTMoSSpace(ViTSpace):
    """A ViT space whose supernet is a Mixture-of-Supernets (Jawahar et al., ACL Findings 2024):
    ``experts`` MLP weight sets per layer, mixed by a router with ``router_hidden`` hidden units
    (``programs.families.vit_mos``). The architectures are those of the plain ViT space."""

    experts: int = 2
    router_hidden: int = 128


def mixture_of_supernets(
    space: ViTSpace, experts: int = 2, router_hidden: int = 128
) -> ViTMoSSpace:
    """``space`` (a plain ``ViTSpace``) as a Mixture-of-Supernets space with ``experts`` experts
    per layer (the paper's default 2) and a router of ``router_hidden`` hidden units (128)."""
    if type(space) is not ViTSpace:
        raise TypeError(f"mixture_of_supernets expects a ViTSpace; got {type(space).__name__}.")
    for name, value in (("experts", experts), ("router_hidden", router_hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    copy = space.clone(deep=True)
    fields = {str(key): copy.sym_getattr(str(key)) for key in ViTSpace.__schema__.fields}
    return ViTMoSSpace(**fields, experts=experts, router_hidden=router_hidden)


def choices_of(value: Any) -> list[Any]:
    """The candidate values of one field: the candidates of a ``pg.oneof``, else the value."""
    if isinstance(value, pg.hyper.OneOf):
        for candidate in value.candidates:
            if isinstance(candidate, pg.hyper.HyperValue):
                raise TypeError(f"nested hyper values are not supported; got {candidate!r}.")
        return list(value.candidates)
    if isinstance(value, pg.hyper.HyperValue):
        raise TypeError(f"only pg.oneof decisions are supported; got {type(value).__name__}.")
    return [value]


def _positive_ints(name: str, values: Sequence[Any]) -> list[int]:
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {values!r}.")
    return values


def _positive_numbers(name: str, values: Sequence[Any]) -> list[float]:
    values = list(values)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in values
    ):
        raise ValueError(f"{name} must be a non-empty list of positive numbers; got {values!r}.")
    return [float(v) for v in values]


def _oneof(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else pg.oneof(values)


def check_task(image_size: int, patch_size: int, in_chans: int, num_classes: int) -> None:
    """Validates the fixed task fields shared by the ViT families."""
    for name, value in (
        ("image_size", image_size),
        ("patch_size", patch_size),
        ("in_chans", in_chans),
        ("num_classes", num_classes),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    if image_size % patch_size:
        raise ValueError(
            f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})."
        )


def vit_space(
    embed_dims: Sequence[int],
    depths: Sequence[int],
    mlp_ratios: Sequence[float],
    num_heads: Sequence[int],
    *,
    head_dim: int = 64,
    image_size: int = 224,
    patch_size: int = 16,
    in_chans: int = 3,
    num_classes: int = 1000,
    global_pool: bool = True,
    relative_position: bool = True,
    max_relative_position: int = 14,
) -> ViTSpace:
    """General AutoFormer space: the given choices for every layer up to ``max(depths)``.

    Size: ``len(embed_dims) * sum_{d in depths} (len(mlp_ratios) * len(num_heads)) ** d``
    distinct architectures (see ``num_architectures``).
    """
    embed_dims = _positive_ints("embed_dims", embed_dims)
    depths = _positive_ints("depths", depths)
    ratios = _positive_numbers("mlp_ratios", mlp_ratios)
    heads = _positive_ints("num_heads", num_heads)
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0:
        raise ValueError(f"head_dim must be a positive int; got {head_dim!r}.")
    check_task(image_size, patch_size, in_chans, num_classes)
    if max_relative_position < 0:
        raise ValueError(f"max_relative_position must be >= 0; got {max_relative_position!r}.")
    max_depth = max(depths)
    return ViTSpace(
        embed_dim=_oneof(sorted(set(embed_dims))),
        depth=_oneof(sorted(set(depths))),
        mlp_ratio=[_oneof(sorted(set(ratios))) for _ in range(max_depth)],
        num_heads=[_oneof(sorted(set(heads))) for _ in range(max_depth)],
        head_dim=head_dim,
        image_size=image_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        global_pool=global_pool,
        relative_position=relative_position,
        max_relative_position=max_relative_position,
    )


@register_space(
    "vit_tiny",
    "AutoFormer/PreNAS ViT Tiny: 1,056,964,608 architectures",
    architectures=3 * (4**12 + 4**13 + 4**14),
)
def vit_tiny(**task: Any) -> ViTSpace:
    """AutoFormer/PreNAS Tiny: embed {192, 216, 240}, depth {12, 13, 14}, ratio {3.5, 4},
    heads {3, 4} per layer.

    1,056,964,608 distinct architectures (``3 * (4**12 + 4**13 + 4**14)``); 2,415,919,104 DNAs.
    ``task`` sets the fixed fields (``image_size``, ``patch_size``, ``in_chans``,
    ``num_classes``, ``head_dim``...), e.g. ``vit_tiny(image_size=8, patch_size=2, in_chans=1,
    num_classes=10)`` for 8x8 digits.
    """
    return vit_space([192, 216, 240], [12, 13, 14], [3.5, 4.0], [3, 4], **task)


@register_space(
    "vit_small",
    "AutoFormer ViT Small: about 7.7e13 architectures",
    architectures=3 * (9**12 + 9**13 + 9**14),
)
def vit_small(**task: Any) -> ViTSpace:
    """AutoFormer Small (``supernet-S.yaml``): embed {320, 384, 448}, depth {12, 13, 14},
    ratio {3, 3.5, 4}, heads {5, 6, 7} per layer.

    77,103,263,459,313 distinct architectures (``3 * (9**12 + 9**13 + 9**14)``).
    """
    return vit_space([320, 384, 448], [12, 13, 14], [3.0, 3.5, 4.0], [5, 6, 7], **task)


@register_space(
    "vit_base",
    "AutoFormer ViT Base: about 1.0e13 architectures",
    architectures=3 * (6**14 + 6**15 + 6**16),
)
def vit_base(**task: Any) -> ViTSpace:
    """AutoFormer Base (``supernet-B.yaml``): embed {528, 576, 624}, depth {14, 15, 16},
    ratio {3, 3.5, 4}, heads {9, 10} per layer.

    10,108,977,168,384 distinct architectures (``3 * (6**14 + 6**15 + 6**16)``).
    """
    return vit_space([528, 576, 624], [14, 15, 16], [3.0, 3.5, 4.0], [9, 10], **task)


def num_architectures(space: ViTSpace) -> int:
    """Number of distinct networks of ``space`` (layers beyond the depth do not count)."""
    if not isinstance(space, ViTSpace):
        raise TypeError(f"num_architectures expects a ViTSpace; got {type(space).__name__}.")
    per_layer = [
        len(choices_of(r)) * len(choices_of(h))
        for r, h in zip(space.sym_getattr("mlp_ratio"), space.sym_getattr("num_heads"), strict=True)
    ]
    depths = choices_of(space.sym_getattr("depth"))
    return len(choices_of(space.sym_getattr("embed_dim"))) * sum(
        math.prod(per_layer[:d]) for d in depths
    )
