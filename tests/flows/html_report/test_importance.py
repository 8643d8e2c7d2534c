"""Decision importance: the decision that sets the score ranks first, noise near zero; too few
trials or a constant score give none."""

from __future__ import annotations

import numpy as np
import pytest

from symnas.flows.html_importance import MIN_TRIALS, decisions, permutation_importance


def _specs(n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    ops = ["conv", "skip", "pool", "none"]
    specs = [
        {
            "_type": "x.Net",
            "op": ops[rng.integers(4)],
            "width": int(rng.choice([8, 16, 32])),
            "seed_tag": int(rng.integers(3)),
            "fixed": 1,
        }
        for _ in range(n)
    ]
    score = np.array([ops.index(s["op"]) + 0.1 * s["width"] / 8 for s in specs])
    return specs, score + 0.01 * rng.standard_normal(n)


def test_the_decision_that_sets_the_score_ranks_first_and_noise_near_zero():
    specs, score = _specs(80)
    found = decisions(specs)
    assert found.names == ["op", "width", "seed_tag"]  # 'fixed' never varies
    mean, std = permutation_importance(specs, score, found.names)
    ranked = dict(zip(found.names, mean, strict=True))
    assert ranked["op"] > ranked["width"] > 5 * abs(ranked["seed_tag"])
    assert np.all(std >= 0)


def test_too_few_trials_or_a_constant_score_give_no_importance():
    specs, score = _specs(MIN_TRIALS - 1)
    assert permutation_importance(specs, score, ["op"]) is None
    specs, _ = _specs(40)
    assert permutation_importance(specs, np.ones(40), ["op"]) is None


def test_values_are_readable_text_per_trial():
    found = decisions([{"a": "x<y", "b": 0.123456}, {"a": "z", "b": 2.0}])
    assert found.column("a") == ["'x<y'", "'z'"] and found.column("b") == ["0.1235", "2"]


@pytest.mark.parametrize("n", [MIN_TRIALS, 60])
def test_same_trials_same_importance(n):
    specs, score = _specs(n, seed=3)
    names = decisions(specs).names
    first, second = (
        permutation_importance(specs, score, names),
        permutation_importance(specs, score, names),
    )
    assert np.array_equal(first[0], second[0])
