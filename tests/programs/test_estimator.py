"""Supernet estimators: inherited accuracy as an objective, batched candidates, BN recalibration,
and any search algorithm over a trained supernet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symnas import flows, programs, spaces
from symnas.algorithms import RegularizedEvolution
from symnas.algorithms.samplers import UniformSampler
from symnas.programs.data import synthetic
from symnas.programs.training.estimator import SupernetEstimator, recalibrate_bn
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig


@pytest.fixture(scope="module")
def trained():
    space = spaces.nb201_cell(C=4, N=1, num_classes=3, in_chans=1)
    data = synthetic(120, (1, 8, 8), 3, seed=1, noise=0.5)
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    config = TrainConfig(epochs=4, optimizer="adam", lr=1e-2, batch_size=32)
    SupernetTrainer(
        supernet, data, config, sampler=UniformSampler(), space=space, device="cpu", progress=False
    ).fit()
    return space, supernet, data


def _specs(space, n: int, seed: int = 0):
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.distinct(n, np.random.default_rng(seed))]


def test_batched_scores_equal_one_at_a_time_and_programs_evaluate(trained):
    space, supernet, data = trained
    specs = _specs(space, 5)
    estimator = SupernetEstimator(supernet, data, batch_size=32, device="cpu")
    batched = estimator.evaluate_batch(specs + [specs[0]])
    single = [estimator(spec) for spec in specs]
    assert batched[:5] == single and batched[5] == batched[0]
    for spec, scores in zip(specs, single, strict=True):
        reference = programs.evaluate(supernet, data, forward=lambda m, x, s=spec: m(x, s))
        assert scores["accuracy"] == pytest.approx(reference["accuracy"])
        assert scores["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    assert len({s["loss"] for s in single}) > 1  # the candidates are told apart


def test_max_batches_and_recalibration(trained):
    space, supernet, data = trained
    spec = _specs(space, 1)[0]
    capped = SupernetEstimator(supernet, data, batch_size=8, max_batches=2, device="cpu")(spec)
    first = programs.data.Dataset(
        data.x_train, data.y_train, data.x_test[:16], data.y_test[:16], 3, (1, 8, 8), "first16"
    )
    reference = SupernetEstimator(supernet, first, batch_size=16, device="cpu")(spec)
    assert capped["accuracy"] == reference["accuracy"]
    assert capped["loss"] == pytest.approx(reference["loss"], rel=1e-6)
    shared_stats = {k: v.clone() for k, v in supernet.state_dict().items() if "running" in k}
    recalibrated = SupernetEstimator(supernet, data, recalibrate_batches=2, device="cpu")(spec)
    assert 0.0 <= recalibrated["accuracy"] <= 1.0
    after = {k: v for k, v in supernet.state_dict().items() if "running" in k}
    assert all(torch.equal(shared_stats[k], after[k]) for k in shared_stats)  # untouched
    model = recalibrate_bn(supernet, spec, data.loader("train", 32), max_batches=1)
    assert not model.training
    with pytest.raises(ValueError, match="gave no batches"):
        recalibrate_bn(supernet, spec, [])


def test_bad_options_are_named(trained):
    _, supernet, data = trained
    with pytest.raises(ValueError, match="split must be one of"):
        SupernetEstimator(supernet, data, split="valid")
    with pytest.raises(ValueError, match="candidates_per_call must be an int >= 1"):
        SupernetEstimator(supernet, data, candidates_per_call=0)
    with pytest.raises(TypeError, match="must be a programs.Supernet"):
        SupernetEstimator(torch.nn.Linear(2, 2), data)


class CountingEstimator(SupernetEstimator):
    """Counts the batched calls ``flows.search`` makes."""

    calls: list[int]

    def evaluate_batch(self, specs):
        self.calls.append(len(specs))
        return super().evaluate_batch(specs)


def test_any_algorithm_searches_a_trained_supernet_in_batches(trained, tmp_path):
    space, supernet, data = trained
    estimator = CountingEstimator(supernet, data, candidates_per_call=4, device="cpu")
    estimator.calls = []
    algorithm = RegularizedEvolution(population_size=8, tournament_size=3, metric="accuracy")
    result = flows.search(space, estimator, algorithm, budget=12, out=tmp_path, verbose=False)
    assert len(result.trials) == 12 and all(t.ok for t in result.trials)
    assert estimator.calls == [4, 4, 4]
    best = result.best
    assert best.metrics["accuracy"] == max(t.metrics["accuracy"] for t in result.trials)
    assert best.metrics == estimator(best.spec)
