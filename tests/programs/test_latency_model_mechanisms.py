"""The calibrated latency model's fit: non-negative rates at every ridge strength, each the
optimum of its penalised problem, and the strength chosen by leave-one-out error.

Every rate is a time per cycle, byte or kernel, so none may be negative, whichever ridge
strength cross-validation picks; the truth below has negative coefficients, so an unconstrained
solve would return some. At a non-negative optimum of ``|X c - y|^2 + alpha n |c - prior|^2``
(scaled features) the gradient vanishes on the positive rates and is non-negative on the zero
ones (the Karush-Kuhn-Tucker conditions).
"""

from __future__ import annotations

import numpy as np
import pytest

from symnas.programs.cost import latency_model
from symnas.programs.cost.latency_model import ALPHAS, FEATURE_NAMES, CalibratedLatencyModel


def _problem(n_cells: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random non-negative features; latencies from coefficients of both signs plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 5.0, size=(n_cells, len(FEATURE_NAMES)))
    x[:, -1] = 1.0
    coef = rng.normal(0.0, 1.0, len(FEATURE_NAMES))
    y = x @ coef
    y = y - y.min() + 1.0 + rng.uniform(0.0, 0.5, n_cells)  # positive latencies
    return x, y


@pytest.mark.parametrize("n_cells", [8, 60])
@pytest.mark.parametrize("alpha", (0.0, *ALPHAS))
def test_every_ridge_strength_gives_non_negative_optimal_rates(alpha, n_cells):
    x, y = _problem(n_cells, seed=n_cells)
    model = CalibratedLatencyModel("generic", alphas=(alpha,)).fit_features(x, y)
    assert model.alpha == alpha
    rates = np.array([model.coefficients[name] for name in FEATURE_NAMES])
    assert np.all(rates >= 0.0)
    # KKT conditions of the penalised problem on the scaled features.
    scale = latency_model._column_scale(x)
    xs = x / scale
    prior = model._prior(xs, y, scale)
    c = rates * scale
    gradient = 2 * xs.T @ (xs @ c - y) + 2 * alpha * n_cells * (c - prior)
    tolerance = 1e-6 * (np.abs(xs).sum() * np.abs(y).max() + alpha * n_cells * np.abs(prior).sum())
    positive = c > 1e-9
    assert np.all(np.abs(gradient[positive]) <= tolerance)
    assert np.all(gradient[~positive] >= -tolerance)


def test_the_strength_with_the_lowest_leave_one_out_error_is_chosen():
    x, y = _problem(12, seed=3)
    model = CalibratedLatencyModel("generic").fit_features(x, y)
    scale = latency_model._column_scale(x)
    xs = x / scale
    prior = model._prior(xs, y, scale)
    errors = [latency_model._loo_error(xs, y, prior, a) for a in ALPHAS]
    assert model.alpha == ALPHAS[int(np.argmin(errors))]
    assert len(set(np.round(errors, 12))) > 1  # the choice is not a tie
    rates = np.array([model.coefficients[name] for name in FEATURE_NAMES])
    assert np.all(rates >= 0.0)
