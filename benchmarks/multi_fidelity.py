"""Multi-fidelity search with real training: best standalone accuracy found vs epochs spent.

Every method searches NAS-Bench-201 cells in the ``nb201-digits`` flow's network (C=8, N=1, 8x8
inputs) on the CIFAR-10 subset of ``../shared/data/cifar10_subset`` (1,000 training and 1,000
test images), average-pooled from 32x32 to the flow's 8x8 so that the whole benchmark fits a few
CPU-minutes per run. Each trial builds the cell network under the trial's seed and trains it from
scratch as the flow's objective does (``programs.train``: Adam at its default rate, batch 64,
cosine schedule over the trial's epochs, one torch thread); its score is the test accuracy. The
fidelity is the number of epochs, 1 to ``--epochs`` (the full count). Methods:

- ``tpe``: the project's TPE (defaults), every trial at the full count;
- ``tpe_median``: the same with the median pruner (Optuna's defaults), the test accuracy
  reported after every epoch;
- ``hyperband``, ``bohb``: the budgeted algorithms (eta=3, defaults), one worker;
- ``asha``: ASHA (eta=3) with 2 worker processes (asynchronous local pool);
- ``optuna_tpe_hyperband``: Optuna's ``TPESampler`` (defaults, seeded) with its
  ``HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)`` on the same
  objective, reporting after every epoch, the six edges as categorical parameters.

A run stops once it has spent ``--cap`` epochs (every epoch trained counts, pruned and
low-budget trials included; the symnas searches are resumed with more trials until then, and
only the trials within the cap are counted). Its curve holds, after each trial, the epochs
spent so far and the best test accuracy of a trial trained for the full count (a candidate's
standalone accuracy; pruned and low-budget trials are not candidates). Writes
``benchmarks/results/multi_fidelity.json`` as ``{method: {seed: [[epochs, best], ...]}}``
after every run (a run already there is skipped, one cut short starts again; seeds are the outer
loop) and prints the mean
best at fractions of the cap with 95% t-intervals over the seeds.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/multi_fidelity.py [--seeds 0 1 2 3 4]
        [--cap 108] [--epochs 9] [--methods tpe tpe_median hyperband asha bohb
        optuna_tpe_hyperband] [--out runs/multi_fidelity]

Optuna is an optional benchmark dependency (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from symnas import algorithms, flows, programs
from symnas.core.files import write_json_atomic
from symnas.flows.family_flows import SHARED_DATA, TRIAL_THREADS
from symnas.flows.report import load_result
from symnas.flows.seeding import current_trial_seed, seeded_trial, trial_seed
from symnas.programs.data import Dataset, load_dataset
from symnas.spaces.cells import nb201_cell
from symnas.spaces.codec import compile as compile_space

RESULTS = Path(__file__).resolve().parent / "results" / "multi_fidelity.json"
METHODS = ["tpe", "tpe_median", "hyperband", "asha", "bohb", "optuna_tpe_hyperband"]
WORKERS = {"asha": 2}
# Trials added per resumed chunk until the cap is spent (a chunk ends past the cap).
CHUNK = {"tpe": 1, "tpe_median": 2, "hyperband": 3, "bohb": 3, "asha": 2}
POOL = 4  # 32x32 -> 8x8, the flow's input size


def space() -> Any:
    """The flow's NB201 network (C=8, N=1) for 8x8 RGB images."""
    return nb201_cell(C=8, N=1, num_classes=10, in_chans=3)


