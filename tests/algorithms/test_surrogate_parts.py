"""The Surrogate's parts: target normalisation worked by hand, the regressor each model name
and option builds, the feature cache, the fit's size check, transfer to another task's features,
and the zero-cost features' network builder and seed."""

from __future__ import annotations

import functools

import numpy as np
import pyglove as pg
import pytest
import torch

from symnas.algorithms.surrogate import Surrogate, ZeroCostFeatures, normalise_targets


def _first(spec) -> dict[str, float]:
    return {"a": float(spec["x"][0])}


def test_targets_as_ecdf_ranks_and_min_max_by_hand():
    y = [3.0, 1.0, 2.0, 2.0]
    assert normalise_targets(y, "raw").tolist() == y
    assert normalise_targets(y, "percentile").tolist() == [1.0, 0.25, 0.75, 0.75]
    assert normalise_targets(y, "minmax").tolist() == [1.0, 0.0, 0.5, 0.5]
    assert normalise_targets([2.0, 2.0], "minmax").tolist() == [0.0, 0.0]
    assert normalise_targets([1, 2], "minmax").dtype == np.float64
    with pytest.raises(ValueError, match="target must be one of"):
        normalise_targets(y, "rank")


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("random_forest", "RandomForestRegressor"),
        ("extra_trees", "ExtraTreesRegressor"),
        ("gradient_boosting", "HistGradientBoostingRegressor"),
    ],
)
def test_each_model_name_builds_its_regressor_with_the_seed_and_options(model, kind):
    options = {"max_iter": 7} if model == "gradient_boosting" else {"n_estimators": 7}
    specs = [{"x": [i, 0]} for i in range(6)]
    surrogate = Surrogate((_first,), model=model, seed=3, model_options=options)
    surrogate.fit(specs, [float(i) for i in range(6)])
    regressor = surrogate._model
    assert type(regressor).__name__ == kind and regressor.random_state == 3
    assert all(getattr(regressor, k) == v for k, v in options.items())


def test_features_are_cached_per_spec_whatever_its_key_order_or_form():
    calls = []

    def counted(spec):
        calls.append(spec)
        return {"a": float(spec["x"][0]), "b": float(spec["y"])}

    surrogate = Surrogate((counted,))
    surrogate.fit([{"x": [1], "y": 2}, {"y": 3, "x": [4]}], [0.0, 1.0])
    assert surrogate.encode([{"y": 2, "x": [1]}, pg.Dict(x=[4], y=3)]).tolist() == [
        [1.0, 2.0],
        [4.0, 3.0],
    ]
    assert len(calls) == 2 and all(isinstance(c, dict) for c in calls)


def test_fit_takes_two_specs_and_names_the_sizes_otherwise():
    surrogate = Surrogate((_first,), model="ridge")
    surrogate.fit([{"x": [0]}, {"x": [1]}], [0.0, 1.0])
    assert surrogate.predict([{"x": [1]}]).shape == (1,)
    with pytest.raises(ValueError, match="at least 2 specs and one target each; got 1 specs and 1"):
        Surrogate((_first,)).fit([{"x": [0]}], [0.0])


def test_transfer_computes_the_other_tasks_features():
    specs = [{"x": [i, 10 - i]} for i in range(8)]
    source = Surrogate((_first,), model="ridge").fit(specs, [float(i) for i in range(8)])
    with pytest.raises(ValueError, match="fit the surrogate on the source task first"):
        Surrogate((_first,)).for_task((_first,))

    def mirrored(spec):  # the same feature name, computed from the other coordinate
        return {"a": float(spec["x"][1])}

    target = source.for_task((mirrored,))
    assert np.allclose(target.predict([{"x": [0, 7]}]), source.predict([{"x": [7, 0]}]))
    assert source.predict([{"x": [7, 0]}])[0] > source.predict([{"x": [0, 7]}])[0]


def test_feature_sources_are_named_and_zero_cost_features_use_the_builder_and_seed():
    named = Surrogate((_first, functools.partial(_first)), model="ridge")
    assert named.feature_names_in == ("_first", "fn")
    built = []

    def build(spec):
        built.append(spec)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))

    batch = (torch.ones(3, 1, 2, 2), torch.tensor([0, 1, 0]))
    surrogate = Surrogate(
        ("zc",), zc_batch=batch, zc_proxies=("grad_norm",), zc_build=build, seed=5
    )
    (zc,) = surrogate.features
    assert isinstance(zc, ZeroCostFeatures) and zc.seed == 5 and zc.build_fn is build
    first = zc({"x": 1})
    assert built == [{"x": 1}] and list(first) == ["zc_grad_norm"]
    assert ZeroCostFeatures(batch, ("grad_norm",), build, seed=5)({"x": 1}) == first
    assert ZeroCostFeatures(batch, ("grad_norm",), build)({"x": 1}) == ZeroCostFeatures(
        batch, ("grad_norm",), build, seed=0
    )({"x": 1})
