"""Pruners: each decides as Optuna's pruner of the same name on the same sequential study, and
by hand-checked rules; bad settings are refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from symnas.algorithms.pruners import (
    PRUNERS,
    MedianPruner,
    PercentilePruner,
    PrunerTrial,
    SuccessiveHalvingPruner,
    make_pruner,
)


def _run_ours(pruner, curves: np.ndarray) -> list[int | None]:
    """The step at which each trial (a row of values per step 1..S) is pruned, None if it
    completes; trials run one after another."""
    finished: list[PrunerTrial] = []
    stops = []
    for curve in curves:
        current = PrunerTrial("running")
        stop = None
        for step, value in enumerate(curve, start=1):
            current.steps.append(step)
            current.values.append(float(value))
            if pruner.prune(finished, current):
                stop = step
                break
        current.status = "ok" if stop is None else "pruned"
        finished.append(current)
        stops.append(stop)
    return stops


def _run_optuna(pruner, curves: np.ndarray) -> list[int | None]:
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the bench extra)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    stops: list[int | None] = []

    def objective(trial):
        curve = curves[trial.number]
        for step, value in enumerate(curve, start=1):
            trial.report(float(value), step)
            if trial.should_prune():
                stops.append(step)
                raise optuna.TrialPruned()
        stops.append(None)
        return float(curve[-1])

    study.optimize(objective, n_trials=len(curves))
    return stops


def _curves(seed: int, trials: int = 30, steps: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ceiling = rng.uniform(0.2, 0.9, size=(trials, 1))
    noise = rng.normal(0.0, 0.02, size=(trials, steps))
    return ceiling * (1 - np.exp(-np.arange(1, steps + 1) / 3.0)) + noise


@pytest.mark.parametrize("seed", [0, 1])
def test_median_matches_optuna(seed):
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the bench extra)")
    curves = _curves(seed)
    ours = _run_ours(MedianPruner(), curves)
    assert ours == _run_optuna(optuna.pruners.MedianPruner(), curves)
    assert ours[:5] == [None] * 5  # n_startup_trials=5
    assert any(s is not None for s in ours)


def test_percentile_with_warmup_and_interval_matches_optuna():
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the bench extra)")
    curves = _curves(2)
    ours = PercentilePruner(40.0, n_startup_trials=3, n_warmup_steps=2, interval_steps=3)
    theirs = optuna.pruners.PercentilePruner(
        40.0, n_startup_trials=3, n_warmup_steps=2, interval_steps=3
    )
    stops = _run_ours(ours, curves)
    assert stops == _run_optuna(theirs, curves)
    assert all(s is None or (s >= 2 and (s - 2) % 3 == 0) for s in stops)


@pytest.mark.parametrize("min_resource", ["auto", 1, 2])
def test_successive_halving_matches_optuna(min_resource):
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the bench extra)")
    curves = _curves(3, trials=40)
    ours = _run_ours(SuccessiveHalvingPruner(min_resource=min_resource), curves)
    theirs = _run_optuna(optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource), curves)
    assert ours == theirs
    if min_resource != "auto":
        # Pruned only when a rung is reached: steps min_resource * 4 ** k.
        assert {s for s in ours if s is not None} <= {min_resource * 4**k for k in range(3)}


def test_median_by_hand():
    done = [PrunerTrial("ok", [1, 2], [v, v]) for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    pruner = MedianPruner()
    assert pruner.prune(done, PrunerTrial("running", [1], [0.25]))  # median 0.3
    assert not pruner.prune(done, PrunerTrial("running", [1], [0.3]))
    # A pruned trial does not count as completed: four completed are below n_startup_trials.
    done[0].status = "pruned"
    assert not pruner.prune(done, PrunerTrial("running", [1], [0.0]))


def test_successive_halving_records_rungs():
    pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    first = PrunerTrial("running", [1], [0.5])
    assert not pruner.prune([], first)  # alone in its rung: promoted
    assert first.record == {"rungs": [0.5]}
    second = PrunerTrial("running", [1], [0.4])
    assert pruner.prune([PrunerTrial("ok", [1], [0.5], {"rungs": [0.5]})], second)
    assert second.record == {"rungs": [0.4]}


def test_registry_and_bad_settings():
    assert {"median", "percentile", "successive_halving"} <= set(PRUNERS.entries())
    assert isinstance(make_pruner("median"), MedianPruner)
    assert make_pruner(None) is None
    with pytest.raises(ValueError, match="hyperband_pruner"):
        make_pruner("hyperband_pruner")
    with pytest.raises(TypeError, match="'pruner' must be"):
        make_pruner(3)
    with pytest.raises(ValueError, match="'percentile' must lie in"):
        PercentilePruner(120)
    with pytest.raises(ValueError, match="'interval_steps' must be a positive integer"):
        MedianPruner(interval_steps=0)
    with pytest.raises(ValueError, match="'reduction_factor' must be an integer >= 2"):
        SuccessiveHalvingPruner(reduction_factor=1)
    with pytest.raises(ValueError, match="'min_resource' must be a positive integer"):
        SuccessiveHalvingPruner(min_resource=0)
