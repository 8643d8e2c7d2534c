"""Pareto utilities of NSGA-II (Deb, Pratap, Agarwal, Meyarivan, IEEE TEC 2002).

All objectives are in *maximisation* form: a larger value is better in every column.
Constraint violations are non-negative (0 means feasible) and follow Deb's constrained
domination: a feasible point beats an infeasible one, and of two infeasible points the one with
the smaller violation wins.
"""

from __future__ import annotations

import numpy as np


def dominates(
    a: np.ndarray, b: np.ndarray, violation_a: float = 0.0, violation_b: float = 0.0
) -> bool:
    """Whether point ``a`` constrained-dominates point ``b``."""
    if violation_a > 0 or violation_b > 0:
        if violation_a == 0:
            return True
        if violation_b == 0:
            return False
        return violation_a < violation_b
    return bool(np.all(a >= b) and np.any(a > b))


def domination_matrix(rewards: np.ndarray, violations: np.ndarray | None = None) -> np.ndarray:
    """``D[i, j]`` is True when point ``i`` constrained-dominates point ``j``."""
    rewards = np.asarray(rewards, dtype=np.float64)
    n = rewards.shape[0]
    if violations is None:
        violations = np.zeros(n)
    ge = np.all(rewards[:, None, :] >= rewards[None, :, :], axis=2)
    gt = np.any(rewards[:, None, :] > rewards[None, :, :], axis=2)
    pareto = ge & gt
    feasible = violations == 0
    both_feasible = feasible[:, None] & feasible[None, :]
    feasible_beats = feasible[:, None] & ~feasible[None, :]
    both_infeasible = ~feasible[:, None] & ~feasible[None, :]
    less_violation = violations[:, None] < violations[None, :]
    return (both_feasible & pareto) | feasible_beats | (both_infeasible & less_violation)


def non_dominated_sort(
    rewards: np.ndarray, violations: np.ndarray | None = None
) -> list[np.ndarray]:
    """Fast non-dominated sorting: the list of fronts (index arrays), best front first."""
    dom = domination_matrix(rewards, violations)
    dominated_count = dom.sum(axis=0)
    fronts = []
    current = np.flatnonzero(dominated_count == 0)
    remaining = dominated_count.copy()
    while current.size:
        fronts.append(current)
        remaining = remaining - dom[current].sum(axis=0)
        remaining[current] = -1
        current = np.flatnonzero(remaining == 0)
    return fronts


def crowding_distance(rewards: np.ndarray) -> np.ndarray:
    """Crowding distance of the points of one front (boundary points get infinity)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    n, m = rewards.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(rewards[:, k], kind="stable")
        values = rewards[order, k]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def pareto_front(rewards: np.ndarray, violations: np.ndarray | None = None) -> np.ndarray:
    """Indices (ascending) of the feasible points that no feasible point dominates.

    The first front of constrained non-dominated sorting, restricted to feasible points, in
    ``O(n log n + n * front)`` time and ``O(n)`` memory instead of an ``n x n`` domination
    matrix: points are visited in decreasing lexicographic order, so a point can only be
    dominated by one visited before it.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if violations is None:
        violations = np.zeros(rewards.shape[0])
    feasible = np.flatnonzero(violations == 0)
    points = rewards[feasible]
    if points.shape[1] == 1:
        return feasible[points[:, 0] == points[:, 0].max()] if feasible.size else feasible
    order = np.lexsort(points.T[::-1])[::-1]
    front: list[int] = []
    for i in order:
        p = points[i]
        if front:
            kept = points[front]
            if np.any(np.all(kept >= p, axis=1) & np.any(kept > p, axis=1)):
                continue
        front.append(i)
    return np.sort(feasible[front])


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` (maximisation in every column) and bounded below by
    ``reference``: exact, by slicing along the last objective (the HSO scheme of While, Hingston,
    Barone & Huband, IEEE TEC 2006), recursively down to one dimension. Points not strictly
    better than ``reference`` in every column add nothing."""
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if points.ndim != 2 or reference.shape != (points.shape[1],):
        raise ValueError(
            f"hypervolume: points must be (n, m) and reference (m,); got {points.shape} and "
            f"{reference.shape}."
        )
    points = points[np.all(points > reference, axis=1)]
    return _sliced_volume(points, reference)


def _sliced_volume(points: np.ndarray, reference: np.ndarray) -> float:
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(points[:, 0].max() - reference[0])
    if points.shape[1] == 2:  # a sweep: O(n log n)
        ordered = points[np.argsort(-points[:, 0], kind="stable")]
        area, height = 0.0, reference[1]
        for x, y in ordered:
            if y > height:
                area += (x - reference[0]) * (y - height)
                height = y
        return float(area)
    levels = np.unique(points[:, -1])[::-1]  # descending
    volume = 0.0
    for k, level in enumerate(levels):
        below = levels[k + 1] if k + 1 < len(levels) else reference[-1]
        above = points[points[:, -1] >= level, :-1]
        volume += _sliced_volume(above, reference[:-1]) * (level - below)
    return float(volume)
