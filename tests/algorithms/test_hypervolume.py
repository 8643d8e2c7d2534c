"""Exact hypervolume: boxes by hand, the 2-D sweep of the hardware flow, Monte Carlo in 3-D and
4-D, and points that add nothing."""

from __future__ import annotations

import numpy as np
import pytest

from symnas.algorithms.pareto import hypervolume


def test_unions_of_boxes_by_hand():
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), np.zeros(3)) == pytest.approx(6.0)
    two = np.array([[1.0, 1.0, 2.0], [2.0, 2.0, 1.0]])  # 2 + 4 - the shared unit cube
    assert hypervolume(two, np.zeros(3)) == pytest.approx(5.0)
    assert hypervolume(np.array([[3.0], [5.0]]), np.array([1.0])) == pytest.approx(4.0)


def test_two_objectives_match_the_hardware_flows_sweep():
    from symnas.flows.hw_flow import hypervolume_2d

    points = np.random.default_rng(0).random((40, 2))
    assert hypervolume(points, np.array([0.1, 0.2])) == pytest.approx(
        hypervolume_2d(points, (0.1, 0.2))
    )


@pytest.mark.parametrize("dims", [3, 4])
def test_matches_a_monte_carlo_estimate(dims):
    rng = np.random.default_rng(dims)
    points = rng.random((15, dims))
    samples = rng.random((200_000, dims))
    covered = np.zeros(len(samples), dtype=bool)
    for p in points:
        covered |= np.all(samples <= p, axis=1)
    estimate = covered.mean()
    spread = 4 * np.sqrt(estimate * (1 - estimate) / len(samples))
    assert abs(hypervolume(points, np.zeros(dims)) - estimate) < spread


def test_dominated_points_and_points_behind_the_reference_add_nothing():
    front = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    extra = np.array([[1.0, 1.0, 1.0], [5.0, 5.0, -1.0]])
    reference = np.zeros(3)
    assert hypervolume(np.vstack([front, extra]), reference) == hypervolume(front, reference)
    assert hypervolume(np.zeros((0, 3)), reference) == 0.0


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="points must be \\(n, m\\) and reference \\(m,\\)"):
        hypervolume(np.ones((2, 3)), np.zeros(2))
