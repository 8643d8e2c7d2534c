"""NAS-Bench-201 and DARTS cell spaces: sizes, arch-string round trips, specs and errors."""

import copy
import csv
import itertools
import random
from pathlib import Path

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NB201_CSV = DATA / "nb201" / "nb201_cifar10.csv"


def _arch_str(ops):
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def test_nb201_space_has_15625_cells_over_6_edges():
    spec = pg.dna_spec(spaces.nb201_cell())
    assert spec.space_size == 5**6 == 15625
    assert len(spec.decision_points) == 6
    assert spaces.NB201_OPS == (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
    )


def test_nb201_arch_round_trips_all_15625_cells():
    seen = set()
    for ops in itertools.product(spaces.NB201_OPS, repeat=6):
        arch = _arch_str(ops)
        spec = spaces.nb201_arch(arch)
        assert spec["edges"] == list(ops)
        assert spaces.nb201_arch_str(spec) == arch
        seen.add(arch)
    assert len(seen) == 15625


def test_nb201_arch_matches_the_benchmark_table():
    if not NB201_CSV.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {NB201_CSV}")
    with NB201_CSV.open() as f:
        archs = [row["arch_str"] for row in csv.DictReader(f)]
    assert len(archs) == len(set(archs)) == 15625
    assert all(spaces.nb201_arch_str(spaces.nb201_arch(a)) == a for a in archs)


def test_nb201_arch_spec_equals_the_materialized_space():
    space = spaces.nb201_cell(C=8, N=2, num_classes=7, in_chans=1)
    dna_spec = pg.dna_spec(space)
    for seed in range(5):
        dna = pg.random_dna(dna_spec, random.Random(seed))
        decoded = pg.to_json(pg.materialize(space, dna))
        arch = spaces.nb201_arch_str(decoded)
        assert spaces.nb201_arch(arch, C=8, N=2, num_classes=7, in_chans=1) == decoded
        assert decoded["_type"] == "symnas.spaces.cells.NB201Cell"
        # The DNA value of edge k is the index of its op: the official edge order is kept.
        assert decoded["edges"] == [spaces.NB201_OPS[v.value] for v in dna.children]


def test_nb201_official_edge_order():
    spec = spaces.nb201_arch(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    )
    assert spec["edges"] == [
        "nor_conv_3x3",  # 1 <- 0
        "none",  # 2 <- 0
        "avg_pool_3x3",  # 2 <- 1
        "skip_connect",  # 3 <- 0
        "nor_conv_1x1",  # 3 <- 1
        "none",  # 3 <- 2
    ]


@pytest.mark.parametrize(
    ("arch", "words"),
    [
        (
            "|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            ["'conv_3x3'", "(1<-0)", "nor_conv_3x3"],
        ),
        ("|none~0|+|none~0|none~1|+|none~0|max_pool_3x3~1|none~2|", ["(3<-1)", "avg_pool_3x3"]),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", ["(2<-0)", "none~0"]),
        ("|none~0|+|none~0|none~1|", ["3 node groups"]),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2", "2 input edge"]),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", ["node 1"]),
    ],
)
def test_nb201_arch_errors_name_the_edge_and_allowed_values(arch, words):
    with pytest.raises(ValueError) as err:
        spaces.nb201_arch(arch)
    for word in words:
        assert word in str(err.value)


def test_nb201_spec_errors():
    with pytest.raises(TypeError, match="arch_str must be a str"):
        spaces.nb201_arch(3)
    spec = spaces.nb201_arch(_arch_str(["none"] * 6))
    with pytest.raises(ValueError, match=r"edges\[4\] \(3<-1\) is 'conv'"):
        spaces.nb201_arch_str({**spec, "edges": ["none"] * 4 + ["conv", "none"]})
    with pytest.raises(ValueError, match="list of 6 op names"):
        spaces.nb201_arch_str({**spec, "edges": ["none"] * 5})
    with pytest.raises(TypeError, match="NAS-Bench-201 spec"):
        spaces.nb201_arch_str({"_type": "other", "edges": ["none"] * 6})
    with pytest.raises(ValueError, match="C must be a positive int"):
        spaces.nb201_arch(_arch_str(["none"] * 6), C=0)


