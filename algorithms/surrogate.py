"""Performance surrogates on GRAF and zero-cost features, and a surrogate filter for any sampler.

Qin, Kadlecova, Pilat, Cohen, Neruda, Crowley, Lukasik and Ericsson, "Transferrable Surrogates in
Expressive Neural Architecture Search Spaces" (AutoML-Conf 2025; shiwenqin/transferrable-
surrogates). An architecture is encoded by ``E(a) = concat(GRAF(a), ZCP(a))``: the GRAF graph
features (``algorithms.graf``) and seven zero-cost proxies computed on one batch
(``grad_norm, snip, grasp, fisher, jacov, plain, synflow``, through ``algorithms.zero_cost``); a
scikit-learn regressor (default: ``RandomForestRegressor`` with sklearn's defaults, the paper's
``rf``) maps it to accuracy. Targets may be normalised per data set (``"percentile"``: the ECDF
rank; ``"minmax"``), which is how the paper fits on one data set's results and ranks for another.

Two uses, as in the paper: a cheap objective (``Surrogate.objective``: the prediction is the
fitness), and :class:`SurrogateFilter`, which wraps any sampling algorithm: after ``warmup``
evaluated trials it asks the wrapped algorithm for ``candidates`` proposals per trial and keeps
the predicted best (the paper's ``ChooseFromSampledEvolution``: 20 offspring, the top 5
evaluated), refitting on every evaluated trial each ``refit_every`` trials.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyglove as pg
from scipy.stats import rankdata

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.graf import graf
from symnas.algorithms.objectives import Objectives

#: The zero-cost proxies of the paper's ZCP encoding.
ZC_PROXIES: tuple[str, ...] = ("grad_norm", "snip", "grasp", "fisher", "jacov", "plain", "synflow")
MODELS = ("random_forest", "extra_trees", "gradient_boosting", "ridge", "cqap_mlp")
TARGETS = ("raw", "percentile", "minmax")
FeatureFn = Callable[[Any], Mapping[str, float]]


def _regressor(model: str, seed: int, options: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "random_forest":
        return RandomForestRegressor(random_state=seed, **options)
    if model == "extra_trees":
        return ExtraTreesRegressor(random_state=seed, **options)
    if model == "gradient_boosting":
        return HistGradientBoostingRegressor(random_state=seed, **options)
    if model == "cqap_mlp":  # EQ-Net's accuracy predictor (algorithms.cqap)
        from symnas.algorithms.cqap import CQAPRegressor

        return CQAPRegressor(random_state=seed, **options)
    return make_pipeline(SimpleImputer(), StandardScaler(), Ridge(**options))


def normalise_targets(targets: Sequence[float], how: str) -> np.ndarray:
    """Targets as given (``raw``), as ECDF ranks in (0, 1] (``percentile``) or scaled to [0, 1]
    (``minmax``)."""
    y = np.asarray(targets, dtype=np.float64)
    if how == "raw":
        return y
    if how == "percentile":
        return rankdata(y, method="max") / len(y)
    if how == "minmax":
        span = y.max() - y.min()
        return (y - y.min()) / span if span > 0 else np.zeros_like(y)
    raise ValueError(f"Surrogate: target must be one of {TARGETS}; got {how!r}.")


class ZeroCostFeatures:
    """Zero-cost proxy scores of a spec's network on one fixed batch (NaN for undefined ones)."""

    def __init__(
        self,
        batch: tuple[Any, Any],
        proxies: Sequence[str] = ZC_PROXIES,
        build_fn: Callable[[Any], Any] | None = None,
        seed: int = 0,
    ) -> None:
        from symnas.algorithms import zero_cost

        self.proxies = tuple(zero_cost.check_proxies(proxies))
        self.batch = batch
        self.build_fn = build_fn
        self.seed = seed

    def __call__(self, spec: Any) -> dict[str, float]:
        """``{"zc_<proxy>": score}`` of the spec's freshly initialised network."""
        import torch

        from symnas import programs
        from symnas.algorithms import zero_cost

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = self.build_fn(spec) if self.build_fn else programs.build(spec)
        scores = zero_cost.score(module, self.batch, self.proxies, seed=self.seed)
        return {f"zc_{k}": (float(v) if np.isfinite(v) else np.nan) for k, v in scores.items()}


def _sources(
    features: Iterable[str | FeatureFn],
    zc_batch: tuple[Any, Any] | None,
    zc_proxies: Sequence[str],
    zc_build: Callable[[Any], Any] | None,
    seed: int,
) -> tuple[list[FeatureFn], tuple[str, ...]]:
    """Feature functions and their names from a Surrogate's ``features`` argument."""
    sources: list[FeatureFn] = []
    names: list[str] = []
    for feature in features:
        if feature == "graf":
            sources.append(graf)
        elif feature == "zc":
            if zc_batch is None:
                raise ValueError(
                    "Surrogate: the 'zc' features need zc_batch=(x, y), one batch of inputs and "
                    "labels of the task."
                )
            sources.append(ZeroCostFeatures(zc_batch, zc_proxies, zc_build, seed))
        elif callable(feature):
            sources.append(feature)
        else:
            raise ValueError(
                f"Surrogate: features must be 'graf', 'zc' or callables spec -> dict; got "
                f"{feature!r}."
            )
        names.append(feature if isinstance(feature, str) else getattr(feature, "__name__", "fn"))
    if not sources:
        raise ValueError("Surrogate: give at least one feature source ('graf', 'zc', ...).")
    return sources, tuple(names)


