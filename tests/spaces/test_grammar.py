"""Grammar spaces: declaration checks, the custom decision point, codec slots and operators."""

from __future__ import annotations

import itertools

import numpy as np
import pyglove as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symnas import algorithms, spaces
from symnas.spaces.cells import NB201_OPS
from symnas.spaces.context_free import CONSTRAINTS, Grammar, GrammarHyper
from symnas.spaces.grammars import (
    EXPRESSION_GRAMMAR,
    HNB201_DEPTH,
    einspace_shape,
    hnb201_grammar,
    nb201_derivation,
    unrolled_expression_space,
)

SMALL = """
S -> "a" S | "b" T | "c"
T -> "d" | "e" S
"""


def expression(max_depth: int) -> GrammarHyper:
    return spaces.grammar(EXPRESSION_GRAMMAR, max_depth=max_depth)


# ----------------------------------------------------------------------------- declaration
@pytest.mark.parametrize(
    ("productions", "start", "depth", "message"),
    [
        ('S -> "a" X', "S", 4, "unknown symbol 'X'"),
        ('S -> "a" S', "S", 4, r"\['S'\] never derive"),
        ('S -> "a" T\nT -> "b" T | "c" U\nU -> "x" U', "S", 5, r"\['S', 'T', 'U'\] never derive"),
        ('S -> "a" S | "b"', "Q", 4, "start symbol 'Q' has no production"),
        ('S -> "a" | ', "S", 4, "'S' has an empty alternative"),
        ({"S": []}, "S", 4, "'S' has no alternatives"),
        ('S -> T T\nT -> "x" U\nU -> "y" V\nV -> "z"', "S", 3, "'S -> T T' cannot terminate"),
        ('S -> "a"', "S", 0, "max_depth must be a positive int"),
    ],
)
def test_bad_grammars_are_refused_naming_the_symbol(productions, start, depth, message):
    with pytest.raises(ValueError, match=message):
        spaces.grammar(productions, start, max_depth=depth)


def test_dict_and_text_productions_declare_the_same_grammar():
    text = spaces.grammar(SMALL, max_depth=5)
    mapping = spaces.grammar({"S": ['"a" S', ['"b"', "T"], '"c"'], "T": ['"d"', '"e" S']}, "S", 5)
    assert text.rules == mapping.rules
    assert text.num_values() == mapping.num_values()


def test_size_counts_every_derivation_and_next_dna_enumerates_them():
    space = spaces.grammar(SMALL, max_depth=5)
    derivations = [pg.to_json(x) for x in pg.iter(space)]
    assert len(derivations) == space.num_values() == 19  # f(S, d) = f(S, d-1) + f(T, d-1) + 1
    assert len({str(d) for d in derivations}) == len(derivations)
    assert spaces.compile(pg.Dict(g=space, w=pg.oneof([1, 2]))).size == 38
    # Depth: the longest derivation has 5 nonterminal levels.
    assert max(Grammar.height(space.grammar.from_json(d)) for d in derivations) == 5


def test_compile_is_one_slot_whatever_the_depth_bound():
    for depth in (2, 6, 10):
        codec = spaces.compile(expression(depth))
        assert codec.num_slots == 1
    # The unrolled baseline grows exponentially with the depth.
    assert spaces.compile(unrolled_expression_space(5)).num_slots == 46


# ----------------------------------------------------------------------------- PyGlove and codec
def composed_space() -> pg.Dict:
    return pg.Dict(
        cell=spaces.grammar(SMALL, max_depth=6),
        width=pg.oneof([8, 16, 32]),
        lr=pg.floatv(0.01, 0.1),
        extra=pg.oneof([expression(4), None]),
    )


@pytest.mark.parametrize("seed", range(4))
def test_decode_equals_materialize_and_dna_round_trips(seed):
    space = composed_space()
    codec = spaces.compile(space)
    for genome in codec.random(8, np.random.default_rng(seed)):
        dna = codec.to_dna(genome)
        assert codec.decode(genome) == pg.to_json(pg.materialize(space, dna))
        back = codec.from_dna(pg.DNA.from_numbers(dna.to_numbers(), codec.dna_spec))
        assert codec.key(back) == codec.key(genome)


