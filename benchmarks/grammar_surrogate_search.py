"""Regularized evolution on the einspace-style grammar, with and without the surrogate filter.

Runs the ``grammar-digits`` flow (depth 6, each derivation trained 5 epochs on 8x8 digits,
population 10, tournament 3) for ``--budget`` real evaluations per run, once plain and once with
``surrogate=True`` (a SurrogateFilter: GRAF + 4 zero-cost proxies, random forest, 4 candidates
per evaluation after 10 warm-up trials, refitted every 5), for each seed. The search selects on
the validation accuracy (a held-out fifth of the training digits). Prints per run the test
accuracy of the trial with the best validation accuracy, the mean validation accuracy of the
trials after the warm-up, and the wall time.

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
    header = f"{'run':<10} {'seed':>4} {'best':>7} {'valid after warm-up':>19} {'wall_s':>7}"
    print(header)
    for seed in args.seeds:
        for name, surrogate in (("plain", False), ("filtered", True)):
            started = time.perf_counter()
            result = grammar_digits(
                budget=args.budget, surrogate=surrogate, seed=seed, verbose=False
            )
            scored = [t.metrics for t in result.trials if t.metrics]
            best = max(scored, key=lambda m: m["valid_accuracy"])["test_accuracy"]
            later = float(np.mean([m["valid_accuracy"] for m in scored[WARMUP:]]))
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
