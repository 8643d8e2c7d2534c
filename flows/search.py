"""The search loop: propose, decode, evaluate, feed back, log.

``search(space, objective, algorithm, budget, out=...)`` proposes candidates, has an executor
(``flows.executors``) evaluate the decoded specs, feeds the metrics back and appends every
finished trial to ``out/trials.jsonl``. The local executor (default) works in batches of
``workers`` genomes and feeds back in proposal order, so a run is reproducible for a seed and a
worker count; the Ray executor proposes a new trial as soon as a worker is free and feeds back
in the order results arrive. Each record holds its place in the feedback order (``fed``), and
``resume=True`` replays the log through the algorithm in that order (checking that it proposes
the same candidates) and evaluates only the trials the log lacks. An algorithm that can save its
state is checkpointed with the summary (``flows.checkpoint``), and a resumed search loads that
state and replays only the trials logged after it. Each trial runs under a seed
derived from (search seed, trial id), so its metrics are the same in a repeated, resumed or
parallel run; a run of consecutive failed trials stops the search with the first failure's
traceback. An objective may take a trial handle (reports, pruning) or a budget, for pruners and
budgeted algorithms (``flows.trial_handle``, docs/architecture.md "Multi-fidelity search").
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.brackets import BudgetedAlgorithm
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.pruners import PRUNED_FEEDBACK, Pruner, PrunerTrial, make_pruner
from symnas.algorithms.registry import resolve
from symnas.core.files import write_json_atomic, write_text_atomic
from symnas.flows.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    config_fingerprint,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from symnas.flows.executors import Executor, make_executor
from symnas.flows.fidelity import Fidelity
from symnas.flows.progress import show_progress
from symnas.flows.result import SearchResult, Trial
from symnas.flows.run_config import check_resumable, prepare_out_dir, run_config
from symnas.flows.seeding import trial_seed
from symnas.flows.trial_eval import Objective, Outcome
from symnas.flows.trial_handle import (
    CHECKPOINTS_DIR,
    REPORTS_FILE,
    TrialContext,
    checkpoint_key,
    objective_form,
    pruner_trial,
)
from symnas.flows.trial_log import TrialLog, drop_torn_line, paused_gc, read_trials
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

SUMMARY_INTERVAL_S = 5.0
# A periodic checkpoint waits at least this many times as long as the last one took to write
# (a large algorithm state then costs at most about 1/20 of the search's time).
CHECKPOINT_COST_FACTOR = 20.0
DEFAULT_MAX_CONSECUTIVE_FAILURES = 5

logger = logging.getLogger(__name__)


class SearchFailed(RuntimeError):
    """Raised when a search stops after too many consecutive failed trials."""


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
        ("workers", workers, True),
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
    workers: int | None = None,
    verbose: bool = True,
    max_consecutive_failures: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    options: Mapping[str, Any] | None = None,
    threads: int | None = None,
    executor: Executor | str | None = None,
    pruner: Pruner | str | None = None,
    fidelity: Fidelity | None = None,
) -> SearchResult:
    """Searches ``space`` for candidates that optimise ``objective``.

    Args:
      space: a PyGlove hyper-value (or a codec from ``spaces.compile``).
      objective: ``objective(spec) -> float | dict[str, float]`` on the decoded plain spec;
        ``objective(spec, budget)`` takes the trial's budget in ``fidelity``'s unit, and
        ``objective(spec, trial)`` a ``flows.trial_handle.TrialHandle`` (``trial.budget``,
        ``trial.report(step, metrics)``, ``trial.should_stop()``).
      algorithm: a symnas algorithm (``algorithms.RegularizedEvolution(...)``...) or its name;
        a budgeted one (``hyperband``, ``asha``...) chooses each trial's budget.
      budget: total number of trials (failed ones included).
      out: folder for ``trials.jsonl`` and ``summary.json``; None keeps everything in memory.
      seed: seed of the algorithm when it has none of its own.
      resume: continue the search logged in ``out``.
      workers: how many trials run at once, on every executor: ``"local"`` evaluates them in
        that many processes (1: in this process), ``"ray"`` keeps that many in flight. None,
        the default, means all the executor has: one trial in this process locally, as many
        trials as the Ray cluster has CPUs (per trial's CPUs) with ``"ray"``.
      verbose: show a progress bar on a terminal, else log one line per trial (``logging``).
      max_consecutive_failures: stop with ``SearchFailed`` (the first failure's traceback) after
        this many failed trials in a row; None never stops.
      options: settings of the objective (epochs...) recorded in ``config.json``; resuming
        with different ones is refused.
      threads: torch threads while a trial runs; None keeps the process's setting with one
        worker and uses one thread per process (per CPU of a Ray trial) with several.
      executor: where trials run: ``"local"`` (this process or ``workers`` processes),
        ``"ray"`` (Ray tasks, proposed as workers free up), an ``flows.executors.Executor``
        such as ``RayExecutor(address=..., max_concurrent=...)``, or None for the default
        (``"local"``, or what ``symnas run --executor`` chose).
      pruner: stops trials early from their reports (``algorithms.pruners``: an object or a
        registered name such as ``"median"``); needs ``objective(spec, trial)``. A pruned trial
        is logged with status ``pruned``, its last report as its metrics, and fed back to the
        algorithm with those metrics (``"feedback": "last_report"`` in its record).
      fidelity: the budget range the objective takes (``Fidelity(1, 12)`` epochs); needed by
        budgeted algorithms and ``objective(spec, budget)``; other algorithms give every trial
        its top.

    Returns:
      A ``SearchResult`` with every trial, ``best`` and ``pareto_front()``.
    """
    algorithm = resolve(algorithm)
    _check_arguments(objective, budget, seed, workers, max_consecutive_failures, threads)
    pruner = make_pruner(pruner)
    form = _check_fidelity(objective, algorithm, pruner, fidelity)
    if verbose:
        show_progress()  # lines off a terminal even when the program configured no logging
    runner = make_executor(executor, workers)
    out_dir = prepare_out_dir(out) if out is not None else None
    codec = space if isinstance(space, Codec) else compile_space(space)
    algorithm.bind(codec, seed)
    trials = _TrialSettings(form, pruner, fidelity, algorithm)
    runner.start(objective, threads)
    try:
        result = _run(
            runner,
            codec,
            objective,
            algorithm,
            budget,
            out_dir,
            seed,
            resume,
            verbose,
            max_consecutive_failures,
            dict(options or {}),
            trials,
        )
    except BaseException:
        runner.close(cancel=True)
        raise
    runner.close()
    return result


def _run(
    runner: Executor,
    codec: Codec,
    objective: Objective,
    algorithm: SearchAlgorithm,
    budget: int,
    out_dir: Path | None,
    seed: int,
    resume: bool,
    verbose: bool,
    max_consecutive_failures: int | None,
    options: dict[str, Any],
    trials: _TrialSettings,
) -> SearchResult:
    """The search after its arguments are checked and the executor has started."""
    prefers = getattr(algorithm, "asynchronous", False)
    asynchronous = (runner.asynchronous or prefers) and runner.concurrency > 1
    config = run_config(algorithm, codec, seed, runner.concurrency, options)
    config["scheduling"] = "asynchronous" if asynchronous else "batch"
    config.update(trials.config())
    fingerprint = config_fingerprint(config)
    logged: dict[int, Trial] = {}
    records: list[dict[str, Any]] = []
    saved, problem = None, None  # the checkpoint, or why it cannot be used
    if out_dir is not None:
        if resume:
            saved, problem = read_checkpoint(out_dir, fingerprint)
        trusted = saved["log"]["bytes"] if saved is not None else 0
        # Read without repair: nothing in the folder changes before the resume is accepted.
        records = read_trials(out_dir / "trials.jsonl", trusted_bytes=trusted)
        if records and not resume:
            raise ValueError(
                f"{out_dir} already holds {len(records)} trials; pass resume=True to continue "
                "that search, or choose another output folder."
            )
        if records:
            check_resumable(out_dir, config)
            _check_scheduling(out_dir, config["scheduling"])
        drop_torn_line(out_dir / "trials.jsonl")  # before appending: the checks have passed
        if not records:
            (out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)  # a stale one, without its log
            shutil.rmtree(out_dir / CHECKPOINTS_DIR, ignore_errors=True)  # trials' ones too
        with paused_gc():
            logged = {t.id: t for t in Trial.from_records(records)}
        write_json_atomic(out_dir / "config.json", config)
        _keep_reports(out_dir / REPORTS_FILE, set(logged))
    checkpoint = None
    if records and (saved is not None or problem is not None):
        checkpoint = restore_checkpoint(out_dir, saved, problem, algorithm)
        if checkpoint is None or not _fits(checkpoint, records, algorithm, budget, config):
            checkpoint = None
            algorithm.bind(codec, seed)  # back to a fresh state for the full replay
    # The trials hold what the search needs of the records; a long log's parsed records are not
    # kept through the search.
    covered = [int(r["id"]) for r in records[: checkpoint.records]] if checkpoint else []
    del records
    # One-shot searchers train their supernet here (checkpointed under out/, resumable).
    algorithm.prepare(out_dir, resume=resume, verbose=verbose)
    loop = _Loop(
        runner,
        codec,
        algorithm,
        budget,
        out_dir,
        seed,
        logged,
        verbose,
        max_consecutive_failures,
        fingerprint=fingerprint,
        trials=trials,
    )
    if checkpoint is not None:
        loop.restore([logged.pop(trial_id) for trial_id in covered], checkpoint)
    try:
        if asynchronous:
            loop.run_asynchronous()
        else:
            # Objectives that score several candidates at once (supernet estimators) get that
            # many per round in this process.
            per_round = runner.concurrency
            if per_round == 1 and not runner.asynchronous:
                per_round = int(getattr(objective, "candidates_per_call", 1))
            loop.run_batches(per_round)
        loop.write_checkpoint()
    finally:
        loop.finish()
    return loop.result


class _Loop:
    """State of one search run: the algorithm, the log, the trials fed back so far."""

    def __init__(
        self,
        runner: Executor,
        codec: Codec,
        algorithm: SearchAlgorithm,
        budget: int,
        out_dir: Path | None,
        seed: int,
        logged: dict[int, Trial],
        verbose: bool,
        max_consecutive_failures: int | None,
        fingerprint: str | None = None,
        trials: _TrialSettings | None = None,
    ) -> None:
        self.runner = runner
        self.trials = trials or _TrialSettings("spec", None, None, algorithm)
        self.reports_path = str(out_dir / REPORTS_FILE) if out_dir is not None else None
        self.view: list[PrunerTrial] = []  # finished trials as pruners see them, fed order
        self.codec = codec
        self.algorithm = algorithm
        self.budget = budget
        self.out_dir = out_dir
        self.seed = seed
        self.logged = logged
        self.verbose = verbose
        self.limit = max_consecutive_failures
        self.objectives = algorithm.objectives()
        self.result = SearchResult([], self.objectives, out_dir)
        self.log = TrialLog(out_dir / "trials.jsonl") if out_dir is not None else None
        self.show = verbose and sys.stderr.isatty()
        self.bar = _progress_bar(budget) if self.show else None
        self.last_summary = time.monotonic()
        self.checkpoint_due = 0.0  # monotonic time before which no periodic checkpoint is written
        self.failures: list[Trial] = []
        self.fingerprint = fingerprint
        self.next_id = 0  # trials proposed so far
        self.proposed: dict[int, np.ndarray] = {}  # proposed, not yet fed back (asynchronous)
        # Whether the budget has cut a batch or held back a proposal: from then on the state
        # differs from that of a search with a larger budget, so it is not checkpointed.
        self.budget_cut = False

    def restore(self, covered: list[Trial], checkpoint: Checkpoint) -> None:
        """Starts from a loaded checkpoint: its trials count as fed back and its pending
        proposals as proposed (``run_asynchronous`` evaluates those the log lacks)."""
        self.result.trials.extend(covered)
        if self.trials.pruner is not None:  # the log's order is the feedback order
            self.view.extend(self.trials.pruner_view(t) for t in covered)
        if self.bar is not None:
            self.bar.update(len(covered))
        self.next_id = checkpoint.next_id
        self.proposed = dict(checkpoint.pending)

    def write_checkpoint(self, periodic: bool = False) -> None:
        """Saves the algorithm's state when it can and the log holds exactly the trials fed
        back (so that the state covers the whole log); a ``periodic`` one also waits for
        ``checkpoint_due`` when summaries are spaced (``SUMMARY_INTERVAL_S > 0``)."""
        fed = len(self.result.trials)
        start = time.monotonic()
        if (
            (periodic and SUMMARY_INTERVAL_S > 0 and start < self.checkpoint_due)
            or self.log is None
            or self.fingerprint is None
            or self.budget_cut
            or self.log.records != fed
            or self.algorithm.num_feedbacks != fed
            or self.algorithm.num_proposals != self.next_id
        ):
            return
        state = self.algorithm.state_dict()
        if state is not None:
            save_checkpoint(
                self.out_dir,
                self.fingerprint,
                state,
                self.log.position(),
                fed,
                self.next_id,
                self.proposed,
            )
            self.checkpoint_due = start + CHECKPOINT_COST_FACTOR * (time.monotonic() - start)

    def submit(self, trial_id: int, genome: np.ndarray, budget: Any) -> tuple:
        """Decodes a proposal and hands it to the executor (with the trial's context when
        the objective takes a budget or a trial handle)."""
        spec = self.codec.decode(genome)
        trial_seed_ = trial_seed(self.seed, trial_id)
        folder = None
        if self.out_dir is not None:
            folder = str(
                self.out_dir / CHECKPOINTS_DIR / checkpoint_key(self.codec.numbers(genome))
            )
        context = self.trials.context(trial_id, budget, self.reports_path, self.view, folder)
        if context is None:
            self.runner.submit(trial_id, spec, trial_seed_)
        else:
            self.runner.submit(trial_id, spec, trial_seed_, context)
        return genome, spec, trial_seed_, budget

    def finished(self, trial_id: int, proposal: tuple, outcome: Outcome, fed: int) -> Trial:
        """The trial of an evaluation, appended to the log with its place ``fed`` in the
        feedback order, its budget and reports."""
        genome, spec, trial_seed_, budget = proposal
        metrics, error, wall = outcome[:3]
        progress = outcome[3] if len(outcome) > 3 else {}
        if metrics is not None:
            error = _unusable(metrics, self.objectives)
            metrics = None if error else metrics
        status = "failed" if metrics is None else "pruned" if progress.get("pruned") else "ok"
        extra: dict[str, Any] = {"fed": fed}
        if budget is not None:
            extra["budget"] = budget
        if progress.get("reports"):
            extra["reports"] = progress["reports"]
        if progress.get("pruner"):
            extra["pruner"] = progress["pruner"]
        if progress.get("start"):
            extra["start"] = progress["start"]
        if status == "pruned":
            extra["feedback"] = PRUNED_FEEDBACK
        trial = Trial(
            id=trial_id,
            genome=genome.copy(),  # its own 240 bytes, not a view that keeps the batch alive
            dna=self.codec.numbers(genome),
            spec=spec,
            metrics=metrics,
            status=status,
            error=error,
            wall_s=wall,
            seed=trial_seed_,
            extra=extra,
        )
        if self.log is not None:
            self.log.append(trial.to_record())
        return trial

    def feed(self, genomes: np.ndarray, trials: list[Trial]) -> None:
        """Feeds trials back in the given order, reports progress, counts failures."""
        self.algorithm.feedback_batch(genomes, [t.metrics for t in trials])
        self.result.trials.extend(trials)
        if self.trials.pruner is not None:
            self.view.extend(self.trials.pruner_view(t) for t in trials)
        if self.bar is not None:
            self.bar.update(len(trials))
            best = self.result.best
            if best is not None:
                self.bar.set_postfix(best=_short(best.metrics))
        elif self.verbose:
            done = len(self.result.trials) - len(trials)
            for count, t in enumerate(trials, done + 1):
                logger.info(
                    "trial %d %s (%d/%d done): %s",
                    t.id,
                    t.status,
                    count,
                    self.budget,
                    _short(t.metrics) if t.ok else _reason(t.error),
                )
        if self.out_dir is not None and time.monotonic() - self.last_summary > SUMMARY_INTERVAL_S:
            write_json_atomic(self.out_dir / "summary.json", self.result.summary())
            self.write_checkpoint(periodic=True)
            self.last_summary = time.monotonic()
        new = [t for t in trials if t.id not in self.logged]
        _count_failures(self.failures, new, self.limit)

    def run_batches(self, per_round: int) -> None:
        """Proposes ``per_round`` genomes, evaluates them, feeds back in proposal order."""
        while len(self.result.trials) < self.budget:
            first_id = len(self.result.trials)
            self.budget_cut |= self.budget - first_id < per_round
            try:
                genomes = self.algorithm.propose_batch(min(per_round, self.budget - first_id))
            except StopIteration:  # the algorithm has nothing more to propose
                break
            budgets = self.trials.budgets(self.algorithm, len(genomes))
            self.next_id = first_id + len(genomes)
            batch: list[Trial | None] = []
            pending: dict[int, tuple] = {}
            for offset, (genome, budget) in enumerate(zip(genomes, budgets, strict=True)):
                trial_id = first_id + offset
                if trial_id in self.logged:
                    batch.append(self.replayed(trial_id, genome, budget))
                else:
                    batch.append(None)
                    pending[trial_id] = self.submit(trial_id, genome, budget)
            while pending:
                for trial_id, outcome in self.runner.wait():
                    proposal = pending.pop(trial_id)
                    batch[trial_id - first_id] = self.finished(
                        trial_id, proposal, outcome, fed=trial_id
                    )
            self.feed(genomes, batch)

    def run_asynchronous(self) -> None:
        """Keeps ``concurrency`` trials in flight, proposing one as each is fed back; logged
        trials are fed back in their logged order first."""
        replay = deque(sorted(self.logged, key=lambda i: (self.logged[i].extra.get("fed", i), i)))
        proposed = self.proposed  # proposed and not yet fed back
        running: dict[int, tuple] = {}
        for trial_id, genome in proposed.items():  # pending at a restored checkpoint
            budget = self.trials.budgets(None, 1)[0]  # budgeted algorithms do not checkpoint
            if trial_id in self.logged:
                self.replayed(trial_id, genome, budget)
            else:
                running[trial_id] = self.submit(trial_id, genome, budget)
        exhausted = False
        while len(self.result.trials) < self.budget:
            while (
                not exhausted
                and self.next_id < self.budget
                and len(proposed) < self.runner.concurrency
            ):
                try:
                    genome = self.algorithm.propose_batch(1)[0]
                except StopIteration:
                    exhausted = True
                    break
                budget = self.trials.budgets(self.algorithm, 1)[0]
                if self.next_id in self.logged:
                    self.replayed(self.next_id, genome, budget)
                else:
                    running[self.next_id] = self.submit(self.next_id, genome, budget)
                proposed[self.next_id] = genome
                self.next_id += 1
            if self.next_id >= self.budget and len(proposed) < self.runner.concurrency:
                self.budget_cut = True
            if replay:
                trial_id = replay.popleft()
                if trial_id not in proposed:
                    raise ValueError(
                        f"Cannot resume from {self.out_dir}: trial {trial_id} was fed back "
                        f"{len(self.result.trials)}th, before this search proposes it with "
                        f"{self.runner.concurrency} trials in flight. Resume with the same "
                        "executor concurrency."
                    )
                self.feed(proposed.pop(trial_id)[None, :], [self.logged[trial_id]])
                continue
            if not running:
                break
            for trial_id, outcome in self.runner.wait():
                trial = self.finished(
                    trial_id, running.pop(trial_id), outcome, fed=len(self.result.trials)
                )
                self.feed(proposed.pop(trial_id)[None, :], [trial])

    def replayed(self, trial_id: int, genome: np.ndarray, budget: Any) -> Trial:
        """The logged trial ``trial_id``, checked against the genome and budget proposed
        again."""
        trial = _replayed(self.logged[trial_id], genome, self.codec, self.out_dir)
        if trial.extra.get("budget") != budget:
            raise ValueError(
                f"Cannot resume from {self.out_dir}: trial {trial_id} in the log ran at budget "
                f"{trial.extra.get('budget')}, but the algorithm now proposes budget {budget}. "
                "Resume with the same algorithm, fidelity and seed."
            )
        return trial

    def finish(self) -> None:
        """Closes the log and writes the summary; trials are listed by id."""
        self.result.trials.sort(key=lambda t: t.id)
        _finish(self.log, self.out_dir, self.result, self.bar)


def _fits(
    checkpoint: Checkpoint,
    records: list[dict[str, Any]],
    algorithm: SearchAlgorithm,
    budget: int,
    config: dict[str, Any],
) -> bool:
    """Whether a loaded checkpoint agrees with the log and this run (else a full replay): its
    records are trials 0..fed-1 in batch scheduling, the first ``fed`` fed back trials in
    asynchronous scheduling, and the run's budget reaches its proposals."""
    covered = records[: checkpoint.records]
    fed = checkpoint.fed
    if checkpoint.records > len(records) or len(covered) != fed or checkpoint.next_id > budget:
        return False
    if algorithm.num_feedbacks != fed or algorithm.num_proposals != checkpoint.next_id:
        return False
    ids = {int(r["id"]) for r in covered}
    if config["scheduling"] == "batch":
        return ids == set(range(fed)) and not checkpoint.pending
    order = {r.get("fed", r["id"]) for r in covered}
    return order == set(range(fed)) and ids | set(checkpoint.pending) == set(
        range(checkpoint.next_id)
    )


class _TrialSettings:
    """How trials are called: the objective's form, the pruner, the declared fidelity and
    whether the algorithm chooses budgets."""

    def __init__(
        self,
        form: str,
        pruner: Pruner | None,
        fidelity: Fidelity | None,
        algorithm: SearchAlgorithm,
    ) -> None:
        self.form = form
        self.pruner = pruner
        self.fidelity = fidelity
        self.budgeted = isinstance(algorithm, BudgetedAlgorithm)
        self.objectives = algorithm.objectives()

    def config(self) -> dict[str, Any]:
        """The settings ``config.json`` records (none for a plain search)."""
        config: dict[str, Any] = {}
        if self.pruner is not None:
            config["pruner"] = self.pruner.config()
        if self.fidelity is not None:
            config["fidelity"] = self.fidelity.to_json()
        return config

    def budgets(self, algorithm: SearchAlgorithm | None, n: int) -> list[Any]:
        """The budgets of the last ``n`` proposals: the budgeted algorithm's, else the
        fidelity's top (None without a fidelity)."""
        if self.budgeted and algorithm is not None:
            raw = algorithm.last_budgets[-n:]
        else:
            raw = [None if self.fidelity is None else self.fidelity.high] * n
        if self.fidelity is None:
            return [None if b is None else int(b) if float(b).is_integer() else b for b in raw]
        return [self.fidelity.value(b) for b in raw]

    def context(
        self,
        trial_id: int,
        budget: Any,
        reports_path: str | None,
        view: list[PrunerTrial],
        checkpoint_dir: str | None = None,
    ) -> TrialContext | None:
        """What the trial is sent with (None for ``objective(spec)``)."""
        if self.form == "spec":
            return None
        return TrialContext(
            trial_id,
            self.form,
            budget,
            reports_path,
            self.pruner,
            self.objectives,
            list(view) if self.pruner is not None else [],
            checkpoint_dir,
        )

    def pruner_view(self, trial: Trial) -> PrunerTrial:
        """A fed back trial as the pruner sees it."""
        reports = trial.extra.get("reports", [])
        return pruner_trial(trial.status, reports, self.objectives, trial.extra.get("pruner", {}))


def _check_fidelity(
    objective: Any, algorithm: SearchAlgorithm, pruner: Pruner | None, fidelity: Any
) -> str:
    """Checks the pruner, fidelity and algorithm against the objective's form; returns it."""
    form = objective_form(objective)
    budgeted = isinstance(algorithm, BudgetedAlgorithm)
    name = type(algorithm).__name__
    if fidelity is not None and not isinstance(fidelity, Fidelity):
        raise TypeError(
            f"search: 'fidelity' must be a flows.Fidelity or None; got {type(fidelity).__name__}."
        )
    if pruner is not None:
        if budgeted:
            raise ValueError(
                f"search: the pruner {type(pruner).__name__} cannot be combined with {name}, "
                "which stops trials early itself; pass pruner=None or a non-budgeted algorithm."
            )
        if form != "trial":
            raise ValueError(
                "search: a pruner needs an objective that reports: objective(spec, trial), "
                "calling trial.report(step, metrics) and trial.should_stop()."
            )
        if len(algorithm.objectives().modes) != 1:
            raise ValueError(
                f"search: pruning needs a single-objective algorithm; {name} has several."
            )
    if budgeted:
        if form == "spec":
            raise ValueError(
                f"search: {name} chooses a budget per trial, so the objective must take it: "
                "objective(spec, budget) or objective(spec, trial) (trial.budget)."
            )
        if fidelity is not None:
            algorithm.use_fidelity(fidelity.low, fidelity.high, fidelity.integer)
        algorithm.budget_range()
    elif form == "budget" and fidelity is None:
        raise ValueError(
            "search: objective(spec, budget) needs the budget range: pass "
            "fidelity=flows.Fidelity(low, high)."
        )
    return form


def _keep_reports(path: Path, trial_ids: set[int]) -> None:
    """Drops from the reports file the lines of trials the log lacks (they run again) and a
    line cut short by a kill; rewritten atomically."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        try:
            trial_id = json.loads(line)["trial"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: corrupt report line {line.strip()[:80]!r}.") from None
        if trial_id in trial_ids:
            kept.append(line)
    write_text_atomic(path, "".join(kept))


def _check_scheduling(out_dir: Path, scheduling: str) -> None:
    """Refuses to resume an asynchronous search with batches or the other way round."""
    try:
        saved = json.loads((out_dir / "config.json").read_text()).get("scheduling", "batch")
    except (OSError, ValueError, AttributeError):
        return  # check_resumable has reported a corrupt file; a missing one checks nothing
    if saved != scheduling:
        raise ValueError(
            f"Cannot resume from {out_dir}: its trials were scheduled in {saved} mode, this "
            f"search runs in {scheduling} mode; resume with the same executor and workers."
        )


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
        if trial.status != "failed":
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


def _progress_bar(total: int) -> Any:
    """A tqdm progress bar (tqdm is imported only when a bar is shown)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="search", unit="trial")


def _finish(log: TrialLog | None, out_dir: Path | None, result: SearchResult, bar: Any) -> None:
    if bar is not None:
        bar.close()
    if log is not None:
        log.close()
    if out_dir is not None:
        write_json_atomic(out_dir / "summary.json", result.summary())


def _reason(error: str | None) -> str:
    """The last line of a failed trial's traceback (the exception and its message)."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else "no reason logged"


def _short(metrics: Mapping[str, float] | None) -> str:
    if not metrics:
        return "-"
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3])
