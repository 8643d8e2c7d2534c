"""The mechanisms of the sampling algorithms, checked by what each one must change in behaviour.

Every test here fails when its mechanism is removed or inverted: tournament selection pressure
and aging in regularized evolution; binary tournaments on rank, crowding distance in the
environmental cut, crossover and constrained domination in NSGA-II. The space is flat (twelve
decisions of ten values), so two random genomes differ in about eleven places and a child made
by one mutation sits at Hamming distance exactly one from its parent, which identifies it.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces
from symnas.algorithms.pareto import (
    crowding_distance,
    dominates,
    non_dominated_sort,
    pareto_front,
)

NUM_DECISIONS = 12
SPACE = pg.Dict(**{f"d{i:02d}": pg.oneof(list(range(10))) for i in range(NUM_DECISIONS)})


@functools.cache
def _codec() -> spaces.Codec:
    """The compiled space, built once (compiling walks PyGlove's DNA spec, the slow part)."""
    return spaces.compile(SPACE)


def _bound(algo: algorithms.SearchAlgorithm, seed: int = 0) -> algorithms.SearchAlgorithm:
    algo.bind(_codec(), seed)
    return algo


def _distances(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Hamming distances, shape (children, parents)."""
    return (children[:, None, :] != parents[None, :, :]).sum(axis=2)


def _parent_of(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Index of each child's parent: the one genome at distance exactly one (a single mutation)."""
    d = _distances(children, parents)
    assert (d == 1).sum(axis=1).tolist() == [1] * len(children), d.min(axis=1)
    return d.argmin(axis=1)


def _feed(algo, genomes, values, name="f"):
    algo.feedback_batch(genomes, [{name: float(v)} for v in values])


# --------------------------------------------------------------------------- regularized evolution
def test_evolution_mutates_the_tournament_winner_and_the_oldest_member_dies():
    # With the tournament as large as the population, the parent is always the best living
    # member. w2 is the best; the children are worse, so w2 is the parent of the first three
    # children and dies of old age when the third child's result arrives (w0, w1, w2 die in
    # that order); then w4, the best survivor, is the parent of the next two.
    algo = _bound(algorithms.RegularizedEvolution(population_size=5, tournament_size=5, metric="f"))
    warm = algo.propose_batch(5)
    _feed(algo, warm, [3, 1, 4, 0, 2])
    parents = []
    for _ in range(5):
        child = algo.propose_batch(1)
        parents.append(int(_parent_of(child, warm)[0]))
        _feed(algo, child, [-1])
    assert parents == [2, 2, 2, 4, 4]


def test_evolution_minimises_when_asked():
    algo = _bound(
        algorithms.RegularizedEvolution(
            population_size=5, tournament_size=5, metric="f", mode="min"
        )
    )
    warm = algo.propose_batch(5)
    _feed(algo, warm, [3, 1, 4, 0, 2])
    assert _parent_of(algo.propose_batch(4), warm).tolist() == [3] * 4


def test_evolution_tournament_winner_frequencies_follow_the_order_statistics():
    # Tournaments of 5 drawn without replacement from 20 members: the member ranked r-th best
    # (r = 1..20) wins with probability C(20 - r, 4) / C(20, 5), so the best wins a quarter of
    # them and the four worst never win.
    size, tournament, n = 20, 5, 400
    algo = _bound(
        algorithms.RegularizedEvolution(
            population_size=size, tournament_size=tournament, metric="f"
        )
    )
    warm = algo.propose_batch(size)
    values = np.random.default_rng(1).permutation(size)
    _feed(algo, warm, values)
    ranks = (size - 1 - values)[_parent_of(algo.propose_batch(n), warm)]  # 0 = best
    assert ranks.max() <= size - tournament
    # Tolerances are four standard errors over 400 tournaments.
    assert abs(np.mean(ranks == 0) - 0.25) < 0.09
    expected_mean_rank = sum(r * _comb(size - 1 - r, 4) for r in range(size)) / _comb(size, 5)
    assert expected_mean_rank == pytest.approx(2.5)
    assert abs(ranks.mean() - expected_mean_rank) < 0.5


def _comb(n: int, k: int) -> int:
    return len(list(itertools.combinations(range(n), k))) if n >= k >= 0 else 0


def test_evolution_ignores_failed_trials():
    algo = _bound(algorithms.RegularizedEvolution(population_size=4, tournament_size=4, metric="f"))
    warm = algo.propose_batch(4)
    algo.feedback_batch(warm, [{"f": 1.0}, None, {"f": 0.0}, {"f": 2.0}])
    # w1 failed: it never joins the population; with the whole population in every tournament
    # the parent is always the best member, w3.
    assert _parent_of(algo.propose_batch(3), warm).tolist() == [3, 3, 3]


def test_evolution_honours_the_mutation_rate():
    # Rate 1: every decision of the (only possible) parent changes; default: exactly one.
    for rate, changed in ((1.0, NUM_DECISIONS), (None, 1)):
        algo = _bound(
            algorithms.RegularizedEvolution(
                population_size=3, tournament_size=3, metric="f", mutation_rate=rate
            )
        )
        warm = algo.propose_batch(3)
        _feed(algo, warm, [0, 5, 1])
        children = algo.propose_batch(20)
        assert (_distances(children, warm[1:2])[:, 0] == changed).all(), rate


def test_evolution_with_a_population_of_two_mutates_the_better_member():
    algo = _bound(algorithms.RegularizedEvolution(population_size=2, tournament_size=2, metric="f"))
    warm = algo.propose_batch(2)
    _feed(algo, warm, [1, 0])
    assert _parent_of(algo.propose_batch(5), warm).tolist() == [0] * 5


def test_random_search_does_not_repeat_an_architecture_while_unseen_ones_remain():
    small = spaces.compile(pg.Dict(a=pg.oneof([1, 2, 3]), b=pg.oneof(["x", "y"])))
    algo = algorithms.RandomSearch(metric="f")
    algo.bind(small, 0)
    first = algo.propose_batch(4)
    rest = algo.propose_batch(2)
    keys = {small.key(g) for g in np.concatenate([first, rest])}
    assert len(keys) == 6 == small.size


def _onemax(spec) -> float:
    return float(sum(v == 7 for v in spec.values()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_finds_better_solutions_than_random_search(seed):
    # "Number of decisions equal to 7": random search over 150 of 10^12 candidates reaches
    # about 4; evolution climbs one decision at a time.
    budget = 150
    evolution = flows.search(
        _codec(),
        _onemax,
        algorithms.RegularizedEvolution(population_size=20, tournament_size=5),
        budget,
        seed=seed,
        verbose=False,
    )
    random = flows.search(
        _codec(), _onemax, algorithms.RandomSearch(), budget, seed=seed, verbose=False
    )
    best_evolution = evolution.best.metrics["objective"]
    best_random = random.best.metrics["objective"]
    assert best_random <= 6
    assert best_evolution >= best_random + 3


# --------------------------------------------------------------------------- NSGA-II
def _nsga(size, **kwargs):
    kwargs.setdefault("objectives", {"f": "max"})
    return _bound(algorithms.NSGA2(population_size=size, **kwargs))


def test_nsga2_binary_tournaments_prefer_the_better_rank():
    # One objective: every point is its own front, so rank order is value order. A binary
    # tournament (with replacement) picks the rank-r point (0 = best of P) with probability
    # (2 (P - r) - 1) / P^2, a mean rank of about P / 3 (12.84 for P = 40); preferring the worse
    # of the two would give about 2P / 3. Five generations' worth of children come from the
    # same parents (no feedback in between); the tolerance is 4.5 standard errors.
    size = 40
    algo = _nsga(size, crossover_prob=0.0)
    first = algo.propose_batch(size)
    values = np.random.default_rng(2).permutation(size)
    _feed(algo, first, values)
    ranks = (size - 1 - values)[_parent_of(algo.propose_batch(5 * size), first)]
    expected = sum(r * (2 * (size - r) - 1) for r in range(size)) / size**2
    assert expected == pytest.approx(12.8375)
    assert abs(ranks.mean() - expected) < 3.0
    assert np.mean(ranks < size // 2) > 0.6


def test_nsga2_crossover_mixes_two_parents():
    size = 40
    algo = _nsga(size, crossover_prob=1.0)
    first = algo.propose_batch(size)
    _feed(algo, first, np.random.default_rng(3).permutation(size))
    children = algo.propose_batch(size)
    explained = 0
    mixed = 0
    for child in children:
        # Genes a pair of parents cannot explain: at most one (the mutation).
        from_either = (child[None, None, :] == first[:, None, :]) | (
            child[None, None, :] == first[None, :, :]
        )
        unexplained = NUM_DECISIONS - from_either.sum(axis=2)
        a, b = np.unravel_index(unexplained.argmin(), unexplained.shape)
        explained += unexplained[a, b] <= 1
        own_a = ((child == first[a]) & (child != first[b])).sum()
        own_b = ((child == first[b]) & (child != first[a])).sum()
        mixed += _distances(child[None], first).min() >= 2 and own_a >= 1 and own_b >= 1
    assert explained == size
    assert mixed >= 0.8 * size


def test_nsga2_without_crossover_children_are_single_mutations():
    size = 20
    algo = _nsga(size, crossover_prob=0.0)
    first = algo.propose_batch(size)
    _feed(algo, first, np.arange(size))
    assert _distances(algo.propose_batch(size), first).min(axis=1).tolist() == [1] * size


def test_nsga2_keeps_the_least_crowded_points_of_a_front():
    # Sixteen points on the front a + b = 1 (all rank 0) compete for eight places. The first
    # generation is a tight cluster (a = 0.45 .. 0.52), the second is spread out (a = 0, 0.1,
    # 0.2, 0.3, 0.7, 0.8, 0.9, 1). Crowding distances (both spans are 1): the extremes are
    # infinite; 0.3 -> 2 (0.45 - 0.2) = 0.5, 0.7 -> 2 (0.8 - 0.52) = 0.56, 0.1, 0.2, 0.8,
    # 0.9 -> 0.4; the cluster's 0.45 -> 0.32, 0.52 -> 0.38 and 0.04 inside. So the whole second
    # generation survives and breeds the third.
    size = 8
    algo = _nsga(size, objectives={"a": "max", "b": "max"}, crossover_prob=0.0)
    clustered = algo.propose_batch(size)
    algo.feedback_batch(clustered, [{"a": 0.45 + 0.01 * i, "b": 0.55 - 0.01 * i} for i in range(8)])
    spread = algo.propose_batch(size)
    xs = [0.0, 0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 1.0]
    algo.feedback_batch(spread, [{"a": x, "b": 1.0 - x} for x in xs])
    # The second generation descends from the first, so a child is checked by being one
    # mutation away from some member of the second (a child of the first generation is one only
    # when it repeats a sibling's mutation).
    third = algo.propose_batch(2 * size)
    assert (_distances(third, spread) == 1).any(axis=1).all()


def test_nsga2_constrained_domination_prefers_feasible_then_smaller_violation():
    # Constraint area <= 1. Generation one: two feasible points with poor f, two slightly
    # infeasible ones. Generation two: far better f but far more violation. Deb's rule ranks
    # feasible first, then by violation, so generation one keeps all four places.
    size = 4
    algo = _nsga(size, constraints={"area": ("<=", 1.0)}, crossover_prob=0.0)
    first = algo.propose_batch(size)
    algo.feedback_batch(
        first,
        [
            {"f": 0.0, "area": 0.5},
            {"f": 1.0, "area": 0.9},
            {"f": 0.0, "area": 1.1},
            {"f": 0.0, "area": 1.2},
        ],
    )
    second = algo.propose_batch(size)
    algo.feedback_batch(second, [{"f": 10.0 + i, "area": 3.0 + i} for i in range(size)])
    third = algo.propose_batch(2 * size)
    d = _distances(third, first)
    assert (d == 1).any(axis=1).all()
    parents = d.argmin(axis=1)
    # Ranks 0..3 are first[1], first[0], first[2], first[3]: first[1] wins every tournament it
    # enters (probability 1 - (3/4)^2 = 7/16 per child), first[3] only against itself (1/16).
    assert np.sum(parents == 1) > np.sum(parents == 3)


# --------------------------------------------------------------------------- Pareto utilities
def test_crowding_distance_worked_by_hand():
    # The front (0, 4), (1, 3.5), (3, 1), (4, 0): both spans are 4, the extremes infinite.
    # (1, 3.5): (3 - 0) / 4 + (4 - 1) / 4 = 1.5; (3, 1): (4 - 1) / 4 + (3.5 - 0) / 4 = 1.625.
    points = np.array([[3.0, 1.0], [0.0, 4.0], [4.0, 0.0], [1.0, 3.5]])
    np.testing.assert_allclose(crowding_distance(points), [1.625, np.inf, np.inf, 1.5])
    assert crowding_distance(points[:2]).tolist() == [np.inf, np.inf]


def test_constrained_domination_worked_by_hand():
    good, poor = np.array([2.0, 2.0]), np.array([1.0, 1.0])
    assert dominates(good, poor) and not dominates(poor, good)
    assert not dominates(good, good)
    assert not dominates(np.array([2.0, 0.0]), np.array([0.0, 2.0]))
    # Feasibility beats objectives; of two infeasible points the smaller violation wins.
    assert dominates(poor, good, violation_a=0.0, violation_b=0.5)
    assert not dominates(good, poor, violation_a=0.5, violation_b=0.0)
    assert dominates(good, poor, violation_a=0.2, violation_b=0.5)
    assert dominates(poor, good, violation_a=0.2, violation_b=0.5)
    assert not dominates(good, poor, violation_a=0.5, violation_b=0.5)

    rewards = np.array([[5.0, 5.0], [1.0, 0.0], [2.0, 0.0], [0.0, 2.0], [9.0, 9.0], [9.0, 8.0]])
    violations = np.array([0.0, 0.0, 0.0, 0.0, 0.3, 0.1])
    fronts = [sorted(f.tolist()) for f in non_dominated_sort(rewards, violations)]
    assert fronts == [[0], [2, 3], [1], [5], [4]]
    assert pareto_front(rewards, violations).tolist() == [0]
    assert sorted(pareto_front(rewards[1:4]).tolist()) == [1, 2]


def test_pareto_front_equals_the_first_feasible_front_of_nsga2_sorting():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, d = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        rewards = rng.integers(0, 4, (n, d)).astype(float)  # many ties
        violations = np.where(rng.random(n) < 0.3, rng.random(n), 0.0)
        first = non_dominated_sort(rewards, violations)[0]
        assert np.array_equal(pareto_front(rewards, violations), first[violations[first] == 0])


def test_pareto_utilities_edge_cases_worked_by_hand():
    # Three points, spans below one and not starting at zero: a = 0.2, 0.3, 0.6 (span 0.4),
    # b = 0.9, 0.5, 0.4 (span 0.5); the middle point gets (0.6 - 0.2) / 0.4 + (0.9 - 0.4) / 0.5.
    three = np.array([[0.2, 0.9], [0.3, 0.5], [0.6, 0.4]])
    np.testing.assert_allclose(crowding_distance(three), [np.inf, 2.0, np.inf])
    # Five points; one objective constant (span 0) adds nothing.
    five = np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 1.0], [4.0, 1.0], [6.0, 1.0]])
    np.testing.assert_allclose(crowding_distance(five), [np.inf, 3 / 6, 3 / 6, 3 / 6, np.inf])
    # Integer rewards and no violations (all feasible); more points than objectives.
    rewards = np.array([[3, 0], [2, 2], [0, 3], [1, 1], [0, 0]])
    assert [sorted(f.tolist()) for f in non_dominated_sort(rewards)] == [[0, 1, 2], [3], [4]]
    assert sorted(pareto_front(rewards).tolist()) == [0, 1, 2]
    assert pareto_front(np.array([[1.0, 2.0]])).tolist() == [0]
    empty = pareto_front(np.zeros((0, 2)))
    assert empty.shape == (0,) and empty.dtype == np.int64
    # Two infeasible points: the smaller violation wins whatever the objectives.
    a, b = np.array([2.0, 1.0]), np.array([1.0, 1.0])
    assert dominates(a, b)  # >= everywhere and > somewhere
    assert not dominates(a, b, violation_a=1.0, violation_b=0.5)
    assert dominates(b, a, violation_a=0.5, violation_b=1.0)
