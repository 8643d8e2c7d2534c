"""The search loop: propose, decode, evaluate, feed back, log.

``search(space, objective, algorithm, budget, out=...)`` proposes candidates in batches of
``workers`` genomes, evaluates the decoded specs (in worker processes when ``workers > 1``),
feeds the metrics back in proposal order (so a run is reproducible for a seed and a worker
count) and appends every finished trial to ``out/trials.jsonl``. ``resume=True`` replays the log
through the algorithm (checking that it proposes the same candidates) and evaluates only the
trials the log lacks. Each trial runs under a seed derived from (search seed, trial id), so its
metrics are the same in a repeated, resumed or parallel run; a run of consecutive failed trials
stops the search with the first failure's traceback.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import logging
import math
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.registry import resolve
from symnas.flows.result import SearchResult, Trial
from symnas.flows.run_config import check_resumable, prepare_out_dir, run_config
from symnas.flows.seeding import seeded_trial, trial_seed
from symnas.flows.trial_log import TrialLog, read_trials, write_json_atomic
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

DEFAULT_METRIC = "objective"
SUMMARY_INTERVAL_S = 5.0
DEFAULT_MAX_CONSECUTIVE_FAILURES = 5
PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1

logger = logging.getLogger(__name__)

Objective = Callable[[Any], float | Mapping[str, float]]


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


class SearchFailed(RuntimeError):
    """Raised when a search stops after too many consecutive failed trials."""


def evaluate_spec(
    objective: Objective, spec: Any, seed: int, threads: int | None = None
) -> tuple[dict | None, str | None, float]:
    """Runs the objective on one spec under the trial's seed (and ``threads`` torch threads when
    given); returns (metrics, error text, wall seconds)."""
    start = time.perf_counter()
    try:
        with seeded_trial(seed, threads):
            value = objective(spec)
        metrics = normalize_metrics(value)
        error = None
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        metrics = None
        error = traceback.format_exc()
    return metrics, error, time.perf_counter() - start


def evaluate_batch(
    objective: Any, specs: list[Any], seeds: list[int], threads: int | None = None
) -> list[tuple[dict | None, str | None, float]]:
    """Runs ``objective.evaluate_batch(specs)`` (a supernet estimator scores candidates
    together); if the batch call raises, each spec is evaluated alone, so a bad candidate fails
    only its own trial. Wall time is shared equally."""
    start = time.perf_counter()
    try:
        with seeded_trial(seeds[0], threads):
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


class _Evaluator:
    """Evaluates specs in this process or in a process pool."""

    def __init__(self, objective: Objective, workers: int, threads: int | None) -> None:
        self.objective = objective
        self.threads = threads
        self.pool: cf.ProcessPoolExecutor | None = None
        if workers > 1:
            try:
                pickle.dumps(objective)
            except Exception as e:
                raise ValueError(
                    f"workers={workers} runs trials in separate processes, but the objective "
                    f"cannot be sent to them ({type(e).__name__}: {e}). Define it as a "
                    "module-level function (not a lambda or a local function), or use "
                    "functools.partial of one, or run with workers=1."
                ) from None
            method = "fork" if "fork" in mp.get_all_start_methods() else None
            self.pool = cf.ProcessPoolExecutor(
                workers,
                mp_context=mp.get_context(method),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )

    def run(self, specs: list[Any], seeds: list[int]):
        """Yields (position, result) as evaluations finish."""
        if self.pool is None:
            if len(specs) > 1 and hasattr(self.objective, "evaluate_batch"):
                yield from enumerate(evaluate_batch(self.objective, specs, seeds, self.threads))
                return
            for i, (spec, seed) in enumerate(zip(specs, seeds, strict=True)):
                yield i, evaluate_spec(self.objective, spec, seed, self.threads)
            return
        futures = {
            self.pool.submit(evaluate_spec, self.objective, spec, seed, self.threads): i
            for i, (spec, seed) in enumerate(zip(specs, seeds, strict=True))
        }
        for future in cf.as_completed(futures):
            yield futures[future], future.result()

    def close(self, cancel: bool = False) -> None:
        """Shuts the pool down."""
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _check_arguments(
    objective: Any,
    budget: Any,
    seed: Any,
    workers: Any,
    max_consecutive_failures: Any,
    threads: Any,
) -> None:
    """Raises a ``ValueError``/``TypeError`` naming the first bad argument of ``search``."""
    if not callable(objective):
        raise TypeError(f"search: 'objective' must be callable; got {type(objective).__name__}.")
    for name, value, allow_none in (
        ("budget", budget, False),
        ("workers", workers, False),
        ("max_consecutive_failures", max_consecutive_failures, True),
        ("threads", threads, True),
    ):
        if value is None and allow_none:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            none = " or None" if allow_none else ""
            raise ValueError(f"search: '{name}' must be a positive integer{none}; got {value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"search: 'seed' must be a non-negative integer; got {seed!r}.")


def search(
    space: Any,
    objective: Objective,
    algorithm: SearchAlgorithm | str,
    budget: int,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    resume: bool = False,
    workers: int = 1,
    verbose: bool = True,
    max_consecutive_failures: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    options: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> SearchResult:
    """Searches ``space`` for candidates that optimise ``objective``.

    Args:
      space: a PyGlove hyper-value (or a codec from ``spaces.compile``).
      objective: ``objective(spec) -> float | dict[str, float]`` on the decoded plain spec.
      algorithm: a symnas algorithm (``algorithms.RegularizedEvolution(...)``...) or its name.
      budget: total number of trials (failed ones included).
      out: folder for ``trials.jsonl`` and ``summary.json``; None keeps everything in memory.
      seed: seed of the algorithm when it has none of its own.
      resume: continue the search logged in ``out``.
      workers: number of trials evaluated in parallel processes.
      verbose: show a progress bar on a terminal, else log one line per trial (``logging``).
      max_consecutive_failures: stop with ``SearchFailed`` (the first failure's traceback) after
        this many failed trials in a row; None never stops.
      options: settings of the objective (epochs...) recorded in ``config.json``; resuming
        with different ones is refused.
      threads: torch threads while a trial runs; None keeps the process's setting with one
        worker and uses one thread per process with several.

    Returns:
      A ``SearchResult`` with every trial, ``best`` and ``pareto_front()``.
    """
    algorithm = resolve(algorithm)
    _check_arguments(objective, budget, seed, workers, max_consecutive_failures, threads)
    out_dir = prepare_out_dir(out) if out is not None else None
    codec = space if isinstance(space, Codec) else compile_space(space)
    algorithm.bind(codec, seed)
    config = run_config(algorithm, codec, seed, workers, dict(options or {}))

    logged: dict[int, Trial] = {}
    if out_dir is not None:
        records = read_trials(out_dir / "trials.jsonl", repair=True)
        if records and not resume:
            raise ValueError(
                f"{out_dir} already holds {len(records)} trials; pass resume=True to continue "
                "that search, or choose another output folder."
            )
        if records:
            check_resumable(out_dir, config)
        logged = {int(r["id"]): Trial.from_record(r) for r in records}
        write_json_atomic(out_dir / "config.json", config)
    log = TrialLog(out_dir / "trials.jsonl") if out_dir is not None else None
    # One-shot searchers train their supernet here (checkpointed under out/, resumable).
    algorithm.prepare(out_dir, resume=resume, verbose=verbose)

    objectives = algorithm.objectives()
    result = SearchResult([], objectives, out_dir)
    if threads is None and workers > 1:
        threads = 1
    evaluator = _Evaluator(objective, workers, threads)
    # Objectives that score several candidates at once (supernet estimators) get that many.
    per_round = workers if workers > 1 else int(getattr(objective, "candidates_per_call", 1))
    show = verbose and sys.stderr.isatty()
    bar = tqdm(total=budget, disable=not show, desc="search", unit="trial")
    last_summary = time.monotonic()
    failures: list[Trial] = []
    try:
        while len(result.trials) < budget:
            first_id = len(result.trials)
            try:
                genomes = algorithm.propose_batch(min(per_round, budget - first_id))
            except StopIteration:  # the algorithm has nothing more to propose
                break
            batch: list[Trial | None] = []
            todo: list[tuple[int, Any, np.ndarray]] = []
            for offset, genome in enumerate(genomes):
                trial_id = first_id + offset
                if trial_id in logged:
                    batch.append(_replayed(logged[trial_id], genome, codec, out_dir))
                else:
                    batch.append(None)
                    todo.append((offset, codec.decode(genome), genome))
            seeds = [trial_seed(seed, first_id + t[0]) for t in todo]
            for position, (metrics, error, wall) in evaluator.run([t[1] for t in todo], seeds):
                offset, spec, genome = todo[position]
                if metrics is not None:
                    error = _unusable(metrics, objectives)
                    metrics = None if error else metrics
                trial = Trial(
                    id=first_id + offset,
                    genome=genome,
                    dna=codec.numbers(genome),
                    spec=spec,
                    metrics=metrics,
                    status="ok" if metrics is not None else "failed",
                    error=error,
                    wall_s=wall,
                    seed=seeds[position],
                )
                batch[offset] = trial
                if log is not None:
                    log.append(trial.to_record())
            algorithm.feedback_batch(genomes, [t.metrics for t in batch])
            result.trials.extend(batch)
            bar.update(len(batch))
            if show:
                best = result.best
                if best is not None:
                    bar.set_postfix(best=_short(best.metrics))
            elif verbose:
                for t in batch:
                    logger.info("trial %d/%d %s: %s", t.id + 1, budget, t.status, _short(t.metrics))
            if out_dir is not None and time.monotonic() - last_summary > SUMMARY_INTERVAL_S:
                write_json_atomic(out_dir / "summary.json", result.summary())
                last_summary = time.monotonic()
            new = [t for t in batch if t.id not in logged]
            _count_failures(failures, new, max_consecutive_failures)
    except BaseException:
        evaluator.close(cancel=True)
        _finish(log, out_dir, result, bar)
        raise
    evaluator.close()
    _finish(log, out_dir, result, bar)
    return result


def _unusable(metrics: Mapping[str, float], objectives: Objectives) -> str | None:
    """Why the algorithm cannot use these metrics (a missing objective or constraint metric)."""
    try:
        objectives.reward(metrics)
        objectives.violation(metrics)
    except ValueError as e:
        return f"ValueError: {e}"
    return None


def _count_failures(failures: list[Trial], new: list[Trial], limit: int | None) -> None:
    """Tracks the current run of failed trials; raises ``SearchFailed`` when it reaches
    ``limit``. Only trials evaluated by this call count, so a resumed search retries."""
    for trial in new:
        if trial.ok:
            failures.clear()
        else:
            failures.append(trial)
    if limit is not None and len(failures) >= limit:
        first = failures[0]
        raise SearchFailed(
            f"{len(failures)} consecutive trials failed (trials {first.id} to "
            f"{failures[-1].id}); stopping the search. The first failure, trial {first.id} "
            f"on {first.spec}:\n{(first.error or '').rstrip()}"
        )


def _replayed(trial: Trial, genome: np.ndarray, codec: Codec, out_dir: Path | None) -> Trial:
    if codec.key(trial.genome) != codec.key(genome):
        raise ValueError(
            f"Cannot resume from {out_dir}: trial {trial.id} in the log is "
            f"{trial.spec}, but the algorithm now proposes {codec.decode(genome)}. Resume with "
            "the same space, algorithm, seed and workers."
        )
    return trial


def _finish(log: TrialLog | None, out_dir: Path | None, result: SearchResult, bar: Any) -> None:
    bar.close()
    if log is not None:
        log.close()
    if out_dir is not None:
        write_json_atomic(out_dir / "summary.json", result.summary())


def _short(metrics: Mapping[str, float] | None) -> str:
    if not metrics:
        return "-"
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3])
