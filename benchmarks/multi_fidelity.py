"""Multi-fidelity search with real training: best standalone accuracy found vs epochs trained.

Every method searches NAS-Bench-201 cells in the ``nb201-digits`` flow's network (C=8, N=1) on
the CIFAR-10 subset of ``../shared/data/cifar10_subset`` (1,000 training and 1,000 test images)
average-pooled from 32x32 to ``--size`` x ``--size``, with a fifth of each class's training
images held out for validation as the family flows hold it out (``Dataset.with_validation``).
Each trial builds the cell network under its trial's seed and trains it as the flow's objective
does (``programs.train``: Adam at its default rate, batch ``--batch``, cosine schedule over the
FULL ``--epochs``, so a budget-b trial is the first b epochs of the full training, one torch
thread); it selects on the validation accuracy (reported after every epoch, the metric the
algorithms and pruners read) and records the test accuracy of the final weights. The fidelity
is the number of epochs, ``--min-budget`` to ``--epochs``. In the symnas searches a trial below
the full count saves its state in the trial's checkpoint folder, and a promoted candidate
continues the state saved below its budget and trains only the epochs left
(``trial.checkpoint_dir``, ``trial.continue_from``). Methods:

- ``tpe``: the project's TPE (defaults), every trial at the full count;
- ``tpe_median``: the same with the median pruner (Optuna's defaults);
- ``hyperband``, ``bohb``: the budgeted algorithms (eta=3, defaults), one worker;
- ``asha``: ASHA (eta=3) with 2 worker processes (asynchronous local pool);
- ``optuna_tpe_hyperband``: Optuna's ``TPESampler`` (defaults, seeded) with its
  ``HyperbandPruner(min_resource=--min-budget, max_resource=--epochs, reduction_factor=3)`` on
  the same objective (an Optuna trial goes on training until pruned), the six edges as
  categorical parameters.

A run stops once it has trained ``--cap`` epochs (every epoch trained counts, pruned and
low-budget trials included, continued ones only for the epochs they add; the symnas searches
are resumed with more trials until then, and only the trials within the cap are counted). Its
curve holds, after each trial, the epochs trained so far and the test accuracy of the trial
with the best validation accuracy among those trained the full count (the candidate the search
would return; pruned and low-budget trials are not candidates). Writes
``benchmarks/results/multi_fidelity.json`` as ``{method: {seed: [[epochs, test accuracy],
...]}}`` after every run (a run already there is skipped, one cut short starts again; seeds are
the outer loop) and prints the mean at fractions of the cap with 95% t-intervals over the seeds.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/multi_fidelity.py [--seeds 0 1 2 3 4]
        [--cap 108] [--epochs 9] [--min-budget 1] [--size 16] [--batch 64]
        [--methods tpe tpe_median hyperband asha bohb optuna_tpe_hyperband]
        [--out runs/multi_fidelity] [--results FILE] [--merge PART.json ...]

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

from symnas import algorithms, flows
from symnas.core.files import write_json_atomic
from symnas.flows.family_flows import (
    SHARED_DATA,
    TRIAL_THREADS,
    VALID_FRACTION,
    VALID_SEED,
    train_trial,
)
from symnas.flows.report import load_result
from symnas.flows.result import budget_trained
from symnas.flows.seeding import seeded_trial, trial_seed
from symnas.programs.data import Dataset, load_dataset
from symnas.spaces.cells import nb201_cell
from symnas.spaces.codec import compile as compile_space

RESULTS = Path(__file__).resolve().parent / "results" / "multi_fidelity.json"
METHODS = ["tpe", "tpe_median", "hyperband", "asha", "bohb", "optuna_tpe_hyperband"]
WORKERS = {"asha": 2}
# Trials added per resumed chunk until the cap is spent (a chunk ends past the cap).
CHUNK = {"tpe": 1, "tpe_median": 2, "hyperband": 3, "bohb": 3, "asha": 2}
METRIC = "valid_accuracy"


def space() -> Any:
    """The flow's NB201 network (C=8, N=1) for RGB images."""
    return nb201_cell(C=8, N=1, num_classes=10, in_chans=3)


