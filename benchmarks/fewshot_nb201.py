"""Benchmark: one-shot vs exhaustive (Few-Shot NAS) vs gradient-matching (GM-NAS) supernets on NB201.

Each method trains NB201-cell supernets on the CIFAR-10 subset (downsampled) with the same
lineage budget (C, N, image size, epochs from the root to every sub-supernet), then its
estimator scores a fixed seeded sample of cells of the published NAS-Bench-201 table on held-out
CIFAR-10 subset test images. Printed per method and seed: Kendall tau and Spearman of the
estimates against the table's CIFAR-10 test accuracy, overall and within the top 10% of the
sample (by true accuracy), the training steps summed over sub-supernets, and the true accuracy of
the best cell RegularizedEvolution finds with the method's estimator as objective.

Estimates go to ``--json`` as ``{method: {seed: {arch_str: estimate}}}``; a summary next to it.

    nice -n 5 python benchmarks/fewshot_nb201.py            # defaults: 300 cells, 3 seeds

Seeds can run in separate processes (``--seeds 1 --json results.seed1.json``) and be combined
with ``--merge results.seed*.json``. Finished (method, seed) pairs found in ``--json`` are
skipped, and supernet trainings under ``--work`` resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau, spearmanr

from symnas import algorithms, flows, spaces
from symnas.algorithms.oneshot.fewshot import METHODS, FewShotTrainer
from symnas.programs.data import Dataset, cifar10_subset
from symnas.programs.fewshot import FewShotEstimator
from symnas.programs.supernet_train import TrainConfig

DATA = Path("../shared/data")


def downsampled(data: Dataset, size: int, eval_images: int, seed: int) -> tuple[Dataset, Dataset]:
    """Training data at ``size`` pixels and an evaluation set of ``eval_images`` test images."""

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, size) if size != x.shape[-1] else x

    shape = (data.input_shape[0], size, size)
    name = f"{data.name}-{size}px"
    train = Dataset(
        pool(data.x_train), data.y_train, pool(data.x_test), data.y_test, 10, shape, name
    )
    pick = torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(seed))
    pick = pick[:eval_images]
    evaluation = Dataset(
        train.x_train, train.y_train, train.x_test[pick], train.y_test[pick], 10, shape, "eval"
    )
    return train, evaluation


def correlations(est: dict[str, float], truth: dict[str, float]) -> dict[str, float]:
    """Kendall tau and Spearman overall and within the top 10% (by true accuracy)."""
    keys = sorted(est)
    a = np.array([est[k] for k in keys])
    t = np.array([truth[k] for k in keys])
    top = np.argsort(-t)[: max(2, len(keys) // 10)]
    return {
        "kendall": float(kendalltau(a, t).statistic),
        "spearman": float(spearmanr(a, t).statistic),
        "kendall_top10": float(kendalltau(a[top], t[top]).statistic),
        "spearman_top10": float(spearmanr(a[top], t[top]).statistic),
    }


def main() -> None:
    """Runs the benchmark and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--gradient-batches", type=int, default=6)
    parser.add_argument("--eval-images", type=int, default=128)
    parser.add_argument("--re-budget", type=int, default=60)
    parser.add_argument("--work", type=Path, default=Path("runs/fewshot_nb201"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/fewshot_nb201.json"))
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="combine these per-seed JSON files into --json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        merge(args.merge, args.json, args.methods)
        return

    with open(DATA / "nb201" / "nb201_cifar10.csv") as f:
        table = {row["arch_str"]: float(row["test_acc"]) for row in csv.DictReader(f)}
    names = sorted(table)
    rng = np.random.default_rng(0)
    cells = [names[i] for i in sorted(rng.choice(len(names), size=args.cells, replace=False))]
    macro = {"C": args.C, "N": args.N, "num_classes": 10, "in_chans": 3}
    space = spaces.nb201_cell(**macro)
    train, evaluation = downsampled(
        cifar10_subset(DATA / "cifar10_subset"), args.image_size, args.eval_images, 0
    )
    print(
        f"NB201 C={args.C} N={args.N} {args.image_size}x{args.image_size}, {args.epochs} epochs "
        f"per lineage, {len(train.y_train)} train images, {args.eval_images} eval images, "
        f"{args.cells} cells, seeds {args.seeds}"
    )
    estimates: dict[str, dict[str, dict[str, float]]] = {}
    summary: dict[str, dict[str, dict[str, float]]] = {}
    if args.json.exists():
        estimates = json.loads(args.json.read_text())
    if summary_path(args.json).exists():
        summary = json.loads(summary_path(args.json).read_text())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for method in args.methods:
            if str(seed) in summary.get(method, {}):
                continue
            start = time.perf_counter()
            trainer = FewShotTrainer(
                space,
                train,
                TrainConfig(
                    epochs=args.epochs,
                    batch_size=args.batch_size,
                    lr=args.lr,
                    weight_decay=1e-4,
                    seed=seed,
                ),
                method=method,
                gradient_batches=args.gradient_batches,
                out=args.work / method / str(seed),
                resume=True,
                device="cpu",
                progress=False,
            )
            supernet = trainer.fit()
            train_s = time.perf_counter() - start
            steps = sum(
                json.loads(line)["step"]
                for log in (args.work / method / str(seed)).glob("*/stage*/train_log.jsonl")
                for line in log.read_text().splitlines()[-1:]
            )
            estimator = FewShotEstimator(
                supernet, evaluation, batch_size=args.eval_images, device="cpu"
            )
            start = time.perf_counter()
            specs = [spaces.nb201_arch(a, **macro) for a in cells]
            scores = estimator.evaluate_batch(specs)
            est = {a: s["accuracy"] for a, s in zip(cells, scores, strict=True)}
            estimate_s = time.perf_counter() - start
            start = time.perf_counter()
            result = flows.search(
                space,
                estimator,
                algorithm=algorithms.RegularizedEvolution(
                    population_size=20, tournament_size=5, metric="accuracy"
                ),
                budget=args.re_budget,
                seed=seed,
                verbose=False,
            )
            best = spaces.nb201_arch_str(result.best.spec)
            search_s = time.perf_counter() - start
            row = {
                **correlations(est, {a: table[a] for a in cells}),
                "sub_supernets": len(supernet.parts),
                "train_steps": steps,
                "train_s": round(train_s, 1),
                "estimate_s": round(estimate_s, 1),
                "search_s": round(search_s, 1),
                "re_best_true_acc": table[best],
                "re_best_arch": best,
                "splits": {
                    name: {"decision": s["decision"], "groups": s["groups"]}
                    for name, s in trainer.plan["splits"].items()
                    if s
                },
            }
            estimates.setdefault(method, {})[str(seed)] = est
            summary.setdefault(method, {})[str(seed)] = row
            args.json.write_text(json.dumps(estimates, indent=1, sort_keys=True))
            summary_path(args.json).write_text(json.dumps(summary, indent=1, sort_keys=True))
            print(
                f"{method:10s} seed {seed}: tau {row['kendall']:.3f} rho {row['spearman']:.3f} "
                f"top10% tau {row['kendall_top10']:.3f} rho {row['spearman_top10']:.3f} | "
                f"{row['sub_supernets']} sub-supernets, {steps} steps, train {train_s:.0f} s, "
                f"estimate {estimate_s:.0f} s | RE best true acc {table[best]:.2f}",
                flush=True,
            )
    print_means(summary, args.methods)


def summary_path(path: Path) -> Path:
    """Where the summary of the estimates in ``path`` goes."""
    return path.with_name(path.stem + "_summary.json")


def print_means(summary: dict, methods: list[str]) -> None:
    """Mean and standard deviation over seeds of every figure, per method."""
    print("\nmean over seeds (std):")
    keys = ("kendall", "spearman", "kendall_top10", "spearman_top10", "re_best_true_acc")
    for method in methods:
        rows = list(summary.get(method, {}).values())
        if not rows:
            continue
        cols = [
            f"{k} {np.mean([r[k] for r in rows]):.3f} ({np.std([r[k] for r in rows]):.3f})"
            for k in keys
        ]
        print(f"{method:10s} n={len(rows)} " + "  ".join(cols))


def merge(parts: list[Path], path: Path, methods: list[str]) -> None:
    """Combines per-seed estimate files (and their summaries) into ``path``."""
    estimates: dict = {}
    summary: dict = {}
    for part in parts:
        for target, source in ((estimates, part), (summary, summary_path(part))):
            for method, seeds in json.loads(source.read_text()).items():
                target.setdefault(method, {}).update(seeds)
    path.write_text(json.dumps(estimates, indent=1, sort_keys=True))
    summary_path(path).write_text(json.dumps(summary, indent=1, sort_keys=True))
    print_means(summary, methods)


if __name__ == "__main__":
    main()
