"""The trial handle an objective may take: intermediate reports, pruning, the budget.

``search`` calls the objective in one of three forms, told apart by its signature:
``objective(spec)``; ``objective(spec, budget)`` (the budget of a budgeted algorithm, else the
declared fidelity's top); ``objective(spec, trial)`` with a :class:`TrialHandle`: ``trial.budget``,
``trial.report(step, metrics)`` after each epoch and ``trial.should_stop()``, which asks the
search's pruner. Every report is appended to ``out/reports.jsonl`` and flushed at once (so the
file shows where each running trial stands) and returned with the trial's outcome, which the
trial log records. After ``should_stop()`` returns True the objective should return: the trial
is logged ``pruned`` with its last report as its metrics, whatever it returns.

The pruner decides from the trials that had finished when the trial was submitted (sent with
it, so trials in other processes or on Ray decide alike and a run is reproducible).

``trial.checkpoint_dir`` (a search with an output folder) is the architecture's folder under
``out/checkpoints/``, the same for every trial of the same architecture, so a candidate promoted
to a larger budget finds what its lower-rung trial saved there. An objective that continues a
saved state calls ``trial.continue_from(step)``: the log records the step as the trial's
``start``, and its reports must come after it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symnas.algorithms.objectives import Objectives
from symnas.algorithms.pruners import Pruner, PrunerTrial
from symnas.flows.seeding import seeded_trial
from symnas.flows.trial_eval import normalize_metrics

FORMS = ("spec", "budget", "trial")
REPORTS_FILE = "reports.jsonl"
#: Folder of the output folder that holds one checkpoint folder per architecture.
CHECKPOINTS_DIR = "checkpoints"


def checkpoint_key(numbers: Sequence[Any]) -> str:
    """The name of an architecture's checkpoint folder: a digest of its DNA numbers."""
    text = json.dumps([n if isinstance(n, str) else float(n) for n in numbers])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def objective_form(objective: Any) -> str:
    """``"spec"``, ``"budget"`` or ``"trial"``: how ``objective`` is called, from the name of
    its second positional parameter (a required one of another name is an error)."""
    try:
        parameters = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: objective(spec)
        return "spec"
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 2:
        return "spec"
    second = positional[1]
    if second.name in ("budget", "trial"):
        return second.name
    if second.default is inspect.Parameter.empty:
        raise TypeError(
            f"The objective's second parameter {second.name!r} has no default; an objective is "
            "called as objective(spec), objective(spec, budget) or objective(spec, trial)."
        )
    return "spec"


@dataclass
class TrialContext:
    """What a trial needs besides its spec and seed (sent to the process that runs it)."""

    trial_id: int
    form: str
    budget: float | int | None = None
    reports_path: str | None = None
    pruner: Pruner | None = None
    objectives: Objectives | None = None
    finished: list[PrunerTrial] = field(default_factory=list)
    checkpoint_dir: str | None = None


