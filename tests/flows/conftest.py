"""Test doubles of the search loop: an executor that finishes trials in a scripted order and an
algorithm that proposes a known sequence and records what it is told.

``ScriptedExecutor`` runs the objective in this process (``evaluate_spec``, as every executor
does) and records each call it receives, so a test sees the loop's scheduling: how many trials
are in flight, in which order results are handed back, when the executor is closed.
``CountingAlgorithm`` proposes trial ``i`` as ``x = i`` of ``SPACE``, so a trial's spec tells
which proposal it was, and records the batch sizes asked for and the feedback in its order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import SimpleNamespace

import numpy as np
import pyglove as pg
import pytest
from tqdm import tqdm

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.objectives import Objectives
from symnas.flows.executors import Executor
from symnas.flows.trial_eval import evaluate_spec
from symnas.spaces.codec import compile as compile_space

# tqdm's default lock is a multiprocessing semaphore shared with every forked process, and its
# monitor thread takes it every few seconds: a test process forked from this one (mutation
# testing forks one per mutant and kills those that hang) could inherit it held and block on the
# first progress bar. A per-process lock and no monitor thread keep forked copies independent.
tqdm.set_lock(threading.RLock())
tqdm.monitor_interval = 0

SPACE = pg.Dict(x=pg.oneof(list(range(16))))
CODEC = compile_space(SPACE)  # compiled once: searches on it skip the compile
WALL_S = 0.25


def newest_first(queued: list[int]) -> int:
    """Of the trials in flight, the most recently submitted finishes first."""
    return max(queued)


def oldest_first(queued: list[int]) -> int:
    """Trials finish in submission order."""
    return min(queued)


class ScriptedExecutor(Executor):
    """Evaluates in this process; ``wait`` hands back ``per_wait`` trials chosen by ``pick``
    (a function of the submitted, unfinished trial ids) with a wall time of ``WALL_S``.

    ``events`` records ``("start", threads)``, ``("submit", id, seed)``, ``("wait", [ids])``
    and ``("close", cancel)``.
    """

    def __init__(
        self,
        in_flight: int,
        asynchronous: bool = True,
        pick: Callable[[list[int]], int] = newest_first,
        per_wait: int = 1,
    ) -> None:
        self.in_flight = in_flight
        self.asynchronous = asynchronous
        self.pick = pick
        self.per_wait = per_wait
        self.queued: dict[int, tuple[object, int]] = {}
        self.events: list[tuple] = []
        self.objective: object = None

    @property
    def concurrency(self) -> int:
        return self.in_flight

    def start(self, objective, threads) -> None:
        self.objective = objective
        self.events.append(("start", threads))

    def submit(self, trial_id, spec, seed) -> None:
        self.queued[trial_id] = (spec, seed)
        self.events.append(("submit", trial_id, seed))

    def wait(self):
        if not self.queued:  # as every executor: waiting for nothing is the caller's bug
            raise RuntimeError("ScriptedExecutor.wait: no trial was submitted.")
        done = []
        while self.queued and len(done) < self.per_wait:
            trial_id = self.pick(list(self.queued))
            spec, seed = self.queued.pop(trial_id)
            metrics, error, _ = evaluate_spec(self.objective, spec, seed)
            done.append((trial_id, (metrics, error, WALL_S)))
        self.events.append(("wait", [trial_id for trial_id, _ in done]))
        return done

    def close(self, cancel: bool = False) -> None:
        self.queued.clear()
        self.events.append(("close", cancel))

    def submitted(self) -> list[int]:
        """The trial ids submitted, in order."""
        return [e[1] for e in self.events if e[0] == "submit"]

    def handed_back(self) -> list[int]:
        """The trial ids returned by ``wait``, in order."""
        return [i for e in self.events if e[0] == "wait" for i in e[1]]


@pg.members(
    [
        ("limit", pg.typing.Int(min_value=0).noneable(), "Proposals before StopIteration."),
        ("constraints", pg.typing.Dict().noneable(), "Constraints {metric: (op, bound)}."),
    ]
)
class CountingAlgorithm(SearchAlgorithm):
    """Proposes ``x = 0, 1, 2, ...`` (trial ``i`` is ``x = i``), maximises ``score``, and raises
    ``StopIteration`` after ``limit`` proposals (a last batch may be shorter than asked)."""

    def objectives(self) -> Objectives:
        return Objectives.create("score", "max", dict(self.constraints or {}))

    def prepare(self, out, resume: bool = False, verbose: bool = True) -> None:
        self._prepared = (out, resume, verbose)

    def _reset(self) -> None:
        self._count = 0
        self._asked: list[int] = []
        self._stops = 0
        self._fed: list[tuple[int, Mapping[str, float] | None]] = []

    def _propose_genomes(self, n: int) -> np.ndarray:
        self._asked.append(n)
        left = n if self.limit is None else min(n, self.limit - self._count)
        if left <= 0:
            self._stops += 1
            raise StopIteration("all proposed")
        genomes = np.array([[float(self._count + k)] for k in range(left)])
        self._count += left
        return genomes

    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward in zip(genomes, rewards, strict=True):
            self._fed.append((int(genome[0]), None if reward is None else float(reward[0])))


class CheckpointedCounter(CountingAlgorithm):
    """A ``CountingAlgorithm`` that saves its state (the proposal count), so a search checkpoints
    it; its records of asked sizes and feedback start empty after a restore."""

    def _state(self) -> dict:
        return {"count": self._count, "stops": self._stops}

    def _load_state(self, state: dict) -> None:
        self._count = state["count"]
        self._stops = state["stops"]


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The test doubles of this module: ``SPACE``, its ``CODEC``, ``WALL_S``, ``ScriptedExecutor``,
    ``CountingAlgorithm``, ``CheckpointedCounter``, ``newest_first``, ``oldest_first``."""
    return SimpleNamespace(
        SPACE=SPACE,
        CODEC=CODEC,
        WALL_S=WALL_S,
        ScriptedExecutor=ScriptedExecutor,
        CountingAlgorithm=CountingAlgorithm,
        CheckpointedCounter=CheckpointedCounter,
        newest_first=newest_first,
        oldest_first=oldest_first,
    )
