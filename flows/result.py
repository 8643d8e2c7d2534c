"""Trials and search results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from symnas.algorithms.objectives import Objectives
from symnas.algorithms.pareto import pareto_front
from symnas.flows.trial_log import genome_from_json, genome_to_json


@dataclass
class Trial:
    """One evaluated candidate."""

    id: int
    genome: np.ndarray
    dna: list[int | float]
    spec: Any
    metrics: dict[str, float] | None
    status: str  # "ok" | "failed"
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
    def from_record(cls, record: dict[str, Any]) -> Trial:
        """Inverse of :meth:`to_record`."""
        known = {"id", "genome", "dna", "spec", "metrics", "status", "error", "wall_s", "seed"}
        return cls(
            id=int(record["id"]),
            genome=np.array(genome_from_json(record["genome"]), dtype=np.float64),
            dna=record["dna"],
            spec=record["spec"],
            metrics=record["metrics"],
            status=record["status"],
            error=record.get("error"),
            wall_s=float(record.get("wall_s", 0.0)),
            seed=record.get("seed"),
            extra={k: v for k, v in record.items() if k not in known},
        )


@dataclass
class SearchResult:
    """What a search found: every trial, the best one and the Pareto front."""

    trials: list[Trial]
    objectives: Objectives
    out: Path | None = None

    def _scored(self) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        ok = [t for t in self.trials if t.ok]
        if not ok:
            return [], np.zeros((0, 1)), np.zeros(0)
        rewards = np.stack([self.objectives.reward(t.metrics) for t in ok])
        violations = np.array([self.objectives.violation(t.metrics) for t in ok])
        return ok, rewards, violations

    @property
    def best(self) -> Trial | None:
        """The best feasible trial by the first objective (None if every trial failed)."""
        ok, rewards, violations = self._scored()
        if not ok:
            return None
        feasible = violations == 0
        if not feasible.any():
            return ok[int(np.argmin(violations))]
        first = np.where(feasible, rewards[:, 0], -np.inf)
        return ok[int(np.argmax(first))]

    def pareto_front(self) -> list[Trial]:
        """The non-dominated feasible trials, ordered by the first objective (best first)."""
        ok, rewards, violations = self._scored()
        if not ok:
            return []
        front = pareto_front(rewards, violations)
        front = front[np.argsort(-rewards[front, 0], kind="stable")]
        return [ok[i] for i in front]

    @property
    def failed(self) -> list[Trial]:
        """The trials whose program raised or returned a non-finite metric."""
        return [t for t in self.trials if not t.ok]

    def summary(self) -> dict[str, Any]:
        """A JSON summary: counts, best trial and Pareto front."""
        best = self.best
        objectives = self.objectives
        return {
            "counts": {
                "total": len(self.trials),
                "ok": sum(t.ok for t in self.trials),
                "failed": len(self.failed),
            },
            "objectives": {
                "names": list(objectives.names) if objectives.names else None,
                "modes": list(objectives.modes),
                "constraints": {k: list(v) for k, v in objectives.constraints.items()},
            },
            "best": best.to_record() if best else None,
            "pareto_front": [t.to_record() for t in self.pareto_front()],
        }


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
