"""Where trials run: in this process, in a local process pool, or as tasks on a Ray cluster.

An :class:`Executor` evaluates decoded specs for ``flows.search``: the search ``submit``s
trials (id, spec, seed) and ``wait``s for finished ones. A *batch* executor
(:class:`LocalExecutor`) is given ``concurrency`` trials at a time and the search feeds their
results back in proposal order once all are in, so a run is reproducible for a seed and a
worker count. An *asynchronous* executor (:class:`RayExecutor`) keeps ``concurrency`` trials in
flight: the search feeds back each result as it arrives and proposes a new trial at once, and
the log records the order of feedback so that a resumed search replays it exactly.

``search(..., executor="ray")`` uses Ray's cluster at ``RAY_ADDRESS`` or the one this process
is connected to, else starts a local one (Moritz et al., "Ray: A Distributed Framework for
Emerging AI Applications", OSDI 2018). A trial whose worker dies (a killed process, a lost
node) is retried once, then logged failed with the reason.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

from symnas.flows.trial_eval import Outcome, evaluate_batch, evaluate_spec
from symnas.flows.trial_handle import TrialContext, evaluate_trial

PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1
EXECUTORS = ("local", "ray")
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")


class Executor(ABC):
    """Runs the trials of a search; see the module docstring."""

    #: Whether the search feeds back results as they arrive (else in proposal order per batch).
    asynchronous: bool = False

    @abstractmethod
    def start(self, objective: Any, threads: int | None) -> None:
        """Prepares to evaluate ``objective`` with ``threads`` torch threads per trial (None:
        the executor's default)."""

    @property
    @abstractmethod
    def concurrency(self) -> int:
        """How many trials run at once (known after :meth:`start`)."""

    @abstractmethod
    def submit(
        self, trial_id: int, spec: Any, seed: int, context: TrialContext | None = None
    ) -> None:
        """Queues the evaluation of one trial; with a ``context`` (budget, reports, pruner:
        ``flows.trial_handle``) it runs through ``evaluate_trial``. The search passes a
        context only when the objective takes a budget or a trial handle."""

    @abstractmethod
    def wait(self) -> list[tuple[int, Outcome]]:
        """Blocks until at least one submitted trial has finished; returns ``(id, outcome)``
        pairs, ``outcome = (metrics or None, error text or None, wall seconds)``, followed by
        the trial's progress (reports, pruned) for a trial submitted with a context."""

    @abstractmethod
    def close(self, cancel: bool = False) -> None:
        """Releases the workers; ``cancel`` drops the trials still queued or running."""


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _worker_init(parent_pid: int) -> None:
    """Makes a pool worker die with the search process, even when that one is killed."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


class LocalExecutor(Executor):
    """Trials in this process (``workers=1``) or in a fork-based process pool.

    In this process, trials queued together go to ``objective.evaluate_batch`` when the
    objective has one (a supernet estimator scores candidates together).
    """

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(
                f"LocalExecutor: 'workers' must be a positive integer; got {workers!r}."
            )
        self.workers = workers
        self.objective: Any = None
        self.threads: int | None = None
        self.pool: cf.ProcessPoolExecutor | None = None
        self._queued: list[tuple[int, Any, int, TrialContext | None]] = []
        self._futures: dict[cf.Future, int] = {}

    @property
    def concurrency(self) -> int:
        return self.workers

    def start(self, objective: Any, threads: int | None) -> None:
        self.objective = objective
        # One thread per worker process; in this process the process's own setting.
        self.threads = threads if threads is not None or self.workers == 1 else 1
        if self.workers == 1:
            return
        try:
            pickle.dumps(objective)
        except Exception as e:
            raise ValueError(
                f"workers={self.workers} runs trials in separate processes, but the objective "
                f"cannot be sent to them ({type(e).__name__}: {e}). Define it as a "
                "module-level function (not a lambda or a local function), or use "
                "functools.partial of one, or run with workers=1."
            ) from None
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        self.pool = cf.ProcessPoolExecutor(
            self.workers,
            mp_context=mp.get_context(method),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(
        self, trial_id: int, spec: Any, seed: int, context: TrialContext | None = None
    ) -> None:
        if self.pool is None:
            self._queued.append((trial_id, spec, seed, context))
            return
        future = self.pool.submit(_evaluate, self.objective, spec, seed, self.threads, context)
        self._futures[future] = trial_id

    def wait(self) -> list[tuple[int, Outcome]]:
        if self.pool is not None:
            if not self._futures:
                raise RuntimeError("LocalExecutor.wait: no trial was submitted.")
            done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
            return [(self._futures.pop(f), f.result()) for f in done]
        if not self._queued:
            raise RuntimeError("LocalExecutor.wait: no trial was submitted.")
        contexts = [q[3] for q in self._queued]
        if (
            len(self._queued) > 1
            and hasattr(self.objective, "evaluate_batch")
            and all(c is None for c in contexts)
        ):
            ids, specs, seeds, _ = zip(*self._queued, strict=True)
            self._queued.clear()
            outcomes = evaluate_batch(self.objective, list(specs), list(seeds), self.threads)
            return list(zip(ids, outcomes, strict=True))
        trial_id, spec, seed, context = self._queued.pop(0)
        return [(trial_id, _evaluate(self.objective, spec, seed, self.threads, context))]

    def close(self, cancel: bool = False) -> None:
        self._queued.clear()
        self._futures.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self.pool = None


def _evaluate(
    objective: Any, spec: Any, seed: int, threads: int | None, context: TrialContext | None
) -> Outcome:
    """One trial, through ``evaluate_trial`` when it has a context."""
    if context is None:
        return evaluate_spec(objective, spec, seed, threads)
    return evaluate_trial(objective, spec, seed, threads, context)


def _ray_trial(
    objective: Any, spec: Any, seed: int, threads: int | None, context: TrialContext | None
) -> Outcome:
    """One trial inside a Ray worker."""
    return _evaluate(objective, spec, seed, threads, context)


class RayExecutor(Executor):
    """Trials as Ray tasks, ``max_concurrent`` in flight, proposed as workers free up.

    Args:
      address: the cluster to connect to (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
        None: ``RAY_ADDRESS``, else a new local cluster. A process already connected to Ray
        keeps that connection.
      max_concurrent: trials in flight; None: the cluster's CPUs divided by the CPUs a trial
        asks for.
      resources_per_trial: Ray task resources of one trial (``num_cpus`` (default 1),
        ``num_gpus``, ``memory``, ``resources``, ``accelerator_type``).
      retries: how many times a trial whose worker died is run again before it is logged
        failed.
      init_options: further ``ray.init`` arguments when this executor connects or starts Ray.
    """

    asynchronous = True

    def __init__(
        self,
        address: str | None = None,
        max_concurrent: int | None = None,
        resources_per_trial: Mapping[str, Any] | None = None,
        retries: int = 1,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if max_concurrent is not None and (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise ValueError(
                f"RayExecutor: 'max_concurrent' must be a positive integer or None; got "
                f"{max_concurrent!r}."
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(
                f"RayExecutor: 'retries' must be a non-negative integer; got {retries!r}."
            )
        resources = dict(resources_per_trial or {})
        unknown = sorted(set(resources) - set(RESOURCE_KEYS))
        if unknown:
            raise ValueError(
                f"RayExecutor: 'resources_per_trial' has unknown keys {unknown}; allowed: "
                f"{list(RESOURCE_KEYS)}."
            )
        resources.setdefault("num_cpus", 1)
        self.address = address
        self.max_concurrent = max_concurrent
        self.resources_per_trial = resources
        self.retries = retries
        self.init_options = dict(init_options or {})
        self._concurrency: int | None = max_concurrent
        self._remote: Any = None
        self._objective_ref: Any = None
        self._threads: int | None = None
        self._running: dict[Any, tuple[int, Any, int, TrialContext | None, int]] = {}

    @property
    def concurrency(self) -> int:
        if self._concurrency is None:
            raise RuntimeError("RayExecutor: the concurrency is known once the executor started.")
        return self._concurrency

    def start(self, objective: Any, threads: int | None) -> None:
        ray = require_ray()
        if not ray.is_initialized():
            # Left running for later searches of this process; Ray stops it at exit.
            ray.init(address=self.address, **{"log_to_driver": False, **self.init_options})
        if self._concurrency is None:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            per_trial = float(self.resources_per_trial["num_cpus"]) or 1.0
            self._concurrency = max(1, int(cpus // per_trial))
        try:
            self._objective_ref = ray.put(objective)
        except Exception as e:
            raise ValueError(
                f"The Ray executor sends the objective to Ray workers, but it cannot be "
                f"serialized ({type(e).__name__}: {e})."
            ) from None
        self._remote = ray.remote(_ray_trial).options(max_retries=0, **self.resources_per_trial)
        # As many torch threads as the CPUs the trial holds.
        cpus = max(1, int(self.resources_per_trial["num_cpus"]))
        self._threads = threads if threads is not None else cpus

    def _launch(
        self, trial_id: int, spec: Any, seed: int, context: TrialContext | None, attempt: int
    ) -> None:
        ref = self._remote.remote(self._objective_ref, spec, seed, self._threads, context)
        self._running[ref] = (trial_id, spec, seed, context, attempt)

    def submit(
        self, trial_id: int, spec: Any, seed: int, context: TrialContext | None = None
    ) -> None:
        if self._remote is None:
            raise RuntimeError("RayExecutor.submit: start the executor first.")
        self._launch(trial_id, spec, seed, context, 0)

    def wait(self) -> list[tuple[int, Outcome]]:
        ray = require_ray()
        while True:
            if not self._running:
                raise RuntimeError("RayExecutor.wait: no trial was submitted.")
            done, _ = ray.wait(list(self._running), num_returns=1)
            finished = []
            for ref in done:
                trial_id, spec, seed, context, attempt = self._running.pop(ref)
                try:
                    finished.append((trial_id, ray.get(ref)))
                except ray.exceptions.RayError as e:
                    # evaluate_spec records the objective's own errors, so this is the worker
                    # or the node failing: retry, then record the reason.
                    if attempt < self.retries:
                        self._launch(trial_id, spec, seed, context, attempt + 1)
                        continue
                    error = (
                        f"The trial's Ray worker failed {attempt + 1} time(s); the last "
                        f"failure: {type(e).__name__}: {e}"
                    )
                    finished.append((trial_id, (None, error, 0.0)))
            if finished:
                return finished

    def close(self, cancel: bool = False) -> None:
        if self._remote is None:
            return
        ray = require_ray()
        if cancel:
            for ref in self._running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        self._running.clear()
        self._objective_ref = None
        self._remote = None


def require_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "The Ray executor needs Ray: pip install 'symnas[ray]' (or pip install ray)."
        ) from None
    return ray


_default: list[tuple[Executor | str, str | None]] = [("local", None)]


def default_executor() -> Executor | str:
    """The executor ``search`` uses when it is given none (``"local"`` unless changed by
    :func:`using`, as ``symnas run --executor`` does)."""
    return _default[-1][0]


@contextlib.contextmanager
def using(executor: Executor | str, address: str | None = None) -> Iterator[None]:
    """Makes ``executor`` the default of every ``search`` started inside the block;
    ``address`` is the Ray cluster a ``"ray"`` executor connects to."""
    if not isinstance(executor, Executor) and executor not in EXECUTORS:
        raise ValueError(
            f"'executor' must be one of {list(EXECUTORS)} or an Executor; got {executor!r}."
        )
    if address is not None and executor != "ray":
        raise ValueError(
            f"'address' is a Ray cluster address; it needs executor 'ray', not {executor!r}."
        )
    _default.append((executor, address))
    try:
        yield
    finally:
        _default.pop()


def make_executor(executor: Executor | str | None, workers: int | None) -> Executor:
    """An executor object from ``search``'s ``executor`` and ``workers`` arguments.

    ``workers`` trials run at once on either executor: ``"local"`` runs them in ``workers``
    processes (1: in this process), ``"ray"`` keeps ``workers`` in flight. None means all the
    executor has: one trial in this process locally, the cluster's CPUs (divided by a trial's)
    on Ray. An ``Executor`` object is used as it is (``workers`` must then be None).
    """
    executor = default_executor() if executor is None else executor
    if isinstance(executor, Executor):
        if workers is not None:
            raise ValueError(
                f"search: 'workers'={workers} conflicts with the executor object; set its "
                "concurrency on the executor (RayExecutor(max_concurrent=...), "
                "LocalExecutor(workers=...)) and leave 'workers' unset (None)."
            )
        return executor
    if executor == "local":
        return LocalExecutor(1 if workers is None else workers)
    if executor == "ray":
        ambient, address = _default[-1]
        return RayExecutor(address=address if ambient == "ray" else None, max_concurrent=workers)
    raise ValueError(
        f"search: 'executor' must be one of {list(EXECUTORS)} or an Executor object; got "
        f"{executor!r}."
    )
