"""Asynchronous successive halving (ASHA).

Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht and Talwalkar, "A System for
Massively Parallel Hyperparameter Tuning", MLSys 2020 (Algorithm 2). Rung ``k`` evaluates
configurations at ``min_budget * eta ** (k + s)`` (``s``: the minimum early-stopping rate), up
to ``max_budget``. Whenever a worker is free (each proposal), ASHA looks from the top rung down
for a configuration in the best ``floor(n_k / eta)`` of the ``n_k`` results of rung ``k`` that
has not been promoted yet, and proposes it at rung ``k + 1``; when there is none it proposes a
new configuration (uniform, never repeated) at the bottom rung. Results count only once fed
back, so with several workers (the Ray executor, or the local executor's process pool, which
``flows.search`` then runs asynchronously) promotions happen as workers free up and the log's
feedback order replays them exactly. Budgets and their declared range as in
``algorithms.brackets``.
"""

from __future__ import annotations

import pyglove as pg

from symnas.algorithms.brackets import BudgetedAlgorithm, Job, max_bracket
from symnas.algorithms.registry import register_algorithm


@register_algorithm(
    "asha",
    "asynchronous successive halving (Li et al. 2020): promotes as workers free up, eta=3",
    small={"min_budget": 1.0, "max_budget": 9.0},
)
@pg.members(
    [
        (
            "min_early_stopping_rate",
            pg.typing.Int(min_value=0, default=0),
            "Rungs skipped at the bottom (s).",
        ),
    ]
)
class ASHA(BudgetedAlgorithm):
    """ASHA over a compiled space (see the module docstring)."""

    asynchronous = True

    def _reset(self) -> None:
        super()._reset()
        s = self.min_early_stopping_rate
        top = max_bracket(self._low, self._high, self.eta)
        if s > top:
            raise ValueError(
                f"ASHA: 'min_early_stopping_rate'={s} leaves no rung in the budget range "
                f"[{self._low:g}, {self._high:g}] with eta={self.eta} (at most {top})."
            )
        self._budgets = [self.rounded(self._low * self.eta ** (k + s)) for k in range(top - s + 1)]
        # Per rung: (score, proposal order, genome) of each result, and the keys promoted.
        self._rungs: list[list] = [[] for _ in self._budgets]
        self._promoted: list[set[bytes]] = [set() for _ in self._budgets]

    def rung_budgets(self) -> list[float]:
        """The budget of each rung, bottom first."""
        return list(self._budgets)

    def _next_job(self) -> Job:
        for k in range(len(self._budgets) - 2, -1, -1):
            results = self._rungs[k]
            ranked = sorted(results, key=lambda r: (r[0], r[1]))[: len(results) // self.eta]
            for _, _, genome in ranked:
                key = self._codec.key(genome)
                if key not in self._promoted[k]:
                    self._promoted[k].add(key)
                    return Job(genome, self._budgets[k + 1], None, k + 1, 0)
        budget = self._budgets[0]
        return Job(self._new_genome(budget), budget, None, 0, 0)

    def _finished(self, job: Job, score: tuple[float, float]) -> None:
        self._rungs[job.rung].append((score, job.order, job.genome))
