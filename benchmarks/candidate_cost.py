"""End-to-end cost of pricing a new NB201 candidate: ``count`` + ``hardware.cost`` vs a forward.

Random NAS-Bench-201 networks (C=16, N=5, CIFAR-10 32x32, batch 1, one torch thread),
``hardware.cost`` on a 12 x 14 weight-stationary array. Two parts, on the same candidates:

1. Built models (``--cells``): per candidate, one eval-mode forward pass without gradients (the
   yardstick), ``programs.count`` and ``programs.cost.hardware.cost``; ``cold`` empties the trace's
   layer cache before every candidate, ``warm`` keeps it across candidates.
2. From the spec (``--rate-cells`` new random specs, never priced before in the run): the whole
   path from a decoded spec to its cost, as candidates per second and against the forward pass:
   today's path (``programs.build`` + ``hardware.cost``, warm layer cache), and
   ``spec_cost.SpecCoster`` cold (empty caches before every candidate), warm (one coster kept
   across candidates, warmed up on ``--warmup`` other specs) with and without the per-layer
   breakdown, only its layer table, and ``count`` + the cost totals.

    python benchmarks/candidate_cost.py --cells 40 --rate-cells 300
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from symnas import programs, spaces
from symnas.programs.cost import hardware, trace
from symnas.programs.cost.spec_cost import SpecCoster

HW = {"rows": 12, "cols": 14, "dataflow": "ws"}
SHAPE = (3, 32, 32)
BUILT = 40  # new specs built and priced on today's path (slow: a network build each)
COLD = 20  # new specs priced from empty caches


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


def timed_ms(fn: Callable[[], Any]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


def per_candidate_ms(fn: Callable[[Any], Any], specs: Sequence[Any]) -> float:
    """Mean wall time of ``fn(spec)`` over ``specs`` (one pass, in order), in milliseconds."""
    start = time.perf_counter()
    for spec in specs:
        fn(spec)
    return 1e3 * (time.perf_counter() - start) / len(specs)


def new_specs(codec: Any, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct random specs."""
    rng = np.random.default_rng(seed)
    specs: dict[tuple[str, ...], dict[str, Any]] = {}
    while len(specs) < count:
        for genome in codec.random(count, rng):
            spec = codec.decode(genome)
            specs.setdefault(tuple(spec["edges"]), spec)
    return list(specs.values())[:count]


def built_models(codec: Any, cells: int, seed: int, repeats: int) -> dict[str, tuple]:
    """Forward, ``count`` and ``hardware.cost`` medians (ms) on built models, cold and warm."""
    models = [
        programs.build(codec.decode(g)) for g in codec.random(cells, np.random.default_rng(seed))
    ]
    rows = {}
    for regime in ("cold", "warm"):
        trace.clear_cache()
        fwd, cnt, hw = [], [], []
        for model in models:
            if regime == "cold":
                trace.clear_cache()
            fwd.append(forward_ms(model, repeats))
            cnt.append(timed_ms(lambda m=model: programs.count(m, SHAPE)))
            hw.append(timed_ms(lambda m=model: hardware.cost(m, SHAPE, HW)))
        rows[regime] = (np.median(fwd), np.median(cnt), np.median(hw))
    return rows


def from_specs(codec: Any, count: int, warmup: int, seed: int) -> dict[str, float]:
    """Mean ms per new candidate of each path from a spec to its hardware cost."""
    specs = new_specs(codec, warmup + 4 * count + COLD, seed)
    warm, measured = specs[:warmup], specs[warmup:]
    batches = [measured[i * count : (i + 1) * count] for i in range(4)]
    cold_specs = measured[4 * count :]
    trace.clear_cache()
    for spec in warm:  # today's path with a warm layer cache
        hardware.cost(programs.build(spec), SHAPE, HW)
    out = {
        "build + hardware.cost (warm layer cache)": per_candidate_ms(
            lambda s: hardware.cost(programs.build(s), SHAPE, HW), batches[0][:BUILT]
        )
    }

    def cold(spec: Any) -> None:
        trace.clear_cache()
        SpecCoster(SHAPE).cost(spec, HW)

    out["SpecCoster.cost, cold (empty caches)"] = per_candidate_ms(cold, cold_specs)
    coster = SpecCoster(SHAPE)
    for spec in warm:
        coster.cost(spec, HW)
    out["SpecCoster.cost, warm"] = per_candidate_ms(lambda s: coster.cost(s, HW), batches[1])
    out["SpecCoster.cost per_layer=False, warm"] = per_candidate_ms(
        lambda s: coster.cost(s, HW, per_layer=False), batches[2]
    )
    out["SpecCoster.layers only, warm"] = per_candidate_ms(coster.layers, batches[3][: count // 2])

    def count_and_cost(spec: Any) -> None:
        coster.count(spec)
        coster.cost(spec, HW, per_layer=False)

    out["SpecCoster.count + cost totals, warm"] = per_candidate_ms(
        count_and_cost, batches[3][count // 2 :]
    )
    return out


def main() -> None:
    """Times both parts on the same kind of candidates and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--rate-cells", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    codec = spaces.compile(spaces.nb201_cell(C=16, N=5, num_classes=10))
    load = os.getloadavg()[0]
    probe = codec.decode(codec.random(1, np.random.default_rng(99))[0])
    first = timed_ms(lambda: programs.count(programs.build(probe), SHAPE))
    rows = built_models(codec, args.cells, args.seed, args.repeats)
    paths = from_specs(codec, args.rate_cells, args.warmup, args.seed + 1)
    forward = float(np.median([rows[r][0] for r in rows]))

    print(
        f"NB201 (C=16, N=5, 32x32), 1 thread; load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    print(f"first build + programs.count in the process: {first:.1f} ms")
    print(f"\n{args.cells} built models, medians per candidate")
    print(
        f"{'regime':<6} {'forward ms':>11} {'count ms':>9} {'cost ms':>8} {'(count+cost)/fwd':>17}"
    )
    for regime, (f, c, h) in rows.items():
        print(f"{regime:<6} {f:>11.2f} {c:>9.2f} {h:>8.2f} {(c + h) / f:>17.2f}")
    print(
        f"\nspec -> hardware cost on new random specs ({args.rate_cells} per warm path), "
        f"forward pass {forward:.2f} ms"
    )
    print(f"{'path':<42} {'ms/cand':>8} {'cand/s':>8} {'/fwd':>6}")
    for name, ms in paths.items():
        print(f"{name:<42} {ms:>8.2f} {1e3 / ms:>8.0f} {ms / forward:>6.2f}")


if __name__ == "__main__":
    main()
