"""Sample efficiency on the NAS-Bench-201 table, and per-trial overhead on ViT-Tiny.

Part 1: every algorithm searches the NB201 space (``spaces.nb201_cell()``, 15,625 cells) with the
published CIFAR-10 validation accuracy of ``../shared/data/nb201/nb201_cifar10.csv`` as the
objective, through ``flows.search`` (in memory) with the registry defaults
(``algorithms.create(name, seed=seed, metric="valid_acc")``); Optuna's ``TPESampler`` and
``RandomSampler`` (default arguments) search the same six categorical decisions. As in NASLib and
naszilla, the search sees only the validation accuracy, and what is reported after each number
of queries is the 200-epoch test accuracy of the cell with the best validation accuracy so far
(the first such cell on a tie). Prints it, mean +- std over the seeds, and the difference to
Optuna's TPE with its standard error. ``--objective test_acc`` searches and reports the test
accuracy itself (the protocol before validation was used).

Part 2: milliseconds per trial of each on the 30-decision ViT-Tiny space with a trivial
objective (symnas: ``flows.search`` in memory, and the algorithm alone on the batch path;
Optuna: ``study.optimize``).

    python benchmarks/sample_efficiency_nb201.py [--seeds 30] [--first-seed 0]
        [--queries 25 50 100 200] [--objective valid_acc|test_acc]
        [--algorithms random regularized_evolution tpe local_search bananas optuna_tpe
        optuna_random] [--overhead-trials 2000]
        [--skip-overhead | --overhead-only]

Optuna is an optional benchmark dependency (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from symnas import algorithms, flows, spaces
from symnas.spaces.cells import NB201_OPS, NB201Cell, nb201_arch_str

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"
OURS = ["random", "regularized_evolution", "tpe", "local_search", "bananas"]
OPTUNA = {"optuna_tpe": "TPESampler", "optuna_random": "RandomSampler"}
# Trials per overhead measurement: model-based methods get fewer (their cost grows with n).
OVERHEAD_TRIALS = {"bananas": 100, "optuna_tpe": 300, "tpe": 300}


Table = dict[str, dict[str, float]]


def load_table(path: Path) -> Table:
    """``{"valid_acc": ..., "test_acc": ...}`` by official arch string."""
    with open(path) as f:
        return {
            row["arch_str"]: {
                "valid_acc": float(row["valid_acc"]),
                "test_acc": float(row["test_acc"]),
            }
            for row in csv.DictReader(f)
        }


def reported_so_far(
    searched: list[float], reported: list[float], queries: list[int]
) -> list[float]:
    """For each ``q``: the ``reported`` value of the trial with the best ``searched`` value within
    the first ``q`` queries (the earliest such trial on a tie)."""
    best = np.maximum.accumulate(np.array(searched))
    out = []
    for q in queries:
        i = int(np.flatnonzero(np.array(searched[:q]) == best[q - 1])[0])
        out.append(float(reported[i]))
    return out


def run_symnas(
    name: str, seed: int, table: Table, budget: int, objective: str
) -> list[dict[str, float]]:
    """Table rows of the trials of one symnas search optimising ``objective``, in query order."""
    result = flows.search(
        spaces.nb201_cell(),
        lambda spec: dict(table[nb201_arch_str(spec)]),
        algorithms.create(name, seed=seed, metric=objective),
        budget=budget,
        verbose=False,
    )
    return [dict(t.metrics) for t in result.trials]


def optuna_sampler(name: str, seed: int):
    """A default Optuna sampler by benchmark name."""
    import optuna

    return getattr(optuna.samplers, OPTUNA[name])(seed=seed)


def run_optuna(
    name: str, seed: int, table: Table, budget: int, objective: str
) -> list[dict[str, float]]:
    """Table rows of the trials of one Optuna study on the six NB201 edges (maximising
    ``objective``), in query order."""
    import optuna

    rows: list[dict[str, float]] = []

    def value(trial) -> float:
        edges = [trial.suggest_categorical(f"edge{k}", list(NB201_OPS)) for k in range(6)]
        rows.append(table[nb201_arch_str({"_type": NB201Cell.__type_name__, "edges": edges})])
        return rows[-1][objective]

    study = optuna.create_study(direction="maximize", sampler=optuna_sampler(name, seed))
    study.optimize(value, n_trials=budget)
    return rows


def sample_efficiency(
    names: list[str],
    seeds: int,
    queries: list[int],
    first_seed: int = 0,
    objective: str = "valid_acc",
) -> dict[str, np.ndarray]:
    """Test accuracy of the best-by-``objective`` cell after each number of queries
    (seeds x len(queries)) per algorithm, seeds ``first_seed`` on; prints progress."""
    table = load_table(DATA / "nb201_cifar10.csv")
    budget = max(queries)
    out = {}
    for name in names:
        start = time.perf_counter()
        rows = []
        for seed in range(first_seed, first_seed + seeds):
            run = run_optuna if name in OPTUNA else run_symnas
            trials = run(name, seed, table, budget, objective)
            searched = [t[objective] for t in trials]
            rows.append(reported_so_far(searched, [t["test_acc"] for t in trials], queries))
        out[name] = np.array(rows)
        means = ", ".join(f"{m:.2f}" for m in out[name].mean(0))
        print(
            f"  {name}: {seeds} runs of {budget} queries in {time.perf_counter() - start:.0f} s;"
            f" mean test acc. of the best {means}",
            flush=True,
        )
    return out


def print_table(results: dict[str, np.ndarray], queries: list[int], optimum: str) -> None:
    """Mean +- std per budget, and the difference to Optuna's TPE +- its standard error."""
    header = " | ".join(f"{q} queries" for q in queries)
    print(f"\n| algorithm | {header} |")
    print("|---|" + "---|" * len(queries))
    for name, rows in results.items():
        cells = [f"{m:.2f} +- {s:.2f}" for m, s in zip(rows.mean(0), rows.std(0), strict=True)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"({optimum})")
    base = results.get("optuna_tpe")
    if base is None:
        return
    print("\nDifference to optuna_tpe (mean, +- standard error of the difference):")
    for name, rows in results.items():
        if name == "optuna_tpe":
            continue
        diff = rows.mean(0) - base.mean(0)
        se = np.sqrt(rows.var(0, ddof=1) / len(rows) + base.var(0, ddof=1) / len(base))
        cells = [f"{d:+.3f} +- {e:.3f}" for d, e in zip(diff, se, strict=True)]
        print(
            f"  {name:22s} " + "  ".join(f"{q}: {c}" for q, c in zip(queries, cells, strict=True))
        )


