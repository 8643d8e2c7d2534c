"""The calibrated latency model's edges: which element-wise rows count as activations, an op
whose output reaches nothing at all or carries no gradient, features on several devices at once,
the prior of cells without any analytical cycles, and the smallest calibration split."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from symnas.programs.cost import hardware_layers, latency_model
from symnas.programs.cost.latency_model import (
    FEATURE_NAMES,
    MIN_CELLS,
    CalibratedLatencyModel,
    calibration_split,
    dead_modules,
    kernel_features,
    kernel_kinds,
)
from symnas.programs.families.cell_ops import Zero


class _Mixed(nn.Module):
    """A convolution, activations, a ``none`` op and two element-wise adds of its own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.zero = Zero(1)
        self.soft = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv(x))
        return self.soft(y + self.zero(y)) + y


class _Discarded(nn.Module):
    """A branch computed and thrown away: its output has no path to the result."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Conv2d(3, 4, 1)
        self.discarded = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.discarded(x)
        return self.used(x)


class _Masked(nn.Module):
    """A convolution gated by a sign mask: the mask module's output carries no gradient."""

    class Mask(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x > 0).float()

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.mask = self.Mask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.mask(y)


def test_only_rows_run_by_activation_modules_are_activations():
    net = _Mixed()
    table = hardware_layers.layers(net, (3, 8, 8))
    kinds = dict(zip(table.names, kernel_kinds(net, table), strict=True))
    assert kinds == {
        "conv": "gemm",
        "act": "activation",
        "zero": "zero",
        "_Mixed": "eltwise",  # the adds of the model's own forward are plain element-wise ops
        "soft": "activation",
        "_Mixed#2": "eltwise",
    }


def test_an_op_whose_output_reaches_nothing_is_dead():
    assert dead_modules(_Discarded(), (3, 4, 4)) == {"discarded"}


def test_an_op_without_gradient_is_neither_dead_nor_an_error():
    assert dead_modules(_Masked(), (3, 4, 4)) == set()


def test_features_on_several_devices_are_the_features_on_each():
    net = _Mixed()
    both = kernel_features(net, (3, 8, 8), ["fpga", "generic"])
    assert both.shape == (2, len(FEATURE_NAMES))
    assert np.array_equal(both[0], kernel_features(net, (3, 8, 8), ["fpga"])[0])
    assert np.array_equal(both[1], kernel_features(net, (3, 8, 8), ["generic"])[0])
    assert not np.array_equal(both[0], both[1])


def test_the_calibration_split_takes_as_few_as_the_fewest_cells():
    first, rest = calibration_split(20, MIN_CELLS)
    assert len(first) == MIN_CELLS and len(rest) == 20 - MIN_CELLS


def test_cells_without_analytical_cycles_give_a_zero_prior_and_finite_rates():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, size=(8, len(FEATURE_NAMES)))
    cycles = [i for i, name in enumerate(FEATURE_NAMES) if name.endswith("_cycles")]
    x[:, cycles] = 0.0  # no compute or stall cycles: the analytical latency is zero everywhere
    y = x.sum(axis=1)
    model = CalibratedLatencyModel("generic").fit_features(x, y)
    scale = latency_model._column_scale(x)
    assert np.all(model._prior(x / scale, y, scale) == 0.0)
    rates = np.array([model.coefficients[name] for name in FEATURE_NAMES])
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0.0)
    assert np.allclose(model.predict_features(x), y, rtol=0.05)
