"""Sampling algorithms: search quality, argument checks, NSGA-II fronts (their PyGlove
compatibility and determinism: ``test_generator_conformance.py``)."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.algorithms.pareto import crowding_distance, non_dominated_sort

SPACE = pg.Dict(x=[pg.oneof(list(range(8))) for _ in range(6)])


def test_regularized_evolution_beats_random_on_a_separable_problem():
    codec = spaces.compile(SPACE)
    best = {}
    for name, algo in {
        "re": algorithms.RegularizedEvolution(population_size=20, tournament_size=5, seed=0),
        "random": algorithms.RandomSearch(seed=0),
    }.items():
        algo.bind(codec)
        scores = []
        for _ in range(300):
            g = algo.propose_batch(1)
            score = -float(np.abs(g - 5).sum())
            algo.feedback_batch(g, [{"objective": score}])
            scores.append(score)
        best[name] = max(scores[-100:])
    assert best["re"] > best["random"]
    assert best["re"] >= -1


def test_argument_errors_quote_the_bad_value():
    with pytest.raises(ValueError, match=r"population_size \(3\).*tournament_size \(5\)"):
        algorithms.RegularizedEvolution(population_size=3, tournament_size=5)
    with pytest.raises(ValueError, match="Unknown algorithm 'bogus'.*nsga2"):
        algorithms.create("bogus")
    with pytest.raises(ValueError, match="mode must be one of"):
        algorithms.Objectives.create("acc", mode="up")


def test_objectives_need_a_name_when_several_metrics():
    objectives = algorithms.RegularizedEvolution(population_size=4, tournament_size=2).objectives()
    with pytest.raises(ValueError, match="tell the algorithm which to optimise"):
        objectives.reward({"a": 1.0, "b": 2.0})
    minimise = algorithms.Objectives.create("latency", mode="min")
    assert minimise.reward({"latency": 3.0, "acc": 1.0}).tolist() == [-3.0]


def test_non_dominated_sort_and_crowding():
    rewards = np.array([[1, 5], [2, 4], [3, 3], [1, 1], [2, 2], [0, 0]], dtype=float)
    fronts = non_dominated_sort(rewards)
    assert [sorted(f.tolist()) for f in fronts] == [[0, 1, 2], [4], [3], [5]]
    distance = crowding_distance(rewards[[0, 1, 2]])
    assert np.isinf(distance[0]) and np.isinf(distance[2]) and distance[1] == pytest.approx(2.0)


def test_constrained_domination_prefers_feasible_points():
    rewards = np.array([[10.0], [1.0], [5.0]])
    violations = np.array([0.5, 0.0, 0.1])
    fronts = non_dominated_sort(rewards, violations)
    assert [f.tolist() for f in fronts] == [[1], [2], [0]]


def test_nsga2_finds_the_pareto_front_under_a_constraint():
    space = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(4)])
    codec = spaces.compile(space)
    algo = algorithms.NSGA2(
        population_size=16,
        objectives={"gain": "max", "cost": "min"},
        constraints={"cost": ("<=", 12.0)},
        seed=0,
    )
    algo.bind(codec)
    seen = []
    for _ in range(25):
        genomes = algo.propose_batch(16)
        metrics = [
            {"gain": float((g * [1, 2, 3, 4]).sum()), "cost": float(g.sum())} for g in genomes
        ]
        algo.feedback_batch(genomes, metrics)
        seen.extend(metrics)
    parents = algo._parents
    assert all(p[2] == 0 for p in parents)  # every survivor is feasible
    # The best gain at cost 12 puts the budget on the last decisions first: 5*4 + 5*3 + 2*2.
    best_gain_at_cost_12 = max(m["gain"] for m in seen if m["cost"] == 12.0)
    assert best_gain_at_cost_12 >= 39 - 1
    # Crowding keeps the front spread over the feasible costs.
    assert len({p[1][1] for p in parents}) >= 8