class TrialHandle:
    """The ``trial`` of ``objective(spec, trial)`` (see the module docstring)."""

    def __init__(self, context: TrialContext) -> None:
        self._context = context
        self.reports: list[tuple[int, dict[str, float]]] = []
        self._view = PrunerTrial("running")
        self._decided = 0  # reports the pruner has seen
        self.pruned = False
        self.start: int | None = None  # the step of the state the objective continues

    @property
    def id(self) -> int:
        """The trial's id in the search."""
        return self._context.trial_id

    @property
    def form(self) -> str:
        """How the objective is called (one of ``FORMS``)."""
        return self._context.form

    @property
    def budget(self) -> float | int | None:
        """The budget to train for (epochs or data fraction); None without a declared fidelity."""
        return self._context.budget

    @property
    def checkpoint_dir(self) -> Path | None:
        """The folder where the objective may keep this architecture's checkpoints (shared by
        every trial of it in the search; created on first write); None without an output
        folder."""
        folder = self._context.checkpoint_dir
        return None if folder is None else Path(folder)

    def continue_from(self, step: int) -> None:
        """Records that the trial continues a state saved after ``step`` (an epoch count):
        the log keeps it as the trial's ``start`` and later reports must come after it."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(
                f"trial.continue_from: 'step' must be a non-negative int; got {step!r}."
            )
        if self.reports or self.start is not None:
            raise ValueError(
                f"trial.continue_from must come before any report and only once (trial {self.id})."
            )
        self.start = step

    def report(self, step: int, metrics: float | Mapping[str, float]) -> None:
        """Records intermediate metrics after ``step`` (an epoch count; steps must increase),
        appended to the reports file and flushed; non-finite values are a ``ValueError``."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"trial.report: 'step' must be a non-negative int; got {step!r}.")
        last = self.reports[-1][0] if self.reports else self.start
        if last is not None and step <= last:
            raise ValueError(
                f"trial.report: steps must increase; got step {step} after step "
                f"{last} (trial {self.id})."
            )
        values = normalize_metrics(metrics)
        context = self._context
        if context.pruner is not None:
            reward = context.objectives.reward(values)
            if reward.size != 1:
                raise ValueError("trial.report: pruning needs one optimised metric.")
            self._view.steps.append(step)
            self._view.values.append(float(reward[0]))
        self.reports.append((step, values))
        if context.reports_path is not None:
            line = {"trial": self.id, "step": step, "metrics": values}
            if context.budget is not None:
                line["budget"] = context.budget
            with open(context.reports_path, "ab") as f:
                f.write((json.dumps(line, allow_nan=False) + "\n").encode())
                f.flush()

    def should_stop(self) -> bool:
        """Whether the pruner stops the trial at its last report (always False without a
        pruner or report); once True it stays True."""
        context = self._context
        if self.pruned or context.pruner is None or not self.reports:
            return self.pruned
        if self._decided < len(self.reports):
            self._decided = len(self.reports)
            self.pruned = context.pruner.prune(context.finished, self._view)
        return self.pruned

    def progress(self) -> dict[str, Any]:
        """What the trial log records: the reports, whether pruned, the pruner's record."""
        progress: dict[str, Any] = {
            "reports": [[s, m] for s, m in self.reports],
            "pruned": self.pruned,
        }
        if self._view.record:
            progress["pruner"] = self._view.record
        if self.start:
            progress["start"] = self.start
        return progress


def call_objective(objective: Any, spec: Any, handle: TrialHandle) -> Any:
    """Calls ``objective`` on ``spec`` in the handle's form."""
    form = handle.form
    if form == "trial":
        return objective(spec, handle)
    if form == "budget":
        return objective(spec, handle.budget)
    return objective(spec)


def pruner_trial(
    status: str, reports: Sequence[Sequence[Any]], objectives: Objectives, record: dict
) -> PrunerTrial:
    """A finished trial as pruners see it, from its logged reports ``[[step, metrics], ...]``."""
    view = PrunerTrial(status, record=dict(record))
    for step, metrics in reports:
        view.steps.append(int(step))
        view.values.append(float(objectives.reward(metrics)[0]))
    return view


def evaluate_trial(
    objective: Any, spec: Any, seed: int, threads: int | None, context: TrialContext
) -> tuple[dict[str, float] | None, str | None, float, dict[str, Any]]:
    """``evaluate_spec`` with a trial handle: (metrics, error text, wall seconds, progress).
    A pruned trial's metrics are its last report; its return value is not used."""
    start = time.perf_counter()
    handle = TrialHandle(context)
    try:
        with seeded_trial(seed, threads):
            value = call_objective(objective, spec, handle)
        metrics = handle.reports[-1][1] if handle.pruned else normalize_metrics(value)
        error = None
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        metrics = None
        error = traceback.format_exc()
    return metrics, error, time.perf_counter() - start, handle.progress()
