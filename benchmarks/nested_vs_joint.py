"""Nested vs joint hardware x architecture search at the same number of evaluations.

ResNet20-pooling architectures (accuracy inherited from one supernet trained on digits, computed
once and shared by every method) x systolic accelerators (analytical cost model), area cap
2 mm2. Methods, each with ``outer * inner`` pair evaluations:
- nested: NSGA-II over hardware, regularized evolution over architectures (MnasNet reward);
- joint: NSGA-II over the product space;
- random: random search over the product space.
Printed per method (mean over seeds): hypervolume of the feasible accuracy/latency front
(reference point accuracy 0.8, latency 0.5 ms), best feasible MnasNet reward, wall time.

    python benchmarks/nested_vs_joint.py [--seeds 3] [--outer 16] [--inner 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--outer", type=int, default=16)
    parser.add_argument("--inner", type=int, default=12)
    parser.add_argument("--supernet-epochs", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = programs.data.digits()
    arch_space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    hw_space = spaces.systolic_accelerator(max_area_mm2=MAX_AREA)
    start = time.perf_counter()
    accuracy = supernet_accuracy_table(arch_space, data, epochs=args.supernet_epochs)
    print(
        f"supernet accuracy table: 36 archs in {time.perf_counter() - start:.1f} s, "
        f"accuracy {min(accuracy.values()):.3f}-{max(accuracy.values()):.3f}"
    )
    objective = CoDesignObjective(accuracy, data.input_shape, TARGET_MS, MAX_AREA)
    budget = args.outer * args.inner
    rows: dict[str, list[tuple[float, float, float]]] = {"nested": [], "joint": [], "random": []}
    for seed in range(args.seeds):
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
        rows["nested"].append((*front_stats(metrics), time.perf_counter() - start))
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
            flat = joint_search(
                hw_space, arch_space, algo, objective, budget, seed=seed, verbose=False
            )
            metrics = [t.metrics for t in flat.trials if t.ok]
            rows[name].append((*front_stats(metrics), time.perf_counter() - start))
    print(f"{budget} pair evaluations per method, {args.seeds} seeds, area <= {MAX_AREA} mm2")
    print(f"{'method':8s} {'hypervolume':>18s} {'best reward':>18s} {'wall s':>8s}")
    for name, values in rows.items():
        v = np.array(values)
        print(
            f"{name:8s} {v[:, 0].mean():10.5f} ± {v[:, 0].std():.5f} "
            f"{v[:, 1].mean():10.4f} ± {v[:, 1].std():.4f} {v[:, 2].mean():8.2f}"
        )


if __name__ == "__main__":
    main()
