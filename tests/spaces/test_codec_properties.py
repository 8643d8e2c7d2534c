"""Property tests: on random nested spaces the compiled codec decodes like ``pg.materialize``
and converts to and from ``pg.DNA`` exactly.

Slow (``pg.materialize`` and ``pg.DNA.from_numbers`` per genome), so not run per mutant by
``benchmarks/mutation_score.py``; ``test_codec_reference.py`` checks the same on fixed small
spaces, fast.
"""

from __future__ import annotations

import math

import numpy as np
import pyglove as pg
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
