"""Pruners: stop a trial early from its intermediate reports and those of earlier trials.

A pruner decides, after each ``trial.report(step, metrics)`` of a running trial, whether the
trial should stop (``trial.should_stop()``). It sees the trial's reports so far and the trials
that had finished when the trial was started, each as a :class:`PrunerTrial` whose values are
rewards in maximisation form (the algorithm's metric, negated when it is minimised). The
decisions follow Optuna's pruners (Akiba et al., "Optuna: A Next-generation Hyperparameter
Optimization Framework", KDD 2019), with their defaults:

- ``percentile`` (``PercentilePruner``): once ``n_startup_trials`` trials have completed, a
  trial past ``n_warmup_steps`` is pruned at the first report of each ``interval_steps``
  interval when its best value so far is worse than the ``percentile``-th percentile of the
  completed trials' values at the same step (given at least ``n_min_trials`` of them);
- ``median`` (``MedianPruner``): the percentile pruner at the 50th percentile;
- ``successive_halving`` (``SuccessiveHalvingPruner``, the asynchronous successive halving of
  Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020): rung ``k``
  is reached at step ``min_resource * reduction_factor ** (min_early_stopping_rate + k)``; a
  trial reaching it records its value there and continues only if that value is among the top
  ``1 / reduction_factor`` of the values recorded at that rung so far (itself included).

Pruned trials do not count as completed for the percentile pruners (Optuna counts COMPLETE
trials only); the rung values of every finished trial, pruned ones included, compete in
successive halving. ``PRUNERS`` registers them by name (``symnas list`` shows them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnas.core.registry import Registry

# A pruner defined in any module of this package registers on the first lookup of its name.
PRUNERS = Registry("pruner", loaders=["symnas.algorithms.*"])
#: How a pruned trial is fed back to the algorithm (recorded as the trial's ``feedback``).
PRUNED_FEEDBACK = "last_report"


@dataclass
class PrunerTrial:
    """A trial as a pruner sees it: its status (``ok``, ``pruned``, ``failed``, ``running``),
    the steps it reported with their rewards (maximisation form), and the pruner's own record
    for it (successive halving keeps the values it recorded at each rung)."""

    status: str
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def value_at(self, step: int) -> float | None:
        """The reward reported at ``step`` (None when the trial reported no such step)."""
        try:
            return self.values[self.steps.index(step)]
        except ValueError:
            return None


class Pruner(ABC):
    """Decides whether a running trial stops, from its reports and the finished trials."""

    @abstractmethod
    def prune(self, finished: Sequence[PrunerTrial], current: PrunerTrial) -> bool:
        """Whether ``current`` (its last report just made) should stop; ``finished`` are the
        trials finished when it started, in feedback order. May update ``current.record``."""

    def config(self) -> dict[str, Any]:
        """The pruner's settings (recorded in ``config.json``)."""
        return {"pruner": type(self).__name__, **vars(self)}


