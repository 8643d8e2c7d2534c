"""BOHB: Hyperband whose new configurations come from a TPE model.

Falkner, Klein and Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale",
ICML 2018, with the defaults of its reference implementation (HpBandSter's
``BOHB``/``CG_BOHB``). The brackets are Hyperband's (``algorithms.brackets``); each new
configuration of a bracket's first rung is drawn when it is proposed:

- with probability ``random_fraction`` (1/3), or while no budget has a model, uniformly;
- otherwise from the model of the largest budget that has one. A budget has a model once it
  holds ``min_points_in_model`` results (None: the number of decisions + 1) and both of its
  sets hold more rows than there are decisions: the best ``max(min_points_in_model,
  top_n_percent * n // 100)`` results (``top_n_percent`` = 15) fit ``l``, the next
  ``max(min_points_in_model, (100 - top_n_percent) * n // 100)`` fit ``g``; failed trials rank
  last. ``num_samples`` (64) candidates are drawn from ``l`` with its kernels
  ``bandwidth_factor`` (3) times as wide, and the one maximising ``l(x) / g(x)`` (with the
  unwidened kernels) is proposed, never an architecture proposed before.

The densities are the project's TPE (``algorithms.tpe``: multivariate Parzen estimators over
the space's decision groups, truncated-normal kernels for floats, Aitchison-Aitken kernels for
choices, TPE's prior kernel), in place of HpBandSter's statsmodels KDE; a choice kernel's
bandwidth is its probability of leaving the observed candidate for a uniform one, which the
bandwidth factor scales as HpBandSter scales its categorical bandwidths.
"""

from __future__ import annotations

import numpy as np
import pyglove as pg

from symnas.algorithms.brackets import Hyperband, Job
from symnas.algorithms.registry import register_algorithm
from symnas.algorithms.tpe import TPE
from symnas.core.redraw import random_unseen


@register_algorithm(
    "bohb",
    "BOHB (Falkner et al. 2018): Hyperband with TPE-sampled configurations",
    small={"min_budget": 1.0, "max_budget": 9.0, "num_samples": 8},
)
@pg.members(
    [
        ("top_n_percent", pg.typing.Int(min_value=1, max_value=99, default=15), "Share in l."),
        (
            "random_fraction",
            pg.typing.Float(min_value=0.0, max_value=1.0, default=1.0 / 3.0),
            "Share of uniformly drawn configurations.",
        ),
        ("num_samples", pg.typing.Int(min_value=1, default=64), "Candidates drawn from l."),
        (
            "bandwidth_factor",
            pg.typing.Float(min_value=1.0, default=3.0),
            "How much wider the kernels that draw candidates are.",
        ),
        (
            "min_points_in_model",
            pg.typing.Int(min_value=1).noneable(),
            "Results a budget needs for a model; None: decisions + 1.",
        ),
    ]
)
class BOHB(Hyperband):
    """Hyperband with TPE-drawn new configurations (see the module docstring)."""

    def _reset(self) -> None:
        super()._reset()
        self._dim = self._codec.num_slots
        minimum = self.min_points_in_model
        self._min_points = self._dim + 1 if minimum is None else max(minimum, self._dim + 1)
        self._tpe = TPE(
            metric=self.metric, mode=self.mode, n_startup_trials=0, n_ei_candidates=self.num_samples
        )
        self._tpe.bind(self._codec, 0)
        self._tpe.share_rng(self._rng)
        # Results per budget: genomes and their scores (violation, -reward), in feedback order.
        self._observed: dict[float, list[tuple[np.ndarray, tuple[float, float]]]] = {}

    def _finished(self, job: Job, score: tuple[float, float]) -> None:
        self._observed.setdefault(job.budget, []).append((job.genome, score))
        super()._finished(job, score)

    def _split(self, budget: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The genomes of ``budget`` with its ``l`` and ``g`` rows, or None without a model."""
        observed = self._observed.get(budget, [])
        n = len(observed)
        if n < self._min_points:
            return None
        order = sorted(range(n), key=lambda i: observed[i][1])
        n_good = max(self._min_points, self.top_n_percent * n // 100)
        n_bad = max(self._min_points, (100 - self.top_n_percent) * n // 100)
        good, bad = order[:n_good], order[n_good : n_good + n_bad]
        if len(good) <= self._dim or len(bad) <= self._dim:
            return None
        below, above = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        below[good], above[bad] = True, True
        return np.stack([g for g, _ in observed]), below, above

    def model_budget(self) -> float | None:
        """The largest budget with enough results for a model (None: none yet)."""
        for budget in sorted(self._observed, reverse=True):
            if self._split(budget) is not None:
                return budget
        return None

    def _new_genome(self, budget: float) -> np.ndarray:
        model_budget = self.model_budget()
        genome = None
        if model_budget is not None and self._rng.random() >= self.random_fraction:
            genomes, below, above = self._split(model_budget)
            model = self._tpe.fit_split(genomes, below, above)
            genome = self._tpe.best_candidate(model, self.bandwidth_factor, self._seen)
        if genome is None:
            genome = random_unseen(self._codec, self._rng, self._seen)
        self._seen.add(self._codec.key(genome))
        return genome
