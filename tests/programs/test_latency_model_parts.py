"""The calibrated latency model's edges: the fewest calibration cells it takes, the latencies it
refuses, its description before a fit, and the seeded calibration split."""

from __future__ import annotations

import numpy as np
import pytest

from symnas.programs.cost.latency_model import (
    FEATURE_NAMES,
    MIN_CELLS,
    CalibratedLatencyModel,
    calibration_split,
)


def _features(n: int) -> np.ndarray:
    return np.random.default_rng(0).random((n, len(FEATURE_NAMES))) + 0.1


def test_fits_on_exactly_the_fewest_cells_and_refuses_one_fewer():
    x = _features(MIN_CELLS)
    y = x.sum(axis=1)
    model = CalibratedLatencyModel("fpga").fit_features(x, y)
    assert model.predict_features(x).shape == (MIN_CELLS,)
    with pytest.raises(ValueError, match=f"at least {MIN_CELLS} calibration candidates"):
        CalibratedLatencyModel("fpga").fit_features(x[:-1], y[:-1])


def test_a_zero_or_missing_latency_is_refused_by_position():
    x = _features(6)
    for bad in (0.0, float("nan")):
        y = x.sum(axis=1)
        y[2] = bad
        with pytest.raises(ValueError, match=r"finite and > 0; bad values at positions \[2\]"):
            CalibratedLatencyModel("fpga").fit_features(x, y)


def test_an_unfitted_model_describes_itself_without_coefficients():
    model = CalibratedLatencyModel("fpga")
    assert model.to_json()["coefficients"] is None
    x = _features(6)
    model.fit_features(x, x.sum(axis=1))
    assert sorted(model.to_json()["coefficients"]) == sorted(FEATURE_NAMES)


def test_the_calibration_split_is_seeded_and_partitions_the_cells():
    first, rest = calibration_split(40, 10, seed=3)
    again, _ = calibration_split(40, 10, seed=3)
    assert np.array_equal(first, again) and len(first) == 10
    assert sorted(np.concatenate([first, rest]).tolist()) == list(range(40))
    assert np.array_equal(calibration_split(40, 10)[0], calibration_split(40, 10, seed=0)[0])
    assert not np.array_equal(calibration_split(40, 10, seed=4)[0], first)
