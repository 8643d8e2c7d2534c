"""Checkpoints of the model-based algorithms taken after every trial of a run (their start-up,
neighbourhoods, restarts and model phases) restore exactly: the loaded algorithm saves the same
state again and proposes what the uninterrupted run proposes next."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symnas import algorithms, spaces
from symnas.testing import CHECK_SPACE

SETTINGS = {
    "tpe": {"n_startup_trials": 4, "n_ei_candidates": 6},
    "local_search-first": {"num_init": 3, "strategy": "first", "float_neighbours": 2},
    "local_search-best": {"num_init": 3, "strategy": "best", "float_neighbours": 2},
    "bananas": {"num_init": 4, "k": 2, "num_ensemble": 2, "num_layers": 2, "epochs": 5},
}


def _make(name: str):
    return algorithms.create(name.split("-")[0], metric="f", seed=5, **SETTINGS[name])


def _metrics(codec, genome: np.ndarray, trial: int) -> dict[str, float] | None:
    """A deterministic objective with a failure every fifth trial and a plateau."""
    if trial % 5 == 3:
        return None
    spec = codec.decode(genome)
    return {"f": float(min(sum(spec["x"]), 6)) + spec["lr"]}


def _run(name: str, codec, trials: int):
    """An uninterrupted run of ``trials`` trials and its proposals."""
    algo = _make(name)
    algo.bind(codec, 0)
    proposals = []
    for trial in range(trials):
        genome = algo.propose_batch(1)
        algo.feedback_batch(genome, [_metrics(codec, genome[0], trial)])
        proposals.append(genome)
    return algo, proposals


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_checkpoint_after_any_trial_restores_exactly(name):
    codec = spaces.compile(CHECK_SPACE)
    ahead = 6
    _, uninterrupted = _run(name, codec, 18 + ahead)  # a fresh state (0 trials) too
    for trials in range(0, 19, 3 if name == "bananas" else 1):
        saved, _ = _run(name, codec, trials)
        state = json.loads(json.dumps(saved.state_dict()))
        resumed = _make(name)
        resumed.bind(codec, 0)
        resumed.load_state_dict(state)
        assert json.loads(json.dumps(resumed.state_dict())) == state
        for trial in range(trials, trials + ahead):
            genome = resumed.propose_batch(1)
            assert np.array_equal(genome, uninterrupted[trial], equal_nan=True), (trials, trial)
            resumed.feedback_batch(genome, [_metrics(codec, genome[0], trial)])