def test_pyglove_sampling_works_on_grammar_spaces():
    space = composed_space()
    for value in pg.random_sample(space, 5, seed=1):
        assert value.cell[0] == "S" and value.width in (8, 16, 32)
    algorithm = algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, metric="reward", seed=0
    )
    seen = []
    for value, feedback in pg.sample(space, algorithm, num_examples=10):
        seen.append(pg.to_json(value))
        feedback(float(len(str(value.cell))))
    assert len(seen) == 10


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("random", {"metric": "m"}),
        ("regularized_evolution", {"metric": "m", "population_size": 4, "tournament_size": 2}),
        ("nsga2", {"objectives": {"m": "max", "n": "min"}, "population_size": 4}),
    ],
)
def test_sampling_algorithms_propose_valid_grammar_genomes(name, options):
    codec = spaces.compile(composed_space())
    algorithm = algorithms.create(name, **options)
    algorithm.bind(codec, 3)
    for _ in range(6):
        genomes = algorithm.propose_batch(2)
        for genome in genomes:
            codec.validate(genome)
        metrics = [{"m": float(len(str(codec.decode(g)))), "n": 1.0} for g in genomes]
        algorithm.feedback_batch(genomes, metrics)


def test_an_unknown_custom_value_and_a_bad_derivation_are_named():
    codec = spaces.compile(composed_space())
    genome = codec.random(1, np.random.default_rng(0))[0]
    genome[0] = 12345.0
    with pytest.raises(ValueError, match="'cell' .*custom"):
        codec.decode(genome)
    with pytest.raises(ValueError, match="alternative 7 of 'S'"):
        codec.from_numbers(["7", 0, 0.05, 1])


def test_decoding_an_out_of_range_choice_names_the_slot():
    codec = spaces.compile(spaces.nb201_cell())
    with pytest.raises(ValueError, match=r"'edges\[0\]': value 9 .*allowed 0..4"):
        codec.decode([9, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"'edges\[1\]': value -1"):
        codec.decode([0, -1, 0, 0, 0, 0])


# ----------------------------------------------------------------------------- operators
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(3, 7))
def test_operators_keep_derivations_valid_and_within_the_depth_bound(seed, depth):
    space = pg.Dict(expr=expression(depth), small=spaces.grammar(SMALL, max_depth=depth))
    codec = spaces.compile(space)
    grammar = space.expr.grammar
    rng = np.random.default_rng(seed)
    parents = codec.random(6, rng)
    children = np.concatenate(
        [codec.mutate(parents, rng), codec.crossover(parents, parents[::-1], rng)]
    )
    for child in children:
        codec.validate(child)
        tree = grammar.decode(codec.numbers(child)[0])
        assert Grammar.height(tree) <= depth


def differing_subtrees(a, b, path=()):
    """Paths of the topmost nodes where two derivations differ."""
    if a[1] != b[1] or len(a[2]) != len(b[2]):
        return [path]
    out = []
    for i, (x, y) in enumerate(zip(a[2], b[2], strict=True)):
        if x != y:
            out.extend(differing_subtrees(x, y, path + (i,)))
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_mutation_rederives_one_subtree_and_crossover_grafts_a_same_symbol_subtree(seed):
    grammar = expression(6).grammar
    rng = np.random.default_rng(seed)
    a, b = grammar.random(rng), grammar.random(rng)
    child = grammar.mutate(a, rng)
    if grammar.count() > 1:
        assert child != a
    # Everything outside one subtree (below the common ancestor of the changes) is kept, and
    # that subtree still derives the same nonterminal.
    paths = differing_subtrees(a, child)
    common = paths[0][
        : next(
            (i for i in range(len(paths[0])) if len({p[: i + 1] for p in paths}) > 1), len(paths[0])
        )
    ]
    old, new = a, child
    for i in common:
        old, new = old[2][i], new[2][i]
    assert old[0] == new[0] and old != new
    crossed = grammar.crossover(a, b, rng)
    for path in differing_subtrees(a, crossed):
        node = a
        for i in path:
            node = node[2][i]
        grafted = crossed
        for i in path:
            grafted = grafted[2][i]
        assert grafted[0] == node[0]
        assert any(n == grafted for _, n, _ in grammar.nodes(b))