@functools.lru_cache(maxsize=2)
def cifar_subset(size: int) -> Dataset:
    """The CIFAR-10 subset average-pooled from 32x32 to ``size`` x ``size``, a fifth of each
    class's training images held out as validation as in the flows."""
    if size < 1 or 32 % size:
        raise ValueError(f"size must divide 32; got {size!r}.")
    data = load_dataset(f"cifar10_subset:{SHARED_DATA / 'cifar10_subset'}")
    pool = 32 // size
    return Dataset(
        F.avg_pool2d(data.x_train, pool).contiguous(),
        data.y_train,
        F.avg_pool2d(data.x_test, pool).contiguous(),
        data.y_test,
        data.num_classes,
        (3, size, size),
        f"cifar10_subset_{size}x{size}",
    ).with_validation(VALID_FRACTION, VALID_SEED)


@dataclass(frozen=True)
class CellObjective:
    """The family flows' trial (``flows.family_flows.train_trial``) on the pooled CIFAR-10
    subset: trains a cell network up to ``trial.budget`` of ``epochs`` (the schedule's length),
    continuing the state saved below the budget in the trial's checkpoint folder; reports the
    validation accuracy after each epoch and stops when the trial's pruner says so."""

    size: int
    batch: int
    epochs: int

    def __call__(self, spec: dict, trial: Any) -> dict[str, float]:
        data = cifar_subset(self.size)
        metrics = train_trial(spec, trial, data, self.epochs, batch_size=self.batch)
        return {key: metrics[key] for key in (METRIC, "test_accuracy", "epochs_trained")}


# (epochs trained, full count reached and not pruned, valid accuracy, test accuracy)
Row = tuple[float, bool, float | None, float | None]


def curve(rows: list[Row], cap: int) -> list:
    """``[[epochs trained, test accuracy of the best-validation full-count trial], ...]`` after
    each trial (in feedback order) within the cap."""
    spent, best, points = 0.0, None, []
    for epochs, full, valid, test in rows:
        if spent + epochs > cap:
            break
        spent += epochs
        if full and valid is not None and (best is None or valid > best[0]):
            best = (valid, test)
        if best is not None:
            points.append([spent, best[1]])
    return points


def run_symnas(method: str, seed: int, cap: int, objective: CellObjective, low: int, out: Path):
    """One symnas search, resumed with more trials until it has trained ``cap`` epochs."""
    name = {"tpe_median": "tpe"}.get(method, method)
    pruner = "median" if method == "tpe_median" else None
    budget, spent = 0, 0.0
    while spent < cap:
        budget += CHUNK[method]
        flows.search(
            space(),
            objective,
            algorithms.create(name, metric=METRIC),
            budget,
            out=out,
            seed=seed,
            resume=budget > CHUNK[method],
            workers=WORKERS.get(method, 1),
            threads=TRIAL_THREADS,
            pruner=pruner,
            fidelity=flows.Fidelity(low, objective.epochs),
            options={
                "benchmark": "multi_fidelity",
                "size": objective.size,
                "batch": objective.batch,
            },
            verbose=False,
        )
        trials = sorted(load_result(out).trials, key=lambda t: t.extra["fed"])
        spent = sum(budget_trained(t) for t in trials)
    rows = [
        (
            budget_trained(t),
            t.status == "ok" and t.extra["budget"] == objective.epochs,
            t.metrics[METRIC] if t.status == "ok" else None,
            t.metrics["test_accuracy"] if t.status == "ok" else None,
        )
        for t in trials
    ]
    return curve(rows, cap)


