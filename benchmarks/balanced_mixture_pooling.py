"""Balanced Mixture of SuperNets on the ResNet20 pooling space: ranking against stand-alone training.

"Balanced Mixture of SuperNets for Learning the CNN Pooling Architecture" (Javan, Toews,
Pedersoli; AutoML-Conf 2023) reports Kendall tau 0.14 / 0.31 / 0.60 between the supernet
estimates and stand-alone accuracy of the 36 ResNet20 pooling configurations for M = 1 / 2 / 4
supernets. Here every (M, seed) trains the mixture with the shared ``SupernetTrainer`` and the
``balanced_mixture`` sampler on the scaled-down setting of ``standalone_pooling.py`` (widths / 2,
CIFAR-10 subset average-pooled to 16 px): the 1,000 training images are split 50/50
(``programs.data.validation_split``, seed 0) into the half that trains the weights and the half
whose batches update the assignment logits; the recipe is the reference's (SGD momentum 0.9, lr
0.1 cosine to 0.001, weight decay 0, batch ``--batch-size``, temperature 1 -> 100, EMA 0.9).
Every M gets the same number of training steps (``--epochs`` x 8). After training, each
configuration is estimated by the supernet it is assigned to (validation half, batch
statistics, as the reference's ``validate_all``), and compared with the stand-alone table
(mean over its seeds).

    /work/heavy python benchmarks/balanced_mixture_pooling.py --seeds 0
    /work/heavy python benchmarks/balanced_mixture_pooling.py --seeds 1
    /work/heavy python benchmarks/balanced_mixture_pooling.py --seeds 2
    python benchmarks/balanced_mixture_pooling.py --summarize

Estimates go to ``--json`` as ``{method: {seed: {config: estimate}}}`` (``method`` is ``M1``,
``M2``, ``M4``; ``config`` the pool positions, ``"4,7"``), the per-run training record (CPU
seconds per epoch, each supernet's share and assigned count) to ``<json stem>_runs.json``, the
figures (Kendall tau and Spearman per run, mean over seeds with a 95% bootstrap interval over
seeds, the mean Kendall tau between the estimates of two seeds, the agreement of the stand-alone
table's two seeds, CPU-s per epoch against M = 1) to ``<json stem>_summary.json``. Finished (method, seed)
pairs are skipped; runs in parallel processes merge under a lock.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from standalone_pooling import (
    DATA,
    RESULTS,
    config_key,
    every_config,
    locked,
    pooling_space,
)

from symnas import programs
from symnas.algorithms.samplers.balanced_mixture import BalancedMixtureSampler
from symnas.core.files import write_json_atomic
from symnas.programs.data import load_dataset, resized, validation_split
from symnas.programs.training.estimator import SupernetEstimator
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig

STANDALONE = RESULTS / "standalone_pooling_w2_16px_12ep_lr0.05_wd0.0005_bs64.json"
ANCHORS = {"M1": 0.143, "M2": 0.312, "M4": 0.597}


def train_mixture(models: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Trains one mixture; returns its estimates and training record."""
    data = resized(load_dataset(args.data), args.image_size)
    train, valid = validation_split(data, 0.5, seed=0)
    space = pooling_space(args.width_divisor, args.image_size)
    torch.manual_seed(seed)
    sampler = BalancedMixtureSampler(models=models, seed=seed)
    trainer = SupernetTrainer(
        programs.supernet(space),
        train,
        TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer="sgd",
            lr=0.1,
            momentum=0.9,
            weight_decay=0.0,
            lr_min=0.001,
            seed=seed,
        ),
        sampler=sampler,
        space=space,
        valid=valid,
        device="cpu",
        progress=False,
    )
    start = time.process_time()
    trainer.fit()
    train_cpu = time.process_time() - start
    specs = every_config(space)
    estimator = SupernetEstimator(trainer.supernet, valid, batch_statistics=True, device="cpu")
    scores = estimator.evaluate_batch(specs)
    return {
        "estimates": {
            config_key(s["pool_at"]): score["accuracy"]
            for s, score in zip(specs, scores, strict=True)
        },
        "run": {
            "cpu_s_per_epoch": train_cpu / args.epochs,
            "steps": trainer.step,
            **sampler.summary(),
        },
    }


def merge(path: Path, method: str, seed: int, value: Any) -> None:
    """Writes ``value`` at ``[method][seed]`` of the JSON at ``path`` (under a lock)."""
    with locked(path):
        table = json.loads(path.read_text()) if path.exists() else {}
        table.setdefault(method, {})[str(seed)] = value
        write_json_atomic(path, table)


