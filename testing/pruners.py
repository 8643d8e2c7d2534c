"""Conformance check of a pruner (``algorithms.pruners``).

:func:`check_pruner` runs a pruner over scripted learning curves, trials one after another as a
sequential search does, and checks that its settings are JSON, that it never stops a trial
before its first report, that its decisions are booleans that depend only on the reports (the
same twice), that it records only JSON in a trial's record, and that it stops at least one of
the curves that stay far below the others.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from symnas.algorithms.pruners import PRUNERS, Pruner, PrunerTrial


def _curves(trials: int = 24, steps: int = 16) -> np.ndarray:
    """Saturating curves; every third one stays at a tenth of the others."""
    rng = np.random.default_rng(0)
    top = rng.uniform(0.5, 0.9, size=(trials, 1))
    top[2::3] *= 0.1
    return top * (1.0 - np.exp(-np.arange(1, steps + 1) / 3.0))


def _run(pruner: Pruner, curves: np.ndarray) -> tuple[list[int | None], list[dict[str, Any]]]:
    finished: list[PrunerTrial] = []
    stops: list[int | None] = []
    for curve in curves:
        current = PrunerTrial("running")
        assert pruner.prune(finished, current) is False, (
            f"{type(pruner).__name__}: stopped a trial before its first report"
        )
        stop = None
        for step, value in enumerate(curve, start=1):
            current.steps.append(step)
            current.values.append(float(value))
            decision = pruner.prune(finished, current)
            assert isinstance(decision, bool), (
                f"{type(pruner).__name__}: prune returned {decision!r}, not a bool"
            )
            if decision:
                stop = step
                break
        current.status = "ok" if stop is None else "pruned"
        finished.append(current)
        stops.append(stop)
    return stops, [t.record for t in finished]


def check_pruner(name_or_pruner: str | Pruner) -> None:
    """Every pruner check on a registered pruner (by name) or a pruner object."""
    if isinstance(name_or_pruner, str):
        make = PRUNERS.get(name_or_pruner).obj
    else:
        make = type(name_or_pruner)
    pruner = make()
    label = type(pruner).__name__
    try:
        json.dumps(pruner.config(), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{label}: config() is not JSON ({error})") from None
    curves = _curves()
    stops, records = _run(pruner, curves)
    again, _ = _run(make(), curves)
    assert stops == again, f"{label}: decisions differ between two runs on the same reports"
    try:
        json.dumps(records, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{label}: a trial's record is not JSON ({error})") from None
    assert any(stops[i] is not None for i in range(2, len(curves), 3)), (
        f"{label}: stopped none of the trials that stay at a tenth of the others"
    )
