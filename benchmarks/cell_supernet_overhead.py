"""Training-step cost of single-path cell supernets against their extracted stand-alone networks.

For random specs of the NAS-Bench-201 space (Dong & Yang, ICLR 2020) and of the DARTS space
(Liu et al., ICLR 2019), times a forward + backward step of the supernet running the spec and of
the network ``supernet.extract(spec)`` returns (same weights, same outputs), alternating in rounds,
and prints both and their ratio (1.0 = the supernet adds no cost over the chosen path alone).

    python benchmarks/cell_supernet_overhead.py --specs 4 --steps 2 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from symnas import programs, spaces


def step_seconds(run: Callable[[torch.Tensor], torch.Tensor], x, y, steps: int) -> float:
    """Median seconds of one forward + backward step, after one warm-up step."""
    times = []
    for k in range(steps + 1):
        start = time.perf_counter()
        F.cross_entropy(run(x), y).backward()
        if k:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Prints one row per spec and the median ratio per family."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    families = {
        "nb201 (C=16, N=5)": spaces.nb201_cell(),
        "darts (C=16, layers=8)": spaces.darts_cell(),
    }
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    print("| family | spec | supernet step (s) | stand-alone step (s) | ratio |")
    print("|---|---|---|---|---|")
    for family, space in families.items():
        net = programs.supernet(space).train()
        codec = spaces.compile(space)
        ratios = []
        for k, genome in enumerate(codec.random(args.specs, np.random.default_rng(0))):
            spec = codec.decode(genome)
            child = net.extract(spec).train()
            run_super = functools.partial(net, spec=spec)
            supers, children = [], []
            for _ in range(args.rounds):  # alternate, so drifting machine load hits both alike
                supers.append(step_seconds(run_super, x, y, args.steps))
                children.append(step_seconds(child, x, y, args.steps))
            t_super, t_child = statistics.median(supers), statistics.median(children)
            ratios.append(t_super / t_child)
            print(f"| {family} | {k} | {t_super:.3f} | {t_child:.3f} | {ratios[-1]:.2f} |")
        print(f"| {family} | median | | | **{statistics.median(ratios):.2f}** |")


if __name__ == "__main__":
    main()
