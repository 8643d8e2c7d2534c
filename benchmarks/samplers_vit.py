"""Supernet training strategies on the ViT space: uniform sampling, ShiftNAS and
Mixture-of-Supernets, on 8x8 digits.

For one method and one seed this script trains a supernet of the ``vit_digits`` space (240
architectures) for ``--epochs`` epochs at equal steps:

- ``uniform``: the plain ViT supernet, one uniformly random path per step (SPOS);
- ``shiftnas``: the plain ViT supernet with the ``shiftnas`` sampler (ShiftNAS, ICCV 2023);
- ``mos``: the ``vit_mos`` supernet (layer-wise Mixture-of-Supernets, 2 experts, router hidden
  128), one uniformly random path per step.

The search is the same for every method: all 240 architectures are scored by their inherited
accuracy on a held-out validation part of the training split (exhaustive search), and under each
parameter budget the best one is kept. Its inherited test accuracy is reported, and the same
architecture is trained alone (same optimizer, epochs and seed) for the gap. The process CPU
seconds of every training epoch are recorded.

Usage (one heavy run per method and seed, then the merge)::

    python benchmarks/samplers_vit.py run --method uniform --seed 0 --out runs/samplers_vit
    python benchmarks/samplers_vit.py merge --parts runs/samplers_vit \
        --out benchmarks/results/samplers_vit.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from symnas import programs, spaces
from symnas.algorithms.samplers import create_sampler
from symnas.core.files import write_json_atomic
from symnas.programs.data import digits, validation_split
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.examples import examples

METHODS = ("uniform", "shiftnas", "mos")
#: Parameter budgets (the space spans 3,946 to 32,954 parameters).
BUDGETS = {"small": 10_000, "medium": 18_000, "large": 33_000}
RECIPE = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05, "batch_size": 64}


def space_of(method: str) -> Any:
    """The space the method trains (the mixture variant for ``mos``)."""
    space = examples()["vit"].obj()
    return spaces.mixture_of_supernets(space, experts=2) if method == "mos" else space


def all_specs(supernet: Any) -> list[dict[str, Any]]:
    """Every distinct architecture of a ViT supernet's space (layers past the depth take the
    smallest choices)."""
    choices = supernet.choices
    template = supernet.min_spec()
    specs = []
    for embed in choices["embed_dim"]:
        for depth in choices["depth"]:
            layers = [
                list(itertools.product(ratios, heads))
                for ratios, heads in zip(choices["mlp_ratio"], choices["num_heads"], strict=True)
            ]
            for active in itertools.product(*layers[:depth]):
                rest = template["mlp_ratio"][depth:], template["num_heads"][depth:]
                specs.append(
                    {
                        **template,
                        "embed_dim": embed,
                        "depth": depth,
                        "mlp_ratio": [r for r, _ in active] + list(rest[0]),
                        "num_heads": [h for _, h in active] + list(rest[1]),
                    }
                )
    return specs


def inherited_accuracy(supernet: Any, data: Any, spec: dict[str, Any]) -> float:
    """Accuracy of ``spec`` with the supernet's weights on ``data``'s test split."""
    return programs.evaluate(supernet, data, forward=lambda m, x: m(x, spec))["accuracy"]


def run(method: str, seed: int, epochs: int, out: Path) -> dict[str, Any]:
    """Trains, searches and retrains for one method and seed; writes ``out/METHOD_SEED.json``."""
    torch.set_num_threads(1)
    data = digits(seed=0)
    train_part, validation = validation_split(data, 0.2, seed=0)
    space = space_of(method)
    torch.manual_seed(seed)
    supernet = programs.supernet(space)
    if method == "shiftnas":
        sampler = create_sampler("shiftnas", seed=seed)
    else:
        sampler = create_sampler("uniform")
    config = TrainConfig(epochs=epochs, seed=seed, label_smoothing=0.1, **RECIPE)
    trainer = SupernetTrainer(
        supernet, train_part, config, sampler=sampler, space=space, device="cpu", progress=False
    )
    start = time.process_time()
    trainer.fit()
    train_cpu = time.process_time() - start
    supernet.eval()
    specs = all_specs(supernet)
    sizes = [supernet.sampled_param_count(s) for s in specs]
    with torch.no_grad():
        valid = [inherited_accuracy(supernet, validation, s) for s in specs]
    picks: dict[str, Any] = {}
    for name, limit in BUDGETS.items():
        feasible = [i for i, size in enumerate(sizes) if size <= limit]
        best = max(feasible, key=lambda i: (valid[i], -sizes[i]))
        spec = specs[best]
        with torch.no_grad():
            test = inherited_accuracy(supernet, train_part, spec)
        torch.manual_seed(seed)
        model = programs.build(spec)
        alone = programs.train(model, train_part, epochs, seed=seed, label_smoothing=0.1, **RECIPE)[
            "accuracy"
        ]
        picks[name] = {
            "limit": limit,
            "spec": {k: spec[k] for k in ("embed_dim", "depth", "mlp_ratio", "num_heads")},
            "params": sizes[best],
            "inherited_valid": valid[best],
            "inherited_test": test,
            "standalone_test": alone,
            "gap": alone - test,
        }
    record = {
        "method": method,
        "seed": seed,
        "epochs": epochs,
        "steps": trainer.step,
        "cpu_s_per_epoch": statistics.mean(r["cpu_s"] for r in trainer.history),
        "wall_s_per_epoch": statistics.mean(r["wall_s"] for r in trainer.history),
        "train_cpu_s": train_cpu,
        "final_loss": trainer.history[-1]["loss"],
        "budgets": picks,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    if method == "shiftnas":
        record["bin_probabilities"] = sampler.probabilities.tolist()
        record["bin_edges"] = sampler.edges.tolist()
        record["generated"] = {k: sampler.generate(k) for k in range(sampler.bins)}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{method}_{seed}.json", record)
    return record


def ci95(values: list[float]) -> list[float]:
    """Mean and the half-width of its 95% t interval (0 for one value)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return [mean, 0.0]
    half = float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))
    return [mean, half]