def bootstrap(values: list[float], rng: np.random.Generator) -> list[float]:
    """A 95% percentile bootstrap interval of the mean (resampling seeds)."""
    means = [float(np.mean(rng.choice(values, size=len(values)))) for _ in range(10_000)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarize(path: Path, standalone: Path) -> dict[str, Any]:
    """Kendall tau and Spearman of every run against the stand-alone table, and the means."""
    estimates = json.loads(path.read_text())
    runs = json.loads(path.with_name(f"{path.stem}_runs.json").read_text())
    seeds = json.loads(standalone.read_text())["seeds"]
    keys = sorted(next(iter(seeds.values())))
    truth = [float(np.mean([seeds[s][k] for s in seeds if k in seeds[s]])) for k in keys]
    summary: dict[str, Any] = {"standalone": standalone.name, "standalone_seeds": sorted(seeds)}
    if len(seeds) >= 2:
        first, second = sorted(seeds)[:2]
        common = [k for k in keys if k in seeds[first] and k in seeds[second]]
        a, b = [seeds[first][k] for k in common], [seeds[second][k] for k in common]
        summary["standalone_seed_agreement"] = {
            "kendall_tau": float(kendalltau(a, b).statistic),
            "spearman": float(spearmanr(a, b).statistic),
            "configs": len(common),
        }
    summary["standalone_spread"] = {
        "min": min(truth),
        "max": max(truth),
        "std": float(np.std(truth)),
    }
    rng = np.random.default_rng(0)
    base_cpu = None
    for method in sorted(estimates):
        per_seed = {}
        for seed, table in sorted(estimates[method].items()):
            est = [table[k] for k in keys]
            best = keys[int(np.argmax(est))]
            per_seed[seed] = {
                "kendall_tau": float(kendalltau(est, truth).statistic),
                "spearman": float(spearmanr(est, truth).statistic),
                "argmax_config": best,
                "argmax_standalone": truth[keys.index(best)],
                "cpu_s_per_epoch": runs[method][seed]["cpu_s_per_epoch"],
                "assigned": runs[method][seed]["assigned"],
            }
        taus = [r["kendall_tau"] for r in per_seed.values()]
        rhos = [r["spearman"] for r in per_seed.values()]
        cpu = float(np.mean([r["cpu_s_per_epoch"] for r in per_seed.values()]))
        if method == "M1":
            base_cpu = cpu
        tables = [[estimates[method][seed][k] for k in keys] for seed in sorted(estimates[method])]
        pairs = [
            float(kendalltau(a, b).statistic) for i, a in enumerate(tables) for b in tables[i + 1 :]
        ]
        summary[method] = {
            "seeds": per_seed,
            "kendall_tau_mean": float(np.mean(taus)),
            "kendall_tau_ci95": bootstrap(taus, rng),
            "spearman_mean": float(np.mean(rhos)),
            "spearman_ci95": bootstrap(rhos, rng),
            "argmax_standalone_mean": float(
                np.mean([r["argmax_standalone"] for r in per_seed.values()])
            ),
            "cpu_s_per_epoch": cpu,
            "cpu_vs_M1": cpu / base_cpu if base_cpu else None,
            "estimate_seed_agreement_tau": float(np.mean(pairs)) if pairs else None,
            "published_tau": ANCHORS.get(method),
        }
    summary["best_standalone"] = {"config": keys[int(np.argmax(truth))], "accuracy": max(truth)}
    return summary


def main() -> None:
    """Trains the requested (M, seed) mixtures, or summarizes the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--width-divisor", type=int, default=2)
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--json", type=Path, default=RESULTS / "balanced_mixture_pooling.json")
    parser.add_argument("--standalone", type=Path, default=STANDALONE)
    parser.add_argument("--summarize", action="store_true")
    args = parser.parse_args()
    if args.summarize:
        summary = summarize(args.json, args.standalone)
        write_json_atomic(args.json.with_name(f"{args.json.stem}_summary.json"), summary)
        print(json.dumps(summary, indent=1))
        return
    torch.set_num_threads(1)
    runs_path = args.json.with_name(f"{args.json.stem}_runs.json")
    done = json.loads(args.json.read_text()) if args.json.exists() else {}
    for seed in args.seeds:
        for models in args.models:
            method = f"M{models}"
            if str(seed) in done.get(method, {}):
                continue
            result = train_mixture(models, seed, args)
            record = {**result["run"], "command": shlex.join(["python", *sys.argv])}
            merge(runs_path, method, seed, record)
            merge(args.json, method, seed, result["estimates"])
            print(
                f"{method} seed {seed}: {result['run']['cpu_s_per_epoch']:.2f} cpu-s/epoch, "
                f"assigned {result['run']['assigned']}, balance "
                f"{[round(b, 3) for b in result['run']['balance']]}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
