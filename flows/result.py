"""Trials and search results."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from symnas.algorithms.objectives import Objectives
from symnas.algorithms.pareto import pareto_front
from symnas.flows.trial_log import genome_to_json, paused_gc

RECORD_FIELDS = frozenset(
    ("id", "genome", "dna", "spec", "metrics", "status", "error", "wall_s", "seed")
)


@dataclass(slots=True)
class Trial:
    """One evaluated candidate."""

    id: int
    genome: np.ndarray
    dna: list[int | float]
    spec: Any
    metrics: dict[str, float] | None
    status: str  # "ok" | "failed" | "pruned" (stopped early; metrics: its last report)
    error: str | None = None
    wall_s: float = 0.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the trial produced finite metrics."""
        return self.status == "ok"

    def to_record(self) -> dict[str, Any]:
        """The JSON record of the trial log."""
        record = {
            "id": self.id,
            "genome": genome_to_json(self.genome),
            "dna": self.dna,
            "spec": self.spec,
            "metrics": self.metrics,
            "status": self.status,
            "error": self.error,
            "wall_s": round(self.wall_s, 6),
            "seed": self.seed,
        }
        record.update(self.extra)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], genome: np.ndarray | None = None) -> Trial:
        """Inverse of :meth:`to_record` (``genome``: the record's genome, already converted)."""
        if genome is None:
            # numpy reads null as NaN (genome_from_json), in one call.
            genome = np.array(record["genome"], dtype=np.float64)
        return cls(
            id=int(record["id"]),
            genome=genome,
            dna=record["dna"],
            spec=record["spec"],
            metrics=record["metrics"],
            status=record["status"],
            error=record.get("error"),
            wall_s=float(record.get("wall_s", 0.0)),
            seed=record.get("seed"),
            extra={k: v for k, v in record.items() if k not in RECORD_FIELDS},
        )

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> list[Trial]:
        """The trials of many records, their genomes converted in one numpy call (rows of one
        array) when they have one length."""
        try:
            genomes = np.array([r["genome"] for r in records], dtype=np.float64)
        except ValueError:  # genomes of different lengths
            genomes = None
        if genomes is None or genomes.ndim != 2:
            return [cls.from_record(r) for r in records]
        return [cls.from_record(r, g) for r, g in zip(records, genomes, strict=True)]


@dataclass
class SearchResult:
    """What a search found: every trial, the best one and the Pareto front."""

    trials: list[Trial]
    objectives: Objectives
    out: Path | None = None

    _scores: _ScoreCache | None = field(default=None, init=False, repr=False, compare=False)

    def _scored(self) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        """The ok trials with their rewards and violations, extended as trials are appended."""
        cache = self._scores
        if (
            cache is None
            or len(cache.seen) > len(self.trials)
            or not all(map(operator.is_, cache.seen, self.trials))
        ):
            cache = _ScoreCache()  # changed, not only extended
        new = [t for t in self.trials[len(cache.seen) :] if t.ok]
        with paused_gc():
            cache.add(self.objectives, new)
        cache.seen = list(self.trials)
        self._scores = cache
        if not cache.ok:
            return [], np.zeros((0, 1)), np.zeros(0)
        count = len(cache.ok)
        return list(cache.ok), cache.rewards[:count], cache.violations[:count]

    def _candidates(self) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        """The ok trials that may be best, with rewards and violations: those at the largest
        budget logged when trials ran at several (a budgeted algorithm's low rungs are not
        candidates), else every ok trial."""
        ok, rewards, violations = self._scored()
        top = largest_budget(ok)
        if top is None:
            return ok, rewards, violations
        keep = np.array([t.extra.get("budget") == top for t in ok])
        return [t for t, k in zip(ok, keep, strict=True) if k], rewards[keep], violations[keep]

    @property
    def best(self) -> Trial | None:
        """The best feasible trial by the first objective (None if every trial failed), among
        the trials at the largest budget when trials ran at several."""
        ok, rewards, violations = self._candidates()
        if not ok:
            return None
        feasible = violations == 0
        if not feasible.any():
            return ok[int(np.argmin(violations))]
        first = np.where(feasible, rewards[:, 0], -np.inf)
        return ok[int(np.argmax(first))]

    def pareto_front(self) -> list[Trial]:
        """The non-dominated feasible trials, ordered by the first objective (best first);
        among the trials at the largest budget when trials ran at several."""
        ok, rewards, violations = self._candidates()
        if not ok:
            return []
        front = pareto_front(rewards, violations)
        front = front[np.argsort(-rewards[front, 0], kind="stable")]
        return [ok[i] for i in front]

    @property
    def failed(self) -> list[Trial]:
        """The trials whose program raised or returned a non-finite metric."""
        return [t for t in self.trials if t.status == "failed"]

    @property
    def pruned(self) -> list[Trial]:
        """The trials a pruner stopped early (not candidates for ``best``)."""
        return [t for t in self.trials if t.status == "pruned"]

    def summary(self) -> dict[str, Any]:
        """A JSON summary: counts, the budget trained (``budget_trained``, when the trials
        ran at budgets), best trial and Pareto front."""
        best = self.best
        objectives = self.objectives
        trained = [budget_trained(t) for t in self.trials]
        spent = {"budget_trained": sum(trained)} if any(b is not None for b in trained) else {}
        return {
            **spent,
            "counts": {
                "total": len(self.trials),
                "ok": sum(t.ok for t in self.trials),
                "failed": len(self.failed),
                "pruned": len(self.pruned),
            },
            "objectives": {
                "names": list(objectives.names) if objectives.names else None,
                "modes": list(objectives.modes),
                "constraints": {k: list(v) for k, v in objectives.constraints.items()},
            },
            "best": best.to_record() if best else None,
            "pareto_front": [t.to_record() for t in self.pareto_front()],
        }