def overhead_ms(name: str, trials: int) -> float:
    """Milliseconds per trial on ViT-Tiny with a trivial objective (the space compiled once,
    outside the timing, as a long search amortises it)."""
    space = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    codec = spaces.compile(space)
    if name in OPTUNA:
        import optuna

        def objective(trial) -> float:
            return float(
                sum(
                    trial.suggest_categorical(s.path, list(range(s.num_candidates)))
                    for s in codec.slots
                )
            )

        study = optuna.create_study(direction="maximize", sampler=optuna_sampler(name, 0))
        start = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        return (time.perf_counter() - start) / trials * 1e3

    def objective(spec) -> float:
        return (
            float(spec["embed_dim"] * spec["depth"])
            + sum(spec["mlp_ratio"])
            + sum(spec["num_heads"])
        )

    start = time.perf_counter()
    flows.search(codec, objective, algorithms.create(name, seed=0), budget=trials, verbose=False)
    return (time.perf_counter() - start) / trials * 1e3


def algorithm_ms(name: str, trials: int) -> float:
    """Milliseconds per trial of the algorithm alone on ViT-Tiny: ``propose_batch(1)``, decode,
    the trivial objective and ``feedback_batch``, without the search loop's logging and per-trial
    seeding."""
    codec = spaces.compile(spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10))
    algo = algorithms.create(name, seed=0)
    algo.bind(codec)
    start = time.perf_counter()
    for _ in range(trials):
        genome = algo.propose_batch(1)
        spec = codec.decode(genome[0])
        value = float(spec["embed_dim"] * spec["depth"]) + sum(spec["mlp_ratio"])
        algo.feedback_batch(genome, [{"objective": value}])
    return (time.perf_counter() - start) / trials * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--queries", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument(
        "--objective",
        choices=("valid_acc", "test_acc"),
        default="valid_acc",
        help="what the search maximises; the test accuracy of the best cell is reported",
    )
    parser.add_argument("--algorithms", nargs="+", default=OURS + list(OPTUNA))
    parser.add_argument("--overhead-trials", type=int, default=2000)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--overhead-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if any(name in OPTUNA for name in args.algorithms):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        print(f"optuna {optuna.__version__}")
    if not args.overhead_only:
        queries = sorted(args.queries)
        print(
            f"NB201 CIFAR-10: search {args.objective}, report the test accuracy of the best cell;"
            f" seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, after {queries} queries"
        )
        results = sample_efficiency(
            args.algorithms, args.seeds, queries, args.first_seed, args.objective
        )
        table = load_table(DATA / "nb201_cifar10.csv")
        best = max(table.values(), key=lambda row: row[args.objective])
        optimum = (
            f"best {args.objective} of the table: {best[args.objective]:.2f}, test accuracy of that"
            f" cell {best['test_acc']:.2f}; best test accuracy of the table"
            f" {max(row['test_acc'] for row in table.values()):.2f}"
        )
        print_table(results, queries, optimum)
    if args.skip_overhead:
        return
    print("\nOverhead per trial, ViT-Tiny (30 decisions), trivial objective:")
    print(f"  {'algorithm':22s} {'search loop':>12s} {'algorithm only':>15s}")
    times = {}
    for name in args.algorithms:
        trials = min(args.overhead_trials, OVERHEAD_TRIALS.get(name, args.overhead_trials))
        times[name] = overhead_ms(name, trials)
        alone = "" if name in OPTUNA else f"{algorithm_ms(name, trials):12.3f} ms"
        print(f"  {name:22s} {times[name]:9.3f} ms {alone} ({trials} trials)", flush=True)
    if "optuna_tpe" in times:
        print("Ratio optuna_tpe / each:")
        for name, ms in times.items():
            print(f"  {name:22s} {times['optuna_tpe'] / ms:9.2f}x")


if __name__ == "__main__":
    main()
