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
from symnas.spaces import cells

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


# Functional identity of NB201 cells. Edge order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
NONE6 = ("none",) * 6


def test_nb201_canonical_of_the_all_none_cell_is_itself():
    arch = _arch_str(NONE6)
    assert cells.nb201_canonical(arch) == arch
    assert cells.nb201_function_key(arch) == "|0"


def test_nb201_canonical_keeps_a_cell_whose_ops_all_reach_the_output():
    ops = ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "skip_connect")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(ops)


def test_nb201_canonical_drops_a_dead_branch():
    # Node 1 is computed (conv from the input) but never read: 3<-1 and 2<-1 are none.
    ops = ("nor_conv_3x3", "none", "none", "skip_connect", "none", "none")
    dead = ("none", "none", "none", "skip_connect", "none", "none")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(dead)
    # Node 2 reads node 1 but is never read itself: both ops on the branch are dead.
    ops = ("nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "none", "none")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(
        ("none", "none", "none", "nor_conv_3x3", "none", "none")
    )


def test_nb201_canonical_drops_ops_that_read_a_node_the_input_never_reaches():
    # Node 1 gets nothing (1<-0 is none), so 2<-1 and 3<-1 read zeros.
    ops = ("none", "nor_conv_1x1", "nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(
        ("none", "nor_conv_1x1", "none", "none", "none", "skip_connect")
    )


