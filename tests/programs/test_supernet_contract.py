"""The supernet contract, once for every registered family (``symnas.testing.families``): extract
equals the supernet, ``activate`` parses once, foreign specs are refused, and every declared
capability works; and the error of a missing capability."""

from __future__ import annotations

import pytest

from symnas import programs
from symnas.programs.supernet_base import has_capability, require
from symnas.spaces.examples import examples
from symnas.testing import FAMILY_CHECKS, families_with_supernet


def test_the_families_with_a_supernet_have_an_example():
    assert set(families_with_supernet()) >= {
        "nb201",
        "darts",
        "vit",
        "vit_resnas",
        "pooling",
        "tdnn",
    }


@pytest.mark.parametrize("check", FAMILY_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("family", families_with_supernet())
def test_family_conforms(family, check):
    check(family)


def test_a_missing_capability_is_named_with_the_families_that_have_it():
    space = examples()["pooling"].obj()
    supernet = programs.supernet(space)
    with pytest.raises(
        TypeError, match=r"needs a supernet with the 'differentiable' capability"
    ) as e:
        require(supernet, "differentiable", "DARTS")
    assert "nb201" in str(e.value) and "darts" in str(e.value)
    with pytest.raises(ValueError, match="capability must be one of"):
        has_capability(supernet, "elastic")
