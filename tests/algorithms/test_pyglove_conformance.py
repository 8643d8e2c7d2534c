"""PyGlove's own DNAGenerator, Random, evolution and sample tests, run against symnas algorithms.

Adapted from google/pyglove (``core/geno/dna_generator_test.py``, ``core/geno/random_test.py``,
``ext/evolution/regularized_evolution_test.py``, ``ext/evolution/nsga2_test.py``): the same
fixtures (the nested DNA spec, the trivial ``floatv`` space and its small-step mutator) and the
behaviours they assert; exact DNA values and permanence hashes are PyGlove's random stream, so
they are replaced by the equivalent determinism checks. The checks every algorithm must pass
(proposal and feedback counts, bare decision points, ``recover``, ``pg.sample``) are in
``symnas.testing.generators``, run over the registry by ``test_generator_conformance.py``.
"""

from __future__ import annotations

import random

import pyglove as pg
import pytest

from symnas import algorithms
from symnas.testing.generators import check_exact_resume


def nested_dna_spec() -> pg.geno.Space:
    """The DNA spec of PyGlove's Random test: a choice, nested multi-choices and a float."""
    c = pg.geno.constant
    return pg.geno.Space(
        [
            pg.geno.oneof([c(), c(), c()]),
            pg.geno.manyof(
                3,
                [
                    pg.geno.manyof(4, [c(), c(), c()], distinct=False, sorted=True),
                    pg.geno.manyof(3, [c(), c(), c()], distinct=False, sorted=False),
                    pg.geno.manyof(3, [c(), c(), c()], distinct=True, sorted=True),
                ],
                distinct=True,
                sorted=False,
            ),
            pg.geno.floatv(0.0, 1.0),
        ]
    )


def flat_dna_spec() -> pg.geno.Space:
    """Four choices and a float: cheap to convert, for tests that make many proposals."""
    c = pg.geno.constant
    return pg.geno.Space([pg.geno.oneof([c()] * 5) for _ in range(4)] + [pg.geno.floatv(0, 1)])


def make(name: str, seed: int | None = 1):
    """A fresh algorithm by name (small populations, as in PyGlove's tests)."""
    if name == "random":
        return algorithms.RandomSearch(seed=seed)
    if name == "evolution":
        return algorithms.RegularizedEvolution(population_size=5, tournament_size=2, seed=seed)
    return algorithms.NSGA2(population_size=4, seed=seed)


def reward_for(algo, value: float):
    """A reward in the form the algorithm takes (a tuple for multi-objective ones)."""
    return (value, 1.0 - value) if algo.multi_objective else value


@pg.members([("seed", pg.typing.Int().noneable())])
class TrivialMutator(pg.evolution.Mutator):
    """PyGlove's test mutator: moves a float by at most 0.01, clipped to [0, 1]."""

    def _on_bound(self):
        super()._on_bound()
        self._random = random.Random(self.seed)

    def mutate(self, dna, step):
        del step
        return pg.DNA(min(1.0, max(0.0, dna.value + self._random.uniform(-0.01, 0.01))))


# ---------------------------------------------------------------- DNAGenerator contract
def test_feedback_flags_match_pyglove():
    assert not algorithms.RandomSearch().needs_feedback  # as pg.geno.Random
    assert not algorithms.RandomSearch().multi_objective
    evolution = make("evolution")
    assert evolution.needs_feedback and not evolution.multi_objective
    nsga2 = make("nsga2")
    assert nsga2.needs_feedback and nsga2.multi_objective


@pytest.mark.parametrize("reward", [(0, 1), [0.5, 0.2], [1.0, 2.0, 3.0]])
def test_single_objective_refuses_several_rewards(reward):
    algo = make("evolution")
    algo.setup(flat_dna_spec())
    dna = algo.propose()
    with pytest.raises(ValueError, match="single.objective"):
        algo.feedback(dna, reward)


def test_multi_objective_takes_tuples_lists_and_a_float():
    algo = make("nsga2")
    algo.setup(pg.geno.floatv(0.0, 1.0))
    for reward in [(0.9, 1.2), [0.3, 0.4], 1.0]:
        algo.feedback(algo.propose(), reward)
    assert algo.num_feedbacks == 3


