"""The compiled codec: sizes, operators' constraints, validation, enumeration of small spaces."""

from __future__ import annotations

import math

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces


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


def test_distinct_stops_after_max_draws():
    # 1000 architectures; 500 uniform draws find 1000 * (1 - exp(-1/2)) = 393 distinct ones
    # (standard deviation about 9), however many are asked for.
    codec = spaces.compile(pg.Dict(x=[pg.oneof(list(range(10))) for _ in range(3)]))
    found = codec.distinct(1000, np.random.default_rng(1), max_draws=500)
    assert 360 < len(found) < 425
    assert len({codec.key(g) for g in found}) == len(found)
    assert len(codec.distinct(1000, np.random.default_rng(2), max_draws=64)) <= 64


def _count_draws(codec, monkeypatch) -> list[int]:
    """Records the batch sizes ``codec.distinct`` draws through ``codec.random``."""
    drawn: list[int] = []
    draw = codec.random

    def counting(n, rng):
        drawn.append(n)
        return draw(n, rng)

    monkeypatch.setattr(codec, "random", counting)
    return drawn


def test_distinct_counts_its_draws_and_stops_once_it_has_n(monkeypatch):
    small = spaces.compile(pg.Dict(m=pg.manyof(2, list(range(9)), distinct=True, sorted=True)))
    drawn = _count_draws(small, monkeypatch)
    found = small.distinct(100, np.random.default_rng(3), max_draws=100)
    # 36 architectures: 100 draws miss about 36 * (35/36)^100 = 2 of them.
    assert sum(drawn) <= 100 and len(drawn) >= 2
    assert len(found) < 36 or sum(drawn) < 100
    large = spaces.compile(pg.Dict(x=[pg.oneof(list(range(10))) for _ in range(8)]))
    drawn = _count_draws(large, monkeypatch)
    assert len(large.distinct(5, np.random.default_rng(4))) == 5
    assert len(drawn) == 1  # one batch holds 5 different architectures of 10^8