def budget_trained(trial: Trial) -> float | None:
    """The budget (epochs, data fraction) a trial actually trained, None without one: an ok
    trial's budget, else its last report's step (0 without a report), less the step of the
    state it continued (``start``)."""
    budget = trial.extra.get("budget")
    if budget is None:
        return None
    start = trial.extra.get("start", 0)
    reports = trial.extra.get("reports", [])
    if trial.status == "ok":
        return budget - start
    return reports[-1][0] - start if reports else 0


def largest_budget(ok: list[Trial]) -> Any:
    """The largest budget among the ok trials ``ok`` when they ran at several (only trials at
    it are candidates for best), else None (every ok trial is)."""
    budgets = {t.extra.get("budget") for t in ok}
    if len(budgets) < 2:
        return None
    return max(b for b in budgets if b is not None)


class _ScoreCache:
    """The ok trials of a search with their rewards and violations in arrays that grow by
    doubling (a few bytes a trial, where a list of per-trial lists held about a hundred)."""

    def __init__(self) -> None:
        self.seen: list[Trial] = []  # every trial scored so far, ok or not
        self.ok: list[Trial] = []
        self.rewards = np.zeros((0, 0))
        self.violations = np.zeros(0)

    def add(self, objectives: Objectives, trials: list[Trial]) -> None:
        """Scores ok ``trials`` after those already held."""
        if not trials:
            return
        rewards: list[list[float]] = []
        violations: list[float] = []
        _score(objectives, trials, rewards, violations)
        start, stop = len(self.ok), len(self.ok) + len(trials)
        if stop > len(self.violations):
            spare = max(stop, 2 * len(self.violations)) - start
            held = self.rewards[:start].reshape(start, len(rewards[0]))
            self.rewards = np.concatenate([held, np.zeros((spare, held.shape[1]))])
            self.violations = np.concatenate([self.violations[:start], np.zeros(spare)])
        self.rewards[start:stop] = rewards
        self.violations[start:stop] = violations
        self.ok.extend(trials)


def _score(objectives: Objectives, trials: list[Trial], rewards: list, violations: list) -> None:
    """Appends the trials' rewards (maximisation form, as ``Objectives.reward``) and constraint
    violations, resolving the objective names once per set of metric names."""
    plans: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    modes = objectives.modes if objectives.names is not None else objectives.modes[:1]
    for t in trials:
        metrics = t.metrics
        plan = plans.get(tuple(metrics))
        if plan is None:
            names = objectives.resolve(metrics)
            plan = [(n, 1.0 if m == "max" else -1.0) for n, m in zip(names, modes, strict=True)]
            plans[tuple(metrics)] = plan
        rewards.append([sign * metrics[n] for n, sign in plan])
        violations.append(objectives.violation(metrics) if objectives.constraints else 0.0)


@runtime_checkable
class FlowResult(Protocol):
    """What every registered flow returns (``SearchResult``, ``NestedResult``...).

    ``best`` is trial-like (``spec`` and ``metrics``; None when no trial succeeded), ``trials``
    every trial of the search the flow ran (the outer one for a nested flow) and ``out`` its
    output folder (None when nothing was written).
    """

    @property
    def best(self) -> Any: ...

    @property
    def trials(self) -> list[Any]: ...

    @property
    def out(self) -> Path | None: ...