def test_crossover_of_a_single_grammar_recombines_instead_of_copying_a_parent():
    codec = spaces.compile(expression(7))
    rng = np.random.default_rng(0)
    a, b = codec.random(2000, rng), codec.random(2000, rng)

    def nodes(genome):
        return codec.numbers(genome)[0].count(",") + 1

    # Pairs of distinct parents with a subtree below the root (two thirds of random expressions
    # are a bare leaf, with nothing to recombine).
    keep = [
        i
        for i in range(2000)
        if nodes(a[i]) >= 4 and nodes(b[i]) >= 4 and codec.key(a[i]) != codec.key(b[i])
    ][:200]
    assert len(keep) == 200
    child = codec.crossover(a[keep], b[keep], rng)
    copies = sum(
        codec.key(c) in (codec.key(x), codec.key(y))
        for c, x, y in zip(child, a[keep], b[keep], strict=True)
    )
    assert copies <= 20


def test_mutation_changes_the_derivation():
    codec = spaces.compile(expression(6))
    rng = np.random.default_rng(1)
    parents = codec.random(50, rng)
    children = codec.mutate(parents, rng)
    assert all(codec.key(p) != codec.key(c) for p, c in zip(parents, children, strict=True))


# ----------------------------------------------------------------------------- built-in grammars
def test_every_nb201_cell_is_derivable_in_the_hierarchical_grammar():
    grammar = hnb201_grammar().grammar
    # The deepest cells (under C) sit at level 4, with 4 levels of depth left for their subtree.
    for cell in itertools.product(NB201_OPS, repeat=6):
        tree = grammar.from_json(nb201_derivation(cell)[2][2][2], "CELL", HNB201_DEPTH - 3)
        assert Grammar.height(tree) == (4 if "nor_conv" in str(cell) else 2)
    full = nb201_derivation(
        ["nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "none", "none"]
    )
    tree = grammar.from_json(full)
    assert grammar.to_json(grammar.decode(grammar.encode(tree))) == full


def test_hierarchical_nb201_size_and_depth_bounds():
    assert len(str(hnb201_grammar().num_values())) == 447  # 1.23e446 derivations
    assert hnb201_grammar(6).num_values() < hnb201_grammar(7).num_values()
    assert hnb201_grammar(8).num_values() == hnb201_grammar(7).num_values()
    with pytest.raises(ValueError, match='OPS -> "Linear1" CONVBLOCK'):
        hnb201_grammar(5)


def test_einspace_derivations_type_check_on_their_tokens():
    space = spaces.einspace(max_depth=6)
    codec = spaces.compile(space)
    rng = np.random.default_rng(0)
    genomes = codec.random(40, rng)
    genomes = np.concatenate([genomes, codec.mutate(genomes, rng)])
    for genome in genomes:
        spec = codec.decode(genome)
        assert spec["derivation"][0] == "NET"
        einspace_shape(spec["derivation"], (16, 16))
    bad = ["NET", "branching", ["BRANCH", "clone"], ["M", "computation", ["COMP", "linear16"]],
           ["M", "computation", ["COMP", "linear32"]], ["AGG", "add"]]  # fmt: skip
    with pytest.raises(ValueError, match="'add' needs equal shapes"):
        einspace_shape(bad, (16, 16))
    with pytest.raises(ValueError, match="violates constraint"):
        space.derivation.custom_encode(bad)


@pytest.mark.parametrize("make", [spaces.hnb201, spaces.einspace], ids=["hnb201", "einspace"])
def test_built_in_grammar_spaces_decode_as_pyglove_materializes(make):
    space = make()
    codec = spaces.compile(space)
    for genome in codec.random(2, np.random.default_rng(5)):
        assert codec.decode(genome) == pg.to_json(pg.materialize(space, codec.to_dna(genome)))


def test_constraints_are_registered_by_name():
    assert "einspace_shapes" in CONSTRAINTS.names()
    with pytest.raises(ValueError, match=r"Unknown grammar constraint 'tiny'; valid .*einspace"):
        spaces.grammar('S -> "a" | "b"', constraint="tiny:3")
