"""Nested search: architectures searched inside a loop that searches hardware configurations.

PyGlove's motivating complex flow (Peng et al., "PyGlove: Symbolic Programming for Automated
Machine Learning", NeurIPS 2020): an outer algorithm proposes a hardware configuration; for each
one an inner algorithm searches architectures on it; the inner best is fed back to the outer
algorithm. Both levels are ordinary ``flows.search`` runs, so either algorithm is swapped by one
argument and both levels log and resume: the outer log is ``out/trials.jsonl`` and the inner
search of a configuration lives in ``out/inner/<key>/`` (``key`` is a hash of the
configuration, so a configuration proposed twice reuses its inner search). With
``workers > 1`` or the Ray executor the inner searches run in other processes or on other
machines (``executor="ray"``: one Ray task per configuration), several configurations at once;
each writes its own inner log, locked while it runs, so two evaluations of one configuration
take turns and the second reuses the first's trials.

``joint_search`` is the baseline of NAHAS (Zhou et al., 2021): one search over the product
space ``pg.Dict(hw=..., arch=...)`` with the same number of evaluations.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.pareto import pareto_front
from symnas.algorithms.registry import resolve
from symnas.flows.executors import Executor, LocalExecutor, default_executor
from symnas.flows.report import load_result
from symnas.flows.result import SearchResult, Trial
from symnas.flows.run_config import prepare_out_dir
from symnas.flows.search import search
from symnas.flows.seeding import uses_torch
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

PairObjectiveFn = Callable[[Any, Any], float | Mapping[str, float]]


def hardware_key(hw: Any) -> str:
    """A short stable name of a hardware spec (its inner search folder)."""
    return hashlib.sha1(json.dumps(hw, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class PairObjective:
    """``objective(hw, arch)`` with the hardware fixed: the inner search's objective."""

    objective: PairObjectiveFn
    hw: Any

    def __call__(self, arch: Any) -> float | Mapping[str, float]:
        return self.objective(self.hw, arch)

    @property
    def uses_torch(self) -> bool:
        """Whether the wrapped objective declares that it uses torch (``flows.seeding``)."""
        return uses_torch(self.objective)


