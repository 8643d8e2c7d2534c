"""Budgeted algorithms: Hyperband's published brackets, successive halving promotes the best,
ASHA promotes as results arrive, BOHB samples from its model once a budget has enough results,
and budget ranges are checked."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas.algorithms import create
from symnas.algorithms.brackets import Hyperband, SuccessiveHalving, max_bracket
from symnas.spaces.codec import compile as compile_space

SPACE = pg.Dict(a=pg.oneof(list(range(10))), b=pg.oneof(list(range(10))))


def _bound(algo, seed=0):
    codec = compile_space(SPACE)
    algo.bind(codec, seed)
    return algo, codec


def _value(codec, genome) -> float:
    spec = codec.decode(genome)
    return float(spec["a"] * 10 + spec["b"])


def test_hyperband_brackets_as_published():
    # Li et al. 2018, Table 1: R = 81, eta = 3.
    algo, _ = _bound(Hyperband(min_budget=1.0, max_budget=81.0))
    assert algo.brackets() == [
        ([81, 27, 9, 3, 1], [1.0, 3.0, 9.0, 27.0, 81.0]),
        ([34, 11, 3, 1], [3.0, 9.0, 27.0, 81.0]),
        ([15, 5, 1], [9.0, 27.0, 81.0]),
        ([8, 2], [27.0, 81.0]),
        ([5], [81.0]),
    ]
    assert max_bracket(1.0, 12.0, 3) == 2 and max_bracket(1.0, 8.0, 3) == 1


def test_successive_halving_promotes_the_best():
    algo, codec = _bound(SuccessiveHalving(metric="v", min_budget=1.0, max_budget=9.0))
    first = algo.propose_batch(9)
    assert algo.last_budgets == [1.0] * 9
    values = [_value(codec, g) for g in first]
    algo.feedback_batch(first, [{"v": v} for v in values])
    second = algo.propose_batch(3)
    assert algo.last_budgets == [3.0] * 3
    assert sorted(_value(codec, g) for g in second) == sorted(values)[-3:]
    # A failed trial ranks last, whatever its place.
    algo.feedback_batch(second, [None, {"v": 0.0}, {"v": -1.0}])
    third = algo.propose_batch(1)
    assert algo.last_budgets == [9.0]
    assert np.array_equal(third[0], second[1])


def test_brackets_open_while_others_wait():
    algo, _ = _bound(Hyperband(min_budget=1.0, max_budget=9.0))
    algo.propose_batch(9)  # the first bracket's first rung, all pending
    algo.propose_batch(2)
    assert algo.last_budgets == [3.0, 3.0]  # from the second bracket (s = 1)


def test_asha_promotes_as_results_arrive():
    algo, codec = _bound(create("asha", metric="v", min_budget=1.0, max_budget=9.0))
    assert algo.rung_budgets() == [1.0, 3.0, 9.0]
    genomes = [algo.propose_batch(1)[0] for _ in range(3)]
    assert algo.last_budgets == [1.0]
    for g, v in zip(genomes, [0.2, 0.9, 0.5], strict=True):
        algo.feedback_batch(g[None], [{"v": v}])
    promoted = algo.propose_batch(1)[0]
    assert algo.last_budgets == [3.0] and np.array_equal(promoted, genomes[1])
    # Not promoted twice: the next proposal is new, at the bottom rung.
    fresh = algo.propose_batch(1)[0]
    assert algo.last_budgets == [1.0]
    assert all(not np.array_equal(fresh, g) for g in genomes)


def test_bohb_uses_its_model_at_the_largest_budget_with_enough_results():
    algo, codec = _bound(create("bohb", metric="v", min_budget=1.0, max_budget=9.0))
    assert algo.model_budget() is None
    for _ in range(60):
        genomes = algo.propose_batch(1)
        algo.feedback_batch(genomes, [{"v": _value(codec, genomes[0])}])
    # 2 decisions: a model needs 3 results with more than 2 in each of l and g.
    assert algo.model_budget() == 9.0
    keys = [codec.key(algo.propose_batch(1)[0]) for _ in range(1)]
    assert len(set(keys)) == 1


def test_bohb_proposes_better_than_random():
    """Once its model is on, BOHB's new configurations score higher than Hyperband's uniform
    ones (mean over 4 seeds, on a 900-configuration space where a + b is maximised)."""
    space = pg.Dict(a=pg.oneof(list(range(30))), b=pg.oneof(list(range(30))))
    means = {}
    for name in ("hyperband", "bohb"):
        per_seed = []
        for seed in range(4):
            algo = create(name, metric="v", min_budget=1.0, max_budget=9.0)
            codec = compile_space(space)
            algo.bind(codec, seed)
            seen, new = set(), []
            for _ in range(120):
                genomes = algo.propose_batch(1)
                spec = codec.decode(genomes[0])
                value = float(spec["a"] + spec["b"])
                if codec.key(genomes[0]) not in seen:
                    seen.add(codec.key(genomes[0]))
                    new.append(value)
                algo.feedback_batch(genomes, [{"v": value}])
            per_seed.append(np.mean(new[30:]))
        means[name] = float(np.mean(per_seed))
    assert means["bohb"] > means["hyperband"] + 1.0


def test_budget_range_errors():
    with pytest.raises(ValueError, match="needs a budget range"):
        _bound(Hyperband())
    with pytest.raises(ValueError, match="0 < min_budget <= max_budget"):
        _bound(Hyperband(min_budget=9.0, max_budget=3.0))
    algo = Hyperband(min_budget=1.0, max_budget=30.0)
    with pytest.raises(ValueError, match=r"'max_budget'=30 lies outside .* \[1, 12\]"):
        algo.use_fidelity(1, 12, True)
    with pytest.raises(ValueError, match="min_early_stopping_rate"):
        _bound(create("asha", min_budget=1.0, max_budget=9.0, min_early_stopping_rate=3))
