"""The surrogate filter's parts: when it refits, which candidates it keeps, what it refuses;
and the Surrogate's description and objective."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.algorithms.surrogate import Surrogate, SurrogateFilter

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(3)])


class RecordingSurrogate:
    """Predicts the sum of a spec's choices; records how many specs each fit saw."""

    def __init__(self) -> None:
        self.fits: list[int] = []
        self.targets: list[list[float]] = []

    def fit(self, specs, targets):
        self.fits.append(len(specs))
        self.targets.append(list(targets))
        return self

    def predict(self, specs):
        return np.array([float(sum(s["x"])) for s in specs])


def _bound(surrogate, **settings) -> tuple[SurrogateFilter, spaces.Codec]:
    codec = spaces.compile(SPACE)
    algo = SurrogateFilter(base=algorithms.RandomSearch(), surrogate=surrogate, **settings)
    algo.bind(codec, 0)
    return algo, codec


def test_fits_after_warmup_then_every_refit_every_trials_not_counting_failures():
    surrogate = RecordingSurrogate()
    algo, codec = _bound(surrogate, candidates=2, warmup=4, refit_every=3)
    for step in range(12):
        genome = algo.propose_batch(1)
        failed = step in (2, 8)
        algo.feedback_batch(genome, [None if failed else {"f": float(step)}])
    # 10 successful trials: fitted at 4, then 3 successful trials later (7), then at 10.
    assert surrogate.fits == [4, 7, 10]
    assert surrogate.targets[0] == [0.0, 1.0, 3.0, 4.0]  # the failed trial 2 is left out


def test_keeps_the_predicted_best_distinct_candidates_of_the_pool():
    surrogate = RecordingSurrogate()
    algo, codec = _bound(surrogate, candidates=5, warmup=2, refit_every=100)
    for _ in range(2):
        algo.feedback_batch(algo.propose_batch(1), [{"f": 0.0}])
    # The next pool is the wrapped random search's next 4 * 5 proposals (same seed).
    twin = algorithms.RandomSearch()
    twin.bind(codec, 0)
    twin.propose_batch(2)
    pool = twin.propose_batch(20)
    sums = pool.sum(axis=1)
    kept = algo.propose_batch(4)
    assert len({codec.key(g) for g in kept}) == 4
    assert sorted(kept.sum(axis=1).tolist()) == sorted(np.sort(sums)[-4:].tolist())
    assert kept.sum(axis=1).tolist() == sorted(kept.sum(axis=1).tolist(), reverse=True)


def test_repeats_the_best_candidates_when_the_pool_has_too_few_distinct_ones():
    surrogate = RecordingSurrogate()
    algo, codec = _bound(surrogate, candidates=1, warmup=2, refit_every=100)
    for _ in range(2):
        algo.feedback_batch(algo.propose_batch(1), [{"f": 0.0}])
    pool = np.array([[1.0, 1, 1], [5, 5, 5], [5, 5, 5]])
    algo.base.propose_batch = lambda n: pool[:n]
    kept = algo.propose_batch(3)
    assert kept.tolist() == [[5, 5, 5], [1, 1, 1], [5, 5, 5]]


def test_an_object_without_fit_and_predict_is_refused():
    with pytest.raises(TypeError, match=r"fit\(specs, targets\) and predict\(specs\).*got str"):
        _bound("a surrogate")


def test_the_surrogate_description_and_objective():
    def score(spec):
        return {"s": float(sum(spec["x"]))}

    model = Surrogate(
        (score,), model="ridge", target="minmax", seed=4, model_options={"alpha": 0.5}
    )
    assert model.to_json() == {
        "_type": "symnas.algorithms.surrogate.Surrogate",
        "features": ["score"],
        "model": "ridge",
        "target": "minmax",
        "seed": 4,
        "model_options": {"alpha": 0.5},
    }
    specs = [{"x": [i, 0, 0]} for i in range(6)]
    model.fit(specs, [float(i) for i in range(6)])
    objective = model.objective()
    assert list(objective(specs[2])) == ["accuracy"]
    assert objective(specs[2])["accuracy"] == pytest.approx(model.predict([specs[2]])[0])
    assert model.objective("top1")(specs[5]) == {
        "top1": pytest.approx(model.predict([specs[5]])[0])
    }
