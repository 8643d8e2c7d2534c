"""Regularized evolution and random search: the mechanisms the core tests leave out.

Regularized evolution (Real et al. 2019): the initial population is ``population_size`` new
members; afterwards each proposal mutates a tournament winner, the tournament drawn from the
living members (all of them when fewer than ``tournament_size`` live); new members are drawn
while fewer than two live. PyGlove's operator contract: a mutator is called with the parent's
DNA and ``step``, the number of examples proposed before the child; ``population_init`` proposes
the first members in its own order. Random search draws uniformly and skips architectures it
has proposed or replayed. The space is flat (twelve decisions of ten values), so a child made by
one mutation is the one genome at Hamming distance one from its parent.
"""

from __future__ import annotations

import functools

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces

NUM_DECISIONS = 12
SPACE = pg.Dict(**{f"d{i:02d}": pg.oneof(list(range(10))) for i in range(NUM_DECISIONS)})


@functools.cache
def _codec() -> spaces.Codec:
    """The compiled space, built once."""
    return spaces.compile(SPACE)


def _evolution(size: int, tournament: int, **kwargs) -> algorithms.RegularizedEvolution:
    algo = algorithms.RegularizedEvolution(
        population_size=size, tournament_size=tournament, metric="f", **kwargs
    )
    algo.bind(_codec(), 0)
    return algo


def _distances(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Hamming distances, shape (children, parents)."""
    return (np.atleast_2d(children)[:, None, :] != parents[None, :, :]).sum(axis=2)


def _feed(algo, genomes, values) -> None:
    algo.feedback_batch(genomes, [None if v is None else {"f": float(v)} for v in values])


@pg.members([("shift", pg.typing.Int(default=1))])
class RecordingMutator(pg.evolution.Mutator):
    """Adds ``shift`` (mod 10) to the first decision and records each call's step and parent."""

    def _on_bound(self) -> None:
        super()._on_bound()
        self.calls: list[tuple[int, list[int]]] = []

    def mutate(self, dna: pg.DNA, step: int) -> pg.DNA:
        numbers = dna.to_numbers()
        self.calls.append((step, list(numbers)))
        return pg.DNA.from_numbers([(numbers[0] + self.shift) % 10] + numbers[1:], dna.spec)


# --------------------------------------------------------------------------- regularized evolution
def test_evolution_batch_spanning_the_initial_population_draws_then_mutates():
    # Population 5: proposals 0-4 are new members whatever the batch boundaries; proposals 5
    # and 6 are mutations. Only three members live (values 2, 7, 1), fewer than the tournament,
    # so each tournament holds all three and the parent is the best, the second.
    algo = _evolution(5, 5)
    warm = algo.propose_batch(3)
    _feed(algo, warm, [2, 7, 1])
    batch = algo.propose_batch(4)
    d = _distances(batch, warm)
    assert (d[:2] > 1).all()  # two new random members (two random genomes differ in ~11 places)
    assert d[2:, 1].tolist() == [1, 1]


def test_evolution_draws_new_members_while_fewer_than_two_live():
    # Two of the three initial trials fail: one member cannot hold a tournament, so the next
    # proposal is a new member; once two live, the better one is mutated.
    algo = _evolution(3, 2)
    warm = algo.propose_batch(3)
    _feed(algo, warm, [None, 4, None])
    fresh = algo.propose_batch(1)
    assert _distances(fresh, warm).min() > 1
    _feed(algo, fresh, [9])
    children = algo.propose_batch(3)
    assert _distances(children, fresh).tolist() == [[1], [1], [1]]


def test_evolution_ranks_by_the_named_metric_among_several():
    # Two metrics in opposite orders: the parent is the best by 'f', not by 'g'.
    algo = _evolution(4, 4)
    warm = algo.propose_batch(4)
    algo.feedback_batch(warm, [{"f": float(v), "g": float(-v)} for v in [1, 3, 0, 2]])
    assert _distances(algo.propose_batch(3), warm).argmin(axis=1).tolist() == [1, 1, 1]


def test_evolution_mutator_gets_the_winner_and_the_number_of_earlier_proposals():
    mutator = RecordingMutator(shift=3)
    algo = _evolution(3, 3, mutator=mutator)
    warm = algo.propose_batch(3)
    _feed(algo, warm, [0, 5, 1])
    children = algo.propose_batch(4)
    state = algo.mutator  # the algorithm's own (bound) mutator object
    assert [step for step, _ in state.calls] == [3, 4, 5, 6]
    winner = _codec().numbers(warm[1])
    assert all(parent == winner for _, parent in state.calls)
    expected = warm[1].copy()
    expected[0] = (expected[0] + 3) % 10
    np.testing.assert_array_equal(children, np.tile(expected, (4, 1)))


def test_evolution_population_init_proposes_every_new_member_in_its_order():
    # The initializer's first three proposals are the first members; after two of them fail, the
    # member drawn to refill the population is its fourth proposal.
    init = pg.geno.Random(seed=7)
    algo = _evolution(3, 2, population_init=init)
    reference = pg.geno.Random(seed=7)
    reference.setup(_codec().dna_spec)
    expected = np.stack([_codec().from_dna(reference.propose()) for _ in range(4)])
    warm = algo.propose_batch(3)
    np.testing.assert_array_equal(warm, expected[:3])
    _feed(algo, warm, [None, 1, None])
    np.testing.assert_array_equal(algo.propose_batch(1), expected[3:])
    assert init.dna_spec is None  # the object passed in is not set up or advanced


# --------------------------------------------------------------------------- random search
def _tiny() -> spaces.Codec:
    return spaces.compile(pg.Dict(a=pg.oneof([1, 2, 3]), b=pg.oneof(["x", "y"])))


def test_random_search_once_exhausted_keeps_proposing_valid_architectures():
    codec = _tiny()
    algo = algorithms.RandomSearch()
    algo.bind(codec, 0)
    first = algo.propose_batch(6)
    assert len({codec.key(g) for g in first}) == 6
    more = algo.propose_batch(30)  # every one a repeat now: drawn uniformly, no error
    keys = [codec.key(g) for g in more]
    assert set(keys) <= {codec.key(g) for g in first}
    assert len(set(keys)) >= 4  # not stuck on one architecture
    for genome in more:
        codec.validate(genome)


def test_recovered_random_search_skips_a_foreign_history():
    # A history from elsewhere (PyGlove: recover may replay the trials of a previous study):
    # its architectures count as proposed, beside the algorithm's own replayed draws, so the
    # next proposals avoid them while unseen ones remain.
    space = pg.geno.oneof([pg.geno.constant()] * 40)
    history = [(pg.DNA(v), 0.0) for v in range(0, 40, 3)]
    for seed in range(3):
        algo = algorithms.RandomSearch(seed=seed)
        algo.setup(space)
        algo.recover(history)
        proposed = [algo.propose() for _ in range(6)]
        assert len(set(proposed)) == 6
        assert not set(proposed) & {dna for dna, _ in history}, seed


@pytest.mark.parametrize("mode, best", [("min", 0), ("max", 5)])
def test_random_search_ranks_trials_by_its_metric_and_mode(mode, best):
    # The objective reports 'lat' (the value of 'a') and 'acc' (its negation); the search's best
    # trial follows the algorithm's metric and mode, whatever the other metric says.
    space = spaces.compile(pg.Dict(a=pg.oneof(list(range(6)))))

    def objective(spec):
        return {"lat": float(spec["a"]), "acc": -float(spec["a"])}

    result = flows.search(
        space, objective, algorithms.RandomSearch(metric="lat", mode=mode), 6, verbose=False
    )
    assert result.best.metrics["lat"] == best