@functools.lru_cache(maxsize=1)
def cifar_8x8() -> Dataset:
    """The CIFAR-10 subset average-pooled to 8x8."""
    data = load_dataset(f"cifar10_subset:{SHARED_DATA / 'cifar10_subset'}")
    return Dataset(
        F.avg_pool2d(data.x_train, POOL).contiguous(),
        data.y_train,
        F.avg_pool2d(data.x_test, POOL).contiguous(),
        data.y_test,
        data.num_classes,
        (3, 32 // POOL, 32 // POOL),
        "cifar10_subset_8x8",
    )


@dataclass(frozen=True)
class CellObjective:
    """Trains a cell network for ``trial.budget`` epochs; with ``report``, reports the test
    accuracy after each epoch and stops when the trial's pruner says so."""

    report: bool

    def __call__(self, spec: dict, trial: Any) -> dict[str, float]:
        data = cifar_8x8()
        seed = current_trial_seed() or 0
        torch.manual_seed(seed)
        model = programs.build(spec, num_classes=data.num_classes)
        on_epoch = None
        if self.report:

            def on_epoch(epoch: int, module: torch.nn.Module) -> bool:
                accuracy = programs.evaluate(module, data, "test")["accuracy"]
                trial.report(epoch, {"accuracy": accuracy})
                return not trial.should_stop()

        metrics = programs.train(
            model, data, epochs=int(trial.budget), seed=seed, on_epoch=on_epoch
        )
        return {"accuracy": metrics["accuracy"]}


def trial_epochs(trial: Any, full: int) -> int:
    """Epochs a logged trial trained: its last report's step (pruned, failed) or its budget."""
    reports = trial.extra.get("reports", [])
    if trial.status == "ok":
        return int(trial.extra.get("budget", full))
    return int(reports[-1][0]) if reports else 0


def curve(rows: list[tuple[int, str, float | None, int]], full: int, cap: int) -> list:
    """``[[epochs spent, best full-count accuracy], ...]`` after each trial within the cap;
    ``rows`` are (epochs trained, status, accuracy, budget) in feedback order."""
    spent, best, points = 0, None, []
    for epochs, status, accuracy, budget in rows:
        if spent + epochs > cap:
            break
        spent += epochs
        if status == "ok" and budget == full and accuracy is not None:
            best = accuracy if best is None else max(best, accuracy)
        if best is not None:
            points.append([spent, best])
    return points


def run_symnas(method: str, seed: int, cap: int, full: int, out: Path) -> list:
    """One symnas search, resumed with more trials until it has spent ``cap`` epochs."""
    name = {"tpe_median": "tpe"}.get(method, method)
    pruner = "median" if method == "tpe_median" else None
    budget, spent = 0, 0
    while spent < cap:
        budget += CHUNK[method]
        flows.search(
            space(),
            CellObjective(report=method == "tpe_median"),
            algorithms.create(name, metric="accuracy"),
            budget,
            out=out,
            seed=seed,
            resume=budget > CHUNK[method],
            workers=WORKERS.get(method, 1),
            threads=TRIAL_THREADS,
            pruner=pruner,
            fidelity=flows.Fidelity(1, full),
            options={"benchmark": "multi_fidelity", "epochs": full},
            verbose=False,
        )
        trials = sorted(load_result(out).trials, key=lambda t: t.extra["fed"])
        spent = sum(trial_epochs(t, full) for t in trials)
    rows = [
        (
            trial_epochs(t, full),
            t.status,
            t.metrics["accuracy"] if t.metrics else None,
            int(t.extra.get("budget", full)),
        )
        for t in trials
    ]
    return curve(rows, full, cap)


def run_optuna(seed: int, cap: int, full: int) -> list:
    """Optuna's TPESampler with its HyperbandPruner on the same objective and seeds."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    codec = compile_space(space())
    train = CellObjective(report=True)
    rows: list[tuple[int, str, float | None, int]] = []

    def run_trial(trial: optuna.Trial) -> float:
        genome = np.array(
            [trial.suggest_categorical(f"edge{k}", list(range(5))) for k in range(6)], float
        )
        handle = _OptunaHandle(trial, full)
        try:
            with seeded_trial(trial_seed(seed, trial.number), TRIAL_THREADS):
                metrics = train(codec.decode(genome), handle)
        finally:
            epochs = handle.reports[-1][0] if handle.reports else 0
            status = "pruned" if handle.pruned else "ok"
            accuracy = handle.reports[-1][1] if handle.reports else None
            rows.append((epochs, status, accuracy, full))
        if handle.pruned:
            raise optuna.TrialPruned()
        return metrics["accuracy"]

    def stop_at_cap(study: optuna.Study, _: Any) -> None:
        if sum(r[0] for r in rows) >= cap:
            study.stop()

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=full, reduction_factor=3
        ),
    )
    study.optimize(run_trial, n_trials=10_000, callbacks=[stop_at_cap])
    return curve(rows, full, cap)


class _OptunaHandle:
    """The flow objective's trial handle, backed by an Optuna trial (report, should_prune)."""

    def __init__(self, trial: Any, full: int) -> None:
        self.trial = trial
        self.budget = full
        self.reports: list[tuple[int, float]] = []
        self.pruned = False

    def report(self, step: int, metrics: dict[str, float]) -> None:
        self.trial.report(metrics["accuracy"], step)
        self.reports.append((step, metrics["accuracy"]))

    def should_stop(self) -> bool:
        self.pruned = self.pruned or self.trial.should_prune()
        return self.pruned


def best_at(points: list, epochs: float) -> float:
    """The best accuracy reached within ``epochs`` (NaN before the first full-count result)."""
    reached = [b for e, b in points if e <= epochs]
    return reached[-1] if reached else math.nan


def interval(values: list[float]) -> str:
    """Mean +- 95% t-interval half-width (NaN values dropped)."""
    from scipy import stats

    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "-"
    mean = float(np.mean(finite))
    if len(finite) < 2:
        return f"{mean:.4f} (n=1)"
    half = stats.t.ppf(0.975, len(finite) - 1) * np.std(finite, ddof=1) / math.sqrt(len(finite))
    missing = f" (n={len(finite)})" if len(finite) < len(values) else ""
    return f"{mean:.4f} +- {half:.4f}{missing}"


def summarise(results: dict, cap: int) -> str:
    """The mean best accuracy of each method at a third, two thirds and all of the cap; how
    many seeds reach full-fidelity TPE's final best (same seed) within a third of the cap; the
    paired difference to Optuna's TPE + Hyperband at each mark."""
    marks = [cap // 3, 2 * cap // 3, cap]
    lines = ["best full-count test accuracy within E epochs (mean +- 95% CI over seeds)"]
    lines.append("method".ljust(22) + "".join(f"E={m}".rjust(26) for m in marks))
    for method, runs in results.items():
        cells = [interval([best_at(p, m) for p in runs.values()]) for m in marks]
        lines.append(method.ljust(22) + "".join(c.rjust(26) for c in cells))
    tpe, optuna = results.get("tpe", {}), results.get("optuna_tpe_hyperband", {})
    if tpe:
        lines.append(f"seeds reaching tpe's final best (same seed) within E={cap // 3}:")
        for method, runs in results.items():
            seeds = [s for s in runs if s in tpe and tpe[s]]
            hits = sum(best_at(runs[s], cap // 3) >= tpe[s][-1][1] for s in seeds)
            lines.append(f"  {method.ljust(22)}{hits} of {len(seeds)}")
    if optuna:
        lines.append("difference to optuna_tpe_hyperband at equal epochs (paired by seed):")
        for method, runs in results.items():
            if method == "optuna_tpe_hyperband":
                continue
            seeds = [s for s in runs if s in optuna]
            cells = [
                interval([best_at(runs[s], m) - best_at(optuna[s], m) for s in seeds])
                for m in marks
            ]
            lines.append("  " + method.ljust(20) + "".join(c.rjust(26) for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cap", type=int, default=108, help="epochs each run may spend")
    parser.add_argument("--epochs", type=int, default=9, help="the full epoch count")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--out", type=Path, default=Path("runs/multi_fidelity"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    for seed in args.seeds:
        for method in args.methods:
            if str(seed) in results.get(method, {}):
                continue
            start = time.perf_counter()
            if method == "optuna_tpe_hyperband":
                points = run_optuna(seed, args.cap, args.epochs)
            else:
                out = args.out / method / str(seed)
                shutil.rmtree(out, ignore_errors=True)  # a run cut short starts again
                points = run_symnas(method, seed, args.cap, args.epochs, out)
            results.setdefault(method, {})[str(seed)] = points
            write_json_atomic(args.results, results)
            final = points[-1] if points else None
            print(
                f"{method} seed {seed}: {final} in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    print(summarise({m: results[m] for m in args.methods if m in results}, args.cap))


if __name__ == "__main__":
    main()
