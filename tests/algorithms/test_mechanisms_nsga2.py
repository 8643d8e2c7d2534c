"""NSGA-II (Deb et al. 2002): the mechanisms the core tests leave out.

Binary tournaments with the crowded-comparison operator inside a front; the environmental cut
of a later front; ties in crowding distance; selection once a whole generation of results is in
(the parent population always holds ``population_size`` members); the mutation rate; and
PyGlove's operator contract for ``mutator=`` and ``crossover=`` (each called with ``step``, the
number of examples proposed before the generation). The space is flat (twelve decisions of ten
values), so a child made by one mutation is the one genome at Hamming distance one from its
parent, and two random genomes differ in about eleven places.
"""

from __future__ import annotations

import functools

import numpy as np
import pyglove as pg

from symnas import algorithms, spaces

NUM_DECISIONS = 12
SPACE = pg.Dict(**{f"d{i:02d}": pg.oneof(list(range(10))) for i in range(NUM_DECISIONS)})


@functools.cache
def _codec() -> spaces.Codec:
    """The compiled space, built once."""
    return spaces.compile(SPACE)


def _nsga(size: int, codec: spaces.Codec | None = None, **kwargs) -> algorithms.NSGA2:
    kwargs.setdefault("objectives", {"a": "max", "b": "max"})
    algo = algorithms.NSGA2(population_size=size, **kwargs)
    algo.bind(codec or _codec(), 0)
    return algo


