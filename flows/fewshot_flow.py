"""The ``fewshot-nb201`` flow: one-shot vs exhaustive vs gradient-matching supernets on NB201 cells.

For each method of ``algorithms.oneshot.fewshot`` (``one_shot``; ``exhaustive``, Few-Shot NAS,
Zhao et al., ICML 2021; ``gm``, GM-NAS, Hu et al., ICLR 2022) the flow trains the few-shot
supernet of an NB201 cell space (C=8, N=1) on half of the training images, with the same
lineage epochs for every method, and searches the space with the same algorithm (regularized
evolution by default) using the method's ``FewShotEstimator`` (inherited accuracy on the other
half) as the objective. Every method ranks the same seeded sample of cells; with ``table`` (the
published NAS-Bench-201 CSV, ``index,arch_str,...,test_acc``; by default the shared table when it
is present) Kendall tau and Spearman against the table and the true accuracy of each search's
best cell are reported as well.

Outputs in ``out``: ``<method>/supernet/`` (checkpoints and split plan), ``<method>/search/``
(the trial log), ``report.json`` and ``report.md``. ``resume=True`` resumes every training and
search. The result's ``best`` and ``trials`` are those of the GM search.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symnas.core.files import write_json_atomic
from symnas.flows.nb201_table import nb201_table_path, read_table
from symnas.flows.progress import phase
from symnas.flows.registry import register_flow
from symnas.flows.search import search
from symnas.flows.validate import device_option, int_option

logger = logging.getLogger(__name__)


@dataclass
class FewShotFlowResult:
    """What ``fewshot-nb201`` produced: the GM search's best and trials, and the report."""

    out: Path | None
    best: Any
    trials: list[Any]
    report: dict[str, Any]


