"""Which decisions matter: cross-validated permutation importance of a random forest.

The decisions are the leaves of the decoded specs (every list item a leaf) whose values differ
among the scored trials; a categorical leaf is coded by the rank of its value's text, a numeric one
kept as is. A scikit-learn ``RandomForestRegressor`` (``IMPORTANCE_TREES`` trees, leaves of at
least 2 trials, seed 0) predicts the first objective (maximisation form) from them. Each of
``FOLDS`` folds is held out in turn: the forest fitted on the other folds is scored (R^2) on it,
then again with one decision's column shuffled (``REPEATS`` times); a decision's importance is
the mean drop of R^2 over folds and repeats (Breiman 2001; scikit-learn's
``permutation_importance``), so it measures what the forest predicts on unseen trials, not what
it memorised. Impurity importance is not used: it favours decisions with many values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from symnas.flows.report import readable

IMPORTANCE_TREES = 50
FOLDS = 4
REPEATS = 5
#: Fewer scored trials than this give no importance (the page says so).
MIN_TRIALS = 20
#: At most this many trials (a seeded sample) train the forests of a long search.
MAX_TRIALS = 2000


@dataclass
class Decisions:
    """The decisions that vary among some trials: per decision, each trial's value as text."""

    names: list[str]
    labels: list[list[str]]

    def column(self, name: str) -> list[str]:
        """Every trial's value of decision ``name``."""
        return self.labels[self.names.index(name)]


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of a spec by dotted path, list items each a leaf of its own (``edges[2]``:
    a cell's edges are six decisions, not one); ``_type`` keys left out."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k != "_type":
                out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(leaves(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def decisions(specs: list[Any]) -> Decisions:
    """The varying leaves of ``specs`` with each spec's value as readable text."""
    flat = [leaves(spec) for spec in specs]
    paths = list(dict.fromkeys(p for f in flat for p in f))
    texts: dict[tuple[type, Any], str] = {}

    def text(value: Any) -> str:  # leaves repeat: each distinct scalar is written once
        if not isinstance(value, (str, int, float, bool, type(None))):
            return readable(value)
        key = (type(value), value)
        if key not in texts:
            texts[key] = readable(value)
        return texts[key]

    names, labels = [], []
    for path in paths:
        column = [text(f.get(path, "-")) for f in flat]
        if len(set(column)) > 1:
            names.append(path)
            labels.append(column)
    return Decisions(names, labels)


def _features(specs: list[Any], names: list[str]) -> np.ndarray:
    """One row per spec, one column per decision: numbers as they are, other values by rank."""
    flat = [leaves(spec) for spec in specs]
    columns = []
    for name in names:
        raw = [f.get(name) for f in flat]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            columns.append(np.array(raw, dtype=np.float64))
        else:
            keys = [json.dumps(v, sort_keys=True) for v in raw]
            codes = {k: i for i, k in enumerate(sorted(set(keys)))}
            columns.append(np.array([codes[k] for k in keys], dtype=np.float64))
    return np.stack(columns, axis=1)


def permutation_importance(
    specs: list[Any], target: np.ndarray, names: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and standard deviation (over folds and repeats) of each decision's drop in held-out
    R^2; None with fewer than ``MIN_TRIALS`` trials, no varying decision or a constant target."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance as permute
    from sklearn.model_selection import KFold

    target = np.asarray(target, dtype=np.float64)
    if len(specs) < MIN_TRIALS or not names or np.ptp(target) == 0:
        return None
    rng = np.random.default_rng(0)
    if len(specs) > MAX_TRIALS:
        keep = np.sort(rng.choice(len(specs), MAX_TRIALS, replace=False))
        specs, target = [specs[i] for i in keep], target[keep]
    features = _features(specs, names)
    drops = []
    for train, held_out in KFold(FOLDS, shuffle=True, random_state=0).split(features):
        forest = RandomForestRegressor(
            n_estimators=IMPORTANCE_TREES, min_samples_leaf=2, random_state=0, n_jobs=1
        )
        forest.fit(features[train], target[train])
        result = permute(
            forest, features[held_out], target[held_out], n_repeats=REPEATS, random_state=0
        )
        drops.append(result.importances)
    every = np.concatenate(drops, axis=1)
    return np.nan_to_num(np.nanmean(every, axis=1)), np.nan_to_num(np.nanstd(every, axis=1))