def _distances(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Hamming distances, shape (children, parents)."""
    return (np.atleast_2d(children)[:, None, :] != parents[None, :, :]).sum(axis=2)


def _feed(algo, genomes, points) -> None:
    algo.feedback_batch(genomes, [{"a": float(a), "b": float(b)} for a, b in points])


@pg.members([])
class RecordingMutator(pg.evolution.Mutator):
    """Adds one (mod 10) to the first decision; records each call's step."""

    def _on_bound(self) -> None:
        super()._on_bound()
        self.steps: list[int] = []

    def mutate(self, dna: pg.DNA, step: int) -> pg.DNA:
        self.steps.append(step)
        numbers = dna.to_numbers()
        return pg.DNA.from_numbers([(numbers[0] + 1) % 10] + numbers[1:], dna.spec)


@pg.members([])
class HalfAndHalf(pg.evolution.Recombinator):
    """One child: the first parent's first six decisions, the second's last six; records each
    call's step and parents."""

    NUM_PARENTS = 2

    def _on_bound(self) -> None:
        super()._on_bound()
        self.calls: list[tuple[int, list[int], list[int]]] = []

    def recombine(self, parents: list[pg.DNA], step: int) -> list[pg.DNA]:
        first, second = (p.to_numbers() for p in parents)
        self.calls.append((step, first, second))
        half = NUM_DECISIONS // 2
        return [pg.DNA.from_numbers(first[:half] + second[half:], parents[0].spec)]


def test_nsga2_tournaments_within_a_front_prefer_the_less_crowded_point():
    # One front of four: (0, 1), (0.1, 0.9), (0.3, 0.7), (1, 0). Both spans are 1; crowding
    # distances inf, 0.6, 1.8, inf. A binary tournament (entrants drawn with replacement) is won
    # by the point with distance 0.6 only against itself (1/16), by 1.8 when both entrants are
    # in {1.8, 0.6} and one is 1.8 (3/16); each infinite point wins 6/16. Without crowding the
    # winner would be uniform (1/4 each). Tolerances: four standard errors over 800 children.
    algo = _nsga(4, crossover_prob=0.0)
    first = algo.propose_batch(4)
    _feed(algo, first, [(0.0, 1.0), (0.1, 0.9), (0.3, 0.7), (1.0, 0.0)])
    children = algo.propose_batch(800)
    d = _distances(children, first)
    assert ((d == 1).sum(axis=1) == 1).all()
    frequency = np.bincount(d.argmin(axis=1), minlength=4) / len(children)
    np.testing.assert_allclose(frequency, [6 / 16, 1 / 16, 3 / 16, 6 / 16], atol=0.07)


def test_nsga2_cut_of_a_later_front_keeps_its_least_crowded_points():
    # Population 4. Fronts of the merged eight points: F0 = {(5, 6), (6, 5)}; F1 = {(0.5, 3.5),
    # (3, 1), (0, 4), (4, 0)} (spans 4: distances 1.5, 1.75, inf, inf); F2 = {(0, 0)};
    # F3 = {(-1, -1)}. F0 fills two places, and F1's cut keeps its two infinite points, so the
    # parents are first[0], second[0], second[1], second[2]: every child is one mutation away
    # from one of them (a child of first[1] or first[3], both gone, would not be).
    algo = _nsga(4, crossover_prob=0.0)
    first = algo.propose_batch(4)
    _feed(algo, first, [(5, 6), (0.5, 3.5), (0, 0), (3, 1)])
    second = algo.propose_batch(4)
    _feed(algo, second, [(6, 5), (0, 4), (4, 0), (-1, -1)])
    third = algo.propose_batch(40)
    parents = np.stack([first[0], second[0], second[1], second[2]])
    assert (_distances(third, parents) == 1).any(axis=1).all()


def test_nsga2_ties_in_crowding_distance_keep_the_older_members():
    # Every trial scores (1, 1): one front of identical points. Merging ten parents and ten
    # offspring, the crowding distances are infinite for the first and last point of the
    # (stable) order and zero elsewhere; the cut keeps the two infinite points, then the zeros
    # in pool order: first[0..8] and second[9]. So first[9] has no children, first[7] has.
    algo = _nsga(10, crossover_prob=0.0)
    first = algo.propose_batch(10)
    _feed(algo, first, [(1, 1)] * 10)
    second = algo.propose_batch(10)
    _feed(algo, second, [(1, 1)] * 10)
    third = algo.propose_batch(300)
    from_second = (_distances(third, second[9:]) == 1)[:, 0]
    d = _distances(third[~from_second], first)
    assert (d[:, :9] == 1).any(axis=1).all()
    assert not (d[:, 9] == 1).any()
    assert (d[:, 7] == 1).sum() >= 5


def test_nsga2_selects_only_once_a_whole_generation_of_results_is_in():
    # Half of the first generation's results: no selection yet (the parents would be two, not
    # four), so the next proposals are new random members, not children of the two.
    algo = _nsga(4, crossover_prob=0.0)
    first = algo.propose_batch(4)
    _feed(algo, first[:2], [(0, 1), (1, 0)])
    fresh = algo.propose_batch(4)
    assert (_distances(fresh, first) > 1).all()
    _feed(algo, first[2:], [(0.2, 0.2), (0.5, 0.5)])  # the generation is complete: select
    children = algo.propose_batch(20)
    assert (_distances(children, first) == 1).any(axis=1).all()


def test_nsga2_mutation_rate_one_changes_every_decision():
    # Binary decisions: at rate 1 every child is the complement of its parent; by default a
    # child differs from its parent in exactly one decision.
    binary = spaces.compile(pg.Dict(**{f"d{i:02d}": pg.oneof([0, 1]) for i in range(10)}))
    for rate, changed in ((1.0, 10), (None, 1)):
        algo = _nsga(6, binary, objectives={"f": "max"}, crossover_prob=0.0, mutation_rate=rate)
        first = algo.propose_batch(6)
        algo.feedback_batch(first, [{"f": float(i)} for i in range(6)])
        children = algo.propose_batch(30)
        assert (_distances(children, first) == changed).any(axis=1).all(), rate


def test_nsga2_pyglove_operators_get_the_parents_and_the_generation_step():
    # Population 4, crossover always: each child is the recombinator's child of two parents,
    # then the mutator's change of it; both operators see step 4 for the second generation
    # (four examples proposed before it) and 8 for the third.
    algo = _nsga(4, crossover_prob=1.0, mutator=RecordingMutator(), crossover=HalfAndHalf())
    first = algo.propose_batch(4)
    _feed(algo, first, [(0, 1), (1, 0), (0.4, 0.4), (0.6, 0.2)])
    second = algo.propose_batch(4)
    recombinator, mutator = algo.crossover, algo.mutator
    assert [c[0] for c in recombinator.calls] == [4] * 4 and mutator.steps == [4] * 4
    members = {tuple(_codec().numbers(g)) for g in first}
    for child, (_, a, b) in zip(second, recombinator.calls, strict=True):
        assert tuple(a) in members and tuple(b) in members
        expected = a[:6] + b[6:]
        expected[0] = (expected[0] + 1) % 10
        assert _codec().numbers(child) == expected
    _feed(algo, second, [(2, 2)] * 4)
    algo.propose_batch(4)
    assert [c[0] for c in recombinator.calls[4:]] == [8] * 4 and mutator.steps[4:] == [8] * 4


def test_nsga2_with_any_pyglove_operator_has_no_checkpoint():
    # PyGlove operators draw from random streams of their own, which a checkpoint cannot hold:
    # each operator on its own turns the checkpoint off; the codec's operators keep it.
    assert _nsga(4).state_dict() is not None
    for operator in (
        {"mutator": RecordingMutator()},
        {"crossover": HalfAndHalf()},
        {"population_init": pg.geno.Random(seed=1)},
    ):
        assert _nsga(4, **operator).state_dict() is None, operator