def rank_agreement(estimates: list[float], truth: list[float]) -> dict[str, float]:
    """Kendall tau and Spearman rho of ``estimates`` against ``truth``."""
    from scipy.stats import kendalltau, spearmanr

    return {
        "kendall": float(kendalltau(estimates, truth).statistic),
        "spearman": float(spearmanr(estimates, truth).statistic),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [
        "# Few-shot supernets on NB201 cells",
        "",
        f"Data {report['data']}, {report['epochs']} epochs per lineage, {report['cells']} "
        f"sampled cells, search budget {report['budget']}.",
        "",
        "| method | sub-supernets | train steps | best estimate | best cell | tau | rho | "
        "best true acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, row in report["methods"].items():
        lines.append(
            f"| {method} | {row['sub_supernets']} | {row['train_steps']} | "
            f"{row['best_estimate']:.4f} | `{row['best_arch']}` | "
            f"{row.get('kendall', float('nan')):.3f} | {row.get('spearman', float('nan')):.3f} | "
            f"{row.get('best_true_acc', float('nan')):.2f} |"
        )
    return "\n".join(lines) + "\n"


@register_flow(
    "fewshot-nb201",
    "One-shot vs exhaustive (Few-Shot NAS) vs gradient-matching (GM-NAS) NB201 supernets, each "
    "searched with its few-shot estimator",
)
def fewshot_nb201(
    algorithm: Any = None,
    budget: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int | None = None,
    verbose: bool = True,
    data: str = "digits",
    epochs: int = 8,
    gradient_batches: int = 4,
    cells: int = 100,
    table: str | None = None,
    device: str = "auto",
) -> FewShotFlowResult:
    """Trains the three kinds of supernet and searches each with ``algorithm``.

    Args:
      data: 'digits', or 'cifar10_subset:DIR' for the CIFAR-10 subset.
      epochs: training epochs of every lineage (root to sub-supernet; at least 2, as the
        supernets split part-way).
      gradient_batches: mini-batches averaged per gradient-matching score.
      cells: size of the seeded sample of cells every estimator ranks.
      table: path of the NAS-Bench-201 CSV for rank correlations (None: the shared table
        when present).
      device: 'auto', 'cpu' or 'cuda'.
    """
    from symnas import algorithms, spaces
    from symnas.algorithms.oneshot.fewshot import METHODS, FewShotTrainer
    from symnas.programs.data import load_dataset, validation_split
    from symnas.programs.training.fewshot import FewShotEstimator
    from symnas.programs.training.supernet_train import TrainConfig

    budget = 30 if budget is None else budget
    flow = "fewshot-nb201"
    int_option(flow, "budget", budget, minimum=2)
    int_option(flow, "cells", cells, minimum=2, why="rank correlations need two cells")
    int_option(
        flow,
        "epochs",
        epochs,
        minimum=2,
        why="the few-shot methods split the supernet after a part of the epochs",
    )
    int_option(flow, "gradient_batches", gradient_batches)
    device_option(flow, device)
    algorithm = algorithms.resolve(
        algorithm
        if algorithm is not None
        else algorithms.RegularizedEvolution(
            population_size=10, tournament_size=3, metric="accuracy"
        )
    )
    table_path = nb201_table_path(flow, table)
    truth = read_table(table_path) if table_path is not None else None
    out = None if out is None else Path(out)
    dataset = load_dataset(data)
    train, valid = validation_split(dataset, 0.5, seed)
    space = spaces.nb201_cell(
        C=8, N=1, num_classes=dataset.num_classes, in_chans=dataset.input_shape[0]
    )
    # Every trainer is built (its settings checked) before the first one trains.
    trainers = {
        method: FewShotTrainer(
            space,
            train,
            TrainConfig(epochs=epochs, batch_size=64, lr=0.025, weight_decay=1e-4, seed=seed),
            method=method,
            gradient_batches=gradient_batches,
            out=None if out is None else out / method / "supernet",
            resume=resume,
            device=device,
            progress=verbose,
        )
        for method in METHODS
    }
    codec = spaces.compile(space)
    sample = [codec.decode(g) for g in codec.distinct(cells, np.random.default_rng(seed))]
    say = print if verbose else (lambda *_: None)
    report: dict[str, Any] = {
        "data": data,
        "table": None if table_path is None else str(table_path),
        "epochs": epochs,
        "cells": len(sample),
        "budget": budget,
        "seed": seed,
        "methods": {},
    }
    searches = {}
    for method, trainer in trainers.items():
        folder = None if out is None else out / method
        with phase(logger, f"fewshot-nb201: training the {method} supernets", verbose):
            supernet = trainer.fit()
        estimator = FewShotEstimator(supernet, valid, device=device)
        result = search(
            space,
            estimator,
            algorithm.clone(deep=True),
            budget=budget,
            out=None if folder is None else folder / "search",
            seed=seed,
            resume=resume,
            workers=workers,
            verbose=verbose,
        )
        searches[method] = result
        with phase(logger, f"fewshot-nb201: scoring {len(sample)} cells ({method})", verbose):
            estimates = [m["accuracy"] for m in estimator.evaluate_batch(sample)]
        best_arch = spaces.nb201_arch_str(result.best.spec)
        row: dict[str, Any] = {
            "sub_supernets": len(supernet.parts),
            "train_steps": trainer.steps,
            "splits": {k: v for k, v in trainer.plan["splits"].items() if v},
            "best_arch": best_arch,
            "best_estimate": result.best.metrics["accuracy"],
            "estimates": {
                spaces.nb201_arch_str(s): e for s, e in zip(sample, estimates, strict=True)
            },
        }
        if truth is not None:
            row.update(rank_agreement(estimates, [truth[spaces.nb201_arch_str(s)] for s in sample]))
            row["best_true_acc"] = truth[best_arch]
        report["methods"][method] = row
        if verbose:
            logger.info("fewshot-nb201: %s done, best %s", method, best_arch)
    if out is not None:
        write_json_atomic(out / "report.json", json.loads(json.dumps(report)))
        (out / "report.md").write_text(markdown(report))
    say(markdown(report))
    gm = searches["gm"]
    return FewShotFlowResult(out, gm.best, gm.trials, report)
