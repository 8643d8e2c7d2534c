"""Evaluating one trial: the objective under the trial's seed, its value checked as metrics.

Every executor (``flows.executors``) runs trials through :func:`evaluate_spec`, which never
raises for the objective's own errors: a trial that raises or returns a non-finite metric comes
back with the traceback as its error text.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from symnas.flows.seeding import seeded_trial, uses_torch

DEFAULT_METRIC = "objective"

Objective = Callable[[Any], float | Mapping[str, float]]
#: A finished evaluation: (metrics or None, error text or None, wall seconds), followed by the
#: trial's progress (reports, whether pruned: ``flows.trial_handle``) when it ran with a context.
Outcome = tuple[Any, ...]


def normalize_metrics(value: Any) -> dict[str, float]:
    """An objective's return value as ``{name: float}``; raises ``ValueError`` if not finite."""
    if isinstance(value, Mapping):
        metrics = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                raise ValueError(f"Metric {k!r} is a {type(v).__name__}; metrics must be numbers.")
            metrics[str(k)] = float(v)
    elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        metrics = {DEFAULT_METRIC: float(value)}
    else:
        raise ValueError(
            f"The objective returned a {type(value).__name__}; it must return a number or a "
            "dict of named numbers."
        )
    for k, v in metrics.items():
        if not math.isfinite(v):
            raise ValueError(f"Metric {k!r} is {v} (not finite).")
    return metrics


def evaluate_spec(
    objective: Objective, spec: Any, seed: int, threads: int | None = None
) -> Outcome:
    """Runs the objective on one spec under the trial's seed (and ``threads`` torch threads when
    given); returns (metrics, error text, wall seconds)."""
    start = time.perf_counter()
    try:
        with seeded_trial(seed, threads, uses_torch(objective)):
            value = objective(spec)
        metrics = normalize_metrics(value)
        error = None
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        metrics = None
        error = traceback.format_exc()
    return metrics, error, time.perf_counter() - start


def evaluate_batch(
    objective: Any, specs: list[Any], seeds: list[int], threads: int | None = None
) -> list[Outcome]:
    """Runs ``objective.evaluate_batch(specs)`` (a supernet estimator scores candidates
    together); if the batch call raises, each spec is evaluated alone, so a bad candidate fails
    only its own trial. Wall time is shared equally."""
    start = time.perf_counter()
    try:
        with seeded_trial(seeds[0], threads, uses_torch(objective)):
            values = objective.evaluate_batch(specs)
        metrics = [normalize_metrics(v) for v in values]
        if len(metrics) != len(specs):
            raise ValueError(f"evaluate_batch returned {len(metrics)} results for {len(specs)}.")
    except Exception:  # noqa: BLE001 - retried one by one, where each failure is recorded
        return [
            evaluate_spec(objective, s, seed, threads) for s, seed in zip(specs, seeds, strict=True)
        ]
    wall = (time.perf_counter() - start) / len(specs)
    return [(m, None, wall) for m in metrics]
