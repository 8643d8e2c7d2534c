"""SearchResult scores large trial lists without quadratic memory."""

from __future__ import annotations

import numpy as np

from symnas.algorithms.objectives import Objectives
from symnas.flows.result import SearchResult, Trial


def _trial(i: int, metrics: dict | None) -> Trial:
    status = "ok" if metrics is not None else "failed"
    return Trial(id=i, genome=np.zeros(1), dna=[0], spec={}, metrics=metrics, status=status)


def test_scores_follow_appended_and_replaced_trials():
    objectives = Objectives(names=("a", "b"), modes=("max", "min"))
    result = SearchResult([_trial(0, {"a": 1.0, "b": 1.0})], objectives)
    assert result.best.id == 0
    result.trials.extend([_trial(1, {"a": 2.0, "b": 2.0}), _trial(2, None)])
    assert result.best.id == 1
    assert [t.id for t in result.pareto_front()] == [1, 0]
    result.trials[1] = _trial(1, {"a": 0.5, "b": 3.0})  # dominated now
    assert [t.id for t in result.pareto_front()] == [0]
    result.trials = [_trial(5, {"a": 9.0, "b": 9.0})]
    assert result.best.id == 5


def test_scores_extended_many_times_equal_a_fresh_scoring():
    """The scores grow in place over many small extensions (through several enlargements)
    and give the best trial and the front that one scoring of the whole list gives."""
    rng = np.random.default_rng(0)
    objectives = Objectives(names=("a", "b"), modes=("max", "min"), constraints={"c": ("<=", 0.5)})
    result = SearchResult([], objectives)
    trials = []
    for i in range(300):
        a, b, c = rng.random(3)
        trials.append(_trial(i, None if i % 11 == 3 else {"a": a, "b": b, "c": c}))
        result.trials.append(trials[-1])
        if i % 7 == 0:
            assert result.best is SearchResult(list(trials), objectives).best
    fresh = SearchResult(list(trials), objectives)
    ok, rewards, violations = result._scored()
    fresh_ok, fresh_rewards, fresh_violations = fresh._scored()
    assert ok == fresh_ok and len(ok) == 300 - 27
    np.testing.assert_array_equal(rewards, fresh_rewards)
    np.testing.assert_array_equal(violations, fresh_violations)
    assert rewards.shape == (len(ok), 2)
    assert result.best is fresh.best
    assert result.pareto_front() == fresh.pareto_front()
