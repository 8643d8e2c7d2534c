"""Wall time of one family-flow trial (build + train a tiny NB201 cell on digits) with one torch
thread against torch's default thread count, in the same process, alternating the settings.

This is the measurement behind the thread policy of ``flows.search`` (see
``docs/architecture.md``, Threads): tiny models are trained single-threaded.

    python benchmarks/trial_threads.py [--specs 4] [--epochs 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from symnas import programs, spaces
from symnas.flows.family_flows import nb201_digits_space


def trial_seconds(spec: dict, data, epochs: int, threads: int) -> float:
    """Seconds to build and train ``spec`` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    torch.manual_seed(0)
    model = programs.build(spec, num_classes=data.num_classes)
    programs.train(model, data, epochs=epochs, seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    data = programs.data.digits()
    codec = spaces.compile(nb201_digits_space())
    specs = [codec.decode(g) for g in codec.distinct(args.specs, np.random.default_rng(0))]
    trial_seconds(specs[0], data, 1, 1)  # warm-up: first-call costs of torch and the data
    times: dict[int, list[float]] = {1: [], default_threads: []}
    for repeat in range(args.repeats):
        order = [1, default_threads] if repeat % 2 == 0 else [default_threads, 1]
        for spec in specs:
            for threads in order:
                times[threads].append(trial_seconds(spec, data, args.epochs, threads))
    one, default = statistics.median(times[1]), statistics.median(times[default_threads])
    print(f"torch default threads: {default_threads}; trials per setting: {len(times[1])}")
    print(f"median s/trial, 1 thread:  {one:.3f}")
    print(f"median s/trial, {default_threads} threads: {default:.3f}")
    print(f"default / 1 thread: {default / one:.2f}x")


if __name__ == "__main__":
    main()
