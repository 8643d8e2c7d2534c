"""Deduped: each architecture reaches the search loop once; state round trip; conformance."""

from __future__ import annotations

import json

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces
from symnas.testing import GENERATOR_CHECKS
from symnas.testing.generators import check_pyglove_contract

SIX = pg.Dict(a=pg.oneof([0, 1, 2]), b=pg.oneof(["x", "y"]))


def _evolution() -> algorithms.RegularizedEvolution:
    return algorithms.RegularizedEvolution(population_size=3, tournament_size=2, metric="score")


def _score(spec) -> dict[str, float]:
    return {"score": float(spec["a"]) + (0.5 if spec["b"] == "y" else 0.0)}


def test_plain_evolution_repeats_on_a_six_point_space():
    result = flows.search(SIX, _score, _evolution(), budget=12, seed=0, verbose=False)
    specs = [json.dumps(t.spec, sort_keys=True) for t in result.trials]
    assert len(set(specs)) < len(specs)  # what the wrapper is for


def test_deduped_evaluates_each_point_at_most_once_and_stops_when_exhausted():
    calls = []

    def objective(spec):
        calls.append(json.dumps(spec, sort_keys=True))
        return _score(spec)

    algorithm = algorithms.Deduped(base=_evolution(), max_proposal_attempts=20)
    result = flows.search(SIX, objective, algorithm, budget=12, seed=0, verbose=False)
    assert len(calls) == len(set(calls)) == 6  # every point once, then nothing new to propose
    assert len(result.trials) == 6
    assert result.best.metrics["score"] == 2.5
    assert algorithm.duplicates >= 20  # the repeats were answered, not evaluated
    assert algorithm.base.num_feedbacks == 6 + algorithm.duplicates


def test_a_repeat_of_a_failed_trial_is_answered_with_the_failure():
    def objective(spec):
        if spec["a"] == 0:
            raise RuntimeError("no")
        return _score(spec)

    algorithm = algorithms.Deduped(base=_evolution(), max_proposal_attempts=20)
    result = flows.search(
        SIX, objective, algorithm, budget=12, seed=1, verbose=False, max_consecutive_failures=None
    )
    specs = [json.dumps(t.spec, sort_keys=True) for t in result.trials]
    assert len(specs) == len(set(specs)) == 6
    assert sum(not t.ok for t in result.trials) == 2


def _bound(seed: int = 4) -> algorithms.Deduped:
    algorithm = algorithms.Deduped(base=_evolution(), max_proposal_attempts=50)
    algorithm.bind(spaces.compile(SIX), seed)
    return algorithm


def _step(algorithm: algorithms.Deduped, n: int) -> np.ndarray:
    genomes = algorithm.propose_batch(n)
    specs = [algorithm.codec.decode(g) for g in genomes]
    algorithm.feedback_batch(genomes, [_score(s) for s in specs])
    return genomes


def test_state_round_trip_continues_like_the_uninterrupted_algorithm():
    straight = _bound()
    _step(straight, 1)
    pending = straight.propose_batch(2)  # proposed, not fed back: part of the state
    state = json.loads(json.dumps(straight.state_dict()))
    restored = _bound(seed=99)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    assert restored.duplicates == straight.duplicates
    for algorithm in (straight, restored):
        algorithm.feedback_batch(pending, [_score(algorithm.codec.decode(g)) for g in pending])
    assert np.array_equal(_step(straight, 2), _step(restored, 2))
    assert restored.state_dict() == straight.state_dict()


def test_no_state_when_the_wrapped_algorithm_has_none():
    class Plain(algorithms.RegularizedEvolution):  # a subclass inherits no _state
        pass

    algorithm = algorithms.Deduped(base=Plain(population_size=3, tournament_size=2))
    algorithm.bind(spaces.compile(SIX), 0)
    assert algorithm.state_dict() is None


BASES = {"evolution": _evolution, "random": algorithms.RandomSearch}


# The kit's PyGlove check proposes 8 DNA on a bare 3-choice decision point, which a deduping
# generator cannot: test_pyglove_sample_and_a_bare_decision_point covers that path instead.
@pytest.mark.parametrize(
    "check",
    [c for c in GENERATOR_CHECKS if c is not check_pyglove_contract],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("base", sorted(BASES))
def test_the_wrapped_algorithm_passes_the_generator_checks(base, check):
    check(lambda: algorithms.Deduped(seed=7, base=BASES[base]()))


def test_pyglove_sample_and_a_bare_decision_point():
    algorithm = algorithms.Deduped(base=algorithms.RandomSearch(seed=0), max_proposal_attempts=30)
    space = pg.oneof(["p", "q", "r"])
    seen = []
    for value, feedback in pg.sample(space, algorithm, num_examples=10):
        seen.append(value)
        feedback(1.0)
    assert sorted(seen) == ["p", "q", "r"]
