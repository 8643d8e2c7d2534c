"""Shared test settings: single-threaded torch (tiny models run fastest that way) and the
location of the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symnas.flows import family_flows

torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


# One tiny space per architecture family (those of the family flows) with the per-sample input
# shape of its data.
TINY_FAMILIES = {
    "nb201": (family_flows.nb201_digits_space, (1, 8, 8)),
    "darts": (family_flows.darts_digits_space, (1, 8, 8)),
    "vit": (family_flows.vit_digits_space, (1, 8, 8)),
    "vit_resnas": (family_flows.vit_resnas_digits_space, (1, 8, 8)),
    "pooling": (family_flows.pooling_digits_space, (1, 8, 8)),
    "tdnn": (family_flows.tdnn_fsdd_space, (30, 40)),
}


@pytest.fixture(params=sorted(TINY_FAMILIES))
def tiny_family(request):
    """(name, space factory, per-sample input shape) of each family's tiny space."""
    make_space, input_shape = TINY_FAMILIES[request.param]
    return request.param, make_space, input_shape
