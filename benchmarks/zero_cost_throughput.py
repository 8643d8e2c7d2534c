"""Zero-cost proxy throughput on ViT-Tiny specs: one shared supernet vs building each model.

Scores the same random specs of the AutoFormer ViT-Tiny space (``spaces.vit_tiny``, CIFAR-sized
task: 16x16 images, 4x4 patches, 10 classes) with ``zero_cost.score_specs`` two ways:

- ``build``: ``programs.build(spec)`` afresh for every spec (random initialisation included);
- ``supernet``: one ``programs.supernet(space)``, activated per spec (epsinas and synflow are
  ``SUPERNET_SAFE``: they run on the active sub-network without extracting it).

Prints specs/s of each way and their ratio, per proxy, measured in the same run.

Usage: python benchmarks/zero_cost_throughput.py [--specs 8] [--batch-size 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symnas import programs, spaces
from symnas.algorithms import zero_cost

TASK = {"image_size": 16, "patch_size": 4, "in_chans": 3, "num_classes": 10}


def specs_per_second(run) -> float:
    """Specs per second of ``run()``, which returns the scored rows."""
    start = time.perf_counter()
    rows = run()
    return len(rows) / (time.perf_counter() - start)


def main() -> None:
    """Measures and prints the throughputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = spaces.vit_tiny(**TASK)
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.random(args.specs, np.random.default_rng(args.seed))]
    generator = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch_size, 3, TASK["image_size"], TASK["image_size"], generator=generator)
    batch = (x, None)
    torch.manual_seed(args.seed)
    supernet = programs.supernet(space)

    print(f"ViT-Tiny space, {args.specs} specs, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"{'proxy':<8} {'build (specs/s)':>16} {'supernet (specs/s)':>19} {'speed-up':>9}")
    for proxy in ("epsinas", "synflow"):
        fresh = specs_per_second(
            lambda p=proxy: zero_cost.score_specs(
                specs, batch, [p], build_fn=programs.build, progress=False
            )
        )
        shared = specs_per_second(
            lambda p=proxy: zero_cost.score_specs(
                specs, batch, [p], supernet=supernet, progress=False
            )
        )
        print(f"{proxy:<8} {fresh:>16.2f} {shared:>19.2f} {shared / fresh:>8.2f}x")


if __name__ == "__main__":
    main()
