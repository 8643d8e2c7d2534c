"""Capabilities are read off a supernet class as off an instance, and the registry names the
class a space's supernet will have without building it."""

from __future__ import annotations

import pytest

from symnas import programs, spaces
from symnas.programs.families.nb201 import NB201Supernet
from symnas.programs.families.pooling import PoolingSupernet
from symnas.programs.supernet_base import has_capability, require


def test_supernet_class_is_that_of_the_built_supernet():
    space = spaces.nb201_cell(C=2, N=1)
    assert programs.registry.supernet_class(space) is NB201Supernet
    assert type(programs.supernet(space)) is NB201Supernet
    with pytest.raises(TypeError, match="expects a family space"):
        programs.registry.supernet_class(3)


def test_classes_and_instances_declare_the_same_capabilities():
    space = spaces.nb201_cell(C=2, N=1)
    for capability in ("parsed", "sliced", "sized", "differentiable", "quantized"):
        assert has_capability(NB201Supernet, capability) == has_capability(
            programs.supernet(space), capability
        )
    assert has_capability(NB201Supernet, "differentiable")
    assert not has_capability(PoolingSupernet, "differentiable")
    require(NB201Supernet, "differentiable", "a test")
    with pytest.raises(
        TypeError, match="a test needs .* PoolingSupernet has \\['parsed', 'sliced', 'quantized'\\]"
    ):
        require(PoolingSupernet, "differentiable", "a test")
