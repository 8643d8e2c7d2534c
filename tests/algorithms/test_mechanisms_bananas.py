"""BANANAS (White et al. 2021): the mechanisms behind its proposals.

After the random start, each plan fits the ensemble and queues the ``k`` candidates with the
best acquisition values: independent Thompson sampling (one draw from ``N(mean, std)`` per
candidate) or UCB (``mean + beta * std``). The ensemble's members start from different seeds,
so their predictions spread and the acquisition is not the ensemble mean. The space is flat
(eight decisions of six values); the objective prefers large values.
"""

from __future__ import annotations

import copy

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces

SPACE = pg.Dict(**{f"d{i}": pg.oneof(list(range(6))) for i in range(8)})
SETTINGS = {"num_init": 12, "k": 4, "num_ensemble": 3, "num_layers": 1, "layer_width": 8}


def _fed(acquisition: str, seed: int = 0) -> algorithms.BANANAS:
    """BANANAS after its ``num_init`` random trials have been fed back."""
    algo = algorithms.BANANAS(
        metric="f", acquisition=acquisition, ucb_beta=2.0, epochs=40, seed=seed, **SETTINGS
    )
    algo.bind(spaces.compile(SPACE), seed)
    genomes = algo.propose_batch(SETTINGS["num_init"])
    algo.feedback_batch(genomes, [{"f": float(g.sum() + g[0] * g[1])} for g in genomes])
    return algo


def _recorded_plan(algo: algorithms.BANANAS):
    """Runs one plan, recording the candidates, the ensemble's mean and spread, and the
    generator as it was when the acquisition drew from it."""
    seen = {}
    predict = algo._predict

    def spy(candidates):
        mean, std = predict(candidates)
        seen.update(candidates=candidates, mean=mean, std=std, rng=copy.deepcopy(algo._rng))
        return mean, std

    algo._predict = spy
    assert algo._plan()
    return seen


def _top(score: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-score, kind="stable")[:k])


def _queued(algo, candidates) -> list[int]:
    keys = [algo.codec.key(c) for c in candidates]
    return [keys.index(algo.codec.key(q)) for q in algo._queue]


@pytest.mark.parametrize("acquisition", ["its", "ucb"])
def test_the_queue_holds_the_candidates_with_the_best_acquisition_values(acquisition):
    algo = _fed(acquisition)
    plan = _recorded_plan(algo)
    mean, std = plan["mean"], plan["std"]
    if acquisition == "its":
        score = mean + std * plan["rng"].standard_normal(len(mean))
    else:
        score = mean + 2.0 * std
    queued = _queued(algo, plan["candidates"])
    assert queued == _top(score, SETTINGS["k"])
    # The acquisition reorders the ensemble mean's ranking: the spread matters.
    assert queued != _top(mean, SETTINGS["k"])


def test_ensemble_members_differ_so_their_predictions_spread():
    algo = _fed("its")
    plan = _recorded_plan(algo)
    assert np.all(plan["std"] > 0)
    assert plan["std"].mean() > 1e-3


def test_the_next_proposals_are_the_queued_candidates_in_order():
    algo = _fed("ucb")
    plan = _recorded_plan(algo)
    queue = [q.copy() for q in algo._queue]
    proposals = algo.propose_batch(SETTINGS["k"])
    assert [algo.codec.key(p) for p in proposals] == [algo.codec.key(q) for q in queue]
    # Candidates are one-decision mutations of the best trials, never proposed before.
    parents = np.stack(algo._genomes)[np.argsort(-np.array(algo._values))[:2]]
    for candidate in plan["candidates"]:
        assert min(np.sum(candidate != p) for p in parents) == 1
        assert not any(np.array_equal(candidate, g) for g in algo._genomes)


def test_the_model_is_first_consulted_after_num_init_random_trials():
    """Proposed and fed back one at a time: the first ``num_init`` proposals are random draws
    (no plan, although two or more results exist from the third on); the next one is planned."""
    algo = algorithms.BANANAS(metric="f", epochs=5, seed=1, **SETTINGS)
    algo.bind(spaces.compile(SPACE), 1)
    plans = []
    plan = algo._plan
    algo._plan = lambda: plans.append(len(algo._genomes)) or plan()
    for _ in range(SETTINGS["num_init"] + 1):
        genome = algo.propose_batch(1)
        algo.feedback_batch(genome, [{"f": float(genome[0].sum())}])
    assert plans == [SETTINGS["num_init"]]


class _SpyMLP:
    """Stands in for scikit-learn's MLPRegressor: records its settings and training data and
    predicts the first input feature."""

    made: list[dict] = []
    fitted: list[tuple[np.ndarray, np.ndarray]] = []

    def __init__(self, **settings):
        _SpyMLP.made.append(settings)

    def fit(self, x, y):
        _SpyMLP.fitted.append((np.array(x), np.array(y, dtype=np.float64)))
        return self

    def predict(self, x):
        return np.asarray(x, dtype=np.float64)[:, 0]


@pytest.fixture
def spy_mlp(monkeypatch):
    import sklearn.neural_network

    _SpyMLP.made, _SpyMLP.fitted = [], []
    monkeypatch.setattr(sklearn.neural_network, "MLPRegressor", _SpyMLP)
    return _SpyMLP


@pytest.mark.parametrize("constant", [False, True])
def test_members_train_on_standardised_targets_with_the_configured_network(spy_mlp, constant):
    algo = algorithms.BANANAS(metric="f", epochs=7, seed=2, **SETTINGS)
    algo.bind(spaces.compile(SPACE), 2)
    genomes = algo.propose_batch(SETTINGS["num_init"])
    values = [1.0 if constant else float(g.sum() + 3 * g[0]) for g in genomes]
    metrics = [{"f": v} for v in values]
    metrics[4] = None  # a failed trial in the middle of the batch: the others still count
    algo.feedback_batch(genomes, metrics)
    algo._plan()
    assert len(spy_mlp.made) == SETTINGS["num_ensemble"]
    for settings in spy_mlp.made:
        assert settings["hidden_layer_sizes"] == (SETTINGS["layer_width"],) * SETTINGS["num_layers"]
        assert settings["max_iter"] == 7 and settings["learning_rate_init"] == 0.01
        assert settings["alpha"] == 0.0
    assert len({s["random_state"] for s in spy_mlp.made}) == SETTINGS["num_ensemble"]
    x, y = spy_mlp.fitted[0]
    assert len(x) == len(y) == SETTINGS["num_init"] - 1
    kept = np.array([v for i, v in enumerate(values) if i != 4])
    if constant:
        assert np.array_equal(y, np.zeros(len(kept)))
    else:
        assert np.allclose(y, (kept - kept.mean()) / kept.std())


def test_the_encoding_setting_is_the_one_the_members_see(spy_mlp):
    nb201 = spaces.compile(spaces.nb201_cell())
    widths = {}
    for encoding in ("path", "onehot"):
        algo = algorithms.BANANAS(metric="f", encoding=encoding, seed=0, **SETTINGS)
        algo.bind(nb201, 0)
        genomes = algo.propose_batch(SETTINGS["num_init"])
        algo.feedback_batch(genomes, [{"f": float(g.sum())} for g in genomes])
        algo._plan()
        widths[encoding] = spy_mlp.fitted[-1][0].shape[1]
    assert widths == {"path": 155, "onehot": 30}
