"""Surrogates on NAS-Bench-201: Kendall tau of GRAF, ZC and GRAF+ZC random forests.

Data (``../shared/data/nb201/``): ``nb201_cifar10.csv`` (all 15,625 cells, CIFAR-10 test
accuracy) and ``naslib_zero_cost.csv`` (725 cells with NASLib's zero-cost scores and validation
accuracy on CIFAR-10 and CIFAR-100). The ZC features are the paper's seven proxies (grad_norm,
snip, grasp, fisher, jacov, plain, synflow) as NASLib published them.

Before any split the cells are deduplicated by function (``--dedup function``, the default):
of each class of cells that compute the same function (``spaces.cells.nb201_function_key``:
unreachable ops dropped, ``skip_connect`` as the identity, average pooling as linear, sums in
any order) only the cell with the lowest NB201 index is kept, so no function is on both sides of
a split. The table's accuracies of such cells differ only by training noise, and a surrogate
that has seen one of them in training would be scored on its twin. ``--dedup canonical`` drops
only cells that differ by unreachable ops (``nb201_canonical``); ``--dedup none`` keeps every
cell (the protocol before deduplication).

1. GRAF random forests trained on 100 and 1,000 random cells, tested on all the other cells
   (CIFAR-10 test accuracy); the parameter count alone as a reference.
2. GRAF, ZC and GRAF+ZC forests on the cells with zero-cost scores (CIFAR-10 validation
   accuracy), trained on ``--zc-train`` cells (default 100 and 300: deduplicated, the 725 cells
   are 444), tested on the rest.
3. Transfer: fitted on all those CIFAR-10 results (percentile targets), ranking the same cells
   for CIFAR-100 with CIFAR-100 zero-cost scores; fitted on half of the cells (CIFAR-10) and
   ranking the other half for CIFAR-100; next to a forest fitted on 100 CIFAR-100 cells and to
   the rank agreement of the two data sets' true accuracies.

Each row is the mean (and spread) over ``--splits`` random splits.
Usage: python benchmarks/surrogates_nb201.py [--splits 5] [--skip-all-cells]
    [--dedup function|canonical|none] [--zc-train 100 300]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from symnas import spaces
from symnas.algorithms.graf import graf
from symnas.algorithms.surrogate import ZC_PROXIES, Surrogate
from symnas.spaces.cells import nb201_deduplicate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"


def read(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file."""
    with path.open() as f:
        return list(csv.DictReader(f))


class ZCTable:
    """Zero-cost features of NB201 cells looked up in NASLib's table for one data set."""

    def __init__(self, rows: list[dict[str, str]], dataset: str) -> None:
        self.__name__ = f"zc_{dataset}"
        self.scores = {
            r["arch_str"]: {f"zc_{p}": float(r[p]) if r[p] else np.nan for p in ZC_PROXIES}
            for r in rows
            if r["dataset"] == dataset
        }

    def __call__(self, spec: dict) -> dict[str, float]:
        return self.scores[spaces.nb201_arch_str(spec)]


class GRAFTable:
    """GRAF features of NB201 cells, computed once per cell and shared by every surrogate."""

    __name__ = "graf"

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    def __call__(self, spec: dict) -> dict[str, float]:
        key = spaces.nb201_arch_str(spec)
        if key not in self.rows:
            self.rows[key] = graf(spec)
        return self.rows[key]


def deduplicate(rows: list[dict[str, str]], dedup: str, index: str) -> list[dict[str, str]]:
    """The rows of one representative cell per class (the one with the lowest NB201 index, column
    ``index``), in the order given; all rows for ``dedup="none"``."""
    if dedup == "none":
        return rows
    by_index = sorted(rows, key=lambda r: int(r[index]))
    kept = set(nb201_deduplicate([r["arch_str"] for r in by_index], key=dedup))
    return [r for r in rows if r["arch_str"] in kept]


def tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall tau-b."""
    return float(kendalltau(a, b).statistic)


def split_taus(specs, y, features, n_train, splits, target="raw", extra=None) -> list[float]:
    """Kendall tau on the held-out cells of ``splits`` random splits."""
    out = []
    for seed in range(splits):
        order = np.random.default_rng(seed).permutation(len(specs))
        train, test = order[:n_train], order[n_train:]
        model = Surrogate(features, "random_forest", target, seed=seed)
        model.fit([specs[i] for i in train], y[train])
        out.append(tau(model.predict([specs[i] for i in test]), y[test]))
    return out


def show(label: str, values: list[float]) -> None:
    """Prints mean and range of a list of taus."""
    print(
        f"{label:<48} tau {np.mean(values):.3f}  (min {min(values):.3f}, max {max(values):.3f}, "
        f"{len(values)} splits)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--skip-all-cells", action="store_true", help="skip part 1")
    parser.add_argument(
        "--dedup",
        choices=("function", "canonical", "none"),
        default="function",
        help="keep one cell per class of functionally identical cells before splitting",
    )
    parser.add_argument("--zc-train", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args()
    started = time.perf_counter()
    graf_table = GRAFTable()

    all_cells = [] if args.skip_all_cells else read(DATA / "nb201_cifar10.csv")
    cells = deduplicate(all_cells, args.dedup, "index")
    specs = [spaces.nb201_arch(r["arch_str"]) for r in cells]
    test_acc = np.array([float(r["test_acc"]) for r in cells])
    params = np.array([float(r["params_m"]) for r in cells])
    print(
        f"1. {len(cells)} of {len(all_cells)} cells (dedup {args.dedup}), CIFAR-10 test accuracy"
        f" ({args.splits} splits)"
    )
    for n in () if args.skip_all_cells else (100, 1000):
        show(
            f"GRAF random forest, train {n}",
            split_taus(specs, test_acc, [graf_table], n, args.splits),
        )
    if cells:
        show("parameter count alone (all cells)", [tau(params, test_acc)])

    rows = read(DATA / "naslib_zero_cost.csv")
    c10 = [r for r in rows if r["dataset"] == "cifar10"]
    c100 = {r["arch_str"]: r for r in rows if r["dataset"] == "cifar100"}
    both = [r for r in c10 if r["arch_str"] in c100]
    arch = [r["arch_str"] for r in deduplicate(both, args.dedup, "nb201_index")]
    zc_specs = [spaces.nb201_arch(a) for a in arch]
    by_arch = {r["arch_str"]: r for r in c10}
    y10 = np.array([float(by_arch[a]["val_accuracy"]) for a in arch])
    y100 = np.array([float(c100[a]["val_accuracy"]) for a in arch])
    zc10, zc100 = ZCTable(rows, "cifar10"), ZCTable(rows, "cifar100")
    print(
        f"2. {len(arch)} of {len(both)} cells with zero-cost scores (dedup {args.dedup}),"
        " CIFAR-10 validation accuracy"
    )
    for n in args.zc_train:
        for name, features in (
            ("GRAF", [graf_table]),
            ("ZC", [zc10]),
            ("GRAF+ZC", [graf_table, zc10]),
        ):
            show(
                f"{name} random forest, train {n}",
                split_taus(zc_specs, y10, features, n, args.splits),
            )
    best_single = max(
        (abs(tau(np.array([zc10(s)[f"zc_{p}"] for s in zc_specs]), y10)), p) for p in ZC_PROXIES
    )
    show(f"best single proxy ({best_single[1]}, |tau|, all cells)", [best_single[0]])

    print("3. transfer CIFAR-10 -> CIFAR-100 on the same cells")
    for name, source, target_features in (
        ("GRAF", [graf_table], [graf_table]),
        ("ZC", [zc10], [zc100]),
        ("GRAF+ZC", [graf_table, zc10], [graf_table, zc100]),
    ):
        model = Surrogate(source, "random_forest", "percentile", seed=0).fit(zc_specs, y10)
        show(
            f"{name} fit on CIFAR-10, ranks CIFAR-100",
            [tau(model.for_task(target_features).predict(zc_specs), y100)],
        )
    held_out = []
    for seed in range(args.splits):
        order = np.random.default_rng(seed).permutation(len(zc_specs))
        train, test = order[: len(order) // 2], order[len(order) // 2 :]
        model = Surrogate([graf_table, zc10], "random_forest", "percentile", seed=seed)
        model.fit([zc_specs[i] for i in train], y10[train])
        predicted = model.for_task([graf_table, zc100]).predict([zc_specs[i] for i in test])
        held_out.append(tau(predicted, y100[test]))
    show("GRAF+ZC fit on half (C-10), ranks other half (C-100)", held_out)
    show(
        "GRAF+ZC fit on 100 CIFAR-100 cells (in-task)",
        split_taus(zc_specs, y100, [graf_table, zc100], 100, args.splits, "percentile"),
    )
    show("CIFAR-10 accuracy as a ranking of CIFAR-100", [tau(y10, y100)])
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