def _non_negative(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {name!r} must be a non-negative integer; got {value!r}.")


def _positive(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name!r} must be a positive integer; got {value!r}.")


def _first_in_interval(step: int, steps: Sequence[int], warmup: int, interval: int) -> bool:
    """Whether ``step`` is the first report in its interval of ``interval`` steps after the
    warm-up (Optuna's ``_is_first_in_interval_step``)."""
    nearest_lower = (step - warmup) // interval * interval + warmup
    second_last = max((s for s in steps if s != step), default=-1)
    return second_last < nearest_lower


@PRUNERS.register("percentile", "prune below a percentile of completed trials at the same step")
class PercentilePruner(Pruner):
    """Optuna's ``PercentilePruner`` (see the module docstring).

    Args:
      percentile: the percentile (0-100) of the completed trials' values a trial must reach;
        Optuna has no default, this registry's entry uses 25.
      n_startup_trials: completed trials before any pruning.
      n_warmup_steps: steps (as reported) before a trial may be pruned.
      interval_steps: prune at most once per interval of this many steps.
      n_min_trials: completed trials that must have reported the step.
    """

    def __init__(
        self,
        percentile: float = 25.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        name = type(self).__name__
        if (
            isinstance(percentile, bool)
            or not isinstance(percentile, (int, float))
            or not (0.0 <= percentile <= 100.0)
        ):
            raise ValueError(f"{name}: 'percentile' must lie in [0, 100]; got {percentile!r}.")
        _non_negative(name, "n_startup_trials", n_startup_trials)
        _non_negative(name, "n_warmup_steps", n_warmup_steps)
        _positive(name, "interval_steps", interval_steps)
        _positive(name, "n_min_trials", n_min_trials)
        self.percentile = float(percentile)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def prune(self, finished: Sequence[PrunerTrial], current: PrunerTrial) -> bool:
        completed = [t for t in finished if t.status == "ok"]
        if not completed or len(completed) < self.n_startup_trials or not current.steps:
            return False
        step = current.steps[-1]
        if step < self.n_warmup_steps or not _first_in_interval(
            step, current.steps, self.n_warmup_steps, self.interval_steps
        ):
            return False
        values = [v for v in (t.value_at(step) for t in completed) if v is not None]
        if len(values) < self.n_min_trials:
            return False
        # Rewards are maximised: the threshold is the (100 - p)-th percentile, as Optuna's for
        # a maximised objective.
        threshold = float(np.percentile(np.asarray(values), 100.0 - self.percentile))
        return max(current.values) < threshold


@PRUNERS.register("median", "prune below the median of completed trials at the same step")
class MedianPruner(PercentilePruner):
    """Optuna's ``MedianPruner``: the percentile pruner at 50 (defaults n_startup_trials=5,
    n_warmup_steps=0, interval_steps=1, n_min_trials=1)."""

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials)


@PRUNERS.register(
    "successive_halving", "asynchronous successive halving over the reported steps (rungs)"
)
class SuccessiveHalvingPruner(Pruner):
    """Optuna's ``SuccessiveHalvingPruner`` (see the module docstring).

    Args:
      min_resource: steps of the first rung; ``"auto"``: the largest last step of the
        completed trials divided by 100 (at least 1), no pruning before a trial completed.
      reduction_factor: 1 / the fraction of a rung that continues (4).
      min_early_stopping_rate: rungs skipped at the start (0).
      bootstrap_count: values a rung needs before any trial is promoted past it (0).
    """

    def __init__(
        self,
        min_resource: int | str = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        name = type(self).__name__
        if min_resource != "auto":
            _positive(name, "min_resource", min_resource)
        if (
            isinstance(reduction_factor, bool)
            or not isinstance(reduction_factor, int)
            or (reduction_factor < 2)
        ):
            raise ValueError(
                f"{name}: 'reduction_factor' must be an integer >= 2; got {reduction_factor!r}."
            )
        _non_negative(name, "min_early_stopping_rate", min_early_stopping_rate)
        _non_negative(name, "bootstrap_count", bootstrap_count)
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count

    def _min_resource(self, finished: Sequence[PrunerTrial]) -> int | None:
        if self.min_resource != "auto":
            return int(self.min_resource)
        last = [t.steps[-1] for t in finished if t.status == "ok" and t.steps]
        return max(max(last) // 100, 1) if last else None

    def prune(self, finished: Sequence[PrunerTrial], current: PrunerTrial) -> bool:
        if not current.steps:
            return False
        step, value = current.steps[-1], current.values[-1]
        min_resource = self._min_resource(finished)
        if min_resource is None:
            return False
        rungs = current.record.setdefault("rungs", [])
        while True:
            rung = len(rungs)
            if step < min_resource * self.reduction_factor ** (self.min_early_stopping_rate + rung):
                return False
            rungs.append(value)
            competing = [
                t.record["rungs"][rung] for t in finished if len(t.record.get("rungs", ())) > rung
            ]
            competing.append(value)
            if len(competing) <= self.bootstrap_count:
                return True
            if not _promotable(value, competing, self.reduction_factor):
                return True


def _promotable(value: float, competing: list[float], reduction_factor: int) -> bool:
    """Whether ``value`` is among the top ``1 / reduction_factor`` of ``competing`` (at least
    the best one)."""
    index = max(len(competing) // reduction_factor - 1, 0)
    return value >= sorted(competing)[-(index + 1)]


def make_pruner(pruner: Pruner | str | None) -> Pruner | None:
    """A pruner from an object or a registered name (None: no pruning)."""
    if pruner is None or isinstance(pruner, Pruner):
        return pruner
    if isinstance(pruner, str):
        return PRUNERS.get(pruner).obj()
    raise TypeError(
        f"'pruner' must be a registered pruner name ({sorted(PRUNERS.entries())}), a "
        f"symnas.algorithms.pruners.Pruner or None; got {type(pruner).__name__}."
    )