class Surrogate(pg.JSONConvertible):
    """Predicts a metric of specs from GRAF and zero-cost features with a scikit-learn model.

    ``features`` holds ``"graf"``, ``"zc"`` (needs ``zc_batch=(x, y)``; ``zc_build`` builds the
    network, default ``programs.build``) and/or callables ``spec -> {name: value}`` (e.g. a look-up
    of precomputed scores). ``model`` is one of :data:`MODELS`; ``target`` one of :data:`TARGETS`.
    Features are cached per spec; a feature missing for a spec is NaN (the tree models split on
    it, ``ridge`` imputes the mean).
    """

    def __init__(
        self,
        features: Iterable[str | FeatureFn] = ("graf", "zc"),
        model: str = "random_forest",
        target: str = "raw",
        *,
        zc_batch: tuple[Any, Any] | None = None,
        zc_proxies: Sequence[str] = ZC_PROXIES,
        zc_build: Callable[[Any], Any] | None = None,
        seed: int = 0,
        model_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.features, names = _sources(features, zc_batch, zc_proxies, zc_build, seed)
        if model not in MODELS:
            raise ValueError(f"Surrogate: model must be one of {MODELS}; got {model!r}.")
        normalise_targets([0.0], target)
        self.feature_names_in = tuple(names)
        self.model_name = model
        self.target = target
        self.seed = seed
        self.model_options = dict(model_options or {})
        self._cache: dict[str, dict[str, float]] = {}
        self._columns: list[str] | None = None
        self._model: Any = None

    def to_json(self, **kwargs: Any) -> dict[str, Any]:
        """A JSON description of the settings (what a search's ``config.json`` records)."""
        del kwargs
        return {
            "_type": f"{type(self).__module__}.{type(self).__name__}",
            "features": list(self.feature_names_in),
            "model": self.model_name,
            "target": self.target,
            "seed": self.seed,
            "model_options": json.loads(json.dumps(self.model_options, default=repr)),
        }

    def __repr__(self) -> str:
        return (
            f"Surrogate(features={self.feature_names_in}, model={self.model_name!r}, "
            f"target={self.target!r}, seed={self.seed})"
        )

    def _row(self, spec: Any) -> dict[str, float]:
        if isinstance(spec, pg.Symbolic):
            spec = pg.to_json(spec)
        key = json.dumps(spec, sort_keys=True)
        row = self._cache.get(key)
        if row is None:
            row = {}
            for feature in self.features:
                row.update(feature(spec))
            self._cache[key] = row
        return row

    def encode(self, specs: Iterable[Any]) -> np.ndarray:
        """The feature matrix of ``specs`` (columns fixed by the first ``fit``)."""
        rows = [self._row(s) for s in specs]
        if self._columns is None:
            raise ValueError("Surrogate: call fit(specs, targets) before predict/encode.")
        return np.array([[r.get(c, np.nan) for c in self._columns] for r in rows], dtype=float)

    @property
    def columns(self) -> list[str]:
        """Feature names, in column order (after ``fit``)."""
        return list(self._columns or [])

    def fit(self, specs: Sequence[Any], targets: Sequence[float]) -> Surrogate:
        """Fits the regressor on specs and their (normalised) targets; returns ``self``."""
        specs = list(specs)
        if len(specs) != len(targets) or len(specs) < 2:
            raise ValueError(
                f"Surrogate.fit: needs at least 2 specs and one target each; got {len(specs)} "
                f"specs and {len(targets)} targets."
            )
        rows = [self._row(s) for s in specs]
        self._columns = sorted({k for r in rows for k in r})
        x = self.encode(specs)
        y = normalise_targets(targets, self.target)
        self._model = _regressor(self.model_name, self.seed, self.model_options).fit(x, y)
        return self

    def predict(self, specs: Iterable[Any]) -> np.ndarray:
        """Predicted (normalised) targets of ``specs``."""
        if self._model is None:
            raise ValueError("Surrogate: call fit(specs, targets) before predict.")
        specs = list(specs)
        if not specs:
            return np.zeros(0)
        return np.asarray(self._model.predict(self.encode(specs)), dtype=np.float64)

    def for_task(
        self,
        features: Iterable[str | FeatureFn],
        *,
        zc_batch: tuple[Any, Any] | None = None,
        zc_proxies: Sequence[str] = ZC_PROXIES,
        zc_build: Callable[[Any], Any] | None = None,
    ) -> Surrogate:
        """This fitted surrogate with its features computed for another task (transfer).

        ``features`` must produce the same feature names as the ones it was fitted with (e.g.
        ``"zc"`` with the new task's batch, or a look-up of that task's proxy scores).
        """
        if self._model is None:
            raise ValueError("Surrogate.for_task: fit the surrogate on the source task first.")
        other = copy.copy(self)
        other.features, _ = _sources(features, zc_batch, zc_proxies, zc_build, self.seed)
        other._cache = {}
        return other

    def objective(self, metric: str = "accuracy") -> Callable[[Any], dict[str, float]]:
        """A cheap objective for ``flows.search``: ``spec -> {metric: prediction}``."""

        def predicted(spec: Any) -> dict[str, float]:
            return {metric: float(self.predict([spec])[0])}

        return predicted


@pg.members(
    [
        ("base", pg.typing.Object(SearchAlgorithm), "The sampling algorithm to filter."),
        ("surrogate", pg.typing.Any(), "A Surrogate (refitted during the search)."),
        ("candidates", pg.typing.Int(min_value=1, default=4), "Proposals per evaluated trial."),
        ("warmup", pg.typing.Int(min_value=2, default=20), "Trials evaluated before filtering."),
        ("refit_every", pg.typing.Int(min_value=1, default=20), "Trials between refits."),
        ("space", pg.typing.Any(default=None), "The space, to decode outside flows.search."),
        (
            "prefitted",
            pg.typing.Bool(default=False),
            "The surrogate comes fitted and is never refitted: every trial is filtered.",
        ),
    ]
)
class SurrogateFilter(SearchAlgorithm):
    """Wraps a sampling algorithm: proposes ``candidates`` times as many candidates from it and
    keeps the ones the surrogate predicts best.

    The first ``warmup`` trials pass through unfiltered; then the surrogate is fitted on every
    evaluated trial's reward (the wrapped algorithm's objective, in maximisation form) and
    refitted each ``refit_every`` trials. Only the kept candidates are fed back to the wrapped
    algorithm, so it must accept feedback on a subset of its proposals (random search, regularized
    evolution). Proposals depend only on the seed and the feedback, so a resumed search replays
    exactly. ``seed`` (or the search's seed) seeds the wrapped algorithm unless it has its own.
    With ``prefitted=True`` the surrogate was fitted before the search (e.g. EQ-Net's predictor
    on supernet accuracies): it filters from the first trial and is never refitted.
    """

    def _on_bound(self) -> None:
        super()._on_bound()
        if not hasattr(self.surrogate, "fit") or not hasattr(self.surrogate, "predict"):
            raise TypeError(
                "SurrogateFilter: 'surrogate' must have fit(specs, targets) and predict(specs) "
                f"(an algorithms.Surrogate); got {type(self.surrogate).__name__}."
            )

    def objectives(self) -> Objectives:
        return self.base.objectives()

    def _reset(self) -> None:
        from symnas.spaces.codec import compile as compile_space

        decoder = self._codec
        if decoder.space is None:
            if self.space is None:
                raise ValueError(
                    "SurrogateFilter: the surrogate needs decoded specs; run it through "
                    "flows.search (which binds the compiled space) or pass space=."
                )
            decoder = compile_space(self.space)
        self._decoder = decoder
        seed = self.seed if self.seed is not None else getattr(self, "_default_seed", None)
        self.base.bind(self._codec, seed)
        self._specs: list[Any] = []
        self._targets: list[float] = []
        self._fitted_at = 0

    def _propose_genomes(self, n: int) -> np.ndarray:
        if self._fitted_at == 0 and not self.prefitted:
            return self.base.propose_batch(n)
        pool = self.base.propose_batch(n * self.candidates)
        scores = self.surrogate.predict([self._decoder.decode(g) for g in pool])
        order = np.argsort(-scores, kind="stable")
        kept: list[int] = []
        seen: set[bytes] = set()
        for i in order:
            key = self._codec.key(pool[i])
            if key not in seen:
                kept.append(int(i))
                seen.add(key)
            if len(kept) == n:
                break
        for i in order:  # fewer distinct candidates than n: repeat the best ones
            if len(kept) == n:
                break
            kept.append(int(i))
        return pool[kept]

    def _update(self, genomes, rewards, violations) -> None:
        self.base._update(genomes, rewards, violations)
        self.base._num_feedbacks += len(genomes)
        if self.prefitted:
            return
        for genome, reward in zip(genomes, rewards, strict=True):
            if reward is not None:
                self._specs.append(self._decoder.decode(genome))
                self._targets.append(float(reward[0]))
        count = len(self._targets)
        due = self._fitted_at == 0 or count - self._fitted_at >= self.refit_every
        if count >= self.warmup and due:
            self.surrogate.fit(self._specs, self._targets)
            self._fitted_at = count
