"""A search's trials as arrays for the figures: objective values, rewards, feasibility, and the
downsampling that keeps a page of a long search small."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnas.algorithms.pareto import pareto_front
from symnas.flows.result import SearchResult, Trial, largest_budget

#: At most this many trials are drawn as points in the optimisation history.
MAX_HISTORY_POINTS = 3000


@dataclass
class ScoredSearch:
    """Every trial of a search in log order, with the objectives of the ok and pruned ones.

    ``values[i]`` holds trial ``i``'s objective values as logged (a pruned trial's last report;
    NaN where it failed or lacks an objective), ``rewards[i]`` the same in maximisation form,
    ``violation[i]`` its constraint violation (0: feasible), ``scored[i]`` whether it completed
    with every objective and is a candidate for best (at the largest budget when trials ran at
    several, as ``SearchResult.best``), ``pruned[i]`` whether a pruner stopped it, ``lower[i]``
    whether it completed at a budget below ``budget``, the largest (None: a single budget).
    """

    trials: list[Trial]
    names: tuple[str, ...]
    modes: tuple[str, ...]
    values: np.ndarray
    rewards: np.ndarray
    violation: np.ndarray
    scored: np.ndarray
    pruned: np.ndarray
    lower: np.ndarray
    budget: Any = None
    _front: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def drawn(self) -> np.ndarray:
        """The trials with every objective (completed, pruned or at a lower budget)."""
        return ~np.isnan(self.values).any(axis=1)

    @property
    def failed(self) -> np.ndarray:
        """The trials without every objective that no pruner stopped."""
        return ~self.drawn & ~self.pruned

    @property
    def feasible(self) -> np.ndarray:
        """The scored trials that meet every constraint."""
        return self.scored & (self.violation == 0)

    def front(self) -> np.ndarray:
        """Indices (ascending) of the feasible trials no feasible trial dominates over all the
        objectives (computed once)."""
        if self._front is None:
            feasible = np.flatnonzero(self.feasible)
            self._front = feasible[pareto_front(self.rewards[feasible])]
        return self._front

    def best_so_far(self) -> np.ndarray:
        """The best feasible first-objective value up to each trial (NaN before the first)."""
        reward = np.where(self.feasible, self.rewards[:, 0], -np.inf)
        best = np.maximum.accumulate(reward) if len(reward) else reward
        sign = 1.0 if self.modes[0] == "max" else -1.0
        return np.where(np.isfinite(best), sign * best, np.nan)


def objective_names(result: SearchResult) -> tuple[str, ...]:
    """The objectives' metric names (the first metric of an ok trial when none are named)."""
    if result.objectives.names is not None:
        return tuple(result.objectives.names)
    for trial in result.trials:
        if trial.ok and trial.metrics:
            try:
                return tuple(result.objectives.resolve(trial.metrics))
            except ValueError:
                return (next(iter(trial.metrics)),)
    return ()


def score(result: SearchResult) -> ScoredSearch:
    """The arrays of a search's trials (a trial missing an objective counts as unscored)."""
    trials = result.trials
    names = objective_names(result)
    modes = tuple(result.objectives.modes[: len(names)]) or ("max",)
    n, m = len(trials), max(len(names), 1)
    values = np.full((n, m), np.nan)
    violation = np.zeros(n)
    for i, trial in enumerate(trials):
        metrics = trial.metrics or {}
        if trial.status in ("ok", "pruned") and names and all(k in metrics for k in names):
            values[i] = [metrics[k] for k in names]
            if result.objectives.constraints:
                violation[i] = result.objectives.violation(metrics)
    signs = np.array([1.0 if mode == "max" else -1.0 for mode in modes])
    complete = ~np.isnan(values).any(axis=1) & np.array([t.ok for t in trials], dtype=bool)
    budget = largest_budget([t for t in trials if t.ok])
    if budget is None:
        top = np.ones(n, dtype=bool)
    else:
        top = np.array([t.extra.get("budget") == budget for t in trials], dtype=bool)
    pruned = np.array([t.status == "pruned" for t in trials], dtype=bool)
    return ScoredSearch(
        trials,
        names,
        modes,
        values,
        values * signs,
        violation,
        complete & top,
        pruned,
        complete & ~top,
        budget,
    )


def history_sample(search: ScoredSearch, limit: int = MAX_HISTORY_POINTS) -> np.ndarray:
    """Indices (ascending) of at most ``limit`` trials to draw: every improvement of the best
    so far, then failed trials and the rest (pruned ones included) evenly spaced over the log
    (failed trials get at most a tenth of the points)."""
    n = len(search.trials)
    if n <= limit:
        return np.arange(n)
    best = search.best_so_far()
    previous = np.concatenate(([np.nan], best[:-1]))
    improved = np.flatnonzero(~np.isnan(best) & ~(best == previous))[:limit]
    failed = np.flatnonzero(search.failed)
    room = limit - len(improved)
    failed_points = min(len(failed), room // 10)
    chosen = [improved, evenly(failed, failed_points)]
    chosen.append(evenly(np.flatnonzero(~search.failed), room - failed_points))
    return np.unique(np.concatenate(chosen))


def evenly(indices: np.ndarray, count: int) -> np.ndarray:
    """``count`` of ``indices`` evenly spaced (first and last included), as integers."""
    if count <= 0 or len(indices) == 0:
        return np.zeros(0, dtype=np.int64)
    picks = np.linspace(0, len(indices) - 1, min(count, len(indices))).round().astype(np.int64)
    return indices[picks]
