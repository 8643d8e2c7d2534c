"""Supernet estimator throughput on NAS-Bench-201: candidates/s, batched vs one at a time.

An NB201 supernet (C=16, N=5, 10 classes, the benchmark's macro skeleton) scores random cells on
the CIFAR-10 subset's 1,000 test images (``../shared/data/cifar10_subset``) with inherited
weights. "one at a time" calls ``estimator(spec)`` per candidate, as a search that proposes one
candidate per round does; "batched" calls ``estimator.evaluate_batch(specs)``, as ``flows.search``
does when the estimator asks for ``candidates_per_call`` candidates. Both score the same cells
(compared for equality); the supernet is untrained, which does not change the cost. Interleaved
repeats, medians.

Usage: python benchmarks/estimator_throughput.py [--candidates 16] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from symnas import programs, spaces
from symnas.programs.training.estimator import SupernetEstimator

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10_subset"


def main() -> None:
    """Prints candidates/s for both ways and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = programs.data.cifar10_subset(DATA)
    space = spaces.nb201_cell(C=16, N=5, num_classes=10, in_chans=3)
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(args.candidates, np.random.default_rng(0))]
    estimator = SupernetEstimator(supernet, data, batch_size=args.batch_size, device="cpu")
    times = {"one at a time": [], "batched": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        single = [estimator(spec) for spec in specs]
        times["one at a time"].append(time.perf_counter() - start)
        start = time.perf_counter()
        batched = estimator.evaluate_batch(specs)
        times["batched"].append(time.perf_counter() - start)
        assert batched == single
    rates = {k: args.candidates / statistics.median(v) for k, v in times.items()}
    print(
        f"NB201 C=16 N=5, {len(data.y_test)} CIFAR-10 test images, {args.candidates} candidates, "
        f"{args.threads} thread(s), medians of {args.repeats}:"
    )
    for name, rate in rates.items():
        print(f"  {name:>13}: {rate:.3f} candidates/s")
    print(f"  batched / one at a time: {rates['batched'] / rates['one at a time']:.3f}")


if __name__ == "__main__":
    main()
