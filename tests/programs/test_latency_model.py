"""Tests of the calibrated kernel-level latency model."""

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.programs.cost import hardware, latency_model
from symnas.programs.cost.latency_model import (
    FEATURE_NAMES,
    CalibratedLatencyModel,
    calibration_split,
    dead_modules,
    kernel_features,
)

TINY = {"C": 4, "N": 1}
CONV_INTO_NONE = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|"
CONV_INTO_SKIP = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|skip_connect~1|none~2|"


def synthetic(n_cells: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random non-negative features and sparse non-negative true coefficients."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 5.0, size=(n_cells, len(FEATURE_NAMES)))
    x[:, -1] = 1.0
    coef = np.where(rng.random(len(FEATURE_NAMES)) < 0.3, rng.uniform(0.1, 2.0), 0.0)
    coef[-1] = 0.5
    return x, coef


def feature(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_NAMES.index(name)])


def test_fit_recovers_known_coefficients():
    x, coef = synthetic(80)
    model = CalibratedLatencyModel("generic", alphas=(0.0, 1.0)).fit_features(x, x @ coef)
    assert model.alpha == 0.0  # an exact fit: cross-validation needs no shrinkage
    fitted = np.array([model.coefficients[name] for name in FEATURE_NAMES])
    np.testing.assert_allclose(fitted, coef, atol=1e-6)
    assert min(fitted) >= 0.0


def test_coefficients_stay_non_negative_when_the_truth_is_not():
    x, coef = synthetic(80, seed=1)
    coef[0] = -1.0
    model = CalibratedLatencyModel("generic", alphas=(0.0,)).fit_features(x, x @ coef + 50.0)
    assert min(model.coefficients.values()) >= 0.0


def test_few_cells_lean_on_the_rescaled_analytical_prior():
    x, _ = synthetic(8, seed=2)
    prior = latency_model.analytical_latency_ms(x, "generic")
    model = CalibratedLatencyModel("generic", alphas=(1e6,)).fit_features(x, 3.0 * prior)
    np.testing.assert_allclose(model.predict_features(x), 3.0 * prior, rtol=1e-3)


def test_calibration_and_held_out_cells_never_overlap():
    for seed in range(5):
        calibration, held_out = calibration_split(40, 10, seed)
        assert len(calibration) == 10 and len(held_out) == 30
        assert not set(calibration) & set(held_out)
        assert sorted({*calibration, *held_out}) == list(range(40))
    assert not np.array_equal(calibration_split(40, 10, 0)[0], calibration_split(40, 10, 1)[0])


def test_save_load_round_trip(tmp_path):
    x, coef = synthetic(30, seed=3)
    model = CalibratedLatencyModel("pixel3").fit_features(x[:20], x[:20] @ coef)
    model.save(tmp_path / "pixel3.json")
    loaded = CalibratedLatencyModel.load(tmp_path / "pixel3.json")
    assert loaded.device == model.device and loaded.device_name == "pixel3"
    assert loaded.alpha == model.alpha and loaded.coefficients == model.coefficients
    np.testing.assert_array_equal(loaded.predict_features(x[20:]), model.predict_features(x[20:]))


def test_bad_input_gets_clear_errors():
    x, coef = synthetic(10)
    with pytest.raises(ValueError, match="unknown device 'tpu9'.*known devices"):
        CalibratedLatencyModel("tpu9")
    with pytest.raises(ValueError, match="at least 5 calibration candidates"):
        CalibratedLatencyModel().fit_features(x[:3], (x @ coef)[:3])
    bad = x @ coef
    bad[4] = np.nan
    with pytest.raises(ValueError, match=r"latencies_ms must be finite.*positions \[4\]"):
        CalibratedLatencyModel().fit_features(x, bad)
    with pytest.raises(ValueError, match="9 values for 10"):
        CalibratedLatencyModel().fit_features(x, (x @ coef)[:9])
    with pytest.raises(ValueError, match="features must have shape"):
        CalibratedLatencyModel().fit_features(x[:, :5], x @ coef)
    with pytest.raises(RuntimeError, match="call fit before predict"):
        CalibratedLatencyModel().predict_features(x)
    with pytest.raises(ValueError, match="k must be in"):
        calibration_split(10, 10)


def test_kernels_that_only_feed_none_edges_are_dead():
    dead_net = programs.build(spaces.nb201_arch(CONV_INTO_NONE, **TINY))
    live_net = programs.build(spaces.nb201_arch(CONV_INTO_SKIP, **TINY))
    dead = dead_modules(dead_net, (3, 8, 8))
    assert {f"cells.0.edges.0.{i}" for i in range(3)} <= dead  # ReLU, conv, BN of edge 0
    assert not any(name.startswith("cells.0.edges.0") for name in dead_modules(live_net, (3, 8, 8)))
    assert "stem.0" not in dead and "classifier" not in dead
    assert dead_net.training  # the module's mode is restored


def test_kernel_features_group_rows_by_kind_and_liveness():
    dead_net = programs.build(spaces.nb201_arch(CONV_INTO_NONE, **TINY))
    live_net = programs.build(spaces.nb201_arch(CONV_INTO_SKIP, **TINY))
    dead_row, live_row = (
        kernel_features(net, (3, 8, 8), ["generic"])[0] for net in (dead_net, live_net)
    )
    assert feature(dead_row, "dead_gemm.kernels") == 3  # the edge-0 conv in each of 3 cells
    assert feature(live_row, "dead_gemm.kernels") == 0
    assert feature(dead_row, "gemm.kernels") + 3 == feature(live_row, "gemm.kernels")
    # Three none edges per cell; the one into node 2 is dead too (only a none edge reads node 2).
    assert feature(dead_row, "zero.kernels") == 6 and feature(dead_row, "dead_zero.kernels") == 3
    assert feature(live_row, "activation.kernels") > 0 and feature(dead_row, "per_inference") == 1
    total = hardware.cost(dead_net, (3, 8, 8), latency_model.DEVICES["generic"])
    analytical = latency_model.analytical_latency_ms(dead_row[None], "generic")
    np.testing.assert_allclose(analytical, [total["latency_ms"]], rtol=1e-9)


def test_fit_and_predict_from_specs_and_modules():
    torch.manual_seed(0)
    archs = [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
        "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|none~1|none~2|",
        CONV_INTO_NONE,
        CONV_INTO_SKIP,
        "|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    ]
    specs = [spaces.nb201_arch(a, **TINY) for a in archs]
    model = CalibratedLatencyModel("generic", input_shape=(3, 8, 8))
    x = model.features(specs)
    truth = 2.0 * latency_model.analytical_latency_ms(x, "generic") + 0.01 * x[:, -1]
    model.fit(specs, truth)
    modules = [programs.build(s) for s in specs]
    np.testing.assert_allclose(model.predict(modules), truth, rtol=0.05)
