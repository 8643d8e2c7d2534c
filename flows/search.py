"""The search loop: propose, decode, evaluate, feed back, log.

``search(space, objective, algorithm, budget, out=...)`` proposes candidates in batches of
``workers`` genomes, evaluates the decoded specs (in worker processes when ``workers > 1``),
feeds the metrics back in proposal order (so a run is reproducible for a seed and a worker
count) and appends every finished trial to ``out/trials.jsonl``. ``resume=True`` replays the log
through the algorithm (checking that it proposes the same candidates) and evaluates only the
trials the log lacks.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
from tqdm.auto import tqdm

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.registry import resolve
from symnas.flows.result import SearchResult, Trial
from symnas.flows.trial_log import TrialLog, read_trials, write_json_atomic
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

DEFAULT_METRIC = "objective"
SUMMARY_INTERVAL_S = 5.0

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


def evaluate_spec(objective: Objective, spec: Any) -> tuple[dict | None, str | None, float]:
    """Runs the objective on one spec; returns (metrics, error text, wall seconds)."""
    start = time.perf_counter()
    try:
        metrics = normalize_metrics(objective(spec))
        error = None
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        metrics = None
        error = traceback.format_exc()
    return metrics, error, time.perf_counter() - start


def _worker_init() -> None:
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


class _Evaluator:
    """Evaluates specs in this process or in a process pool."""

    def __init__(self, objective: Objective, workers: int) -> None:
        self.objective = objective
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
                workers, mp_context=mp.get_context(method), initializer=_worker_init
            )

    def run(self, specs: list[Any]):
        """Yields (position, result) as evaluations finish."""
        if self.pool is None:
            for i, spec in enumerate(specs):
                yield i, evaluate_spec(self.objective, spec)
            return
        futures = {
            self.pool.submit(evaluate_spec, self.objective, spec): i for i, spec in enumerate(specs)
        }
        for future in cf.as_completed(futures):
            yield futures[future], future.result()

    def close(self, cancel: bool = False) -> None:
        """Shuts the pool down."""
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _run_config(algorithm: SearchAlgorithm, codec: Codec, seed: int, workers: int) -> dict:
    return {
        "algorithm": pg.to_json(algorithm),
        "seed": seed,
        "workers": workers,
        "space": [s.path for s in codec.slots],
    }


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
      verbose: show a progress bar (only on a terminal).

    Returns:
      A ``SearchResult`` with every trial, ``best`` and ``pareto_front()``.
    """
    algorithm = resolve(algorithm)
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"search: 'budget' must be a positive integer; got {budget!r}.")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"search: 'workers' must be a positive integer; got {workers!r}.")
    codec = space if isinstance(space, Codec) else compile_space(space)
    algorithm.bind(codec, seed)
    config = _run_config(algorithm, codec, seed, workers)

    out_dir = Path(out) if out is not None else None
    logged: dict[int, Trial] = {}
    if out_dir is not None:
        records = read_trials(out_dir / "trials.jsonl")
        if records and not resume:
            raise ValueError(
                f"{out_dir} already holds {len(records)} trials; pass resume=True to continue "
                "that search, or choose another output folder."
            )
        if records:
            _check_config(out_dir, config)
        logged = {int(r["id"]): Trial.from_record(r) for r in records}
        write_json_atomic(out_dir / "config.json", config)
    log = TrialLog(out_dir / "trials.jsonl") if out_dir is not None else None

    result = SearchResult([], algorithm.objectives(), out_dir)
    evaluator = _Evaluator(objective, workers)
    show = verbose and sys.stderr.isatty()
    bar = tqdm(total=budget, disable=not show, desc="search", unit="trial")
    last_summary = time.monotonic()
    try:
        while len(result.trials) < budget:
            first_id = len(result.trials)
            genomes = algorithm.propose_batch(min(workers, budget - first_id))
            batch: list[Trial | None] = []
            todo: list[tuple[int, Any, np.ndarray]] = []
            for offset, genome in enumerate(genomes):
                trial_id = first_id + offset
                if trial_id in logged:
                    batch.append(_replayed(logged[trial_id], genome, codec, out_dir))
                else:
                    batch.append(None)
                    todo.append((offset, codec.decode(genome), genome))
            for position, (metrics, error, wall) in evaluator.run([t[1] for t in todo]):
                offset, spec, genome = todo[position]
                trial = Trial(
                    id=first_id + offset,
                    genome=genome,
                    dna=codec.numbers(genome),
                    spec=spec,
                    metrics=metrics,
                    status="ok" if metrics is not None else "failed",
                    error=error,
                    wall_s=wall,
                    seed=seed,
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
            if out_dir is not None and time.monotonic() - last_summary > SUMMARY_INTERVAL_S:
                write_json_atomic(out_dir / "summary.json", result.summary())
                last_summary = time.monotonic()
    except KeyboardInterrupt:
        evaluator.close(cancel=True)
        _finish(log, out_dir, result, bar)
        raise
    evaluator.close()
    _finish(log, out_dir, result, bar)
    return result


def _replayed(trial: Trial, genome: np.ndarray, codec: Codec, out_dir: Path | None) -> Trial:
    if codec.key(trial.genome) != codec.key(genome):
        raise ValueError(
            f"Cannot resume from {out_dir}: trial {trial.id} in the log is "
            f"{trial.spec}, but the algorithm now proposes {codec.decode(genome)}. Resume with "
            "the same space, algorithm, seed and workers."
        )
    return trial


def _check_config(out_dir: Path, config: dict) -> None:
    path = out_dir / "config.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt search configuration ({e.msg}).") from None
    for key in ("algorithm", "seed", "workers", "space"):
        if saved.get(key) != config[key]:
            raise ValueError(
                f"Cannot resume from {out_dir}: its '{key}' was {saved.get(key)!r}, this search "
                f"has {config[key]!r}."
            )


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
