"""Standalone accuracy of the smallest and largest spec of every family on its data.

For each family's scaled space (the spaces of the ``symnas run`` flows), the smallest and the
largest architecture by (parameters, MACs) (over every architecture of small spaces, else over
``--samples`` random ones) are trained from scratch with the project's trainer and scored on the
fixed test split; mean and spread over ``--seeds`` training seeds.

    python benchmarks/family_accuracy.py [--epochs 15] [--seeds 2] [--lr 3e-3] [--families ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symnas import programs, spaces
from symnas.flows.family_flows import data_root
from symnas.spaces.examples import examples

FAMILIES = {family: (entry.obj, entry.meta["data"]) for family, entry in examples().items()}


def extremes(space, input_shape: tuple[int, ...], samples: int) -> tuple[dict, dict]:
    """The specs with the fewest and the most (parameters, MACs)."""
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(samples, np.random.default_rng(0))]
    sized = []
    for i, spec in enumerate(specs):
        size = programs.count(programs.build(spec), input_shape)
        sized.append((size["params"], size["macs"], i, spec))
    sized.sort(key=lambda t: t[:3])
    return sized[0][3], sized[-1][3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (cosine)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets = {"digits": programs.data.digits()}
    print(
        f"{'family':11s} {'which':8s} {'params':>9s} {'MACs':>11s} {'accuracy':>17s} {'s/run':>6s}"
    )
    for name in args.families.split(","):
        make_space, data_name = FAMILIES[name]
        if data_name not in datasets:
            datasets[data_name] = programs.data.fsdd(data_root("fsdd"))
        data = datasets[data_name]
        small, large = extremes(make_space(), data.input_shape, args.samples)
        for which, spec in (("smallest", small), ("largest", large)):
            accuracies, start = [], time.perf_counter()
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                model = programs.build(spec)
                accuracies.append(
                    programs.train(model, data, epochs=args.epochs, lr=args.lr, seed=seed)[
                        "accuracy"
                    ]
                )
            size = programs.count(programs.build(spec), data.input_shape)
            wall = (time.perf_counter() - start) / args.seeds
            acc = np.array(accuracies)
            print(
                f"{name:11s} {which:8s} {size['params']:9d} {size['macs']:11d} "
                f"{acc.mean():8.4f} ± {acc.std():.4f} {wall:6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