def test_darts_space_size_is_exact():
    one_cell = 1 * 3 * 6 * 10 * 8**8  # C(2,2) C(3,2) C(4,2) C(5,2) input pairs, 8 ops per input
    assert spaces.darts_cell_size() == one_cell == 3_019_898_880
    space = spaces.darts_cell()
    assert pg.dna_spec(space).space_size == one_cell**2 == 9_119_789_245_425_254_400
    no_none = spaces.darts_cell(ops=[op for op in spaces.DARTS_OPS if op != "none"])
    assert pg.dna_spec(no_none).space_size == spaces.darts_cell_size(7) ** 2
    assert spaces.darts_cell_size(7) ** 2 == 1_076_746_950_455_072_400  # the paper's ~1e18


def test_darts_specs_have_sorted_distinct_inputs_and_allowed_ops():
    space = spaces.darts_cell(C=8, layers=5)
    dna_spec = pg.dna_spec(space)
    assert len(dna_spec.decision_points) == 2 * 4 * (2 + 2)
    seen_inputs = set()
    for seed in range(12):
        spec = pg.to_json(pg.materialize(space, pg.random_dna(dna_spec, random.Random(seed))))
        assert spec["_type"] == "symnas.spaces.cells.DARTSGenotype"
        assert (spec["C"], spec["layers"]) == (8, 5)
        for cell in ("normal", "reduce"):
            nodes = spaces.darts_nodes(spec, cell)
            for i, (inputs, ops) in enumerate(nodes):
                assert inputs[0] < inputs[1] < 2 + i
                assert all(op in spaces.DARTS_OPS for op in ops)
                seen_inputs.add((i, tuple(inputs)))
    assert len({pair for node, pair in seen_inputs if node == 3}) >= 5  # inputs really vary


def test_darts_genotype_from_darts_pairs():
    normal = [
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ]
    reduce = [("max_pool_3x3", 0), ("max_pool_3x3", 1)] + [("skip_connect", 2), ("avg_pool_3x3", 0)]
    reduce += [("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]
    spec = spaces.darts_genotype(normal, reduce)
    nodes = spaces.darts_nodes(spec, "normal")
    assert nodes[2] == ([0, 1], ["skip_connect", "sep_conv_3x3"])  # pairs sorted by input
    assert nodes[3] == ([0, 2], ["skip_connect", "dil_conv_3x3"])
    # The dict equals the symbolic object's JSON form (pg.from_json pops nested '_type' keys of
    # its argument, hence the copy).
    assert pg.to_json(pg.from_json(copy.deepcopy(spec))) == spec


def test_darts_errors():
    with pytest.raises(ValueError, match="distinct names from"):
        spaces.darts_cell(ops=["conv_7x7"])
    with pytest.raises(ValueError, match="8 \\(op, input\\) pairs"):
        spaces.darts_genotype([("skip_connect", 0)], [])
    pairs = [("skip_connect", 0), ("skip_connect", 1)] * 4
    with pytest.raises(ValueError, match=r"normal\[1\].inputs must be 2 sorted distinct"):
        spaces.darts_genotype(pairs[:2] + [("skip_connect", 1), ("none", 1)] + pairs[4:], pairs)
    with pytest.raises(ValueError, match=r"reduce\[0\].ops must be 2 op names"):
        spaces.darts_genotype(pairs, [("conv", 0), ("none", 1)] + pairs[2:])
    spec = spaces.darts_genotype(pairs, pairs)
    with pytest.raises(ValueError, match="'normal' or 'reduce'"):
        spaces.darts_nodes(spec, "both")
    with pytest.raises(TypeError, match="DARTS spec"):
        spaces.darts_nodes(spaces.nb201_arch(_arch_str(["none"] * 6)), "normal")


@pytest.mark.parametrize("make_space", [spaces.nb201_cell, spaces.darts_cell])
def test_compiled_codec_decodes_like_materialize(make_space):
    space = make_space()
    codec = spaces.compile(space)
    for genome in codec.random(4, np.random.default_rng(0)):
        spec = codec.decode(genome)
        assert spec == pg.to_json(pg.materialize(space, codec.to_dna(genome)))
        assert np.array_equal(codec.from_dna(codec.to_dna(genome)), genome)
