"""The registered space factories: exported, conforming (``symnas.testing.check_space``), and sized
as their descriptions state."""

from __future__ import annotations

import pytest

from symnas import spaces
from symnas.spaces.registry import SPACES
from symnas.spaces.vit import num_architectures as vit_architectures
from symnas.spaces.vit_resnas import num_architectures as resnas_architectures
from symnas.testing import check_space

# Spaces whose inactive decisions make DNAs outnumber distinct networks, with their counters.
COUNTERS = {"vit_tiny": vit_architectures, "vit_small": vit_architectures}
COUNTERS["vit_base"] = vit_architectures
COUNTERS.update(
    dict.fromkeys(("vit_resnas", "vit_resnas_tiny", "vit_resnas_small"), resnas_architectures)
)


def test_every_factory_the_package_exports_is_registered():
    expected = {
        "nb201_cell",
        "darts_cell",
        "resnet_pooling",
        "resnet20_pooling",
        "tdnn",
        "systolic_accelerator",
        "vit_tiny",
        "vit_small",
        "vit_base",
        "vit_resnas",
        "vit_resnas_tiny",
        "vit_resnas_small",
    }
    assert expected <= set(SPACES.names())
    for name in expected:
        assert getattr(spaces, name) is SPACES.get(name).obj


@pytest.mark.parametrize("name", SPACES.names())
def test_registered_space_passes_the_kit_and_has_the_size_it_states(name):
    check_space(name)
    entry = SPACES.get(name)
    space = entry.obj()
    stated = entry.meta.get("architectures")
    if stated is None:
        return
    if name in COUNTERS:
        assert COUNTERS[name](space) == stated
    else:
        assert spaces.compile(space).size == stated
