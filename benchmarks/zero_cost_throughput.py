"""Zero-cost proxy throughput on ViT-Tiny specs: one shared supernet vs building each model.

Scores the same random specs of the AutoFormer ViT-Tiny space (``spaces.vit_tiny``, CIFAR-sized
task: 16x16 images, 4x4 patches, 10 classes) with ``zero_cost.score_specs`` two ways:

- ``build``: ``programs.build(spec)`` afresh for every spec (random initialisation included);
- ``supernet``: one ``programs.supernet(space)``, activated per spec (epsinas and synflow are
  ``SUPERNET_SAFE``: they run on the active sub-network without extracting it).

Both ways are timed alike: one warm-up spec (not among the timed ones) on each way first, then
``--rounds`` alternating rounds over the same specs, median specs/s per way. The supernet is
built once, before the rounds; its construction time is printed, and the speed-up is given both
without it and with it charged to one pass over the specs.

Usage: python benchmarks/zero_cost_throughput.py [--specs 8] [--rounds 3] [--batch-size 8]
[--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symnas import programs, spaces
from symnas.algorithms import zero_cost

TASK = {"image_size": 16, "patch_size": 4, "in_chans": 3, "num_classes": 10}


def seconds(run) -> float:
    """Wall seconds of ``run()``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    """Measures and prints the throughputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = spaces.vit_tiny(**TASK)
    codec = spaces.compile(space)
    genomes = codec.random(args.specs + 1, np.random.default_rng(args.seed))
    warmup, *specs = [codec.decode(g) for g in genomes]
    generator = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch_size, 3, TASK["image_size"], TASK["image_size"], generator=generator)
    batch = (x, None)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    supernet = programs.supernet(space)
    construction = time.perf_counter() - start

    print(
        f"ViT-Tiny space, {args.specs} specs, batch {args.batch_size}, {args.threads} thread(s), "
        f"median of {args.rounds} alternating rounds after one warm-up spec per way"
    )
    print(f"supernet construction (once): {construction:.2f} s")
    print(
        f"{'proxy':<8} {'build (specs/s)':>16} {'supernet (specs/s)':>19} {'speed-up':>9} "
        f"{'with construction':>18}"
    )
    for proxy in ("epsinas", "synflow"):

        def fresh(chosen, p=proxy):
            zero_cost.score_specs(chosen, batch, [p], build_fn=programs.build, progress=False)

        def shared(chosen, p=proxy):
            zero_cost.score_specs(chosen, batch, [p], supernet=supernet, progress=False)

        fresh([warmup])
        shared([warmup])
        fresh_s, shared_s = [], []
        for _ in range(args.rounds):
            fresh_s.append(seconds(lambda f=fresh: f(specs)))
            shared_s.append(seconds(lambda f=shared: f(specs)))
        fresh_rate = args.specs / float(np.median(fresh_s))
        shared_rate = args.specs / float(np.median(shared_s))
        amortised = args.specs / (construction + args.specs / shared_rate)
        print(
            f"{proxy:<8} {fresh_rate:>16.2f} {shared_rate:>19.2f} {shared_rate / fresh_rate:>8.2f}x "
            f"{amortised / fresh_rate:>17.2f}x"
        )


if __name__ == "__main__":
    main()
