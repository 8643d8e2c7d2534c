"""The compiled codec agrees with PyGlove on random nested spaces and round-trips exactly."""

from __future__ import annotations

import math

import numpy as np
import pyglove as pg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symnas import spaces


@pg.members([("width", pg.typing.Any()), ("layers", pg.typing.Any()), ("tag", pg.typing.Str())])
class Block(pg.Object):
    """A tiny symbolic class used as a node of random spaces."""


def _hyper(draw, depth: int):
    """Draws a random (possibly nested, conditional) hyper-value."""
    kind = draw(st.sampled_from(["oneof", "manyof", "floatv", "dict", "list", "object", "const"]))
    if depth <= 0 and kind in ("dict", "list", "object"):
        kind = "oneof"
    if kind == "const":
        return draw(st.integers(-5, 5))
    if kind == "floatv":
        low = draw(st.floats(-2, 2, allow_nan=False))
        return pg.floatv(low, low + draw(st.floats(0.5, 3)))
    if kind == "oneof":
        n = draw(st.integers(1, 4))
        candidates = [
            _hyper(draw, depth - 1) if draw(st.booleans()) and depth > 0 else f"c{i}"
            for i in range(n)
        ]
        return pg.oneof(candidates)
    if kind == "manyof":
        n = draw(st.integers(2, 4))
        distinct = draw(st.booleans())
        k = draw(st.integers(1, n if distinct else 3))
        candidates = [
            _hyper(draw, depth - 1) if draw(st.booleans()) and depth > 0 else i for i in range(n)
        ]
        return pg.manyof(k, candidates, distinct=distinct, sorted=draw(st.booleans()))
    if kind == "dict":
        return pg.Dict({f"k{i}": _hyper(draw, depth - 1) for i in range(draw(st.integers(1, 3)))})
    if kind == "list":
        return pg.List([_hyper(draw, depth - 1) for _ in range(draw(st.integers(1, 3)))])
    return Block(width=_hyper(draw, depth - 1), layers=[_hyper(draw, depth - 1), 3], tag="b")


@st.composite
def nested_spaces(draw):
    space = pg.Dict(root=_hyper(draw, 3), extra=pg.oneof([1, 2, 3]))
    return space


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=nested_spaces(), seed=st.integers(0, 2**16))
def test_decode_matches_materialize_and_round_trips(space, seed):
    # Two random genomes, their mutants and two crossovers: pg.materialize per genome is the
    # slow reference, so a few genomes per space and many spaces.
    codec = spaces.compile(space)
    rng = np.random.default_rng(seed)
    parents = codec.random(2, rng)
    children = codec.mutate(parents, rng)
    genomes = np.concatenate([parents, children, codec.crossover(parents, children, rng)])
    for genome in genomes:
        codec.validate(genome)
        dna = codec.to_dna(genome)
        expected = pg.materialize(space, dna)
        assert _same(codec.decode(genome), pg.to_json(expected))
        assert np.array_equal(codec.from_dna(dna), genome, equal_nan=True)
    assert pg.eq(codec.materialize(genomes[-1]), expected)


@settings(max_examples=30, deadline=None)
@given(space=nested_spaces(), seed=st.integers(0, 2**16))
def test_from_dna_of_pyglove_random_dna(space, seed):
    codec = spaces.compile(space)
    dna = pg.random_dna(codec.dna_spec, random_generator=__import__("random").Random(seed))
    genome = codec.from_dna(dna)
    assert codec.to_dna(genome) == dna


def test_size_counts_every_architecture():
    space = pg.Dict(
        a=pg.oneof([1, pg.Dict(x=pg.oneof(["p", "q", "r"]))]),
        m=pg.manyof(2, ["u", "v", "w", "z"], distinct=True, sorted=True),
        n=pg.manyof(2, ["u", "v"], distinct=False, sorted=False),
    )
    codec = spaces.compile(space)
    assert codec.size == (1 + 3) * 6 * 4
    rng = np.random.default_rng(0)
    seen = {codec.key(g) for g in codec.random(3000, rng)}
    assert len(seen) == codec.size
    assert spaces.compile(pg.Dict(x=pg.floatv(0.0, 1.0))).size == math.inf


def test_mutate_changes_exactly_one_decision_by_default():
    space = pg.Dict(x=[pg.oneof(list(range(5))) for _ in range(10)])
    codec = spaces.compile(space)
    rng = np.random.default_rng(1)
    parents = codec.random(50, rng)
    children = codec.mutate(parents, rng)
    assert np.all((children != parents).sum(axis=1) == 1)
    assert np.all((children >= 0) & (children < 5))


def test_manyof_constraints_hold_after_operators():
    space = pg.Dict(m=pg.manyof(3, list(range(6)), distinct=True, sorted=True))
    codec = spaces.compile(space)
    rng = np.random.default_rng(2)
    genomes = codec.mutate(codec.random(200, rng), rng, rate=0.9)
    assert np.all(np.diff(genomes, axis=1) > 0)


def test_validate_names_the_decision_point_and_allowed_values():
    space = pg.Dict(embed=pg.oneof([192, 216, 240]), depth=pg.oneof([12, 13]))
    codec = spaces.compile(space)
    with pytest.raises(ValueError, match=r"'embed'.*0\.\.2.*192"):
        codec.validate([5, 0])
    with pytest.raises(ValueError, match="2 decision points"):
        codec.validate([0, 0, 0])
    floats = spaces.compile(pg.Dict(lr=pg.floatv(0.1, 0.5)))
    with pytest.raises(ValueError, match=r"'lr'.*\[0\.1, 0\.5\]"):
        floats.validate([0.9])
    many = spaces.compile(pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=True)))
    with pytest.raises(ValueError, match="repeats"):
        many.validate([1, 1])


def test_compile_rejects_fixed_values():
    with pytest.raises(TypeError, match="hyper-value"):
        spaces.compile(pg.Dict(a=1))


def test_distinct_enumerates_small_spaces_and_samples_large_ones():
    small = spaces.compile(pg.Dict(m=pg.manyof(2, list(range(9)), distinct=True, sorted=True)))
    rng = np.random.default_rng(0)
    every = small.distinct(100, rng)
    assert len(every) == 36 == small.size
    assert len({small.key(g) for g in every}) == 36
    large = spaces.compile(pg.Dict(x=[pg.oneof(list(range(10))) for _ in range(8)]))
    some = large.distinct(50, rng)
    assert len({large.key(g) for g in some}) == 50