def test_pg_iter_of_random_search_yields_no_feedback_pairs():
    """``pg.iter`` with a generator that needs no feedback yields plain examples (pg.geno.Random
    semantics) and ``pg.geno.Deduping`` sees every proposal."""
    space = pg.Dict(x=pg.oneof(list(range(50))))
    examples = list(pg.iter(space, 10, algorithms.RandomSearch(seed=2)))
    assert len(examples) == 10 and all(isinstance(e, pg.Dict) for e in examples)
    deduped = pg.geno.Deduping(algorithms.RandomSearch(seed=2))
    values = [e.x for e in pg.iter(space, 30, deduped)]
    assert len(set(values)) == 30


# ---------------------------------------------------------------- recover
def test_recover_continues_the_proposal_stream_on_the_nested_spec():
    """PyGlove's Random.recover test on its nested spec (the kit's generator checks run the
    same check on every registered algorithm)."""
    check_exact_resume(lambda: make("random"), nested_dna_spec(), history=4, ahead=2)


def test_recovered_random_search_does_not_repeat_history():
    space = pg.geno.oneof([pg.geno.constant()] * 40)
    algo1 = make("random")
    algo1.setup(space)
    history = [(algo1.propose(), 0.0) for _ in range(20)]
    algo2 = make("random")
    algo2.setup(space)
    algo2.recover(history)
    seen = {d for d, _ in history}
    assert not seen & {algo2.propose() for _ in range(20)}


# ---------------------------------------------------------------- evolution integration
def test_regularized_evolution_with_a_pyglove_mutator_finds_one():
    """PyGlove's RE integration test: with a small-step mutator the search reaches 1.0."""
    algo = algorithms.RegularizedEvolution(
        population_size=10, tournament_size=2, mutator=TrivialMutator(seed=1), seed=1
    )
    best = 0.0
    for example, feedback in pg.iter(pg.floatv(0.0, 1.0), 2000, algo):
        feedback(example)
        best = max(best, example)
        if best >= 1.0:
            break
    assert best >= 1.0


def _trivial_trace(algo, multi: bool) -> list[float]:
    values = []
    for example, feedback in pg.iter(pg.floatv(0.0, 1.0), 30, algo):
        values.append(example)
        feedback([example] if multi else example)
    return values


def test_permanence_for_a_seed():
    """PyGlove's permanence tests: the same seeds give the same 30 examples."""

    def evolution():
        return algorithms.RegularizedEvolution(
            population_size=10, tournament_size=2, mutator=TrivialMutator(seed=1), seed=1
        )

    def nsga2():
        return algorithms.NSGA2(population_size=10, mutator=TrivialMutator(seed=1), seed=1)

    assert _trivial_trace(evolution(), False) == _trivial_trace(evolution(), False)
    assert _trivial_trace(nsga2(), True) == _trivial_trace(nsga2(), True)


def test_nsga2_finds_the_two_objective_front():
    """PyGlove's NSGA-II test: rewards [n, 10 - n] for n = int(10 x) % 9 + 1; the parents come
    to hold the whole front {[1, 9], ..., [9, 1]}."""

    def reward(x: float) -> list[int]:
        n = int(x * 10) % 9 + 1
        return [n, 10 - n]

    algo = algorithms.NSGA2(
        population_size=20,
        mutator=TrivialMutator(seed=1),
        crossover=pg.evolution.recombinators.Average(),
        population_init=pg.geno.Random(seed=1),
        seed=1,
    )
    for example, feedback in pg.iter(pg.floatv(0.0, 1.0), 200, algo):
        feedback(reward(example))
    elites = {tuple(int(v) for v in parent[1]) for parent in algo._parents}
    assert {(n, 10 - n) for n in range(1, 10)} <= elites


@pytest.mark.parametrize("name", ["evolution", "nsga2"])
def test_population_init_generator_proposes_the_first_members(name):
    space = pg.geno.Space([pg.geno.oneof([pg.geno.constant()] * 8)])
    kwargs = {"population_init": pg.geno.Sweeping(), "seed": 0}
    if name == "evolution":
        algo = algorithms.RegularizedEvolution(population_size=4, tournament_size=2, **kwargs)
    else:
        algo = algorithms.NSGA2(population_size=4, **kwargs)
    algo.setup(space)
    first = []
    for _ in range(4):
        dna = algo.propose()
        algo.feedback(dna, reward_for(algo, 0.5))
        first.append(dna)
    assert first == [pg.DNA(i) for i in range(4)]  # the sweep, in order