@contextlib.contextmanager
def _locked(folder: Path | None) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` (made if needed) for the block; None locks
    nothing."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class InnerSearch:
    """The outer objective: runs (or resumes) the inner search of one configuration and returns
    the metrics of its best architecture."""

    def __init__(
        self,
        inner_space: Any,
        inner_algorithm: SearchAlgorithm,
        objective: PairObjectiveFn,
        inner_budget: int,
        out: Path | None,
        seed: int,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.inner_space = inner_space
        self.inner_algorithm = inner_algorithm
        self.objective = objective
        self.inner_budget = inner_budget
        self.out = out
        self.seed = seed
        self.options = dict(options or {})
        self.results: dict[str, SearchResult] = {}
        self._codec: Codec | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The compiled codec holds closures; each worker process compiles its own.
        return {**self.__dict__, "_codec": None}

    def folder(self, hw: Any) -> Path | None:
        """Where the inner search of ``hw`` is logged."""
        return None if self.out is None else self.out / "inner" / hardware_key(hw)

    def __call__(self, hw: Any) -> dict[str, float]:
        key = hardware_key(hw)
        if key not in self.results:
            algorithm = self.inner_algorithm.clone(deep=True)
            if self._codec is None:
                self._codec = compile_space(self.inner_space)
            folder = self.folder(hw)
            with _locked(folder):
                self.results[key] = search(
                    self._codec,
                    PairObjective(self.objective, hw),
                    algorithm,
                    self.inner_budget,
                    out=folder,
                    seed=(self.seed * 1_000_003 + int(key[:8], 16)) % 2**31,
                    resume=True,
                    verbose=False,
                    options=self.options,
                    executor="local",
                )
        best = self.results[key].best
        if best is None:
            raise RuntimeError(f"every inner trial failed on hardware {hw}")
        return dict(best.metrics)

    def result(self, hw: Any) -> SearchResult:
        """The inner search result of ``hw`` (from memory or its log)."""
        key = hardware_key(hw)
        if key not in self.results:
            folder = self.folder(hw)
            if folder is None or not (folder / "trials.jsonl").exists():
                raise KeyError(f"no inner search for hardware {hw}")
            self.results[key] = load_result(folder)
        return self.results[key]


@dataclass
class Pair:
    """One evaluated (hardware, architecture) pair."""

    hw: Any
    arch: Any
    metrics: dict[str, float]
    outer_id: int
    inner_id: int


class NestedResult:
    """Outer trials, inner searches and the Pareto front over every evaluated pair.

    A flow result (``flows.result.FlowResult``): ``best`` and ``trials`` are the outer
    search's, ``out`` its folder.
    """

    out: Path | None

    def __init__(self, outer: SearchResult, inner: InnerSearch, objectives: Objectives) -> None:
        self.outer = outer
        self.inner = inner
        self.objectives = objectives
        self.out = outer.out

    @property
    def best(self):
        """The best outer trial (its metrics are those of its inner best)."""
        return self.outer.best

    @property
    def trials(self) -> list[Trial]:
        """Every outer trial (one per hardware configuration)."""
        return self.outer.trials

    def pairs(self) -> list[Pair]:
        """Every successfully evaluated pair of every inner search (one per configuration),
        each (hardware, architecture) pair once (its first evaluation)."""
        pairs: list[Pair] = []
        seen: set[str] = set()
        seen_pairs: set[tuple[str, str]] = set()
        for trial in self.outer.trials:
            key = hardware_key(trial.spec)
            if not trial.ok or key in seen:
                continue
            seen.add(key)
            for inner in self.inner.result(trial.spec).trials:
                pair_key = (key, json.dumps(inner.spec, sort_keys=True))
                if inner.ok and pair_key not in seen_pairs:
                    seen_pairs.add(pair_key)
                    pairs.append(Pair(trial.spec, inner.spec, inner.metrics, trial.id, inner.id))
        return pairs

    def pareto_front(self, objectives: Objectives | None = None) -> list[Pair]:
        """The non-dominated feasible pairs under ``objectives`` (default: the outer
        algorithm's)."""
        objectives = objectives or self.objectives
        pairs = self.pairs()
        if not pairs:
            return []
        rewards = np.stack([objectives.reward(p.metrics) for p in pairs])
        violations = np.array([objectives.violation(p.metrics) for p in pairs])
        front = pareto_front(rewards, violations)
        front = front[np.argsort(-rewards[front, 0], kind="stable")]
        return [pairs[i] for i in front]


def nested(
    outer_space: Any,
    inner_space: Any,
    outer_algorithm: SearchAlgorithm | str,
    inner_algorithm: SearchAlgorithm | str,
    objective: PairObjectiveFn,
    outer_budget: int,
    inner_budget: int,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    resume: bool = False,
    workers: int | None = None,
    verbose: bool = True,
    options: Mapping[str, Any] | None = None,
    executor: Executor | str | None = None,
) -> NestedResult:
    """Searches hardware (outer) and, for each configuration, architectures (inner).

    ``objective(hw, arch)`` returns the metrics of one pair; the inner algorithm picks the best
    architecture for a configuration, whose metrics become the outer trial's metrics.
    ``workers`` runs that many inner searches at once (as in ``flows.search``; None: one in
    this process locally, the cluster's CPUs on Ray); ``executor`` (as in
    ``flows.search``: ``"ray"`` makes each inner search a Ray task) chooses where. ``options`` (the
    objective's settings) are recorded in both levels' ``config.json``, so resuming with other
    settings is refused. An inner search that stops after consecutive failures fails its outer
    trial with that message.
    """
    inner_algorithm = resolve(inner_algorithm, "inner_algorithm")
    if not isinstance(inner_budget, int) or inner_budget < 1:
        raise ValueError(
            f"nested: 'inner_budget' must be a positive integer; got {inner_budget!r}."
        )
    chosen = default_executor() if executor is None else executor
    in_process = workers in (None, 1) and (
        chosen == "local" or (isinstance(chosen, LocalExecutor) and chosen.workers == 1)
    )
    if not in_process and out is None:
        raise ValueError(
            "nested: workers > 1 or a Ray executor runs inner searches in other processes; "
            "give 'out' so that their logs can be read back."
        )
    out_dir = prepare_out_dir(out) if out is not None else None
    inner = InnerSearch(
        inner_space, inner_algorithm, objective, inner_budget, out_dir, seed, options
    )
    outer = search(
        outer_space,
        inner,
        outer_algorithm,
        outer_budget,
        out=out_dir,
        seed=seed,
        resume=resume,
        workers=workers,
        verbose=verbose,
        options={"inner_budget": inner_budget, **(options or {})},
        executor=executor,
    )
    return NestedResult(outer, inner, outer.objectives)


@dataclass
class JointObjective:
    """The pair objective on a spec of the product space ``{"hw": ..., "arch": ...}``."""

    objective: PairObjectiveFn

    def __call__(self, spec: Any) -> float | Mapping[str, float]:
        return self.objective(spec["hw"], spec["arch"])

    @property
    def uses_torch(self) -> bool:
        """Whether the wrapped objective declares that it uses torch (``flows.seeding``)."""
        return uses_torch(self.objective)


def joint_search(
    outer_space: Any,
    inner_space: Any,
    algorithm: SearchAlgorithm | str,
    objective: PairObjectiveFn,
    budget: int,
    **options: Any,
) -> SearchResult:
    """One search over the product space (the joint baseline of a nested search)."""
    space = pg.Dict(hw=outer_space, arch=inner_space)
    return search(space, JointObjective(objective), algorithm, budget, **options)
