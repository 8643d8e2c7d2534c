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
    # At a low rate, genomes the rate left unchanged get one change; the others keep theirs.
    low = (codec.mutate(parents, rng, rate=0.05) != parents).sum(axis=1)
    assert np.all(low >= 1) and np.mean(low >= 2) > 0.05


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
    for parent, child in zip(parents, children, strict=True):
        codec.validate(child)
        p_spec, c_spec = codec.decode(parent), codec.decode(child)
        fields = {"conv": {"kind", "k"}, "attn": {"kind", "heads", "dim"}}
        assert set(c_spec["block"]) == fields[c_spec["block"]["kind"]]
        changed = [f for f in ("block", "ops", "lr", "depth") if p_spec[f] != c_spec[f]]
        # One decision changed: one top-level field differs (a switched branch brings a
        # freshly drawn sub-tree, a kept branch changes one of its sub-choices; a change in the
        # distinct pg.manyof takes a candidate it does not hold).
        assert len(changed) == 1, (p_spec, c_spec)
        if p_spec["block"]["kind"] != c_spec["block"]["kind"]:
            kinds_changed += 1
        elif changed == ["block"]:
            differs = [k for k in p_spec["block"] if p_spec["block"][k] != c_spec["block"][k]]
            assert len(differs) == 1
    # The branch choice is one of five active decisions (four in a conv block).
    assert 40 < kinds_changed < 90


def _distinct_codec(k: int, n: int, sorted_: bool):
    return spaces.compile(pg.Dict(m=pg.manyof(k, list(range(n)), distinct=True, sorted=sorted_)))


def test_mutating_a_distinct_manyof_takes_a_value_no_sub_choice_holds():
    # PyGlove's uniform mutator: the mutated sub-choice takes a candidate outside the current
    # selection, uniformly; the others keep theirs. So the selection always changes, by one
    # candidate swapped for one of the n - k unused ones.
    k, n, rows = 3, 6, 3000
    for sorted_ in (True, False):
        codec = _distinct_codec(k, n, sorted_)
        rng = np.random.default_rng(6)
        parents = codec.random(rows, rng)
        children = codec.mutate(parents, rng)
        added, removed = [], []
        for parent, child in zip(parents, children, strict=True):
            codec.validate(child)
            gained = set(child.tolist()) - set(parent.tolist())
            lost = set(parent.tolist()) - set(child.tolist())
            assert len(gained) == len(lost) == 1, (parent, child)
            added.extend(gained)
            removed.extend(lost)
            if not sorted_:
                assert (child != parent).sum() == 1
        # Every unused candidate is equally likely; each selected one equally likely to leave
        # (the candidate counts are uniform because the parents are).
        assert np.all(np.abs(np.bincount(np.array(added, int), minlength=n) / rows - 1 / n) < 0.03)
        assert np.all(
            np.abs(np.bincount(np.array(removed, int), minlength=n) / rows - 1 / n) < 0.03
        )


def test_mutating_a_distinct_manyof_at_a_high_rate_keeps_it_distinct_and_changed():
    codec = _distinct_codec(3, 5, False)
    rng = np.random.default_rng(7)
    parents = codec.random(1000, rng)
    children = codec.mutate(parents, rng, rate=1.0)
    assert np.all(np.sort(children, axis=1)[:, 1:] > np.sort(children, axis=1)[:, :-1])
    # Every sub-choice was picked and moves to a value outside the group at that moment.
    assert np.all(children[:, 0] != parents[:, 0])


def test_a_distinct_manyof_of_every_candidate():
    # Sorted: the one possible selection, so a mutation changes another decision.
    space = pg.Dict(m=pg.manyof(3, [0, 1, 2], distinct=True, sorted=True), x=pg.oneof([0, 1]))
    codec = spaces.compile(space)
    rng = np.random.default_rng(8)
    parents = codec.random(200, rng)
    children = codec.mutate(parents, rng)
    assert np.all(children[:, :3] == [0, 1, 2])
    assert np.all(children[:, 3] != parents[:, 3])
    # Unsorted: a permutation; the mutated sub-choice swaps values with another one.
    codec = _distinct_codec(3, 3, False)
    parents = codec.random(600, rng)
    children = codec.mutate(parents, rng)
    assert np.all(np.sort(children, axis=1) == [0, 1, 2])
    assert np.all((children != parents).sum(axis=1) == 2)
    assert len({codec.key(c) for c in children}) == 6


def test_sorting_a_manyof_moves_each_sub_choice_with_its_sub_tree():
    # PyGlove sorts the DNA children of a sorted pg.manyof, each with its sub-tree: a mutation
    # changes one element of the selection (as a multiset of sub-specs), never the others'.
    space = pg.Dict(
        m=pg.manyof(
            2,
            [pg.Dict(a=pg.oneof([1, 2, 3])), pg.Dict(b=pg.oneof([4, 5, 6])), 7, 8],
            distinct=True,
            sorted=True,
        )
    )
    codec = spaces.compile(space)
    rng = np.random.default_rng(9)
    parents = codec.random(400, rng)
    children = codec.mutate(parents, rng)
    moved = 0
    for parent, child in zip(parents, children, strict=True):
        p_spec, c_spec = codec.decode(parent)["m"], codec.decode(child)["m"]
        assert c_spec == pg.to_json(pg.materialize(space, codec.to_dna(child)))["m"]
        kept = [e for e in p_spec if e in c_spec]
        assert len(kept) == 1, (p_spec, c_spec)
        moved += c_spec.index(kept[0]) != p_spec.index(kept[0])
    assert moved > 50
