"""The size decisions of weight-entangled spaces (``spaces.relaxation.size_decisions``, TangleNAS)
and the dispatch between op and size relaxations."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.examples import examples
from symnas.spaces.relaxation import Relaxation, SizeRelaxation, relax, size_decisions
from symnas.spaces.tdnn import TDNNLayer, TDNNSpace


def test_vit_decisions_are_its_decision_points():
    relaxation = size_decisions(examples()["vit"].obj())
    assert relaxation.decisions == {
        "embed_dim": (16, 24, 32),
        "depth": (2, 3),
        **{f"mlp_ratio[{i}]": (2.0, 4.0) for i in range(3)},
        **{f"num_heads[{i}]": (1, 2) for i in range(3)},
    }


def test_tdnn_branch_decisions_are_shared_by_position():
    relaxation = size_decisions(examples()["tdnn"].obj())
    assert list(relaxation.decisions) == [
        "stem.width",
        "stem.kernel",
        "blocks",
        "blocks[0].width",
        "blocks[0].kernel",
        "blocks[1].width",
        "blocks[1].kernel",
        "cat_channels",
    ]
    assert relaxation.decisions["blocks"] == (1, 2)


@pytest.mark.parametrize("family", ["vit", "vit_resnas", "tdnn"])
def test_one_hot_discretizes_back_to_the_spec(family):
    space = examples()[family].obj()
    relaxation, codec = size_decisions(space), spaces.compile(space)
    for genome in codec.random(20, np.random.default_rng(1)):
        spec = codec.decode(genome)
        assert relaxation.discretize(relaxation.one_hot(spec)) == spec


def test_layers_beyond_the_depth_get_zero_weights():
    relaxation = size_decisions(examples()["tdnn"].obj())
    codec = spaces.compile(examples()["tdnn"].obj())
    spec = next(
        codec.decode(g)
        for g in codec.random(50, np.random.default_rng(0))
        if len(codec.decode(g)["blocks"]) == 1
    )
    one_hot = relaxation.one_hot(spec)
    assert not one_hot["blocks[1].width"].any() and one_hot["blocks"].tolist() == [1.0, 0.0]


def test_relax_dispatches_on_the_kind_of_decision():
    assert isinstance(relax(examples()["nb201"].obj()), Relaxation)
    assert isinstance(relax(examples()["vit"].obj()), SizeRelaxation)
    with pytest.raises(ValueError, match="neither relaxation applies"):
        relax(pg.Dict(x=pg.oneof(["a", 1])))


def test_non_size_decisions_and_mismatched_branches_are_named():
    with pytest.raises(ValueError, match=r"decision points \['act'\] are not"):
        size_decisions(pg.Dict(width=pg.oneof([8, 16]), act=pg.oneof(["relu", "gelu"])))

    def layer(widths):
        return TDNNLayer(width=pg.oneof(widths), kernel=3, dilation=2)

    space = TDNNSpace(
        stem=TDNNLayer(width=16, kernel=3, dilation=1),
        blocks=pg.oneof([[layer([8, 16])], [layer([8, 32]), layer([8, 16])]]),
        cat_channels=32,
        in_feats=4,
        num_classes=2,
        embed_dim=8,
        scale=2,
        se_reduction=2,
        attention_dim=4,
    )
    with pytest.raises(ValueError, match=r"'blocks\[0\].width' has candidates \[8, 16\]"):
        size_decisions(space)
