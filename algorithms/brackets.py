"""Multi-fidelity bracket algorithms: successive halving and Hyperband.

Each proposal is a configuration *and* a budget (epochs, or a fraction of the data): after
``propose_batch`` the algorithm's ``last_budgets`` hold the budget of each proposed genome,
which ``flows.search`` passes to the objective (``objective(spec, budget)`` or
``trial.budget``) and logs with the trial. Budgets lie between ``min_budget`` and
``max_budget`` (by default the range the flow declares, ``flows.Fidelity``); they are rounded
to whole numbers when the range is (epochs).

- ``successive_halving`` (Jamieson and Talwalkar, "Non-stochastic Best Arm Identification and
  Hyperparameter Optimization", AISTATS 2016): a bracket starts ``eta ** s_max`` new
  configurations at ``max_budget * eta ** -s_max`` (``s_max = floor(log_eta(max / min))``),
  and each rung keeps the best ``1 / eta`` of its configurations for ``eta`` times the budget,
  up to ``max_budget``; brackets repeat with new configurations.
- ``hyperband`` (Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, "Hyperband: A Novel
  Bandit-Based Approach to Hyperparameter Optimization", JMLR 2018): the brackets
  ``s = s_max, ..., 0`` in turn, bracket ``s`` starting ``n = ceil((s_max + 1) / (s + 1) *
  eta ** s)`` configurations at ``r = max_budget * eta ** -s``; rung ``i`` runs
  ``floor(n * eta ** -i)`` configurations at ``r * eta ** i``.

New configurations are drawn uniformly without repeating an architecture (``BOHB``,
``algorithms.bohb``, draws them from a model instead). Brackets are scheduled as in HpBandSter
(Falkner et al. 2018): a proposal comes from the oldest bracket that has a configuration to
run; when every open bracket waits for results of its rung, the next bracket opens, so any
number of workers stays busy. A rung is promoted once all its results are in: the best
configurations by the algorithm's metric (failed trials last, infeasible ones after feasible
ones) go on, ties in proposal order. Proposals depend only on the seed and the results fed
back, so a search resumes exactly by replaying its log.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.registry import register_algorithm
from symnas.core.redraw import random_unseen

#: Sort key of a result: (constraint violation, -reward), lower is better; failed trials last.
FAILED_SCORE = (math.inf, math.inf)


def max_bracket(min_budget: float, max_budget: float, eta: int) -> int:
    """``s_max = floor(log_eta(max_budget / min_budget))``, computed without rounding error."""
    s = 0
    while min_budget * eta ** (s + 1) <= max_budget * (1.0 + 1e-9):
        s += 1
    return s


@dataclass
class Job:
    """One proposed evaluation: a configuration at a budget, in a bracket's rung."""

    genome: np.ndarray
    budget: float
    owner: object
    rung: int
    order: int  # proposal number, breaking ties between equal results


