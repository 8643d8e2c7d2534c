"""Local search's moves on a small space of 27 architectures (three choices of three values):
best improvement scans a whole neighbourhood and moves to its best, first improvement moves at
the first better neighbour, a local optimum restarts, and batches that outrun a neighbourhood
never move to a point that is not a neighbour."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces

SPACE = pg.Dict(x=[pg.oneof([0, 1, 2]) for _ in range(3)])
TARGET = np.array([2.0, 0.0, 1.0])


def _value(genome: np.ndarray) -> float:
    """Higher nearer ``TARGET``, with a tie-free bonus per coordinate."""
    return float(-np.abs(genome - TARGET).sum() + 0.01 * genome @ np.array([1.0, 2.0, 4.0]))


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    return int((a != b).sum())


def _trace(strategy: str, trials: int, batch: int = 1, value=_value):
    codec = spaces.compile(SPACE)
    algo = algorithms.LocalSearch(num_init=1, strategy=strategy, metric="f", seed=2)
    algo.bind(codec, 0)
    proposals = []
    while len(proposals) < trials:
        genomes = algo.propose_batch(batch)
        algo.feedback_batch(genomes, [{"f": value(g)} for g in genomes])
        proposals.extend(genomes)
    return proposals


def test_best_improvement_scans_the_neighbourhood_then_moves_to_its_best():
    proposals = _trace("best", 13)
    start, scanned, after = proposals[0], proposals[1:7], proposals[7:13]
    assert all(_distance(g, start) == 1 for g in scanned) and len({tuple(g) for g in scanned}) == 6
    best = max(scanned, key=_value)
    assert _value(best) > _value(start)
    # The next neighbourhood is the best neighbour's: four of its six are new (the start and
    # the start's other neighbour along the same decision were scanned).
    assert all(_distance(g, best) == 1 for g in after[:4])


def test_first_improvement_moves_at_the_first_better_neighbour():
    proposals = _trace("first", 12)
    current, moves = proposals[0], 0
    for g in proposals[1:]:
        if np.array_equal(current, TARGET):
            break  # the optimum: its neighbourhood, then a restart
        assert _distance(g, current) == 1  # every proposal is a neighbour of the current point
        if _value(g) > _value(current):
            current, moves = g, moves + 1
    assert moves >= 2


def test_a_local_optimum_restarts_from_a_new_random_point():
    optimum = np.array([1.0, 1.0, 1.0])

    def peak(genome):
        return -float(_distance(genome, optimum)) + 0.01 * float(genome @ [1.0, 2.0, 4.0])

    for strategy in ("best", "first"):
        proposals = _trace(strategy, 27, value=peak)
        at = next(i for i, g in enumerate(proposals) if np.array_equal(g, optimum))
        # Its six neighbours (those not seen yet) are tried, none is better: a restart follows,
        # and the search reaches the optimum's neighbourhood only through new random points.
        unseen_neighbours = [g for g in proposals[at + 1 :] if _distance(g, optimum) == 1]
        assert len({tuple(g) for g in proposals}) == len(proposals)  # never a repeat
        assert len(proposals) == 27 and unseen_neighbours  # the whole space was visited
        assert all(peak(g) < peak(optimum) for g in proposals if not np.array_equal(g, optimum))


def _moves(strategy: str, seed: int, batch: int, rounds: int, value=_value):
    """(phase, current point) after each round of ``batch`` proposals."""
    codec = spaces.compile(SPACE)
    algo = algorithms.LocalSearch(num_init=2, strategy=strategy, metric="f", seed=seed)
    algo.bind(codec, 0)
    states = []
    for _ in range(rounds):
        genomes = algo.propose_batch(batch)
        algo.feedback_batch(genomes, [{"f": value(g)} for g in genomes])
        states.append((algo._phase, algo._current))
    return states


@pytest.mark.parametrize("strategy", ["best", "first"])
@pytest.mark.parametrize("batch", [1, 10])
def test_the_current_point_moves_only_to_a_better_neighbour_until_a_restart(strategy, batch):
    """Batches of 10 outrun a neighbourhood of 6: the proposals after it are random fillers,
    which must never be taken for neighbours."""
    moves = 0
    for seed in range(4):
        last = None
        for phase, current in _moves(strategy, seed, batch, 40 // batch, _plateaus):
            if phase == "init" or current is None:
                last = None  # a restart: the next current point is the best initial one
                continue
            if last is not None and not np.array_equal(last[0], current[0]):
                moves += 1
                assert _distance(last[0], current[0]) == 1
                assert current[1] > last[1]
            last = current
    assert moves >= 2


def _plateaus(genome: np.ndarray) -> float:
    """Two local optima: all zeros and all twos, with a slope towards each."""
    return float(max((genome == 0).sum(), (genome == 2).sum() + 0.5) + 0.01 * genome[0])


def test_neighbours_keep_manyof_groups_sorted_and_floats_unrounded():
    from symnas.algorithms.local_search import neighbours

    space = pg.Dict(m=pg.manyof(2, [0, 1, 2, 3], sorted=True), r=pg.floatv(0.0, 1.0))
    codec = spaces.compile(space)
    start = [0, 2, 0]  # a plain list of integers: m = [0, 2], r = 0.0
    found = neighbours(codec, start, np.random.default_rng(0), float_neighbours=6)
    m_cols = list(codec.groups[0].slots)
    r_col = next(s.index for s in codec.slots if s.is_float)
    moved_m = found[found[:, r_col] == 0.0][:, m_cols]
    assert len(moved_m) >= 3 and not np.isnan(moved_m).any()
    assert (np.diff(moved_m, axis=1) > 0).all(), "sorted and distinct"
    floats = found[(found[:, m_cols] == [0, 2]).all(axis=1)][:, r_col]
    assert len(floats) == 6 and (floats % 1 != 0).all(), "draws are not truncated to integers"


def _batched_trace(value, trials: int) -> list[np.ndarray]:
    """Best improvement: the first point alone, then batches of two."""
    codec = spaces.compile(SPACE)
    algo = algorithms.LocalSearch(num_init=1, strategy="best", metric="f", seed=2)
    algo.bind(codec, 0)
    proposals: list[np.ndarray] = []
    while len(proposals) < trials:
        genomes = algo.propose_batch(1 if not proposals else 2)
        algo.feedback_batch(genomes, [{"f": value(g)} for g in genomes])
        proposals.extend(genomes)
    return proposals


def test_best_improvement_in_batches_waits_for_the_whole_neighbourhood():
    scanned = _batched_trace(_value, 7)[1:7]
    last = scanned[-1]  # the neighbour fed back last, in the same batch as the fifth

    def value(g):
        return _value(g) + (10.0 if np.array_equal(g, last) else 0.0)

    proposals = _batched_trace(value, 11)
    assert all(np.array_equal(a, b) for a, b in zip(proposals[1:7], scanned, strict=True))
    assert all(_distance(g, last) == 1 for g in proposals[7:11]), "moved to the best of all six"


def test_a_neighbourhood_seen_elsewhere_concludes_and_the_search_goes_on():
    """Trials fed back without being proposed (evaluated elsewhere) count as seen: when they
    cover the current point's whole neighbourhood, it concludes (a restart) and proposals go
    on from a point not seen."""
    codec = spaces.compile(SPACE)
    algo = algorithms.LocalSearch(num_init=1, strategy="best", metric="f", seed=2)
    algo.bind(codec, 0)
    start = algo.propose_batch(1)
    algo.feedback_batch(start, [{"f": _value(start[0])}])
    grid = np.array(np.meshgrid(*[range(3)] * 3, indexing="ij"), dtype=float).reshape(3, -1).T
    ring = np.array([g for g in grid if _distance(g, start[0]) == 1])
    assert len(ring) == 6
    algo.feedback_batch(ring, [{"f": -100.0}] * len(ring))
    (after,) = algo.propose_batch(1)
    seen = {tuple(start[0]), *map(tuple, ring)}
    assert tuple(after) not in seen


def test_float_moves_per_neighbourhood_follow_the_setting():
    codec = spaces.compile(pg.Dict(x=pg.oneof([0, 1, 2]), r=pg.floatv(0.0, 1.0)))
    r_col = next(s.index for s in codec.slots if s.is_float)
    for count in (2, 7):
        algo = algorithms.LocalSearch(float_neighbours=count, metric="f", seed=0)
        algo.bind(codec, 0)
        start = np.array([1.0, 0.5]) if r_col == 1 else np.array([0.5, 1.0])
        rows = np.stack(list(algo._shuffled_neighbours(start)))
        assert int((rows[:, r_col] != start[r_col]).sum()) == count
        assert len(rows) == count + 2


def test_a_checkpoint_inside_a_neighbourhood_keeps_its_best_neighbour_so_far():
    """Best improvement, saved after half a neighbourhood whose best neighbour came first:
    the resumed search still moves to that neighbour."""
    import json

    first = _trace("best", 7)[1]

    def value(g):
        return _value(g) + (10.0 if np.array_equal(g, first) else 0.0)

    uninterrupted = _trace("best", 13, value=value)
    codec = spaces.compile(SPACE)
    algo = algorithms.LocalSearch(num_init=1, strategy="best", metric="f", seed=2)
    algo.bind(codec, 0)
    for _ in range(4):  # the start and three neighbours, the best of six among them
        genome = algo.propose_batch(1)
        algo.feedback_batch(genome, [{"f": value(genome[0])}])
    resumed = algorithms.LocalSearch(num_init=1, strategy="best", metric="f", seed=2)
    resumed.bind(codec, 0)
    resumed.load_state_dict(json.loads(json.dumps(algo.state_dict())))
    proposals = []
    for _ in range(9):
        genome = resumed.propose_batch(1)
        resumed.feedback_batch(genome, [{"f": value(genome[0])}])
        proposals.extend(genome)
    assert all(np.array_equal(a, b) for a, b in zip(proposals, uninterrupted[4:], strict=True))
    assert all(_distance(g, first) == 1 for g in proposals[3:7]), "moved to the best neighbour"
