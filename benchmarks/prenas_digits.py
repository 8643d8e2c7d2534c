"""PreNAS preferred one-shot training against uniform one-shot training, on 8x8 digits.

PreNAS (Wang et al., ICML 2023) trains the entangled supernet only on the preferred set its
zero-cost selector picks; AutoFormer (Chen et al., ICCV 2021) samples the whole space uniformly.
On the mini AutoFormer space of the ``prenas-vit`` flow this script

1. selects a preferred set (``--buckets`` x ``--per-bucket`` by the data-free Taylor score) and
   trains every preferred architecture standalone as ground truth;
2. trains both supernets for the same number of steps, for each seed, and reports (a) Kendall's
   tau of inherited vs standalone test accuracy over the preferred set, (b) the test accuracy of
   the architecture ``specialize`` picks (best inherited validation accuracy) at three parameter
   budgets, (c) the wall time of both trainings (ratio measured in the same run).

Usage: ``python benchmarks/prenas_digits.py [--seeds 3 --epochs 40 --buckets 8 --per-bucket 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from scipy.stats import kendalltau

from symnas import programs
from symnas.algorithms import PreNASSelector
from symnas.algorithms.oneshot.prenas import train_preferred, train_uniform
from symnas.flows.prenas_flow import mini_autoformer
from symnas.programs.data import validation_split


def inherited(supernet, specs, data) -> list[float]:
    """Test accuracy of every spec with the supernet's weights."""
    return [
        programs.evaluate(supernet, data, forward=lambda m, x, s=spec: m(x, s))["accuracy"]
        for spec in specs
    ]


def standalone(specs, data, epochs: int, lr: float) -> list[float]:
    """Test accuracy of every spec trained from scratch with the supernet recipe."""
    out = []
    for spec in specs:
        torch.manual_seed(0)
        model = programs.build(spec)
        metrics = programs.train(
            model, data, epochs, lr=lr, optimizer="adamw", weight_decay=0.05, label_smoothing=0.1
        )
        out.append(metrics["accuracy"])
    return out


def pick(val_acc: list[float], sizes: list[int], limit: float) -> int:
    """Index of the best validation accuracy among the specs within ``limit`` parameters."""
    feasible = [i for i, size in enumerate(sizes) if size <= limit]
    return max(feasible, key=lambda i: (val_acc[i], sizes[i]))


def mean_std(values: list[float]) -> str:
    """``mean +- std`` with three decimals."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {std:.3f}"


def train_supernet(name: str, space, preferred, data, args, seed: int):
    """``(supernet, metrics)`` after PreNAS preferred or uniform one-shot training."""
    torch.manual_seed(seed)
    supernet = programs.supernet(space)
    if name == "prenas":
        options = {"lr": args.lr, "seed": seed, "device": "cpu"}
        return supernet, train_preferred(supernet, preferred, data, args.epochs, **options)
    options = {"lr": args.lr, "seed": seed, "device": "cpu"}
    return supernet, train_uniform(supernet, space, data, args.epochs, **options)


def main() -> None:
    """Runs the comparison and prints its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40, help="supernet training epochs")
    parser.add_argument("--standalone-epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=5e-3, help="supernet learning rate")
    parser.add_argument("--standalone-lr", type=float, default=1e-2)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--per-bucket", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = programs.data.digits()
    train_part, validation = validation_split(data, 0.2, seed=0)
    space = mini_autoformer()
    selector = PreNASSelector(buckets=args.buckets, per_bucket=args.per_bucket, seed=0)
    start = time.perf_counter()
    torch.manual_seed(0)
    preferred = selector.select(space, programs.supernet(space))
    select_s = time.perf_counter() - start
    specs = [p.spec for p in preferred]
    sizes = [p.params for p in preferred]
    print(
        f"selector: {len(selector.candidates)} candidates scored in {select_s:.2f} s "
        f"({len(selector.candidates) / select_s:.0f}/s), {len(specs)} preferred, "
        f"{len({(s['embed_dim'], s['depth']) for s in specs})} (embed, depth) groups"
    )
    start = time.perf_counter()
    truth = standalone(specs, train_part, args.standalone_epochs, args.standalone_lr)
    print(
        f"standalone: {len(specs)} archs x {args.standalone_epochs} epochs in "
        f"{time.perf_counter() - start:.0f} s; test accuracy {min(truth):.3f}-{max(truth):.3f}"
    )
    budgets = [sizes[0], (sizes[0] + sizes[-1]) / 2, sizes[-1]]
    rows: dict[str, dict[str, list[float]]] = {
        name: {"tau": [], "mean_acc": [], "wall_s": [], **{f"b{j}": [] for j in range(3)}}
        for name in ("prenas", "uniform")
    }
    for seed in range(args.seeds):
        for name in ("prenas", "uniform"):
            supernet, metrics = train_supernet(name, space, preferred, train_part, args, seed)
            test_acc = inherited(supernet, specs, data)
            val_acc = [
                programs.evaluate(supernet, validation, forward=lambda m, x, s=s: m(x, s))[
                    "accuracy"
                ]
                for s in specs
            ]
            row = rows[name]
            row["tau"].append(kendalltau(test_acc, truth).statistic)
            row["mean_acc"].append(statistics.mean(test_acc))
            row["wall_s"].append(metrics["train_s"])
            for j, limit in enumerate(budgets):
                row[f"b{j}"].append(test_acc[pick(val_acc, sizes, limit)])
            print(
                f"seed {seed} {name:8s}: tau {row['tau'][-1]:+.3f}, mean inherited "
                f"{row['mean_acc'][-1]:.3f}, train {metrics['train_s']:.1f} s"
            )
    print()
    print(f"standalone mean test accuracy over the preferred set: {statistics.mean(truth):.3f}")
    print("| metric | PreNAS preferred | uniform (AutoFormer) |")
    print("|---|---|---|")
    labels = {"tau": "Kendall tau (inherited vs standalone)", "mean_acc": "mean inherited acc"}
    for key, label in labels.items():
        print(f"| {label} | {mean_std(rows['prenas'][key])} | {mean_std(rows['uniform'][key])} |")
    for j, limit in enumerate(budgets):
        key = f"b{j}"
        print(
            f"| specialised test acc, params <= {limit:.0f} | {mean_std(rows['prenas'][key])} | "
            f"{mean_std(rows['uniform'][key])} |"
        )
    ratios = [
        p / u for p, u in zip(rows["prenas"]["wall_s"], rows["uniform"]["wall_s"], strict=True)
    ]
    print(
        f"| train wall time (s) | {mean_std(rows['prenas']['wall_s'])} | "
        f"{mean_std(rows['uniform']['wall_s'])} |"
    )
    print(f"| wall-time ratio PreNAS / uniform | {mean_std(ratios)} | 1 |")


if __name__ == "__main__":
    main()
