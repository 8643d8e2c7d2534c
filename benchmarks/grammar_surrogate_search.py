"""Regularized evolution on the einspace-style grammar, with and without the surrogate filter.

Runs the ``grammar-digits`` flow (depth 6, each derivation trained 5 epochs on 8x8 digits,
population 10, tournament 3) for ``--budget`` real evaluations per run, once plain and once with
``surrogate=True`` (a SurrogateFilter: GRAF + 4 zero-cost proxies, random forest, 4 candidates
per evaluation after 10 warm-up trials, refitted every 5), for each seed. Prints per run the best
test accuracy found, the mean accuracy of the trials after the warm-up, and the wall time.

Usage: python benchmarks/grammar_surrogate_search.py [--budget 30] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symnas.flows.grammar_flow import grammar_digits

WARMUP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    summary: dict[str, list[tuple[float, float]]] = {"plain": [], "filtered": []}
    print(f"{'run':<10} {'seed':>4} {'best':>7} {'mean after warm-up':>19} {'wall_s':>7}")
    for seed in args.seeds:
        for name, surrogate in (("plain", False), ("filtered", True)):
            started = time.perf_counter()
            result = grammar_digits(
                budget=args.budget, surrogate=surrogate, seed=seed, verbose=False
            )
            accuracy = [t.metrics["accuracy"] for t in result.trials if t.metrics]
            best, later = max(accuracy), float(np.mean(accuracy[WARMUP:]))
            summary[name].append((best, later))
            print(
                f"{name:<10} {seed:>4} {best:>7.3f} {later:>19.3f} "
                f"{time.perf_counter() - started:>7.0f}",
                flush=True,
            )
    for name, rows in summary.items():
        best, later = np.array(rows).T
        print(
            f"{name:<10} mean over {len(rows)} seeds: best {best.mean():.3f} "
            f"(spread {best.min():.3f}-{best.max():.3f}), after warm-up {later.mean():.3f}"
        )


if __name__ == "__main__":
    main()
