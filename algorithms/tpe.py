"""Tree-structured Parzen estimator (TPE).

Bergstra, Bardenet, Bengio and Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS
2011, with the modern defaults of Watanabe, "Tree-Structured Parzen Estimator: Understanding Its
Algorithm Components and Their Roles for Better Empirical Performance", 2023 (the defaults of
Optuna's ``TPESampler``):

- the first ``n_startup_trials`` (10) proposals are uniformly random;
- the finished trials are split into the best ``gamma(n) = min(ceil(0.1 n), 25)`` ("below",
  density ``l``) and the rest ("above", density ``g``); infeasible trials (a constraint
  violated) rank after every feasible one, by violation;
- each density is a mixture of one kernel per trial plus a prior kernel of weight
  ``prior_weight`` (1.0); trial kernels weigh 1, except that the oldest trials of a set of more
  than 25 get a linear ramp from ``1/n`` up to 1;
- a choice uses the Aitchison-Aitken kernel: the observed candidate gets ``1 + prior_weight /
  n_kernels`` and every candidate ``prior_weight / n_kernels``, normalised; the prior kernel is
  uniform;
- a float uses a truncated normal on its range centred on the observation, bandwidth the larger
  distance to its sorted neighbours (interior gaps at the two ends), clipped to
  ``[(high - low) / min(100, 1 + n_kernels), high - low]`` (the "magic clip"); the prior kernel is
  centred on the range with bandwidth ``high - low``;
- ``n_ei_candidates`` (24) whole configurations are drawn from ``l`` and the one that maximises
  ``log l(x) - log g(x)`` is proposed.

With ``multivariate=True`` (the default) the kernels are products over the decisions of a group,
as in the multivariate TPE. Groups follow the space's tree, as Optuna's group decomposition does:
the decisions that one parent choice activates form one group (the top level is a group), fitted
on the trials in which that group is active; the density of a configuration is the product over
its active groups. ``multivariate=False`` is the original independent TPE: one group per
decision (the sub-choices of a ``pg.manyof`` stay together, so that ``distinct``/``sorted`` hold).
With ``dedup=True`` an architecture already proposed is never proposed again: the best unseen
candidate is taken, and a fresh draw is made when all candidates were seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyglove as pg

from symnas.algorithms.base import (
    SearchAlgorithm,
    pack_array,
    pack_genomes,
    pack_keys,
    unpack_array,
    unpack_keys,
)
from symnas.algorithms.encodings import reject_custom
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.registry import register_algorithm
from symnas.core.redraw import MAX_REDRAWS
from symnas.spaces.codec import INACTIVE_CHOICE, Codec

GAMMA_FRACTION = 0.1
GAMMA_CAP = 25
RAMP_FLAT = 25
LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)


def gamma(n: int) -> int:
    """Number of trials in the "below" set out of ``n``: ``min(ceil(0.1 n), 25)``."""
    return min(math.ceil(GAMMA_FRACTION * n), GAMMA_CAP)


def kernel_weights(n: int) -> np.ndarray:
    """Weights of ``n`` trial kernels in trial order: flat, with a linear ramp from ``1/n`` for
    the oldest ``n - 25`` trials when there are more than 25."""
    if n < RAMP_FLAT:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - RAMP_FLAT), np.ones(RAMP_FLAT)])


@dataclass(frozen=True)
class _Group:
    """Decisions sampled jointly: their slots and the choice that activates them."""

    slots: np.ndarray
    parent: int
    parent_value: float
    manyof: tuple[tuple[int, ...], ...]  # positions (in ``slots``) of each pg.manyof inside


def _groups(codec: Codec, multivariate: bool) -> list[_Group]:
    """The sampling groups of a space, parents before children (DNA pre-order)."""
    units: dict[tuple, list[int]] = {}
    for slot in codec.slots:
        if multivariate:
            key: tuple = (slot.parent, slot.parent_value)
        elif slot.group >= 0:
            key = ("manyof", slot.group)
        else:
            key = ("slot", slot.index)
        units.setdefault(key, []).append(slot.index)
    groups = []
    for members in units.values():
        first = codec.slots[members[0]]
        manyof = []
        for g in codec.groups:
            if g.slots[0] in members:
                manyof.append(tuple(members.index(s) for s in g.slots))
        groups.append(
            _Group(np.array(members), first.parent, float(first.parent_value), tuple(manyof))
        )
    return sorted(groups, key=lambda g: int(g.slots[0]))


class _Parzen:
    """A mixture of product kernels over the slots of one group."""

    def __init__(
        self, codec: Codec, group: _Group, observations: np.ndarray, prior_weight: float
    ) -> None:
        n = observations.shape[0]
        weights = np.append(kernel_weights(n), prior_weight) if n else np.ones(1)
        self.log_weights = np.log(np.maximum(weights / weights.sum(), 1e-300))
        self.n_kernels = n + 1
        self.parts = []
        for column, index in enumerate(group.slots):
            slot = codec.slots[int(index)]
            values = observations[:, column]
            if slot.is_float:
                self.parts.append(("float", *_float_kernels(values, slot.low, slot.high)))
            else:
                self.parts.append(
                    ("choice", _choice_kernels(values, slot.num_candidates, prior_weight))
                )

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws from the mixture."""
        from scipy.special import ndtr, ndtri  # imported on first use: a lean ``import``

        component = rng.choice(self.n_kernels, size=size, p=np.exp(self.log_weights))
        out = np.empty((size, len(self.parts)))
        for column, part in enumerate(self.parts):
            if part[0] == "choice":
                cumulative = np.cumsum(part[1][component], axis=1)
                u = rng.random((size, 1)) * cumulative[:, -1:]
                out[:, column] = np.minimum((u > cumulative).sum(axis=1), cumulative.shape[1] - 1)
            else:
                _, mus, sigmas, low, high = part
                mu, sigma = mus[component], sigmas[component]
                a, b = ndtr((low - mu) / sigma), ndtr((high - mu) / sigma)
                u = a + rng.random(size) * (b - a)
                out[:, column] = np.clip(mu + sigma * ndtri(u), low, high)
        return out

    def widened(self, factor: float) -> _Parzen:
        """A copy whose observation kernels are ``factor`` times as wide (BOHB's bandwidth
        factor, for drawing candidates): float bandwidths scaled; a choice kernel, read as
        "the observed candidate with probability 1 - b, else uniform", gets ``b`` scaled (at
        most 1). The prior kernel is kept."""
        copy = object.__new__(_Parzen)
        copy.log_weights, copy.n_kernels = self.log_weights, self.n_kernels
        copy.parts = []
        for part in self.parts:
            if part[0] == "float":
                _, mus, sigmas, low, high = part
                wide = sigmas.copy()
                wide[:-1] *= factor
                copy.parts.append(("float", mus, wide, low, high))
                continue
            table = part[1].copy()
            k = table.shape[1]
            if k > 1 and len(table) > 1:
                rows = table[:-1]
                observed = rows.argmax(axis=1)
                b = (1.0 - rows.max(axis=1)) * k / (k - 1)
                b = np.minimum(factor * b, 1.0)[:, None]
                onehot = np.zeros_like(rows)
                onehot[np.arange(len(rows)), observed] = 1.0
                table[:-1] = (1.0 - b) * onehot + b / k
            copy.parts.append(("choice", table))
        return copy

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of rows ``x`` (one column per slot of the group)."""
        from scipy.special import logsumexp, ndtr

        total = np.repeat(self.log_weights[:, None], x.shape[0], axis=1)
        for column, part in enumerate(self.parts):
            if part[0] == "choice":
                total += np.log(part[1][:, x[:, column].astype(np.int64)])
            else:
                _, mus, sigmas, low, high = part
                z = (x[None, :, column] - mus[:, None]) / sigmas[:, None]
                mass = ndtr((high - mus) / sigmas) - ndtr((low - mus) / sigmas)
                total += (
                    -0.5 * z**2 - LOG_2PI_HALF - np.log(sigmas * np.maximum(mass, 1e-300))[:, None]
                )
        return logsumexp(total, axis=0)


def _choice_kernels(values: np.ndarray, num_candidates: int, prior_weight: float) -> np.ndarray:
    """Aitchison-Aitken kernel rows (one per observation, then the uniform prior row)."""
    n_kernels = len(values) + 1
    table = np.full((n_kernels, num_candidates), prior_weight / n_kernels)
    table[np.arange(len(values)), values.astype(np.int64)] += 1.0
    table[-1] = 1.0
    return table / table.sum(axis=1, keepdims=True)


def _float_kernels(values: np.ndarray, low: float, high: float) -> tuple:
    """Truncated-normal kernels: centres and magic-clipped bandwidths, prior last."""
    span = high - low
    n = len(values)
    if n:
        order = np.argsort(values, kind="stable")
        padded = np.concatenate([[low], values[order], [high]])
        sigmas_sorted = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
        if n >= 2:  # end points: the interior gap only (consider_endpoints=False)
            sigmas_sorted[0] = padded[2] - padded[1]
            sigmas_sorted[-1] = padded[-2] - padded[-3]
        sigmas = np.empty(n)
        sigmas[order] = sigmas_sorted
        sigmas = np.clip(sigmas, span / min(100.0, 1.0 + n + 1), span)
    else:
        sigmas = np.empty(0)
    mus = np.append(values, 0.5 * (low + high))
    sigmas = np.append(sigmas, span)
    return mus, np.maximum(sigmas, 1e-12), low, high


@register_algorithm(
    "tpe",
    "tree-structured Parzen estimator (Bergstra et al. 2011, Watanabe 2023 defaults)",
    small={"n_startup_trials": 4, "n_ei_candidates": 6},
)
@pg.members(
    [
        ("metric", pg.typing.Str().noneable(), "Metric to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        ("n_startup_trials", pg.typing.Int(min_value=0, default=10), "Random trials first."),
        ("n_ei_candidates", pg.typing.Int(min_value=1, default=24), "Candidates drawn from l."),
        ("prior_weight", pg.typing.Float(min_value=0.0, default=1.0), "Weight of the prior."),
        ("multivariate", pg.typing.Bool(default=True), "Joint kernels per group of decisions."),
        ("dedup", pg.typing.Bool(default=True), "Never propose an architecture twice."),
    ]
)
class TPE(SearchAlgorithm):
    """Tree-structured Parzen estimator over a compiled space."""

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        codec = self._codec
        reject_custom(codec, "TPE")
        self._groups = _groups(codec, self.multivariate)
        self._startup = self.n_startup_trials
        self._candidates = self.n_ei_candidates
        self._prior = self.prior_weight
        self._dedup = self.dedup
        self._genomes: list[np.ndarray] = []
        self._scores: list[tuple[float, float]] = []  # (violation, -reward): lower is better
        self._seen: set[bytes] = set()
        is_float = np.array([s.is_float for s in codec.slots], dtype=bool)
        self._filler = np.where(is_float, np.nan, INACTIVE_CHOICE)

    def share_rng(self, rng: np.random.Generator) -> None:
        """Draws from ``rng`` from now on (a model used inside another algorithm, BOHB)."""
        self._rng = rng

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        out = np.empty((n, self._codec.num_slots))
        model = None if len(self._genomes) < self._startup else self._fit()
        for i in range(n):
            out[i] = self._propose_one(model)
            self._seen.add(self._codec.key(out[i]))
        return out

    def _propose_one(self, model) -> np.ndarray:
        codec = self._codec
        for _ in range(MAX_REDRAWS if self._dedup else 1):
            if model is None:
                candidates, scores = codec.random(1, self._rng), np.zeros(1)
            else:
                candidates, scores = self._candidates_and_scores(model)
            for j in np.argsort(-scores, kind="stable"):
                if not self._dedup or codec.key(candidates[j]) not in self._seen:
                    return candidates[j]
        return codec.random(1, self._rng)[0]

    def _fit(self) -> list[tuple[_Parzen, _Parzen]]:
        """The below/above densities of every group."""
        genomes = np.stack(self._genomes)
        n = len(genomes)
        order = sorted(range(n), key=lambda i: self._scores[i])
        below = np.zeros(n, dtype=bool)
        below[order[: gamma(n)]] = True
        return self.fit_split(genomes, below, ~below)

    def fit_split(
        self, genomes: np.ndarray, below: np.ndarray, above: np.ndarray
    ) -> list[tuple[_Parzen, _Parzen]]:
        """The densities of every group fitted on the rows ``below`` (``l``) and ``above``
        (``g``) of ``genomes`` (BOHB chooses its own split)."""
        active = self._codec.active_mask(genomes)
        model = []
        for group in self._groups:
            rows = active[:, group.slots[0]]
            obs = genomes[:, group.slots]
            model.append(
                (
                    _Parzen(self._codec, group, obs[rows & below], self._prior),
                    _Parzen(self._codec, group, obs[rows & above], self._prior),
                )
            )
        return model

    def best_candidate(self, model, widen: float, seen: set[bytes]) -> np.ndarray | None:
        """Of ``n_ei_candidates`` configurations drawn from ``l`` with its kernels ``widen``
        times as wide, the one that maximises ``log l - log g`` among those whose key is not in
        ``seen`` (None when all are)."""
        candidates, scores = self._candidates_and_scores(model, widen)
        for j in np.argsort(-scores, kind="stable"):
            if self._codec.key(candidates[j]) not in seen:
                return candidates[j]
        return None

    def _candidates_and_scores(self, model, widen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Whole configurations drawn from ``l`` group by group (its kernels ``widen`` times as
        wide), with ``log l - log g``."""
        size = self._candidates
        out = np.tile(self._filler, (size, 1))
        scores = np.zeros(size)
        for group, (below, above) in zip(self._groups, model, strict=True):
            rows = (
                np.ones(size, dtype=bool)
                if group.parent < 0
                else out[:, group.parent] == group.parent_value
            )
            if not rows.any():
                continue
            source = below if widen == 1.0 else below.widened(widen)
            draws = source.sample(self._rng, int(rows.sum()))
            for positions in group.manyof:
                self._repair_manyof(draws, positions, group)
            out[np.ix_(rows, group.slots)] = draws
            scores[rows] += below.log_pdf(draws) - above.log_pdf(draws)
        return out, scores

    def _repair_manyof(self, draws: np.ndarray, positions: tuple[int, ...], group: _Group) -> None:
        """Makes drawn ``pg.manyof`` sub-choices distinct and sorted as the space requires."""
        spec = next(g for g in self._codec.groups if g.slots[0] == group.slots[positions[0]])
        cols = list(positions)
        if spec.distinct:
            num = self._codec.slots[spec.slots[0]].num_candidates
            for row in draws:
                used: set[float] = set()
                for col in cols:
                    if row[col] in used:
                        free = [v for v in range(num) if v not in used and v not in row[cols]]
                        row[col] = float(self._rng.choice(free))
                    used.add(row[col])
        if spec.sorted:
            draws[:, cols] = np.sort(draws[:, cols], axis=1)

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            if reward is None:
                continue
            self._genomes.append(np.array(genome, dtype=np.float64))
            self._scores.append((float(violation), -float(reward[0])))
            self._seen.add(self._codec.key(genome))

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        slots = self._codec.num_slots
        return {
            "genomes": pack_genomes(self._genomes, slots),
            "scores": pack_array(self._scores if self._scores else np.zeros((0, 2))),
            "seen": pack_keys(self._seen, self._codec),
        }

    def _load_state(self, state: dict) -> None:
        self._genomes = list(unpack_array(state["genomes"]))
        self._scores = [(v, r) for v, r in unpack_array(state["scores"]).tolist()]
        self._seen = unpack_keys(state["seen"], self._codec)
