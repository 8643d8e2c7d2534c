"""Faithfulness of the zero-cost proxies against NASLib's published NAS-Bench-201 scores.

For cells of ``../shared/data/nb201/naslib_zero_cost.csv`` (725 NAS-Bench-201 cells, NASLib's
proxy scores and validation accuracy on CIFAR-10) this scores each cell's network, built with
``programs.build`` at the benchmark's size (C=16, N=5, 10 classes) and a fixed seed, on one
CIFAR-10 batch (NASLib's ``zc_config.yaml``: batch size 32, first batch of the shuffled train
set), and prints per proxy the Spearman rank correlation of our scores with NASLib's scores of
the same proxy, with NASLib's validation accuracy, and NASLib's own correlation with that
accuracy on the same cells. Data-free proxies (synflow, params, flops) run on every requested
cell; the data-dependent ones on a seeded subset (``--data-cells``) to fit a 2-core CPU.

Usage: python benchmarks/zero_cost_nb201.py [--cells 725] [--data-cells 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from symnas import programs, spaces
from symnas.algorithms import zero_cost

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA_FREE = ["synflow", "params", "flops"]
DATA_DEPENDENT = [
    "snip",
    "grad_norm",
    "grasp",
    "fisher",
    "jacov",
    "nwot",
    "plain",
    "l2_norm",
    "epsinas",
]


def naslib_value(value: float) -> float:
    """NASLib's wrapper: NaN or infinite scores become -1e8."""
    return -1e8 if not math.isfinite(value) else value


def load_rows(path: Path) -> list[dict[str, str]]:
    """The CIFAR-10 rows of NASLib's published table."""
    with open(path) as f:
        return [row for row in csv.DictReader(f) if row["dataset"] == "cifar10"]


def first_batch(batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first batch of the shuffled CIFAR-10 training subset."""
    data = programs.data.cifar10_subset(DATA / "cifar10_subset")
    return next(iter(data.loader("train", batch_size=batch_size, shuffle=True, seed=seed)))


def score_cells(
    rows: list[dict[str, str]],
    batch: tuple[torch.Tensor, torch.Tensor],
    proxies: list[str],
    seed: int,
) -> tuple[list[dict[str, float]], float]:
    """Our scores of each row's cell and the wall time per cell."""
    specs = [spaces.nb201_arch(row["arch_str"]) for row in rows]
    start = time.perf_counter()
    scores = zero_cost.score_specs(
        specs, batch, proxies, build_fn=lambda s: programs.build(s, num_classes=10), seed=seed
    )
    return scores, (time.perf_counter() - start) / max(len(rows), 1)


def published(row: dict[str, str], name: str) -> float | None:
    """NASLib's published score (None where the table has no value)."""
    return naslib_value(float(row[name])) if row.get(name, "") != "" else None


def report(rows: list[dict[str, str]], scores: list[dict[str, float]], proxies: list[str]) -> None:
    """Prints Spearman correlations of ours vs NASLib's scores and both vs accuracy.

    Cells without a published value of a proxy are left out of that proxy's line (``n``).
    """
    print(f"{'proxy':<10} {'n':>4} {'rho(ours,naslib)':>17} {'rho(ours,acc)':>14} "
          f"{'rho(naslib,acc)':>16} {'NaN(ours)':>9} {'rho(ours,acc) finite':>21}")  # fmt: skip
    for name in proxies:
        kept = [(r, s) for r, s in zip(rows, scores, strict=True) if published(r, name) is not None]
        if name not in rows[0]:
            kept = list(zip(rows, scores, strict=True))
        ours = [naslib_value(s[name]) for _, s in kept]
        accuracy = [float(r["val_accuracy"]) for r, _ in kept]
        nans = sum(not math.isfinite(s[name]) for _, s in kept)
        with_acc = spearmanr(ours, accuracy).statistic
        finite = [(o, a) for o, a in zip(ours, accuracy, strict=True) if o != -1e8]
        on_finite = spearmanr(*zip(*finite, strict=True)).statistic if len(finite) > 2 else math.nan
        if name in rows[0]:
            theirs = [published(r, name) for r, _ in kept]
            same = spearmanr(ours, theirs).statistic
            paper = spearmanr(theirs, accuracy).statistic
            print(
                f"{name:<10} {len(kept):>4} {same:>17.3f} {with_acc:>14.3f} {paper:>16.3f} {nans:>9} {on_finite:>21.3f}"
            )
        else:
            print(
                f"{name:<10} {len(kept):>4} {'-':>17} {with_acc:>14.3f} {'-':>16} {nans:>9} {on_finite:>21.3f}"
            )


def main() -> None:
    """Runs the comparison and prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=725, help="cells for data-free proxies")
    parser.add_argument("--data-cells", type=int, default=100, help="cells for data-dependent ones")
    parser.add_argument("--data-proxies", nargs="+", default=DATA_DEPENDENT, choices=DATA_DEPENDENT)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = DATA / "nb201" / "naslib_zero_cost.csv"
    if not table.exists():
        raise SystemExit(f"needs {table} (see ../shared/data/README.md)")
    rows = load_rows(table)
    order = np.random.default_rng(args.seed).permutation(len(rows))
    batch = first_batch(args.batch_size, args.seed)

    if args.cells > 0:
        report_data_free([rows[i] for i in order[: args.cells]], batch, args.seed)
    if args.data_cells > 0:
        data_rows = [rows[i] for i in order[: args.data_cells]]
        dependent, per_cell = score_cells(data_rows, batch, args.data_proxies, args.seed)
        print(f"\nData-dependent proxies: {len(data_rows)} cells, batch {args.batch_size}, "
              f"{per_cell:.2f} s/cell")  # fmt: skip
        report(data_rows, dependent, args.data_proxies)


def report_data_free(free_rows: list[dict[str, str]], batch: tuple, seed: int) -> None:
    """Scores and reports synflow, params and flops, with exact-equality counts."""
    free, per_cell = score_cells(free_rows, batch, DATA_FREE, seed)
    print(f"\nData-free proxies: {len(free_rows)} cells, {per_cell:.3f} s/cell")
    report(free_rows, free, DATA_FREE)
    flops_equal = sum(
        abs(s["flops"] - float(r["flops"])) < 1e-5 for s, r in zip(free, free_rows, strict=True)
    )
    params_equal = sum(
        abs(s["params"] - float(r["params"])) < 1e-6 for s, r in zip(free, free_rows, strict=True)
    )
    print(f"flops equal to NASLib's (|diff| < 1e-5 M): {flops_equal}/{len(free_rows)}; "
          f"params equal (|diff| < 1e-6 M): {params_equal}/{len(free_rows)}")  # fmt: skip


if __name__ == "__main__":
    main()
