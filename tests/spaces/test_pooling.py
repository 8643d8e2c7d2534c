"""Tests of the ResNet pooling-position space (Balanced Mixture of SuperNets, ResNet20)."""

import math

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.pooling import PoolingSpace


def test_resnet20_pooling_has_36_configurations_by_enumeration():
    space = spaces.resnet20_pooling()
    configs = [tuple(pg.to_json(s)["pool_at"]) for s in pg.iter(space)]
    assert len(configs) == len(set(configs)) == 36
    assert pg.dna_spec(space).space_size == 36
    assert all(0 < a < b <= 9 for a, b in configs)


def test_stage_depths_are_the_papers_notation():
    space = spaces.resnet20_pooling()
    depths = [spaces.stage_depths(pg.to_json(s)["pool_at"], 10) for s in pg.iter(space)]
    # Every split of the 10 layers (stem included) into 3 non-empty resolutions, once.
    assert sorted(map(tuple, depths)) == sorted(
        (a, b, 10 - a - b) for a in range(1, 9) for b in range(1, 10 - a)
    )
    assert spaces.stage_depths([4, 7], 10) == [4, 3, 3]  # the default ResNet20
    assert spaces.pool_positions([7, 1, 2]) == [7, 8]  # the brute-force best of the paper
    for d in depths:
        assert spaces.stage_depths(spaces.pool_positions(d), 10) == d


def test_widths_do_not_depend_on_pool_positions_and_task_fields_are_fixed():
    space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    assert isinstance(space, PoolingSpace)
    for spec in pg.random_sample(space, num_examples=5, seed=0):
        spec = pg.to_json(spec)
        assert spec["channels"] == [16, 16, 16, 16, 32, 32, 32, 64, 64, 64]
        assert (spec["num_classes"], spec["in_chans"], spec["image_size"]) == (10, 1, 8)
        assert spec["_type"] == PoolingSpace.__type_name__


@pytest.mark.parametrize("layers,pools", [(6, 2), (5, 1), (7, 3)])
def test_general_factory_size(layers, pools):
    space = spaces.resnet_pooling([8] * layers, num_pools=pools, image_size=16)
    assert len(list(pg.iter(space))) == math.comb(layers - 1, pools)


def test_codec_round_trip():
    space = spaces.resnet20_pooling()
    codec = spaces.compile(space)
    for genome in codec.random(5, np.random.default_rng(0)):
        assert codec.decode(genome) == pg.to_json(pg.materialize(space, codec.to_dna(genome)))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"num_pools": 0}, "num_pools"),
        ({"num_pools": 10}, "num_pools"),
        ({"channels": [16]}, "channels"),
        ({"channels": [16, 0, 32]}, "channels"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_chans": -1}, "in_chans"),
        ({"image_size": 3}, "image_size"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        spaces.resnet_pooling(**kwargs)
