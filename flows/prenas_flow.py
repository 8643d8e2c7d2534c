"""The ``prenas-vit`` flow: PreNAS on a mini AutoFormer ViT, digits by default.

PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning Towards Efficient Neural
Architecture Search", ICML 2023) in three steps, scaled down to 8x8 digits (the "mini-AutoFormer"
of the project's research notes: patch 2, embed {16, 24, 32}, depth {2, 3, 4}, MLP ratio {1, 2},
heads {1, 2} of dim 8):

1. the zero-cost selector picks the preferred set (top Taylor score per parameter bucket);
2. the entangled supernet is trained on the preferred set only (and, for comparison, a second
   supernet with uniform sampling over the whole space, same recipe and steps);
3. every preferred architecture's inherited accuracy is read on a validation split held out of
   the training data, and ``specialize`` picks the best one under three parameter budgets.

Outputs in ``out``: ``preferred.json``, ``supernet.pt`` (state dict), ``report.json`` and
``report.md``. ``resume=True`` reuses a finished ``supernet.pt`` and ``preferred.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from symnas.flows.registry import register_flow
from symnas.flows.trial_log import write_json_atomic


@dataclass
class FlowBest:
    """The deployed architecture: index in the preferred set, spec and metrics."""

    id: int
    spec: dict[str, Any]
    metrics: dict[str, float]


@dataclass
class PreNASFlowResult:
    """What ``prenas-vit`` produced: output folder, best architecture and the full report."""

    out: Path | None
    best: FlowBest
    report: dict[str, Any]


def mini_autoformer(num_classes: int = 10, in_chans: int = 1, image_size: int = 8) -> Any:
    """The mini AutoFormer space of the flow: 1,008 distinct architectures, 150 of which are
    PreNAS candidates (reallocated compositions)."""
    from symnas.spaces.vit import vit_space

    return vit_space(
        [16, 24, 32],
        [2, 3, 4],
        [1.0, 2.0],
        [1, 2],
        head_dim=8,
        image_size=image_size,
        patch_size=2,
        in_chans=in_chans,
        num_classes=num_classes,
        relative_position=False,
    )


def _load_data(name: str):
    from symnas.programs import data

    if name == "digits":
        return data.digits()
    raise ValueError(f"prenas-vit: data must be 'digits'; got {name!r}.")


def _inherited(supernet, specs, data, split: str) -> list[float]:
    from symnas.programs.train import evaluate

    return [
        evaluate(supernet, data, split, forward=lambda m, x, s=spec: m(x, s))["accuracy"]
        for spec in specs
    ]


def _arch_text(spec: dict[str, Any]) -> str:
    depth = spec["depth"]
    ratios = ",".join(f"{r:g}" for r in spec["mlp_ratio"][:depth])
    heads = ",".join(str(h) for h in spec["num_heads"][:depth])
    return f"e{spec['embed_dim']} d{depth} r[{ratios}] h[{heads}]"


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables."""
    lines = ["# PreNAS on a mini AutoFormer ViT", ""]
    lines.append(
        f"{report['candidates']} candidates enumerated, {len(report['preferred'])} preferred; "
        f"supernet trained {report['training']['prenas']['epochs']:g} epochs "
        f"({report['training']['prenas']['wall_s']:.1f} s)."
    )
    baseline = "uniform" in report["training"]
    lines += ["", "## Preferred architectures (inherited weights)", ""]
    header = "| # | architecture | params | score | val acc | test acc |"
    if baseline:
        header += " uniform val acc | uniform test acc |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for i, row in enumerate(report["preferred"]):
        cells = [
            str(i),
            _arch_text(row["spec"]),
            str(row["params"]),
            f"{row['score']:.4g}",
            f"{row['val_accuracy']:.3f}",
            f"{row['test_accuracy']:.3f}",
        ]
        if baseline:
            cells += [f"{row['uniform_val_accuracy']:.3f}", f"{row['uniform_test_accuracy']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Instant specialisation",
        "",
        "| params budget | chosen | params | MACs | test acc |",
        "|---|---|---|---|---|",
    ]
    for row in report["specialized"]:
        lines.append(
            f"| {row['budget']['params']:.0f} | #{row['index']} {_arch_text(row['spec'])} | "
            f"{row['params']:.0f} | {row['macs']:.0f} | {row['test_accuracy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _train_or_resume(prenas, train_data, epochs: int, lr: float, out: Path | None, resume: bool):
    """Trains the PreNAS supernet, or loads ``supernet.pt`` from ``out`` when resuming."""
    weights = None if out is None else out / "supernet.pt"
    if resume and weights is not None and weights.exists():
        record = json.loads((out / "training.json").read_text())
        prenas.supernet.load_state_dict(torch.load(weights, weights_only=True))
        return record
    metrics = prenas.train(train_data, epochs, lr=lr)
    if weights is not None:
        torch.save(prenas.supernet.state_dict(), weights)
        write_json_atomic(out / "training.json", metrics)
    return metrics


@register_flow(
    "prenas-vit",
    "PreNAS on a mini AutoFormer ViT (digits): zero-cost selector, preferred training, "
    "instant specialisation",
)
def prenas_vit(
    algorithm: Any = None,
    budget: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int = 1,
    verbose: bool = True,
    epochs: int = 40,
    buckets: int = 4,
    per_bucket: int = 1,
    lr: float = 5e-3,
    baseline: bool = True,
    data: str = "digits",
) -> PreNASFlowResult:
    """Runs the three PreNAS steps and writes the report.

    ``budget`` is the number of supernet training epochs (default ``epochs``); ``algorithm`` may
    be a ``PreNASSelector`` (default: ``buckets`` x ``per_bucket`` by the Taylor score).
    ``baseline`` also trains a uniform-sampling supernet for comparison. ``workers`` is unused
    (one process).
    """
    return _run(
        algorithm,
        budget,
        out,
        resume,
        seed,
        verbose,
        epochs,
        buckets,
        per_bucket,
        lr,
        baseline,
        data,
    )


def _run(
    algorithm: Any,
    budget: int | None,
    out: str | Path | None,
    resume: bool,
    seed: int,
    verbose: bool,
    epochs: int,
    buckets: int,
    per_bucket: int,
    lr: float,
    baseline: bool,
    data: str,
) -> PreNASFlowResult:
    from symnas import programs
    from symnas.algorithms.prenas import Preferred, PreNASSelector
    from symnas.algorithms.prenas_deploy import PreNAS, validation_split
    from symnas.algorithms.prenas_train import train_uniform

    if algorithm is None:
        algorithm = PreNASSelector(buckets=buckets, per_bucket=per_bucket, seed=seed)
    if not isinstance(algorithm, PreNASSelector):
        raise ValueError(
            f"prenas-vit: algorithm must be None or a PreNASSelector; got {algorithm!r}."
        )
    epochs = budget or epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"prenas-vit: budget (epochs) must be a positive int; got {epochs!r}.")
    say = print if verbose else (lambda *_: None)
    out = None if out is None else Path(out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    dataset = _load_data(data)
    train_data, validation = validation_split(dataset, 0.2, seed)
    space = mini_autoformer(dataset.num_classes, dataset.input_shape[0], dataset.input_shape[1])
    prenas = PreNAS(space, selector=algorithm, seed=seed)

    start = time.perf_counter()
    preferred_path = None if out is None else out / "preferred.json"
    if resume and preferred_path is not None and preferred_path.exists():
        records = json.loads(preferred_path.read_text())["preferred"]
        prenas.preferred = [Preferred.from_json(r) for r in records]
        candidates = json.loads(preferred_path.read_text())["candidates"]
    else:
        prenas.select()
        candidates = len(algorithm.candidates)
        if preferred_path is not None:
            write_json_atomic(
                preferred_path,
                {"candidates": candidates, "preferred": [p.to_json() for p in prenas.preferred]},
            )
    select_s = time.perf_counter() - start
    say(f"prenas-vit: {len(prenas.preferred)} preferred of {candidates} candidates")

    training = {"prenas": _train_or_resume(prenas, train_data, epochs, lr, out, resume)}
    say(f"prenas-vit: preferred training {training['prenas']['wall_s']:.1f} s")
    specs = [p.spec for p in prenas.preferred]
    val_acc = prenas.evaluate(validation)
    test_acc = _inherited(prenas.supernet, specs, dataset, "test")
    rows = [
        {**p.to_json(), "val_accuracy": v, "test_accuracy": t}
        for p, v, t in zip(prenas.preferred, val_acc, test_acc, strict=True)
    ]
    if baseline:
        torch.manual_seed(seed)
        uniform = programs.supernet(space)
        training["uniform"] = train_uniform(uniform, train_data, epochs, lr=lr, seed=seed)
        say(f"prenas-vit: uniform training {training['uniform']['wall_s']:.1f} s")
        for row, v, t in zip(
            rows,
            _inherited(uniform, specs, validation, "test"),
            _inherited(uniform, specs, dataset, "test"),
            strict=True,
        ):
            row.update(uniform_val_accuracy=v, uniform_test_accuracy=t)

    sizes = sorted(p.params for p in prenas.preferred)
    budgets = sorted({sizes[0] + (sizes[-1] - sizes[0]) * q for q in (0.0, 0.5, 1.0)})
    specialized = []
    for limit in budgets:
        chosen = prenas.specialize({"params": limit})
        index = int(chosen.metrics["index"])
        specialized.append(
            {
                "budget": {"params": limit},
                "index": index,
                "spec": chosen.spec,
                "params": chosen.metrics["params"],
                "macs": prenas.cost(index, "macs"),
                "val_accuracy": val_acc[index],
                "test_accuracy": programs.evaluate(chosen.module, dataset)["accuracy"],
            }
        )
    report = {
        "space": "mini AutoFormer (embed 16/24/32, depth 2-4, ratio 1/2, heads 1/2), 8x8 digits",
        "seed": seed,
        "candidates": candidates,
        "select_s": select_s,
        "training": training,
        "preferred": rows,
        "specialized": specialized,
    }
    best_row = max(range(len(rows)), key=lambda i: (rows[i]["val_accuracy"], rows[i]["params"]))
    best = FlowBest(
        best_row,
        rows[best_row]["spec"],
        {k: rows[best_row][k] for k in ("params", "val_accuracy", "test_accuracy")},
    )
    if out is not None:
        write_json_atomic(out / "report.json", report)
        (out / "report.md").write_text(markdown(report))
    say(markdown(report))
    return PreNASFlowResult(out, best, report)
