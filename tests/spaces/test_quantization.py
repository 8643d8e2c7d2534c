"""The elastic quantization space (``spaces.quantized``): decoded layout, units, bad input."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.quantization import SUPPORTED_BITS, check_quant, unit_of


def _pooling():
    return spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)


def test_a_decoded_spec_holds_the_family_spec_and_the_quantization():
    space = spaces.quantized(_pooling(), bits=(2, 4, 8, 32))
    codec = spaces.compile(space)
    for genome in codec.random(5, np.random.default_rng(0)):
        spec = codec.decode(genome)
        assert spec == pg.to_json(pg.materialize(space, codec.to_dna(genome)))
        assert spec["arch"]["_type"] == spaces.PoolingSpace.__type_name__
        assert set(spec["quant"]) == {"granularity", "symmetric", "units"}
        assert list(spec["quant"]["units"]) == spaces.quant_units(_pooling())
        for unit, (w, a) in spaces.unit_bits(spec).items():
            assert w in (2, 4, 8, 32) and a in (2, 4, 8, 32), unit


def test_units_are_layers_of_the_pooling_network_and_cells_of_nb201():
    assert spaces.quant_units(_pooling()) == [f"layers.{i}" for i in range(10)] + ["fc"]
    assert spaces.quant_units(spaces.nb201_cell(N=2)) == (
        ["stem"] + [f"cells.{i}" for i in range(8)] + ["classifier"]
    )
    spec = spaces.nb201_arch("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", N=1)
    assert spaces.quant_units(spec) == [
        "stem",
        "cells.0",
        "cells.1",
        "cells.2",
        "cells.3",
        "cells.4",
        "classifier",
    ]


def test_the_first_and_last_unit_stay_at_eight_bits_unless_searched():
    space = spaces.quantized(
        _pooling(), bits=(2, 3), granularity=("per_tensor",), symmetric=(True,)
    )
    # The two pool positions, then 9 searched units x (weight, activation) of 2 choices each.
    assert len(pg.dna_spec(space).decision_points) == 2 + 18
    spec = spaces.compile(space).decode(
        spaces.compile(space).random(1, np.random.default_rng(1))[0]
    )
    bits = spaces.unit_bits(spec)
    assert bits["layers.0"] == bits["fc"] == (8, 8)
    assert {w for w, _ in bits.values()} <= {2, 3, 8}
    searched = spaces.quantized(
        _pooling(), bits=(2, 3), granularity=("per_tensor",), symmetric=(True,), edge_bits=None
    )
    assert len(pg.dna_spec(searched).decision_points) == 2 + 22


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"bits": (2, 9)},
            r"bits value 9 is not supported; allowed: \[2, 3, 4, 5, 6, 7, 8, 16, 32\]",
        ),
        ({"bits": (2, 1)}, r"bits value 1 is not supported"),
        ({"bits": (True, 4)}, r"bits value True is not supported"),
        ({"bits": ()}, r"bits must not be empty"),
        ({"bits": (4, 4)}, r"bits has repeated values"),
        ({"granularity": ("per_row",)}, r"granularity value 'per_row' is not supported"),
        ({"symmetric": (1,)}, r"symmetric value 1 is not supported"),
        ({"edge_bits": 12}, r"edge_bits value 12 is not supported"),
    ],
)
def test_bad_settings_are_refused_naming_the_value_and_the_allowed_ones(kwargs, message):
    with pytest.raises(ValueError, match=message):
        spaces.quantized(_pooling(), **kwargs)


def test_a_space_without_units_is_refused_naming_its_type_and_the_supported_ones():
    with pytest.raises(
        ValueError,
        match=r"no quantization units for space type .*ViTSpace.*"
        r"supported: \[.*PoolingSpace",
    ):
        spaces.quantized(spaces.vit_tiny())
    with pytest.raises(TypeError, match="family_space must be a family's space"):
        spaces.quantized({"channels": [1]})


def test_unit_of_is_the_longest_whole_component_prefix():
    units = ["layers.1", "layers.10", "cells", "cells.3"]
    assert unit_of("layers.1.conv1", units) == "layers.1"
    assert unit_of("layers.10.conv1", units) == "layers.10"
    assert unit_of("cells.3.edges.0.op.1", units) == "cells.3"
    assert unit_of("cells.4.conv", units) == "cells"
    assert unit_of("fc", units) is None


def test_quant_spec_builds_uniform_and_mixed_configurations():
    arch = pg.to_json(_pooling().clone(override={"pool_at": [4, 7]}))
    uniform = spaces.quant_spec(arch, 4)
    assert uniform["arch"] == arch
    assert spaces.unit_bits(uniform)["layers.5"] == (4, 4)
    assert spaces.unit_bits(uniform)["fc"] == (8, 8)
    assert spaces.unit_bits(spaces.quant_spec(arch, 4, edge_bits=None))["fc"] == (4, 4)
    mixed = {u: (2, 3) for u in spaces.quant_units(arch)}
    assert spaces.unit_bits(spaces.quant_spec(arch, mixed, edge_bits=None))["layers.0"] == (2, 3)
    with pytest.raises(ValueError, match=r"unknown \['layers.77'\], missing \['fc'\]"):
        spaces.quant_spec(arch, {**{u: (2, 2) for u in mixed if u != "fc"}, "layers.77": (2, 2)})
    with pytest.raises(ValueError, match=r"units\['layers.0'\]\['weight_bits'\] is 1"):
        spaces.quant_spec(arch, 1, edge_bits=None)


@pytest.mark.parametrize(
    "quant, message",
    [
        ({"granularity": "per_tensor", "symmetric": True}, r"lacks \['units'\]"),
        ({"granularity": "x", "symmetric": True, "units": {"a": {}}}, r"granularity'\] is 'x'"),
        ({"granularity": "per_tensor", "symmetric": "yes", "units": {}}, r"symmetric'\] must be"),
        (
            {"granularity": "per_tensor", "symmetric": True, "units": {"a": {"weight_bits": 4}}},
            r"units\['a'\] must be",
        ),
        (
            {
                "granularity": "per_tensor",
                "symmetric": True,
                "units": {"a": {"weight_bits": 4, "act_bits": 10}},
            },
            r"units\['a'\]\['act_bits'\] is 10; allowed bit-widths",
        ),
    ],
)
def test_a_bad_quant_spec_is_refused_naming_the_field(quant, message):
    with pytest.raises(ValueError, match=message):
        check_quant(quant)


def test_supported_bits_include_float():
    assert 32 in SUPPORTED_BITS and 2 in SUPPORTED_BITS
