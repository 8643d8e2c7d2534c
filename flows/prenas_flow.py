"""The ``prenas-vit`` flow: PreNAS on a mini AutoFormer ViT, digits by default.

PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning Towards Efficient Neural
Architecture Search", ICML 2023) as a one-shot searcher in ``flows.search``, scaled down to 8x8
digits (the "mini-AutoFormer" of the project's research notes: patch 2, embed {16, 24, 32}, depth
{2, 3, 4}, MLP ratio {1, 2}, heads {1, 2} of dim 8):

1. ``algorithms.PreNAS`` selects the preferred set (top Taylor score per parameter bucket), trains
   the entangled supernet on it (checkpointed under ``out/oneshot/``) and ranks the preferred
   architectures by inherited accuracy on a validation split held out of the training data;
2. the search evaluates its finalists (inherited validation and test accuracy, parameters);
3. for comparison, a second supernet trains with uniform sampling over the whole space (same
   recipe and steps, ``baseline``), and ``specialize`` picks the best preferred architecture under
   three parameter budgets.

Outputs in ``out``: the search's ``trials.jsonl``/``summary.json``, ``oneshot/`` (preferred set,
supernet checkpoint), ``uniform/`` (the baseline's checkpoint), ``report.json`` and
``report.md``. ``resume=True`` continues from them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from symnas.core.files import write_json_atomic
from symnas.flows.progress import phase
from symnas.flows.registry import register_flow
from symnas.flows.result import SearchResult
from symnas.flows.validate import device_option, int_option, one_of, positive_number

logger = logging.getLogger(__name__)


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


class InheritedAccuracy:
    """Objective of the flow: a finalist's inherited accuracy on the searcher's trained supernet
    (validation and test split) and its parameter count."""

    candidates_per_call = 16

    def __init__(self, searcher: Any, validation: Any, test: Any) -> None:
        self.searcher, self.validation, self.test = searcher, validation, test

    def __call__(self, spec: dict[str, Any]) -> dict[str, float]:
        return self.evaluate_batch([spec])[0]

    def evaluate_batch(self, specs: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Scores every spec on both splits, one estimator pass each."""
        from symnas.programs.training.estimator import SupernetEstimator

        supernet, device = self.searcher.supernet, self.searcher.device
        val = SupernetEstimator(supernet, self.validation, device=device).evaluate_batch(specs)
        test = SupernetEstimator(supernet, self.test, device=device).evaluate_batch(specs)
        return [
            {
                "val_accuracy": v["accuracy"],
                "test_accuracy": t["accuracy"],
                "params": float(supernet.sampled_param_count(spec)),
            }
            for spec, v, t in zip(specs, val, test, strict=True)
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
        f"supernet trained {report['training']['prenas']['epoch']} epochs "
        f"({report['training']['prenas']['step']} steps)."
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
            f"{row['test_accuracy']:.3f}" if "test_accuracy" in row else "-",
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
    workers: int | None = None,
    verbose: bool = True,
    epochs: int = 40,
    buckets: int = 4,
    per_bucket: int = 1,
    lr: float = 5e-3,
    baseline: bool = True,
    data: str = "digits",
    device: str = "auto",
) -> SearchResult:
    """Runs PreNAS through ``flows.search`` and writes the report; returns the search result.

    ``algorithm`` is None (a ``PreNAS`` searcher built from ``epochs``, ``buckets``,
    ``per_bucket``, ``lr`` and ``device``) or an ``algorithms.PreNAS``; ``budget`` is the number
    of finalists evaluated (default: the whole preferred set). ``workers`` is unused (one
    process).

    Args:
      epochs: supernet training epochs (preferred and uniform).
      buckets: parameter buckets of the PreNAS selector.
      per_bucket: preferred architectures kept per bucket.
      lr: AdamW learning rate of the supernet training.
      baseline: also train a uniform-sampling supernet and report its accuracies.
      data: the dataset (only "digits").
      device: where the supernets train: "auto" (CUDA when available), "cpu", "cuda".
    """
    from symnas.algorithms.oneshot.prenas import PreNAS
    from symnas.flows.search import search
    from symnas.programs.data import load_dataset, validation_split

    flow = "prenas-vit"
    one_of(flow, "data", data, ("digits",))
    int_option(flow, "budget", budget, allow_none=True)
    for name, value in (("epochs", epochs), ("buckets", buckets), ("per_bucket", per_bucket)):
        int_option(flow, name, value)
    positive_number(flow, "lr", lr)
    device_option(flow, device)
    if algorithm is None:
        algorithm = PreNAS(
            data="digits",
            epochs=epochs,
            buckets=buckets,
            per_bucket=per_bucket,
            lr=lr,
            seed=seed,
            device=device,
            metric="val_accuracy",
        )
    if not isinstance(algorithm, PreNAS):
        raise ValueError(
            f"prenas-vit: algorithm must be None or an algorithms.PreNAS; got {algorithm!r}."
        )
    dataset = load_dataset(algorithm.data)
    _, validation = validation_split(dataset, algorithm.validation_fraction, algorithm.train_seed)
    space = mini_autoformer(dataset.num_classes, dataset.input_shape[0], dataset.input_shape[1])
    say = print if verbose else (lambda *_: None)
    start = time.perf_counter()
    result = search(
        space,
        InheritedAccuracy(algorithm, validation, dataset),
        algorithm,
        budget=budget or algorithm.buckets * algorithm.per_bucket,
        out=out,
        seed=seed,
        resume=resume,
        verbose=verbose,
        options={"baseline": baseline, "data": data},
    )
    say(
        f"prenas-vit: {len(algorithm.preferred)} preferred of {algorithm.candidates} candidates, "
        f"{time.perf_counter() - start:.1f} s"
    )
    report = _report(algorithm, result, space, dataset, baseline, resume, verbose)
    if result.out is not None:
        write_json_atomic(result.out / "report.json", report)
        (result.out / "report.md").write_text(markdown(report))
    say(markdown(report))
    return result


