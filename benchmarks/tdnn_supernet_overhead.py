"""Cost of running an EfficientTDNN sub-network through the weight-entangled supernet.

For random specs of the published coarse space, times one training step (forward + backward) of
``supernet(x, spec)`` against the same step on the stand-alone extracted model, measured in the
same run, and prints the ratio (the price of deriving the sub-network's weights every step).

    python benchmarks/tdnn_supernet_overhead.py --specs 6 --batch 8 --frames 200
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from symnas import programs, spaces


def _step_seconds(module: torch.nn.Module, run, x: torch.Tensor, repeats: int) -> float:
    """Median wall time of ``run(x).sum().backward()`` after one warm-up step."""
    times = []
    for i in range(repeats + 1):
        module.zero_grad(set_to_none=True)
        start = time.perf_counter()
        run(x).sum().backward()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Prints per-spec step times and the supernet / stand-alone ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = spaces.tdnn(in_feats=80, num_classes=6)
    codec = spaces.compile(space)
    supernet = programs.supernet(space).train()
    x = torch.randn(args.batch, 80, args.frames)
    ratios = []
    print(
        f"{'depth':>5} {'stem':>5} {'cat':>5} {'supernet_s':>11} {'standalone_s':>13} {'ratio':>6}"
    )
    for genome in codec.random(args.specs, np.random.default_rng(0)):
        spec = codec.decode(genome)
        model = supernet.extract(spec).train()
        t_super = _step_seconds(supernet, lambda v, s=spec: supernet(v, s), x, args.repeats)
        t_alone = _step_seconds(model, model, x, args.repeats)
        ratios.append(t_super / t_alone)
        print(
            f"{len(spec['blocks']):>5} {spec['stem']['width']:>5} {spec['cat_channels']:>5} "
            f"{t_super:>11.4f} {t_alone:>13.4f} {ratios[-1]:>6.2f}"
        )
    print(f"median ratio supernet/stand-alone: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
