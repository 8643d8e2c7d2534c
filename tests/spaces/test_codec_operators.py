"""What the codec's genome operators do, beyond producing valid genomes.

Crossover must mix two parents (uniformly over top-level decisions, each sub-tree moving whole);
mutation must change the number of decisions its rate asks for, always to another value.
"""

from __future__ import annotations

import numpy as np
import pyglove as pg

from symnas import spaces

NUM_DECISIONS = 12
FLAT = pg.Dict(**{f"d{i:02d}": pg.oneof(list(range(10))) for i in range(NUM_DECISIONS)})
NESTED = pg.Dict(
    block=pg.oneof(
        [
            pg.Dict(kind="conv", k=pg.oneof([1, 3, 5, 7])),
            pg.Dict(kind="attn", heads=pg.oneof([1, 2, 4]), dim=pg.oneof([8, 16, 32])),
        ]
    ),
    ops=pg.manyof(2, ["a", "b", "c", "d", "e"], distinct=True, sorted=True),
    lr=pg.floatv(0.1, 1.0),
    depth=pg.oneof([2, 3, 4]),
)


def test_crossover_takes_each_gene_from_one_parent_uniformly_and_independently():
    codec = spaces.compile(FLAT)
    n = 2000
    a = np.zeros((n, NUM_DECISIONS))
    b = np.ones((n, NUM_DECISIONS))
    codec.validate(a[0])
    codec.validate(b[0])
    children = codec.crossover(a, b, np.random.default_rng(0))
    assert children.shape == (n, NUM_DECISIONS)
    assert set(np.unique(children).tolist()) == {0.0, 1.0}
    from_b = children == 1.0
    # Each gene comes from either parent with probability 1/2 (standard error 0.011 per
    # position), independently of the other genes (a one-point crossover would correlate
    # neighbours).
    assert np.all(np.abs(from_b.mean(axis=0) - 0.5) < 0.05)
    same_source = (from_b[:, :-1] == from_b[:, 1:]).mean()
    assert abs(same_source - 0.5) < 0.03
    # A child equal to one of its parents needs all twelve genes from it: 2 / 4096.
    mixed = from_b.any(axis=1) & (~from_b).any(axis=1)
    assert mixed.mean() > 0.99


def test_crossover_of_random_parents_mixes_them():
    codec = spaces.compile(FLAT)
    rng = np.random.default_rng(1)
    a, b = codec.random(500, rng), codec.random(500, rng)
    children = codec.crossover(a, b, rng)
    assert np.all((children == a) | (children == b))
    differs_from_both = ((children != a).any(axis=1)) & ((children != b).any(axis=1))
    assert differs_from_both.mean() > 0.95
    # Genes where the parents differ are split about evenly between them.
    differ = a != b
    assert abs((children == b)[differ].mean() - 0.5) < 0.03


def test_crossover_moves_sub_trees_and_manyof_groups_whole():
    codec = spaces.compile(NESTED)
    rng = np.random.default_rng(2)
    conv = next(g for g in codec.random(50, rng) if codec.decode(g)["block"]["kind"] == "conv")
    attn = next(
        g
        for g in codec.random(50, rng)
        if codec.decode(g)["block"]["kind"] == "attn"
        and codec.decode(g)["ops"] != codec.decode(conv)["ops"]
        and codec.decode(g)["depth"] != codec.decode(conv)["depth"]
    )
    parents = [codec.decode(conv), codec.decode(attn)]
    combos = set()
    children = codec.crossover(np.tile(conv, (400, 1)), np.tile(attn, (400, 1)), rng)
    for child in children:
        codec.validate(child)
        spec = codec.decode(child)
        source = []
        for field in ("block", "ops", "lr", "depth"):
            matches = [i for i, p in enumerate(parents) if spec[field] == p[field]]
            assert matches, (field, spec)
            source.append(matches[0])
        combos.add(tuple(source))
    # Four top-level units, each from either parent: all 16 combinations occur.
    assert len(combos) == 16


def test_mutation_rate_sets_how_many_decisions_change():
    codec = spaces.compile(FLAT)
    rng = np.random.default_rng(3)
    parents = codec.random(400, rng)
    every = codec.mutate(parents, rng, rate=1.0)
    assert np.all(every != parents)
    half = codec.mutate(parents, rng, rate=0.5)
    changed = (half != parents).sum(axis=1)
    assert abs(changed.mean() - 6.0) < 0.4
    # rate 0 still changes one decision, as the default does.
    assert np.all((codec.mutate(parents, rng, rate=0.0) != parents).sum(axis=1) == 1)
    assert np.all((codec.mutate(parents, rng) != parents).sum(axis=1) == 1)


def test_mutation_reaches_every_other_value_uniformly():
    codec = spaces.compile(pg.Dict(x=pg.oneof(list(range(5)))))
    rng = np.random.default_rng(4)
    children = codec.mutate(np.zeros((4000, 1)), rng)[:, 0]
    counts = np.bincount(children.astype(int), minlength=5)
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] / 4000 - 0.25) < 0.03)


def test_mutating_a_branch_choice_draws_the_newly_active_sub_tree():
    codec = spaces.compile(NESTED)
    rng = np.random.default_rng(5)
    parents = codec.random(300, rng)
    children = codec.mutate(parents, rng)
    kinds_changed = 0
    unchanged = 0
    for parent, child in zip(parents, children, strict=True):
        codec.validate(child)
        p_spec, c_spec = codec.decode(parent), codec.decode(child)
        fields = {"conv": {"kind", "k"}, "attn": {"kind", "heads", "dim"}}
        assert set(c_spec["block"]) == fields[c_spec["block"]["kind"]]
        changed = [f for f in ("block", "ops", "lr", "depth") if p_spec[f] != c_spec[f]]
        # One decision changed: one top-level field differs (a switched branch brings a
        # freshly drawn sub-tree, a kept branch changes one of its sub-choices). A change inside
        # the distinct pg.manyof can be undone by its repair (a duplicate redrawn to the old
        # value), so an unchanged spec is counted, not rejected.
        assert len(changed) <= 1, (p_spec, c_spec)
        unchanged += not changed
        if p_spec["block"]["kind"] != c_spec["block"]["kind"]:
            kinds_changed += 1
        elif changed == ["block"]:
            differs = [k for k in p_spec["block"] if p_spec["block"][k] != c_spec["block"][k]]
            assert len(differs) == 1
    # The branch choice is one of five active decisions (four in a conv block).
    assert 40 < kinds_changed < 90
    assert unchanged < 15