def test_nb201_canonical_drops_a_conv_whose_node_reaches_the_output_only_through_none():
    # The conv 2<-1 feeds node 2, and 3<-2 is none: node 2 cannot reach the output, so the conv
    # (and 2<-0) are dead; node 1 still reaches the output through 3<-1.
    ops = ("skip_connect", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_1x1", "none")
    canonical = ("skip_connect", "none", "none", "nor_conv_1x1", "nor_conv_1x1", "none")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(canonical)
    assert cells.nb201_function_key(_arch_str(ops)) == cells.nb201_function_key(
        _arch_str(canonical)
    )


def test_nb201_a_cell_with_no_path_to_the_output_is_the_all_none_cell():
    ops = ("nor_conv_3x3", "nor_conv_3x3", "none", "none", "none", "none")
    assert cells.nb201_canonical(_arch_str(ops)) == _arch_str(NONE6)


def test_nb201_canonical_accepts_specs_and_is_idempotent():
    ops = ("none", "nor_conv_1x1", "nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect")
    arch = _arch_str(ops)
    canonical = cells.nb201_canonical(arch)
    assert cells.nb201_canonical(spaces.nb201_arch(arch)) == canonical
    assert cells.nb201_canonical(canonical) == canonical
    with pytest.raises(ValueError, match="allowed ops"):
        cells.nb201_canonical(_arch_str(("conv",) + NONE6[1:]))


def test_nb201_function_key_swaps_nodes_1_and_2_when_no_edge_joins_them():
    a = ("nor_conv_3x3", "avg_pool_3x3", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
    b = ("avg_pool_3x3", "nor_conv_3x3", "none", "skip_connect", "nor_conv_3x3", "nor_conv_1x1")
    assert cells.nb201_canonical(_arch_str(a)) != cells.nb201_canonical(_arch_str(b))
    assert cells.nb201_function_key(_arch_str(a)) == cells.nb201_function_key(_arch_str(b))
    # With the 2<-1 edge present the nodes are ordered: no swap.
    c = a[:2] + ("skip_connect",) + a[3:]
    d = b[:2] + ("skip_connect",) + b[3:]
    assert cells.nb201_function_key(_arch_str(c)) != cells.nb201_function_key(_arch_str(d))


def test_nb201_function_key_treats_skip_as_identity_and_pooling_as_linear():
    conv_out = _arch_str(("none", "none", "none", "nor_conv_3x3", "none", "none"))
    # skip then conv, and conv then skip, are the conv alone.
    via_1 = _arch_str(("skip_connect", "none", "none", "none", "nor_conv_3x3", "none"))
    via_2 = _arch_str(("none", "nor_conv_3x3", "none", "none", "none", "skip_connect"))
    keys = {cells.nb201_function_key(a) for a in (conv_out, via_1, via_2)}
    assert len(keys) == 1
    # avg(x + conv(x)) = avg(x) + avg(conv(x)): pooling the sum at node 2 vs pooling each term.
    pooled_sum = _arch_str(
        ("nor_conv_1x1", "skip_connect", "skip_connect", "none", "none", "avg_pool_3x3")
    )
    summed_pools = _arch_str(
        ("nor_conv_1x1", "none", "avg_pool_3x3", "avg_pool_3x3", "none", "skip_connect")
    )
    assert cells.nb201_function_key(pooled_sum) == cells.nb201_function_key(summed_pools)
    # x + x is not x.
    twice = _arch_str(("skip_connect", "none", "none", "skip_connect", "skip_connect", "none"))
    once = _arch_str(("none", "none", "none", "skip_connect", "none", "none"))
    assert cells.nb201_function_key(twice) != cells.nb201_function_key(once)


def test_nb201_function_key_tells_one_shared_conv_from_two_convs():
    # Shared: node 1 = conv(x), output = conv(x) + avg(conv(x)) with ONE conv.
    shared = _arch_str(
        ("nor_conv_3x3", "none", "avg_pool_3x3", "none", "skip_connect", "skip_connect")
    )
    # Two convs: output = conv_a(x) + avg(conv_b(x)); written as a tree both read the same.
    two = _arch_str(("nor_conv_3x3", "none", "none", "nor_conv_3x3", "avg_pool_3x3", "none"))
    assert cells.nb201_function_key(shared) != cells.nb201_function_key(two)
    assert cells.nb201_function_key(shared).count("=") == 1
    assert cells.nb201_function_key(two).count("=") == 2


def test_nb201_every_canonical_class_lies_in_one_function_class():
    # Every canonical class lies inside one function class, over the whole space.
    classes: dict[str, str] = {}
    for ops in itertools.product(spaces.NB201_OPS, repeat=6):
        arch = _arch_str(ops)
        key = cells.nb201_function_key(arch)
        assert classes.setdefault(cells.nb201_canonical(arch), key) == key
    assert len(classes) == 9445
    assert len(set(classes.values())) == 5044


def test_nb201_deduplicate_keeps_the_first_of_each_class_in_order():
    a = _arch_str(("nor_conv_3x3", "none", "none", "skip_connect", "none", "none"))
    b = _arch_str(("none", "none", "none", "skip_connect", "none", "none"))
    c = _arch_str(("avg_pool_3x3", "none", "none", "skip_connect", "none", "none"))
    d = _arch_str(("skip_connect", "none", "none", "none", "skip_connect", "none"))
    assert cells.nb201_deduplicate([a, b, c, d], key="canonical") == [a, d]
    assert cells.nb201_deduplicate([b, d, a], key="canonical") == [b, d]
    # By function d is b too (x through a skip then a skip).
    assert cells.nb201_deduplicate([a, b, c, d]) == [a]
    assert cells.nb201_deduplicate([a, b], key=lambda s: s) == [a, b]
    with pytest.raises(ValueError, match="key must be"):
        cells.nb201_deduplicate([a], key="isomorphic")


def test_nb201_functional_classes_of_the_benchmark_table():
    if not NB201_CSV.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {NB201_CSV}")
    with NB201_CSV.open() as f:
        rows = list(csv.DictReader(f))
    archs = [row["arch_str"] for row in rows]
    assert [int(row["index"]) for row in rows] == list(range(15625))
    # 6,180 cells have an unreachable op, so 15,625 - 6,180 = 9,445 canonical classes.
    assert sum(cells.nb201_canonical(a) != a for a in archs) == 6180
    assert len(cells.nb201_deduplicate(archs, key="canonical")) == 9445
    kept = cells.nb201_deduplicate(archs)
    assert len(kept) == 5044
    # The table's accuracies differ inside a class only by training noise: the mean gap
    # between two cells of one class is far below that of two random cells.
    acc = {row["arch_str"]: float(row["test_acc"]) for row in rows}
    by_key: dict[str, list[float]] = {}
    for a in archs:
        by_key.setdefault(cells.nb201_function_key(a), []).append(acc[a])
    gaps = [abs(x - y) for v in by_key.values() for x, y in itertools.combinations(v, 2)]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(archs), size=(20000, 2))
    random_gaps = [abs(acc[archs[i]] - acc[archs[j]]) for i, j in pairs]
    assert np.mean(gaps) < 0.3 < 5 < np.mean(random_gaps)