@dataclass
class _Bracket:
    """One successive-halving bracket: ``counts[i]`` configurations at ``budgets[i]``."""

    counts: list[int]
    budgets: list[float]
    rung: int = 0
    to_sample: int = 0
    queue: deque = field(default_factory=deque)
    running: int = 0
    results: list[tuple[tuple[float, float], int, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.to_sample = self.counts[0]

    @property
    def done(self) -> bool:
        return self.rung >= len(self.counts)


@pg.members(
    [
        ("metric", pg.typing.Str().noneable(), "Metric to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        ("eta", pg.typing.Int(min_value=2, default=3), "Reduction factor between rungs."),
        (
            "min_budget",
            pg.typing.Float(min_value=0.0).noneable(),
            "Smallest budget; None: the flow's declared fidelity range.",
        ),
        (
            "max_budget",
            pg.typing.Float(min_value=0.0).noneable(),
            "Largest budget; None: the flow's declared fidelity range.",
        ),
    ]
)
class BudgetedAlgorithm(SearchAlgorithm):
    """Base of the algorithms that choose a budget for each proposal (brackets, ASHA).

    Subclasses implement ``_next_job() -> Job`` and ``_finished(job, score)``; new
    configurations come from ``_new_genome(budget)`` (uniform without repeats by default).
    """

    #: The algorithm stops trials early itself: a pruner is refused with it.
    prunes = True
    #: Whether it prefers results fed back as they arrive (ASHA) to batches.
    asynchronous = False

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def use_fidelity(self, low: float, high: float, integer: bool) -> None:
        """The fidelity range the flow declares (``flows.Fidelity``): the default of
        ``min_budget``/``max_budget`` and whether budgets are whole numbers. Raises a
        ``ValueError`` when the algorithm's own budgets lie outside it."""
        for name in ("min_budget", "max_budget"):
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                raise ValueError(
                    f"{type(self).__name__}: {name!r}={value:g} lies outside the declared "
                    f"fidelity range [{low:g}, {high:g}]."
                )
        self._fidelity = (float(low), float(high), bool(integer))

    def budget_range(self) -> tuple[float, float, bool]:
        """(min_budget, max_budget, whole numbers) in use."""
        declared = getattr(self, "_fidelity", None)
        low = self.min_budget if self.min_budget is not None else (declared or (None,))[0]
        high = self.max_budget if self.max_budget is not None else (declared or (None, None))[1]
        if low is None or high is None:
            raise ValueError(
                f"{type(self).__name__} needs a budget range: declare the objective's fidelity "
                "(flows.search(..., fidelity=Fidelity(low, high))) or set min_budget and "
                "max_budget."
            )
        if not 0 < low <= high:
            raise ValueError(
                f"{type(self).__name__}: the budgets must satisfy 0 < min_budget <= max_budget; "
                f"got [{low:g}, {high:g}]."
            )
        integer = declared[2] if declared else float(low).is_integer() and high.is_integer()
        return float(low), float(high), integer

    def _reset(self) -> None:
        low, high, integer = self.budget_range()
        self._low, self._high, self._integer = low, high, integer
        self._s_max = max_bracket(low, high, self.eta)
        self._pending: dict[bytes, deque[Job]] = {}
        self._seen: set[bytes] = set()
        self._issued = 0
        self.last_budgets: list[float] = []

    def rounded(self, budget: float) -> float:
        """A budget as used: whole when the range is, within [min_budget, max_budget]."""
        value = float(round(budget)) if self._integer else budget
        return min(max(value, self._low), self._high)

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        out = np.empty((n, self._codec.num_slots))
        self.last_budgets = []
        for i in range(n):
            job = self._next_job()
            job.order = self._issued
            self._issued += 1
            key = self._codec.key(job.genome)
            self._pending.setdefault(key, deque()).append(job)
            out[i] = job.genome
            self.last_budgets.append(job.budget)
        return out

    def _new_genome(self, budget: float) -> np.ndarray:
        """A configuration not proposed before (while the space has some)."""
        genome = random_unseen(self._codec, self._rng, self._seen)
        self._seen.add(self._codec.key(genome))
        return genome

    def _next_job(self) -> Job:
        raise NotImplementedError

    def _finished(self, job: Job, score: tuple[float, float]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            key = self._codec.key(genome)
            queue = self._pending.get(key)
            if not queue:
                raise ValueError(
                    f"{type(self).__name__}: feedback for {self._codec.decode(genome)}, which "
                    "has no proposal awaiting its result."
                )
            job = queue.popleft()
            if not queue:
                del self._pending[key]
            score = FAILED_SCORE if reward is None else (float(violation), -float(reward[0]))
            self._finished(job, score)

    def _replayed(self, genome: np.ndarray) -> None:
        self._seen.add(self._codec.key(genome))


class _BracketAlgorithm(BudgetedAlgorithm):
    """Synchronous brackets scheduled as the module docstring says."""

    def _reset(self) -> None:
        super()._reset()
        self._brackets: list[_Bracket] = []
        self._opened = 0

    def _open(self) -> _Bracket:
        cycle = self._cycle()
        bracket = _Bracket(*self._schedule(cycle[self._opened % len(cycle)]))
        self._brackets.append(bracket)
        self._opened += 1
        return bracket

    def _next_job(self) -> Job:
        for bracket in self._brackets:
            budget = bracket.budgets[bracket.rung]
            if bracket.rung == 0 and bracket.to_sample > 0:
                bracket.to_sample -= 1
                genome = self._new_genome(budget)
            elif bracket.queue:
                genome = bracket.queue.popleft()
            else:
                continue
            bracket.running += 1
            return Job(genome, budget, bracket, bracket.rung, 0)
        self._open()
        return self._next_job()

    def _finished(self, job: Job, score: tuple[float, float]) -> None:
        bracket = job.owner
        bracket.running -= 1
        bracket.results.append((score, job.order, job.genome))
        if bracket.running or bracket.queue or (bracket.rung == 0 and bracket.to_sample):
            return
        bracket.rung += 1
        if bracket.done:
            self._brackets.remove(bracket)
            return
        ranked = sorted(bracket.results, key=lambda r: (r[0], r[1]))
        bracket.queue.extend(r[2] for r in ranked[: bracket.counts[bracket.rung]])
        bracket.results = []

    def brackets(self) -> list[tuple[list[int], list[float]]]:
        """The (counts, budgets) of one cycle of brackets, in the order they open."""
        return [self._schedule(s) for s in self._cycle()]

    def _cycle(self) -> Sequence[int]:
        """The bracket sizes ``s`` in the order brackets open (repeated)."""
        raise NotImplementedError

    def _schedule(self, s: int) -> tuple[list[int], list[float]]:
        """Configurations and budget per rung of bracket ``s``."""
        eta = self.eta
        n = math.ceil((self._s_max + 1) / (s + 1) * eta**s)
        counts = [max(int(n * eta ** (-i) + 1e-9), 1) for i in range(s + 1)]
        budgets = [self.rounded(self._high * eta ** (i - s)) for i in range(s + 1)]
        return counts, budgets


@register_algorithm(
    "successive_halving",
    "successive halving brackets (Jamieson & Talwalkar 2016), eta=3",
    small={"min_budget": 1.0, "max_budget": 9.0},
)
class SuccessiveHalving(_BracketAlgorithm):
    """Repeated successive-halving brackets of the largest size ``s_max``."""

    def _cycle(self) -> Sequence[int]:
        return [self._s_max]


@register_algorithm(
    "hyperband",
    "Hyperband (Li et al. 2018): successive-halving brackets s_max..0 in turn, eta=3",
    small={"min_budget": 1.0, "max_budget": 9.0},
)
class Hyperband(_BracketAlgorithm):
    """Hyperband's brackets ``s = s_max, ..., 0``, repeated."""

    def _cycle(self) -> Sequence[int]:
        return list(range(self._s_max, -1, -1))
