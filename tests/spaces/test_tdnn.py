"""Tests of the EfficientTDNN space."""

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.tdnn import TDNNSpace


def test_published_coarse_space_size():
    space = spaces.tdnn()
    assert pg.dna_spec(space).space_size == 5 * (15**3 + 15**4 + 15**5) == 4_066_875


def test_published_fine_space_size_is_about_1e13():
    size = pg.dna_spec(spaces.tdnn(fine=True)).space_size
    assert size == sum((49 * 3) ** (d + 1) * 145 for d in (2, 3, 4))
    assert 1.0e13 <= size < 1.01e13


def test_published_choices():
    spec = pg.to_json(next(pg.random_sample(spaces.tdnn(in_feats=30, num_classes=6), seed=3)))
    space = spaces.tdnn()
    assert list(space.sym_init_args.stem.sym_init_args.width.candidates) == [
        128,
        176,
        256,
        384,
        512,
    ]
    assert list(space.sym_init_args.cat_channels.candidates) == [384, 536, 768, 1152, 1536]
    assert (spec["in_feats"], spec["num_classes"], spec["embed_dim"]) == (30, 6, 192)
    assert (spec["scale"], spec["se_reduction"], spec["attention_dim"]) == (8, 4, 128)


def test_small_space_enumerates_to_its_formula_and_dilations_follow_position():
    space = spaces.tdnn_space(
        widths=[8],
        kernels=[1, 3],
        depths=[1, 2],
        cat_channels=[8, 16],
        in_feats=5,
        num_classes=3,
        embed_dim=4,
        scale=4,
    )
    specs = [pg.to_json(s) for s in pg.iter(space)]
    assert len(specs) == 2 * (2**2 + 2**3)
    assert len({str(s) for s in specs}) == len(specs)
    for spec in specs:
        assert spec["stem"]["dilation"] == 1
        assert [b["dilation"] for b in spec["blocks"]] == list(range(2, 2 + len(spec["blocks"])))
    assert isinstance(space, TDNNSpace)


def test_codec_round_trip():
    space = spaces.tdnn()
    codec = spaces.compile(space)
    for genome in codec.random(5, np.random.default_rng(1)):
        assert codec.decode(genome) == pg.to_json(pg.materialize(space, codec.to_dna(genome)))


BASE = dict(
    widths=[8, 16],
    kernels=[1, 3],
    depths=[1, 2],
    cat_channels=[8],
    in_feats=5,
    num_classes=3,
    embed_dim=4,
    scale=4,
)


@pytest.mark.parametrize(
    "override,field",
    [
        ({"kernels": [2, 3]}, "kernels"),
        ({"widths": [6, 8]}, "widths"),
        ({"widths": [8, 8]}, "widths"),
        ({"depths": []}, "depths"),
        ({"cat_channels": [0]}, "cat_channels"),
        ({"in_feats": 0}, "in_feats"),
        ({"embed_dim": 2.5}, "embed_dim"),
    ],
)
def test_bad_arguments_name_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        spaces.tdnn_space(**{**BASE, **override})