def _report(
    prenas: Any,
    result: SearchResult,
    space: Any,
    dataset: Any,
    baseline: bool,
    resume: bool,
    verbose: bool = False,
):
    """The report: the preferred set with inherited accuracies, the uniform baseline, and the
    specialised architectures under three parameter budgets."""
    from symnas import programs
    from symnas.algorithms.oneshot.base import encode_spec
    from symnas.algorithms.oneshot.prenas import train_uniform
    from symnas.programs.data import validation_split
    from symnas.programs.training.estimator import SupernetEstimator

    train_data, validation = validation_split(
        dataset, prenas.validation_fraction, prenas.train_seed
    )
    specs = [p.spec for p in prenas.preferred]
    tested = {prenas.codec.key(t.genome): t.metrics for t in result.trials if t.ok}
    rows = []
    for i, p in enumerate(prenas.preferred):
        row = {**p.to_json(), "val_accuracy": prenas.accuracy[i]}
        metrics = tested.get(prenas.codec.key(encode_spec(prenas.codec, p.spec)))
        if metrics is not None:
            row["test_accuracy"] = metrics["test_accuracy"]
        rows.append(row)
    training = {"prenas": prenas.training}
    if baseline:
        torch.manual_seed(prenas.train_seed)
        uniform = programs.supernet(space)
        text = f"prenas-vit: training the uniform baseline supernet, {prenas.epochs} epochs"
        with phase(logger, text, verbose):
            training["uniform"] = train_uniform(
                uniform,
                space,
                train_data,
                prenas.epochs,
                out=None if result.out is None else result.out / "uniform",
                resume=resume,
                device=prenas.device,
                lr=prenas.lr,
                seed=prenas.train_seed,
                progress=verbose,
            )
        val = SupernetEstimator(uniform, validation, device=prenas.device).evaluate_batch(specs)
        test = SupernetEstimator(uniform, dataset, device=prenas.device).evaluate_batch(specs)
        for row, v, t in zip(rows, val, test, strict=True):
            row.update(uniform_val_accuracy=v["accuracy"], uniform_test_accuracy=t["accuracy"])
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
                "val_accuracy": prenas.accuracy[index],
                "test_accuracy": programs.evaluate(chosen.module, dataset)["accuracy"],
            }
        )
    return {
        "space": "mini AutoFormer (embed 16/24/32, depth 2-4, ratio 1/2, heads 1/2), 8x8 digits",
        "seed": prenas.train_seed,
        "candidates": prenas.candidates,
        "training": training,
        "preferred": rows,
        "specialized": specialized,
    }
