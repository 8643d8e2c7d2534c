"""Supernet ranking on NAS-Bench-201: does a trained supernet rank cells like training them alone?

One protocol for every weight-sharing method. Each (method, seed) trains NB201 cell supernets on
the CIFAR-10 subset (1,000 training images of ``../shared/data/cifar10_subset``, average-pooled
to ``--image-size``) under a stated budget (epochs x 16 steps of ``--batch-size`` 64), then scores
a fixed sample of ``--cells`` NB201 cells (drawn once with ``np.random.default_rng(0)``) with
inherited weights on all 1,000 test images, BatchNorm with batch statistics, ranked by accuracy.
The estimates are compared with (a) the published NB201 CIFAR-10 table (``test_acc``, 200 epochs,
32x32, C=16, N=5) and (b) a stand-alone table at the same proxy setting: the first
``--standalone-cells`` cells of the sample trained alone with the same recipe for
``--standalone-epochs`` (``--standalone`` builds it, once per ``--standalone-seeds`` seed, and
the mean over seeds is the ground truth; it is saved with the commands that made it and
reused). Printed per (method, seed): Kendall tau, Spearman and top-10% precision against both; then the mean over seeds with a 95%
bootstrap interval (resampling seeds), the paired difference to ``--baseline`` and the training
CPU seconds per epoch against that baseline's.

Methods: ``uniform`` (SPOS: one uniformly drawn path per step); the path samplers ``control``,
``pada_path``, ``pada_data``, ``pada`` (PA&DA and its gradient-free control) and ``multi_path``
(ViT-ResNAS multi-architecture sampling) of ``algorithms.samplers``, trained by the same
``SupernetTrainer`` with the same per-cell and connected-only options; and the few-shot methods
``one_shot``, ``exhaustive`` (Few-Shot NAS) and ``gm`` (GM-NAS) of
``algorithms.oneshot.fewshot.FewShotTrainer``. Every method gets the same total number of
training steps (``--epochs`` x steps per epoch, summed over sub-supernets): a few-shot method's
lineage (root to leaf) is the longest whose stages add up to at most that budget, with the
papers' split points (Few-Shot NAS after 2/3 of a lineage, GM-NAS after 1/4 and 1/2).
``--lineage-budget`` gives every lineage ``--epochs`` instead (the papers' accounting, so the
few-shot methods train 2.5-3x longer). With ``--re-budget`` trials, regularized evolution
searches each trained estimator and the published accuracy of its best cell is reported.

The recipe follows the NB201 weight-sharing references unless an option says otherwise: cell BN
with ``affine=False`` (``--affine`` restores the benchmark's affine BN), one cell drawn per
searched cell (Few-Shot NAS's one-shot supernet; ``--same-cell`` draws one for all), only
connected cells drawn (GM-NAS's RSPS; ``--allow-disconnected``), crop + flip augmentation
(``--augment none``), SGD with momentum 0.9, cosine decay, weight decay 5e-4.

    nice -n 5 python benchmarks/supernet_ranking.py --standalone        # the stand-alone table
    nice -n 5 python benchmarks/supernet_ranking.py --seeds 0 1 2 3 4   # uniform, 5 seeds
    python benchmarks/supernet_ranking.py --device cuda --C 16 --N 5 --image-size 32 ...

Estimates go to ``--json`` as ``{method: {seed: {arch_str: estimate}}}``, figures to
``<json stem>_summary.json``. Finished (method, seed) pairs are skipped; seeds can run in
separate processes with their own ``--json`` and be combined with ``--merge``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau, spearmanr

from symnas import algorithms, flows, programs, spaces
from symnas.algorithms.oneshot.fewshot import METHODS as FEWSHOT_METHODS
from symnas.algorithms.oneshot.fewshot import FewShotTrainer, default_split_epochs
from symnas.algorithms.samplers import UniformSampler, create_sampler
from symnas.core.files import write_json_atomic
from symnas.flows.nb201_table import read_table
from symnas.programs.data import Dataset, cifar10_subset, resized
from symnas.programs.data.augment import augment
from symnas.programs.training.estimator import SupernetEstimator
from symnas.programs.training.fewshot import FewShotEstimator
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig, resolve_device
from symnas.spaces.cells import NB201_OPS, nb201_connected

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SAMPLER_METHODS = ("control", "pada_path", "pada_data", "pada", "multi_path")
METHODS = ("uniform", *SAMPLER_METHODS, *FEWSHOT_METHODS)
TASK_KEYS = ("C", "N", "image_size", "batch_size", "lr", "weight_decay", "augment")
RECIPE_KEYS = (
    *TASK_KEYS, "epochs", "affine", "track_running_stats", "per_cell", "connected_only",
    "restart_final", "lineage_budget", "gradient_batches",
)  # fmt: skip


def sample_cells(table: dict[str, float], count: int) -> list[str]:
    """``count`` arch strings drawn once from the table with ``default_rng(0)``, sorted by index."""
    names = sorted(table)
    pick = np.random.default_rng(0).choice(len(names), size=count, replace=False)
    return [names[i] for i in sorted(pick)]


def ranking(estimates: dict[str, float], truth: dict[str, float]) -> dict[str, float] | None:
    """Kendall tau, Spearman and top-10% precision of ``estimates`` against ``truth`` over the
    cells both hold (None when they share fewer than 3); top-10% precision is the share of the
    truly best 10% that the estimates also put in their best 10%. A correlation that is
    undefined (constant estimates) is None."""
    keys = sorted(set(estimates) & set(truth))
    if len(keys) < 3:
        return None
    est = np.array([estimates[k] for k in keys])
    true = np.array([truth[k] for k in keys])
    top = max(1, round(0.1 * len(keys)))
    best_true = set(np.argsort(-true, kind="stable")[:top])
    best_est = set(np.argsort(-est, kind="stable")[:top])
    return {
        "kendall": _defined(kendalltau(est, true).statistic),
        "spearman": _defined(spearmanr(est, true).statistic),
        "top10_precision": len(best_true & best_est) / top,
        "cells": len(keys),
    }


def _defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def bootstrap_mean(values: list[float], resamples: int = 10_000) -> tuple[float, float, float]:
    """Mean of ``values`` and its 95% percentile-bootstrap interval (resampling the values)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    means = data[rng.integers(len(data), size=(resamples, len(data)))].mean(axis=1)
    return float(data.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The proxy setting shared by the supernets and the stand-alone table."""
    return {key: getattr(args, key) for key in RECIPE_KEYS}


def train_config(args: argparse.Namespace, seed: int) -> TrainConfig:
    """The weight-training settings of every supernet (and every stand-alone cell)."""
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="sgd",
        lr=args.lr,
        weight_decay=args.weight_decay,
        momentum=0.9,
        seed=seed,
        augment=None if args.augment == "none" else args.augment,
    )


# ---------------------------------------------------------------- stand-alone table
def standalone_path(args: argparse.Namespace) -> Path:
    """Where the stand-alone table of this proxy setting lives."""
    tag = (
        f"C{args.C}_N{args.N}_{args.image_size}px_{args.standalone_epochs}ep_lr{args.lr}"
        f"_wd{args.weight_decay}"
        f"_{args.augment}"
    )
    return RESULTS / f"standalone_nb201_{tag}.json"


def train_standalone(
    arch: str, data: Dataset, args: argparse.Namespace, seed: int, device: torch.device
) -> float:
    """Test accuracy of ``arch`` trained alone at the proxy setting (NB201's affine BN)."""
    torch.manual_seed(seed)
    model = programs.build(spaces.nb201_arch(arch, C=args.C, N=args.N, num_classes=10))
    rng = np.random.default_rng(seed)
    aug = None if args.augment == "none" else args.augment
    result = programs.train(
        model.to(device),
        data,
        epochs=args.standalone_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="sgd",
        weight_decay=args.weight_decay,
        seed=seed,
        device=device,
        step_fn=lambda m, x, y, step: F.cross_entropy(m(augment(aug, x, rng)), y),
    )
    return float(result["accuracy"])


def read_standalone(path: Path) -> dict[str, float]:
    """The stand-alone accuracy of every cell trained with every seed of the table at ``path``
    (the mean over those seeds); empty if there is no table."""
    if not path.exists():
        return {}
    runs = json.loads(path.read_text())["accuracy_by_seed"].values()
    common = set.intersection(*(set(run) for run in runs))
    return {arch: float(np.mean([run[arch] for run in runs])) for arch in sorted(common)}


def build_standalone(
    cells: list[str], data: Dataset, args: argparse.Namespace, device: torch.device
) -> None:
    """Trains (or resumes) the stand-alone table of the first ``--standalone-cells`` cells of a
    fixed permutation of the sample, once per ``--standalone-seeds`` seed."""
    path = standalone_path(args)
    saved = json.loads(path.read_text()) if path.exists() else {}
    setting = {key: getattr(args, key) for key in (*TASK_KEYS, "cells", "standalone_epochs")}
    if saved and saved["setting"] != setting:
        raise ValueError(f"{path} holds another setting: {saved['setting']}")
    runs = saved.get("accuracy_by_seed", {})
    commands = saved.get("commands", [])
    command = shlex.join(["python", *sys.argv])
    if command not in commands:
        commands.append(command)
    order = np.random.default_rng(1).permutation(len(cells))[: args.standalone_cells]
    for seed in args.standalone_seeds:
        table = runs.setdefault(str(seed), {})
        for n, i in enumerate(order):
            arch = cells[i]
            if arch in table:
                continue
            start = time.process_time()
            table[arch] = train_standalone(arch, data, args, seed, device)
            print(
                f"stand-alone seed {seed} {n + 1}/{len(order)} {arch}: {table[arch]:.3f} "
                f"({time.process_time() - start:.0f} CPU-s)",
                flush=True,
            )
            write_json_atomic(
                path, {"setting": setting, "commands": commands, "accuracy_by_seed": runs}
            )


# ---------------------------------------------------------------- supernets
LEAVES = {"one_shot": (1,), "exhaustive": (1, 5), "gm": (1, 2, 4)}  # leaves per stage


def stage_epochs(method: str, lineage: int) -> int:
    """Epochs summed over every sub-supernet of a lineage of ``lineage`` epochs."""
    bounds = (0, *default_split_epochs(method, lineage), lineage)
    stages = zip(bounds[:-1], bounds[1:], strict=True)
    return sum(n * (end - start) for n, (start, end) in zip(LEAVES[method], stages, strict=True))


def lineage_epochs(method: str, total: int) -> int:
    """The longest lineage whose stages train at most ``total`` epochs in all."""
    if method == "uniform" or method in SAMPLER_METHODS:
        return total
    fits = [
        e
        for e in range(2, total + 1)
        if len(default_split_epochs(method, e)) == len(LEAVES[method]) - 1
        and stage_epochs(method, e) <= total
    ]
    if not fits:
        raise ValueError(f"--epochs {total} is too short for {method}'s stages")
    return max(fits)


def train_supernet(
    method: str, seed: int, data: Dataset, args: argparse.Namespace, device: torch.device
) -> tuple[Any, Any, int, list[float] | None]:
    """Trains one method's supernet; returns it, its estimator class, its training steps and the
    op-type probabilities its sampler ended with (None for samplers without them)."""
    macro = {"C": args.C, "N": args.N, "num_classes": 10, "in_chans": 3}
    space = spaces.nb201_cell(**macro)
    norm = {"affine": args.affine, "track_running_stats": args.track_running_stats}
    accept = nb201_connected if args.connected_only else None
    work = args.work / method / str(seed)
    if method == "uniform" or method in SAMPLER_METHODS:
        torch.manual_seed(seed)
        supernet = programs.supernet(space, **norm)
        make = UniformSampler if method == "uniform" else lambda **o: create_sampler(method, **o)
        trainer = SupernetTrainer(
            supernet,
            data,
            train_config(args, seed),
            sampler=make(per_cell=args.per_cell, accept=accept),
            space=space,
            out=work,
            resume=True,
            device=device,
            progress=False,
        )
        trainer.fit()
        final = trainer.sampler.state_dict().get("probabilities")
        return supernet, SupernetEstimator, trainer.step, final
    lineage = args.epochs if args.lineage_budget else lineage_epochs(method, args.epochs)
    trainer = FewShotTrainer(
        space,
        data,
        dataclasses.replace(train_config(args, seed), epochs=lineage),
        method=method,
        gradient_batches=args.gradient_batches,
        task=norm,
        per_cell=args.per_cell,
        accept=accept,
        restart_final=None if args.restart_final else False,
        out=work,
        resume=True,
        device=device,
        progress=False,
    )
    supernet = trainer.fit()
    return supernet, FewShotEstimator, trainer.steps, None


def run(args: argparse.Namespace) -> None:
    """Trains and scores every (method, seed) not yet in ``--json``, then prints the summary."""
    device = resolve_device(args.device)
    published = read_table(DATA / "nb201" / "nb201_cifar10.csv")
    cells = sample_cells(published, args.cells)
    data = resized(cifar10_subset(DATA / "cifar10_subset"), args.image_size)
    print(
        f"NB201 C={args.C} N={args.N} {args.image_size}px, {args.epochs} epochs x "
        f"{math.ceil(len(data.y_train) / args.batch_size)} steps, {args.cells} cells, "
        f"{len(data.y_test)} test images, device {device}",
        flush=True,
    )
    if args.standalone:
        build_standalone(cells, data, args, device)
        return
    path = standalone_path(args)
    standalone = read_standalone(path)
    estimates = json.loads(args.json.read_text()) if args.json.exists() else {}
    summary_file = summary_path(args.json)
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if summary.get("setting", recipe(args)) != recipe(args):
        raise ValueError(f"{summary_file} holds another setting: {summary['setting']}")
    summary["setting"] = recipe(args)
    summary["standalone_table"] = path.name if standalone else None
    runs = summary.setdefault("runs", {})
    specs = [spaces.nb201_arch(a, C=args.C, N=args.N, num_classes=10) for a in cells]
    for seed in [] if args.report else args.seeds:
        for method in args.methods:
            if str(seed) in runs.get(method, {}):
                continue
            cpu, wall = time.process_time(), time.perf_counter()
            supernet, estimator_class, steps, final = train_supernet(
                method, seed, data, args, device
            )
            train_cpu, train_wall = time.process_time() - cpu, time.perf_counter() - wall
            cpu, wall = time.process_time(), time.perf_counter()
            estimator = estimator_class(
                supernet,
                data,
                batch_size=args.eval_batch_size,
                batch_statistics=True,
                device=device,
            )
            scores = estimator.evaluate_batch(specs)
            score_cpu, score_wall = time.process_time() - cpu, time.perf_counter() - wall
            est = {a: s["accuracy"] for a, s in zip(cells, scores, strict=True)}
            best = search_best(estimator, args, seed) if args.re_budget else None
            row = {
                "published": ranking(est, published),
                "standalone": ranking(est, standalone),
                "steps": steps,
                "train_cpu_s": round(train_cpu, 1),
                "train_wall_s": round(train_wall, 1),
                "score_cpu_s": round(score_cpu, 1),
                "score_wall_s": round(score_wall, 1),
                "mean_estimate": float(np.mean(list(est.values()))),
                "re_best": best,
                "re_best_published": published[best] if best else None,
            }
            if final is not None:
                row["final_op_probabilities"] = dict(zip(NB201_OPS, final, strict=True))
            estimates.setdefault(method, {})[str(seed)] = est
            runs.setdefault(method, {})[str(seed)] = row
            write_json_atomic(args.json, estimates)
            write_json_atomic(summary_file, summary)
            print(format_row(method, seed, row), flush=True)
    report(estimates, summary, standalone, published, args.baseline)
    write_json_atomic(summary_file, summary)


def search_best(estimator: Any, args: argparse.Namespace, seed: int) -> str:
    """The arch string regularized evolution finds best with ``estimator`` as its objective."""
    space = spaces.nb201_cell(C=args.C, N=args.N, num_classes=10, in_chans=3)
    algorithm = algorithms.RegularizedEvolution(
        population_size=20, tournament_size=5, metric="accuracy"
    )
    result = flows.search(
        space, estimator, algorithm=algorithm, budget=args.re_budget, seed=seed, verbose=False
    )
    return spaces.nb201_arch_str(result.best.spec)


def format_row(method: str, seed: int, row: dict[str, Any]) -> str:
    """One (method, seed) line of figures."""
    figures = " | ".join(
        f"{against} tau {_shown(r['kendall'])} rho {_shown(r['spearman'])} top10% "
        f"{r['top10_precision']:.2f}"
        for against, r in (("published", row["published"]), ("stand-alone", row["standalone"]))
        if r
    )
    return (
        f"{method:10s} seed {seed}: {figures} | {row['steps']} steps, train "
        f"{row['train_cpu_s']:.0f} CPU-s, score {row['score_cpu_s']:.0f} CPU-s, mean acc "
        f"{row['mean_estimate']:.3f}"
        + (f" | RE best published {row['re_best_published']:.2f}" if row.get("re_best") else "")
    )


def _shown(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def summary_path(path: Path) -> Path:
    """Where the figures of the estimates in ``path`` go."""
    return path.with_name(path.stem + "_summary.json")


def report(
    estimates: dict,
    summary: dict,
    standalone: dict[str, float],
    published: dict[str, float],
    baseline: str = "one_shot",
) -> None:
    """Re-scores every stored estimate against both tables (the stand-alone table may have grown
    since a run), stores the figures in ``summary`` and prints the mean over seeds with 95%
    bootstrap intervals, paired differences to ``baseline``, training CPU seconds per epoch
    against the baseline's and the proxy task's own ceiling."""
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for method, seeds in summary["runs"].items():
        for seed, row in seeds.items():
            row["published"] = ranking(estimates[method][seed], published)
            row["standalone"] = ranking(estimates[method][seed], standalone)
            figures.setdefault(method, {})[seed] = {
                f"{against} {key}": row[against][key]
                for against in ("published", "standalone")
                if row[against]
                for key in ("kendall", "spearman", "top10_precision")
                if row[against][key] is not None
            }
    summary["standalone_cells"] = len(standalone)
    ceiling = ranking(standalone, published)
    summary["standalone_vs_published"] = ceiling
    if ceiling:
        print(
            f"\nstand-alone table ({len(standalone)} cells) vs published: tau "
            f"{ceiling['kendall']:.3f} rho {ceiling['spearman']:.3f} top10% "
            f"{ceiling['top10_precision']:.2f} (the ceiling of the proxy task)"
        )
    print("\nmean over seeds [95% bootstrap interval]:")
    means = summary["means"] = {}
    epochs = summary["setting"]["epochs"]
    base_rows = summary["runs"].get(baseline, {}).values()
    base_cpu = np.mean([r["train_cpu_s"] for r in base_rows]) if base_rows else None
    for method, seeds in figures.items():
        rows = summary["runs"][method].values()
        steps = int(np.mean([r["steps"] for r in rows]))
        cpu = np.mean([r["train_cpu_s"] for r in rows])
        wall = np.mean([r["train_wall_s"] for r in rows])
        relative = f", {cpu / base_cpu:.2f}x {baseline}" if base_cpu else ""
        print(
            f"{method:10s} seeds {sorted(seeds)}, {steps} steps, {cpu:.0f} train CPU-s "
            f"({cpu / epochs:.3f} CPU-s, {wall / epochs:.3f} wall-s per epoch{relative}):"
        )
        means[method] = {}
        for name in sorted({name for f in seeds.values() for name in f}):
            having = {seed: f[name] for seed, f in seeds.items() if name in f}
            mean, low, high = bootstrap_mean(list(having.values()))
            means[method][name] = [mean, low, high]
            line = f"  {name:28s} {mean:7.3f} [{low:.3f}, {high:.3f}] (n={len(having)})"
            base = {k: f[name] for k, f in figures.get(baseline, {}).items() if name in f}
            shared = sorted(set(having) & set(base))
            if method != baseline and shared:
                diff = [having[k] - base[k] for k in shared]
                d, dl, dh = bootstrap_mean(diff)
                line += f"   minus {baseline} {d:+.3f} [{dl:+.3f}, {dh:+.3f}] (n={len(shared)})"
            print(line)


def merge(parts: list[Path], path: Path) -> None:
    """Combines per-seed estimate files (and their summaries) into ``path``."""
    estimates: dict = {}
    summary: dict = {"runs": {}}
    for part in parts:
        for method, seeds in json.loads(part.read_text()).items():
            estimates.setdefault(method, {}).update(seeds)
        other = json.loads(summary_path(part).read_text())
        if summary.get("setting", other["setting"]) != other["setting"]:
            raise ValueError(f"{part}: another setting than the files before it.")
        summary["setting"], summary["standalone_table"] = (
            other["setting"],
            other["standalone_table"],
        )
        for method, seeds in other["runs"].items():
            summary["runs"].setdefault(method, {}).update(seeds)
    write_json_atomic(path, estimates)
    write_json_atomic(summary_path(path), summary)


def parse_args() -> argparse.Namespace:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["uniform"], choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--augment", default="crop_flip", choices=["crop_flip", "none"])
    parser.add_argument("--affine", action="store_true", help="affine cell BN (not the reference)")
    parser.add_argument("--track-running-stats", action="store_true")
    parser.add_argument("--same-cell", dest="per_cell", action="store_false")
    parser.add_argument("--allow-disconnected", dest="connected_only", action="store_false")
    parser.add_argument("--no-restart-final", dest="restart_final", action="store_false")
    parser.add_argument("--gradient-batches", type=int, default=20)
    parser.add_argument("--lineage-budget", action="store_true")
    parser.add_argument("--re-budget", type=int, default=60)
    parser.add_argument("--eval-batch-size", type=int, default=1000)
    parser.add_argument(
        "--standalone", action="store_true", help="train the stand-alone table, then stop"
    )
    parser.add_argument("--standalone-cells", type=int, default=50)
    parser.add_argument("--standalone-epochs", type=int, default=100)
    parser.add_argument("--standalone-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("runs/supernet_ranking"))
    parser.add_argument("--json", type=Path, default=RESULTS / "ranking_nb201.json")
    parser.add_argument("--merge", type=Path, nargs="+", help="combine these --json files")
    parser.add_argument("--report", action="store_true", help="only re-score and print --json")
    parser.add_argument(
        "--baseline", default="one_shot", choices=METHODS, help="paired differences against it"
    )
    args = parser.parse_args()
    for name in (
        "cells", "epochs", "batch_size", "standalone_cells", "standalone_epochs", "eval_batch_size"
    ):  # fmt: skip
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 1 <= args.image_size <= 32:
        parser.error("--image-size must lie in [1, 32]")
    if not (DATA / "nb201" / "nb201_cifar10.csv").exists():
        parser.error(f"needs the NB201 table and CIFAR-10 subset under {DATA}")
    return args


def main() -> None:
    """Runs the benchmark (or merges per-seed files)."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        merge(args.merge, args.json)
        return
    run(args)


if __name__ == "__main__":
    main()
