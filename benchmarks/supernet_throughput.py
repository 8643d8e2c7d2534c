"""Training throughput of the AutoFormer ViT supernet against standalone models of the same spec.

For random specs of the published ViT-Tiny space (Chen et al., AutoFormer, ICCV 2021) on
digits-shaped input (8x8, one channel, patch 2, 10 classes), times a forward + backward step of
the weight-entangled supernet running the spec and of a freshly built standalone model, in
alternating rounds, and prints samples/s and the supernet/standalone ratio (1.0 = no overhead).

    python benchmarks/supernet_throughput.py --specs 4 --steps 4 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from collections.abc import Callable

import pyglove as pg
import torch
import torch.nn.functional as F

from symnas import programs, spaces


def step_time(
    run: Callable[[torch.Tensor], torch.Tensor],
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
) -> float:
    """Mean seconds of one forward + backward step over ``steps`` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(run(x), y).backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    """Runs the comparison and prints one line per spec and the geometric-mean ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=4, help="random specs to time")
    parser.add_argument("--steps", type=int, default=4, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    space = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    supernet = programs.supernet(space).train()
    x = torch.randn(args.batch, 1, 8, 8)
    y = torch.randint(0, 10, (args.batch,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(
        f"{'embed':>5} {'depth':>5} {'params':>9} {'supernet/s':>11} {'standalone/s':>13} {'ratio':>6}"
    )
    ratios = []
    for spec in pg.random_sample(space, seed=args.seed, num_examples=args.specs):
        spec = pg.to_json(spec)
        model = programs.build(spec).train()
        runs = [(functools.partial(supernet, spec=spec), supernet), (model, model)]
        for run, module in runs:  # warm-up
            step_time(run, module, x, y, 1)
        times = ([], [])
        for _ in range(args.rounds):
            for i, (run, module) in enumerate(runs):
                times[i].append(step_time(run, module, x, y, args.steps))
        sup, std = (args.batch / statistics.median(t) for t in times)
        ratios.append(sup / std)
        params = supernet.sampled_param_count(spec)
        print(
            f"{spec['embed_dim']:>5} {spec['depth']:>5} {params:>9,} {sup:>11.1f} {std:>13.1f} "
            f"{sup / std:>6.2f}"
        )
    mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric-mean throughput ratio supernet/standalone: {mean:.2f}")


if __name__ == "__main__":
    main()
