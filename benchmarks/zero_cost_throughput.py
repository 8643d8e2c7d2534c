"""Zero-cost proxy throughput: one shared supernet vs building each model (ViT-Tiny and NB201).

Scores the same random specs with ``zero_cost.score_specs`` two ways:

- ``build``: ``programs.build(spec)`` afresh for every spec (random initialisation included, as a
  search without a supernet pays it), then the proxy on it;
- ``supernet``: one ``programs.supernet(space)``; synflow and epsinas replace its weights once per
  call and run every spec's active sub-network (``zero_cost.batched``).

Spaces: the AutoFormer ViT-Tiny space (``spaces.vit_tiny``, CIFAR-sized task: 16x16 images, 4x4
patches, 10 classes) and the NAS-Bench-201 cell (C=16, N=5, 32x32 images, 10 classes). Both ways
are timed alike: one warm-up spec (not among the timed ones) on each way first, then ``--rounds``
alternating rounds over the same specs, median specs/s per way. The supernet is built once,
before the rounds; its construction time is printed, and the speed-up is given both without it
and with it charged to one pass over the specs. What bounds the speed-up is printed too: the
median time of ``programs.build`` alone and of the proxy alone on the built models, per spec,
and ``(b+p)/p = (build + proxy) / proxy``, the speed-up of a supernet path that cost exactly
the proxy on a built model (the build path's proxy also linearises or re-initialises the model's
own weights, which the supernet path does once per call).

Usage: python benchmarks/zero_cost_throughput.py [--spaces vit_tiny nb201] [--specs 8]
[--rounds 3] [--batch-size 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from symnas import programs, spaces
from symnas.algorithms import zero_cost

SPACES: dict[str, tuple[Callable[[], Any], tuple[int, int, int]]] = {
    "vit_tiny": (
        lambda: spaces.vit_tiny(image_size=16, patch_size=4, in_chans=3, num_classes=10),
        (3, 16, 16),
    ),
    "nb201": (lambda: spaces.nb201_cell(C=16, N=5, num_classes=10), (3, 32, 32)),
}
PROXIES = ("epsinas", "synflow")


def seconds(run: Callable[[], Any]) -> float:
    """Wall seconds of ``run()``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def seeded_build(spec: Any, seed: int) -> torch.nn.Module:
    """``programs.build(spec)`` after ``torch.manual_seed(seed)``, as ``score_specs`` builds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return programs.build(spec)


def measure(name: str, args: argparse.Namespace) -> None:
    """Measures and prints the throughputs of one space."""
    make_space, shape = SPACES[name]
    space = make_space()
    codec = spaces.compile(space)
    genomes = codec.random(args.specs + 1, np.random.default_rng(args.seed))
    warmup, *specs = [codec.decode(g) for g in genomes]
    generator = torch.Generator().manual_seed(args.seed)
    batch = (torch.randn(args.batch_size, *shape, generator=generator), None)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    supernet = programs.supernet(space)
    construction = time.perf_counter() - start
    print(
        f"\n{name}: {args.specs} specs, batch {args.batch_size}, {args.threads} thread(s), "
        f"median of {args.rounds} alternating rounds after one warm-up spec per way"
    )
    print(f"supernet construction (once): {construction:.2f} s")
    print(
        f"{'proxy':<8} {'build (specs/s)':>16} {'supernet (specs/s)':>19} {'speed-up':>9} "
        f"{'with construction':>18} {'build s/spec':>13} {'proxy s/spec':>13} {'(b+p)/p':>8}"
    )
    for proxy in PROXIES:

        def fresh(chosen, p=proxy):
            zero_cost.score_specs(
                chosen, batch, [p], build_fn=programs.build, seed=args.seed, progress=False
            )

        def shared(chosen, p=proxy):
            zero_cost.score_specs(
                chosen, batch, [p], supernet=supernet, seed=args.seed, progress=False
            )

        fresh([warmup])
        shared([warmup])
        fresh_s, shared_s, build_s, proxy_s = [], [], [], []
        for _ in range(args.rounds):
            fresh_s.append(seconds(lambda f=fresh: f(specs)))
            shared_s.append(seconds(lambda f=shared: f(specs)))
            start = time.perf_counter()
            models = [seeded_build(spec, args.seed) for spec in specs]
            build_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            for model in models:
                zero_cost.score(model, batch, [proxy], seed=args.seed)
            proxy_s.append(time.perf_counter() - start)
        fresh_rate = args.specs / float(np.median(fresh_s))
        shared_rate = args.specs / float(np.median(shared_s))
        amortised = args.specs / (construction + args.specs / shared_rate)
        build_each = float(np.median(build_s)) / args.specs
        proxy_each = float(np.median(proxy_s)) / args.specs
        bound = (build_each + proxy_each) / proxy_each
        print(
            f"{proxy:<8} {fresh_rate:>16.2f} {shared_rate:>19.2f} {shared_rate / fresh_rate:>8.2f}x "
            f"{amortised / fresh_rate:>17.2f}x {build_each:>13.3f} {proxy_each:>13.3f} "
            f"{bound:>7.2f}x"
        )


def main() -> None:
    """Parses the options and measures every chosen space."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", choices=sorted(SPACES), default=list(SPACES))
    parser.add_argument("--specs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.spaces:
        measure(name, args)


if __name__ == "__main__":
    main()