def run_optuna(seed: int, cap: int, objective: CellObjective, low: int) -> list:
    """Optuna's TPESampler with its HyperbandPruner on the same objective and seeds."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    codec = compile_space(space())
    rows: list[Row] = []

    def run_trial(trial: optuna.Trial) -> float:
        genome = np.array(
            [trial.suggest_categorical(f"edge{k}", list(range(5))) for k in range(6)], float
        )
        handle = _OptunaHandle(trial, objective.epochs)
        metrics = None
        try:
            with seeded_trial(trial_seed(seed, trial.number), TRIAL_THREADS):
                metrics = objective(codec.decode(genome), handle)
        finally:
            epochs = handle.reports[-1] if handle.reports else 0
            full = metrics is not None and not handle.pruned
            valid = metrics[METRIC] if full else None
            rows.append((epochs, full, valid, metrics["test_accuracy"] if full else None))
        if handle.pruned:
            raise optuna.TrialPruned()
        return metrics[METRIC]

    def stop_at_cap(study: optuna.Study, _: Any) -> None:
        if sum(r[0] for r in rows) >= cap:
            study.stop()

    # HyperbandPruner assigns trials to brackets by a hash of the study name and trial number;
    # an unnamed study gets a random name, so the name is fixed for the same command to give
    # the same run.
    study = optuna.create_study(
        study_name=f"multi_fidelity_seed{seed}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=low, max_resource=objective.epochs, reduction_factor=3
        ),
    )
    study.optimize(run_trial, n_trials=10_000, callbacks=[stop_at_cap])
    return curve(rows, cap)


class _OptunaHandle:
    """The objective's trial handle, backed by an Optuna trial (report, should_prune); an
    Optuna trial trains on until pruned, so it has no checkpoint folder."""

    checkpoint_dir = None

    def __init__(self, trial: Any, full: int) -> None:
        self.trial = trial
        self.budget = full
        self.reports: list[int] = []
        self.pruned = False

    def continue_from(self, step: int) -> None:
        raise AssertionError("an Optuna trial has no checkpoint to continue")

    def report(self, step: int, metrics: dict[str, float]) -> None:
        self.trial.report(metrics[METRIC], step)
        self.reports.append(step)

    def should_stop(self) -> bool:
        self.pruned = self.pruned or self.trial.should_prune()
        return self.pruned


def best_at(points: list, epochs: float) -> float:
    """The accuracy reached within ``epochs`` (NaN before the first full-count result)."""
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
    """The mean accuracy of each method at a third, two thirds and all of the cap; how many
    seeds reach full-fidelity TPE's final accuracy (same seed) within a third of the cap; the
    paired difference to Optuna's TPE + Hyperband at each mark."""
    marks = [cap // 3, 2 * cap // 3, cap]
    lines = ["test accuracy of the best-validation full-count trial within E epochs trained"]
    lines.append("method".ljust(22) + "".join(f"E={m}".rjust(26) for m in marks))
    for method, runs in results.items():
        cells = [interval([best_at(p, m) for p in runs.values()]) for m in marks]
        lines.append(method.ljust(22) + "".join(c.rjust(26) for c in cells))
    tpe, optuna = results.get("tpe", {}), results.get("optuna_tpe_hyperband", {})
    if tpe:
        lines.append(f"seeds reaching tpe's final accuracy (same seed) within E={cap // 3}:")
        for method, runs in results.items():
            seeds = [s for s in runs if s in tpe and tpe[s]]
            hits = sum(best_at(runs[s], cap // 3) >= best_at(tpe[s], cap) for s in seeds)
            lines.append(f"  {method.ljust(22)}{hits} of {len(seeds)}")
    for name, reference in (("tpe", tpe), ("optuna_tpe_hyperband", optuna)):
        if not reference:
            continue
        lines.append(f"difference to {name} at equal epochs (paired by seed):")
        for method, runs in results.items():
            if method == name:
                continue
            seeds = [s for s in runs if s in reference]
            cells = [
                interval([best_at(runs[s], m) - best_at(reference[s], m) for s in seeds])
                for m in marks
            ]
            lines.append("  " + method.ljust(20) + "".join(c.rjust(26) for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cap", type=int, default=108, help="epochs each run may train")
    parser.add_argument("--epochs", type=int, default=9, help="the full epoch count")
    parser.add_argument("--min-budget", type=int, default=1, help="the lowest budget (epochs)")
    parser.add_argument("--size", type=int, default=16, help="image side after pooling")
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--out", type=Path, default=Path("runs/multi_fidelity"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="results files of separate runs (one method x seed each) to merge into --results "
        "and summarise, training nothing",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        merged: dict = {}
        for part in args.merge:
            for method, runs in json.loads(part.read_text()).items():
                merged.setdefault(method, {}).update(runs)
        merged = {
            m: dict(sorted(merged[m].items(), key=lambda kv: int(kv[0])))
            for m in METHODS
            if m in merged
        }
        write_json_atomic(args.results, merged)
        print(summarise(merged, args.cap))
        return
    objective = CellObjective(args.size, args.batch, args.epochs)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    for seed in args.seeds:
        for method in args.methods:
            if str(seed) in results.get(method, {}):
                continue
            start = time.perf_counter()
            if method == "optuna_tpe_hyperband":
                points = run_optuna(seed, args.cap, objective, args.min_budget)
            else:
                out = args.out / method / str(seed)
                shutil.rmtree(out, ignore_errors=True)  # a run cut short starts again
                points = run_symnas(method, seed, args.cap, objective, args.min_budget, out)
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
