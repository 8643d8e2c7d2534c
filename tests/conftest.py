"""Shared test settings: single-threaded torch (tiny models run fastest that way) and the
location of the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symnas import spaces
from symnas.spaces.tdnn import tdnn_space
from symnas.spaces.vit import vit_space
from symnas.spaces.vit_resnas import vit_resnas_space

torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


# One tiny space per architecture family with the per-sample input shape of its data.
TINY_FAMILIES = {
    "nb201": (lambda: spaces.nb201_cell(C=8, N=1, num_classes=10, in_chans=1), (1, 8, 8)),
    "darts": (lambda: spaces.darts_cell(C=8, layers=3, num_classes=10, in_chans=1), (1, 8, 8)),
    "vit": (
        lambda: vit_space(
            [16, 24],
            [2, 3],
            [2.0, 4.0],
            [1, 2],
            head_dim=8,
            image_size=8,
            patch_size=2,
            in_chans=1,
            num_classes=10,
        ),
        (1, 8, 8),
    ),
    "vit_resnas": (
        lambda: vit_resnas_space(
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
        ),
        (1, 8, 8),
    ),
    "pooling": (
        lambda: spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8),
        (1, 8, 8),
    ),
    "tdnn": (
        lambda: tdnn_space(
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
        ),
        (30, 40),
    ),
}


@pytest.fixture(params=sorted(TINY_FAMILIES))
def tiny_family(request):
    """(name, space factory, per-sample input shape) of each family's tiny space."""
    make_space, input_shape = TINY_FAMILIES[request.param]
    return request.param, make_space, input_shape
