"""Nested vs joint hardware x architecture search at the same number of evaluations.

ResNet20-pooling architectures (accuracy inherited from one supernet trained on digits, computed
once and shared by every method) x systolic accelerators (analytical cost model), area cap
2 mm2. Methods, each with ``outer * inner`` pair evaluations:
- nested: NSGA-II over hardware, regularized evolution over architectures (MnasNet reward);
- joint: NSGA-II over the product space;
- random: random search over the product space.
Printed per method: hypervolume of the feasible accuracy/latency front (reference point
accuracy 0.8, latency 0.5 ms), best feasible MnasNet reward and wall time, as the mean over every
(accuracy table, search seed) run with a 95% confidence interval (Student t), and the paired
differences between methods (same table and seed) with their intervals. ``--table-seeds``
supernets are trained (seeds 0, 1, ...), each searched with ``--seeds`` search seeds.

    python benchmarks/nested_vs_joint.py [--table-seeds 2] [--seeds 15] [--outer 16] [--inner 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import stats

from symnas import algorithms, programs, spaces
from symnas.flows.hw_flow import (
    OUTER_OBJECTIVES,
    CoDesignObjective,
    _inner,
    _outer,
    hypervolume_2d,
    supernet_accuracy_table,
)
from symnas.flows.nested import joint_search, nested

MAX_AREA = 2.0
TARGET_MS = 0.05
REFERENCE = (0.8, -0.5)  # (accuracy, -latency_ms)


def front_stats(metrics: list[dict]) -> tuple[float, float]:
    """Hypervolume of the feasible accuracy/latency points and the best feasible reward."""
    feasible = [m for m in metrics if m["area_mm2"] <= MAX_AREA]
    if not feasible:
        return 0.0, float("nan")
    points = np.array([[m["accuracy"], -m["latency_ms"]] for m in feasible])
    return hypervolume_2d(points, REFERENCE), max(m["reward"] for m in feasible)


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95% Student-t confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def run_methods(hw_space, arch_space, objective, args, seed: int) -> dict[str, tuple]:
    """(hypervolume, best reward, wall s) of each method for one search seed."""
    budget = args.outer * args.inner
    out = {}
    start = time.perf_counter()
    result = nested(
        hw_space,
        arch_space,
        _outer(None, MAX_AREA),
        _inner(None),
        objective,
        outer_budget=args.outer,
        inner_budget=args.inner,
        seed=seed,
        verbose=False,
    )
    metrics = [p.metrics for p in result.pairs()]
    out["nested"] = (*front_stats(metrics), time.perf_counter() - start)
    for name, algo in (
        (
            "joint",
            algorithms.NSGA2(
                population_size=16,
                objectives=OUTER_OBJECTIVES,
                constraints={"area_mm2": ("<=", MAX_AREA)},
            ),
        ),
        ("random", algorithms.RandomSearch(metric="reward")),
    ):
        start = time.perf_counter()
        flat = joint_search(hw_space, arch_space, algo, objective, budget, seed=seed, verbose=False)
        metrics = [t.metrics for t in flat.trials if t.ok]
        out[name] = (*front_stats(metrics), time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-seeds", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--outer", type=int, default=16)
    parser.add_argument("--inner", type=int, default=12)
    parser.add_argument("--supernet-epochs", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = programs.data.digits()
    arch_space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    hw_space = spaces.systolic_accelerator(max_area_mm2=MAX_AREA)
    rows: dict[str, list[tuple[float, float, float]]] = {"nested": [], "joint": [], "random": []}
    for table_seed in range(args.table_seeds):
        start = time.perf_counter()
        accuracy = supernet_accuracy_table(
            arch_space, data, epochs=args.supernet_epochs, seed=table_seed
        )
        print(
            f"accuracy table {table_seed}: 36 archs in {time.perf_counter() - start:.1f} s, "
            f"accuracy {min(accuracy.values()):.3f}-{max(accuracy.values()):.3f}"
        )
        objective = CoDesignObjective(accuracy, data.input_shape, TARGET_MS, MAX_AREA)
        per_table = {name: [] for name in rows}
        for seed in range(args.seeds):
            for name, value in run_methods(hw_space, arch_space, objective, args, seed).items():
                rows[name].append(value)
                per_table[name].append(value)
        print(
            "  mean hypervolume / best reward: "
            + ", ".join(
                f"{name} {np.mean([v[0] for v in vals]):.5f} / {np.mean([v[1] for v in vals]):.4f}"
                for name, vals in per_table.items()
            )
        )
    runs = args.table_seeds * args.seeds
    print(
        f"{args.outer * args.inner} pair evaluations per method, {runs} runs "
        f"({args.table_seeds} accuracy tables x {args.seeds} search seeds), area <= {MAX_AREA} mm2; "
        "mean +- 95% CI half-width"
    )
    print(f"{'method':8s} {'hypervolume':>20s} {'best reward':>18s} {'wall s':>8s}")
    values = {name: np.array(v) for name, v in rows.items()}
    for name, v in values.items():
        hv, hv_ci = interval(v[:, 0])
        reward, reward_ci = interval(v[:, 1])
        print(
            f"{name:8s} {hv:10.5f} +- {hv_ci:.5f} {reward:10.4f} +- {reward_ci:.4f} {v[:, 2].mean():8.2f}"
        )
    print("paired differences (same table and seed), mean +- 95% CI half-width:")
    for a, b in (("joint", "nested"), ("nested", "random"), ("joint", "random")):
        hv, hv_ci = interval(values[a][:, 0] - values[b][:, 0])
        reward, reward_ci = interval(values[a][:, 1] - values[b][:, 1])
        wins = np.mean(values[a][:, 0] > values[b][:, 0])
        print(
            f"{a} - {b}: hypervolume {hv:+.5f} +- {hv_ci:.5f} ({a} higher in {wins:.0%} of runs), "
            f"best reward {reward:+.4f} +- {reward_ci:.4f}"
        )


if __name__ == "__main__":
    main()
