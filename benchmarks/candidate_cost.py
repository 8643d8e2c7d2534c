"""End-to-end cost of pricing a new NB201 candidate: ``count`` + ``hardware.cost`` vs a forward.

For ``--cells`` random NAS-Bench-201 networks (C=16, N=5, CIFAR-10 32x32, batch 1, one torch
thread) this times, per candidate: one eval-mode forward pass without gradients (the yardstick),
``programs.count`` and ``programs.hardware.cost`` (12 x 14 array, weight stationary). Two
regimes: ``cold`` empties the trace's layer cache before every candidate (each is traced from
scratch), ``warm`` keeps the cache across candidates as a search does (layers seen in earlier
candidates are replayed). Also prints the first call in the process, and the rate of
``hardware.cost`` alone with a warm cache (candidates per second, models already built).

    python benchmarks/candidate_cost.py --cells 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from symnas import programs, spaces
from symnas.programs import trace

HW = {"rows": 12, "cols": 14, "dataflow": "ws"}
SHAPE = (3, 32, 32)


def forward_ms(model: torch.nn.Module, repeats: int) -> float:
    """Median wall time of an eval-mode forward pass without gradients, in milliseconds."""
    x = torch.randn(1, *SHAPE)
    model.eval()
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def timed_ms(fn) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


def main() -> None:
    """Times both regimes on the same candidates and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    codec = spaces.compile(spaces.nb201_cell(C=16, N=5, num_classes=10))
    genomes = codec.random(args.cells, np.random.default_rng(args.seed))
    models = [programs.build(codec.decode(g)) for g in genomes]

    first = timed_ms(lambda: programs.count(models[0], SHAPE))
    rows = {}
    for regime in ("cold", "warm"):
        trace.clear_cache()
        fwd, cnt, hw = [], [], []
        for model in models:
            if regime == "cold":
                trace.clear_cache()
            fwd.append(forward_ms(model, args.repeats))
            cnt.append(timed_ms(lambda m=model: programs.count(m, SHAPE)))
            hw.append(timed_ms(lambda m=model: programs.hardware.cost(m, SHAPE, HW)))
        rows[regime] = (np.median(fwd), np.median(cnt), np.median(hw))
    # hardware.cost alone on candidates whose layers are cached but whose models are new objects
    fresh = [programs.build(codec.decode(g)) for g in genomes]
    start = time.perf_counter()
    for model in fresh:
        programs.hardware.cost(model, SHAPE, HW)
    rate = len(fresh) / (time.perf_counter() - start)

    print(f"{args.cells} NB201 candidates (C=16, N=5, 32x32), medians per candidate, 1 thread")
    print(f"first programs.count in the process: {first:.1f} ms")
    header = (
        f"{'regime':<6} {'forward ms':>11} {'count ms':>9} {'cost ms':>8} {'(count+cost)/fwd':>17}"
    )
    print(header)
    for regime, (f, c, h) in rows.items():
        print(f"{regime:<6} {f:>11.2f} {c:>9.2f} {h:>8.2f} {(c + h) / f:>17.2f}")
    print(f"hardware.cost with the layer cache, newly built models: {rate:.0f} candidates/s")


if __name__ == "__main__":
    main()
