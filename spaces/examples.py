"""One small space per architecture family, sized for the project's small real tasks.

Each is registered with its ``family`` (the ``programs`` family that builds it), the per-sample
``input_shape`` of its data and the ``data`` it is meant for (``digits``: 8x8 scikit-learn digits;
``fsdd``: Free Spoken Digit Dataset speakers as 30 log-mel bands x 40 frames). Flows, tests and
benchmarks take them from the space registry (``examples()``), so there is one definition each.
"""

from __future__ import annotations

from typing import Any

from symnas.core.registry import Entry
from symnas.spaces.cells import darts_cell, nb201_cell
from symnas.spaces.pooling import resnet20_pooling
from symnas.spaces.quantization import quantized
from symnas.spaces.registry import SPACES, register_space
from symnas.spaces.tdnn import tdnn_space
from symnas.spaces.vit import vit_space
from symnas.spaces.vit_resnas import vit_resnas_space


@register_space(
    "nb201_digits",
    "NAS-Bench-201 cells, C=8, N=1, for 8x8 digits: 15,625 architectures",
    family="nb201",
    input_shape=(1, 8, 8),
    data="digits",
)
def nb201_digits_space() -> Any:
    """NB201 cells in a scaled macro skeleton (C=8, N=1) for 8x8 digits."""
    return nb201_cell(C=8, N=1, num_classes=10, in_chans=1)


@register_space(
    "vit_digits",
    "small AutoFormer ViT for 8x8 digits (patch 2): 240 architectures",
    family="vit",
    input_shape=(1, 8, 8),
    data="digits",
)
def vit_digits_space() -> Any:
    """A small AutoFormer space for 8x8 digits (patch 2): 240 architectures."""
    return vit_space(
        [16, 24, 32],
        [2, 3],
        [2.0, 4.0],
        [1, 2],
        head_dim=8,
        image_size=8,
        patch_size=2,
        in_chans=1,
        num_classes=10,
        relative_position=False,
    )


@register_space(
    "vit_resnas_digits",
    "two-stage ViT-ResNAS for 8x8 digits: 1,600 architectures",
    family="vit_resnas",
    input_shape=(1, 8, 8),
    data="digits",
)
def vit_resnas_digits_space() -> Any:
    """A two-stage ViT-ResNAS space for 8x8 digits (4x4 tokens, one residual reduction)."""
    return vit_resnas_space(
        [[16, 24], [32, 48]],
        [8, 8],
        [[1, 2], [2, 4]],
        [[32, 64], [64, 128]],
        [2, 2],
        image_size=8,
        patch_size=2,
        in_chans=1,
        num_classes=10,
        conv_stem=False,
    )


@register_space(
    "darts_digits",
    "DARTS cells, C=8, 3 layers, for 8x8 digits: about 9.1e18 architectures",
    family="darts",
    input_shape=(1, 8, 8),
    data="digits",
)
def darts_digits_space() -> Any:
    """DARTS cells in a 3-layer evaluation network (C=8) for 8x8 digits."""
    return darts_cell(C=8, layers=3, num_classes=10, in_chans=1)


@register_space(
    "pooling_digits",
    "ResNet20 max-pool positions for 8x8 digits: 36 architectures",
    family="pooling",
    input_shape=(1, 8, 8),
    data="digits",
)
def pooling_digits_space() -> Any:
    """ResNet20 pooling positions for 8x8 digits: 36 architectures."""
    return resnet20_pooling(num_classes=10, in_chans=1, image_size=8)


@register_space(
    "pooling_digits_quantized",
    "ResNet20 max-pool positions for 8x8 digits with EQ-Net bit-widths 2/4/8/float per layer: "
    "about 9.9e12 architectures",
    input_shape=(1, 8, 8),
    data="digits",
    architectures=36 * 4**18 * 2 * 2,
)
def pooling_digits_quantized_space() -> Any:
    """``pooling_digits`` composed with ``spaces.quantized`` (bits 2, 4, 8, 32; 9 searched
    layers of weights and inputs, the stem and the classifier at 8 bits): 36 * 4**18 * 4.

    It is no family's example (``examples()``): it composes the pooling family's, and the
    ``quantized`` supernet contract is checked on every family that declares it
    (``symnas.testing.check_quantized``).
    """
    return quantized(resnet20_pooling(num_classes=10, in_chans=1, image_size=8), bits=(2, 4, 8, 32))


@register_space(
    "tdnn_fsdd",
    "scaled-down EfficientTDNN for 30 log-mel bands and 6 FSDD speakers: 504 architectures",
    family="tdnn",
    input_shape=(30, 40),
    data="fsdd",
)
def tdnn_fsdd_space() -> Any:
    """A scaled-down EfficientTDNN space for 30 log-mel bands and 6 FSDD speakers."""
    return tdnn_space(
        widths=[32, 64],
        kernels=[1, 3, 5],
        depths=[1, 2],
        cat_channels=[64, 128],
        in_feats=30,
        num_classes=6,
        embed_dim=32,
        scale=4,
        se_reduction=4,
        attention_dim=16,
    )


def examples() -> dict[str, Entry]:
    """The registered example spaces by family name."""
    return {e.meta["family"]: e for e in SPACES.where(lambda e: "family" in e.meta)}