def merge(parts: Path, out: Path) -> dict[str, Any]:
    """Gathers the per-run records into one summary JSON (and prints a table)."""
    records = [json.loads(p.read_text()) for p in sorted(parts.glob("*_*.json"))]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    summary: dict[str, Any] = {"commit": commit, "budgets": BUDGETS, "recipe": RECIPE}
    methods: dict[str, Any] = {}
    uniform_cpu = [r["cpu_s_per_epoch"] for r in records if r["method"] == "uniform"]
    for method in METHODS:
        runs = [r for r in records if r["method"] == method]
        if not runs:
            continue
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in runs], "runs": runs}
        for budget in BUDGETS:
            for key in ("inherited_test", "standalone_test", "gap"):
                entry[f"{budget}_{key}"] = ci95([r["budgets"][budget][key] for r in runs])
        entry["cpu_s_per_epoch"] = ci95([r["cpu_s_per_epoch"] for r in runs])
        if uniform_cpu:
            entry["cpu_ratio_to_uniform"] = entry["cpu_s_per_epoch"][0] / float(
                np.mean(uniform_cpu)
            )
        methods[method] = entry
    summary["methods"] = methods
    write_json_atomic(out, summary)
    for method, entry in methods.items():
        cells = [
            f"{b}: {entry[f'{b}_inherited_test'][0]:.4f}±{entry[f'{b}_inherited_test'][1]:.4f} "
            f"gap {entry[f'{b}_gap'][0]:+.4f}±{entry[f'{b}_gap'][1]:.4f}"
            for b in BUDGETS
        ]
        print(method, entry["seeds"], " | ".join(cells), f"cpu/epoch {entry['cpu_s_per_epoch']}")
    return summary


def main() -> None:
    """Command line: ``run`` one method and seed, or ``merge`` the runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--method", choices=METHODS, required=True)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--epochs", type=int, default=30)
    one.add_argument("--out", type=Path, default=Path("runs/samplers_vit"))
    both = sub.add_parser("merge")
    both.add_argument("--parts", type=Path, default=Path("runs/samplers_vit"))
    both.add_argument("--out", type=Path, default=Path("benchmarks/results/samplers_vit.json"))
    args = parser.parse_args()
    if args.command == "run":
        record = run(args.method, args.seed, args.epochs, args.out)
        print(json.dumps({k: v for k, v in record.items() if k != "generated"}, indent=1))
    else:
        merge(args.parts, args.out)


if __name__ == "__main__":
    main()
