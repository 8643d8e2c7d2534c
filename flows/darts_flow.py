"""The ``darts-pt-nb201`` flow: DARTS on the NB201 cell with magnitude and perturbation selection.

DARTS (Liu et al., ICLR 2019; first order by default) searches the NAS-Bench-201 cell on the
CIFAR-10 subset images (``../shared/data/cifar10_subset``, or ``$SYMNAS_DATA/cifar10_subset``;
digits saturate NB201 cells, so they cannot tell selections apart), shrunk to ``image_size``
pixels, with a scaled-down supernet (``C``, ``N``) on the train and validation halves of the
1,000 training images. The trained supernet's cell is then selected twice: by magnitude (argmax
alpha) and by DARTS-PT's perturbation-based selection (Wang et al., ICLR 2021). For each found
cell the report gives its arch string, its parameter-free op count (``none``, ``skip_connect``,
``avg_pool_3x3``) and its published NAS-Bench-201 CIFAR-10 test accuracy from
``../shared/data/nb201/nb201_cifar10.csv`` when that table is present.

The search runs through ``flows.search`` with ``algorithms.DARTSPT`` (``fix_alpha=True`` gives the
fix-alpha variant), so it is logged and resumable mid-training and mid-selection. Outputs in
``out``: ``oneshot/`` (checkpoints, alpha history, ``selection/selection.json``,
``result.json``), ``trials.jsonl``, ``report.json`` and ``report.md``. The defaults (10 search
epochs, then the perturbation selection's fine-tuning) used 462 s of CPU time, 25 minutes of wall
time on two busy CPU cores (load 7 to 9; ``benchmarks/RESULTS.md``, "Flow run times");
``--set epochs=50 C=16 N=5 image_size=32`` approaches the paper's setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symnas.core.files import write_json_atomic
from symnas.flows.family_flows import data_root
from symnas.flows.nb201_table import SHARED_TABLE, nb201_table_path, read_table
from symnas.flows.registry import register_flow
from symnas.flows.search import search
from symnas.flows.validate import device_option, int_option, one_of

PARAMETER_FREE_OPS = ("none", "skip_connect", "avg_pool_3x3")


@dataclass
class DARTSFlowResult:
    """What ``darts-pt-nb201`` produced: the proposed cell's trial and the report."""

    out: Path | None
    best: Any
    trials: list[Any]
    report: dict[str, Any]


def parameter_free_ops(spec: dict[str, Any]) -> int:
    """How many of an NB201 cell's 6 edges hold a parameter-free op."""
    return sum(op in PARAMETER_FREE_OPS for op in spec["edges"])


def describe_cell(spec: dict[str, Any], table: dict[str, float] | None) -> dict[str, Any]:
    """Arch string, parameter-free op count and (with a table) published test accuracy."""
    from symnas.spaces.cells import nb201_arch_str

    arch = nb201_arch_str(spec)
    row: dict[str, Any] = {"arch_str": arch, "parameter_free_ops": parameter_free_ops(spec)}
    if table is not None:
        row["nb201_cifar10_test_acc"] = table.get(arch)
    return row


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [
        "# DARTS on the NB201 cell: magnitude vs perturbation selection",
        "",
        f"{report['data']} at {report['image_size']}px, C={report['C']} N={report['N']}, "
        f"{report['epochs']} search epochs (order {report['order']}, fix_alpha "
        f"{report['fix_alpha']}), PT interval {report['interval']}, {report['eval_batches']} "
        "validation batches per measurement.",
        "",
        "| selection | cell | parameter-free ops | NB201 CIFAR-10 test acc |",
        "|---|---|---|---|",
    ]
    for name, row in report["cells"].items():
        acc = row.get("nb201_cifar10_test_acc")
        text = "-" if acc is None else f"{acc:.2f}"
        lines.append(f"| {name} | `{row['arch_str']}` | {row['parameter_free_ops']} | {text} |")
    return "\n".join(lines) + "\n"


@register_flow(
    "darts-pt-nb201",
    "DARTS on the NB201 cell (CIFAR-10 subset images), magnitude and perturbation (DARTS-PT) "
    "selection, with the found cells' published NB201 accuracy",
)
def darts_pt_nb201(
    algorithm: Any = None,
    budget: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int | None = None,
    verbose: bool = True,
    data: str | None = None,
    epochs: int = 10,
    C: int = 8,
    N: int = 1,
    image_size: int = 16,
    order: int = 1,
    interval: int = 1,
    eval_batches: int | None = 4,
    fix_alpha: bool = False,
    table: str | None = None,
    device: str = "auto",
) -> DARTSFlowResult:
    """Runs DARTS and both selections, and reports the found cells.

    Args:
      data: 'cifar10_subset:DIR' (None: the shared CIFAR-10 subset folder).
      epochs: DARTS search epochs.
      C: channels of the first stage of the supernet.
      N: cells per stage.
      image_size: side of the pooled images (32 keeps CIFAR-10's size).
      order: 1 (first-order DARTS) or 2 (unrolled second order).
      interval: fine-tuning epochs between perturbation decisions (the paper: 5).
      eval_batches: validation batches per perturbation measurement (None: the whole half).
      fix_alpha: keep the alphas at their init (the fix-alpha variant).
      table: the NAS-Bench-201 CSV (None: the shared table when present).
      device: 'auto', 'cpu' or 'cuda'.
    """
    from symnas import algorithms, spaces
    from symnas.programs.data import load_dataset, resized

    budget = 1 if budget is None else budget
    flow = "darts-pt-nb201"
    int_option(flow, "budget", budget)
    for name, value in (("epochs", epochs), ("C", C), ("N", N), ("image_size", image_size)):
        int_option(flow, name, value)
    one_of(flow, "order", order, (1, 2))
    int_option(flow, "interval", interval)
    int_option(flow, "eval_batches", eval_batches, allow_none=True)
    device_option(flow, device)
    source = data if data is not None else f"cifar10_subset:{data_root('cifar10_subset')}"
    if not source.startswith("cifar10_subset"):
        raise ValueError(
            f"darts-pt-nb201: data must be 'cifar10_subset:DIR' (digits saturate NB201 cells); "
            f"got {data!r}."
        )
    dataset = resized(load_dataset(source), image_size)
    table_path = nb201_table_path(flow, table)
    shared = data_root(SHARED_TABLE[0]) / SHARED_TABLE[1]
    truth = read_table(table_path) if table_path is not None else None
    space = spaces.nb201_cell(
        C=C, N=N, num_classes=dataset.num_classes, in_chans=dataset.input_shape[0]
    )
    metric = "nb201_cifar10_test_acc" if truth is not None else "parameter_free_ops"
    if algorithm is None:
        algorithm = algorithms.DARTSPT(
            data=dataset,
            epochs=epochs,
            order=order,
            interval=interval,
            eval_batches=eval_batches,
            fix_alpha=fix_alpha,
            seed=seed,
            device=device,
            metric=metric,
            mode="max" if truth is not None else "min",
        )
    if not isinstance(algorithm, algorithms.DARTS):
        raise ValueError(
            f"darts-pt-nb201: algorithm must be None or an algorithms.DARTS / DARTSPT; got "
            f"{algorithm!r}."
        )

    def objective(spec: dict[str, Any]) -> dict[str, float]:
        row = describe_cell(spec, truth)
        metrics = {"parameter_free_ops": float(row["parameter_free_ops"])}
        if truth is not None:
            metrics["nb201_cifar10_test_acc"] = float(row["nb201_cifar10_test_acc"])
        return metrics

    result = search(
        space,
        objective,
        algorithm,
        budget=budget,
        out=out,
        seed=seed,
        resume=resume,
        verbose=verbose,
        options={"C": C, "N": N, "image_size": image_size, "table": str(table_path or shared)},
    )
    report = {
        "data": dataset.name,
        "image_size": image_size,
        "C": C,
        "N": N,
        "epochs": algorithm.epochs,
        "order": algorithm.order,
        "fix_alpha": getattr(algorithm, "fix_alpha", False),
        "interval": getattr(algorithm, "interval", None),
        "eval_batches": getattr(algorithm, "eval_batches", None),
        "table": str(table_path) if truth is not None else None,
        "cells": {k: describe_cell(v, truth) for k, v in algorithm.selected.items()},
    }
    out = None if out is None else Path(out)
    if out is not None:
        write_json_atomic(out / "report.json", json.loads(json.dumps(report)))
        (out / "report.md").write_text(markdown(report))
    if verbose:
        print(markdown(report))
    return DARTSFlowResult(out, result.best, result.trials, report)
