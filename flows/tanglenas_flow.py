"""The ``tanglenas-vit`` and ``tanglenas-tdnn`` flows: TangleNAS on a weight-entangled space,
then the found architecture retrained stand-alone.

TangleNAS (Sukthanker et al., "Weight-Entanglement Meets Gradient-Based Neural Architecture
Search", AutoML-Conf 2024; ``algorithms.TangleNAS``) trains the entangled supernet and its
architecture logits by DARTS's bilevel alternation over superimposed weights and selects the
argmax of every decision. The flow runs it through ``flows.search`` (so the supernet training is
checkpointed and resumes after a kill), then the objective retrains the found architecture from
scratch under the trial's seed and reports its test accuracy, parameters and MACs.

- ``tanglenas-vit``: the mini AutoFormer space of ``prenas-vit`` (embed {16, 24, 32}, depth
  {2, 3, 4}, MLP ratio {1, 2}, heads {1, 2} of dim 8, patch 2) on 8x8 digits, or on the CIFAR-10
  subset (``../shared/data/cifar10_subset``) average-pooled to ``image_size`` pixels;
- ``tanglenas-tdnn``: the scaled-down EfficientTDNN space ``tdnn_fsdd`` on FSDD speaker
  identification (``../shared/data/fsdd``).

Outputs in ``out``: ``oneshot/`` (``search/checkpoint.pt``, ``search/train_log.jsonl`` with the
architecture weights per epoch, ``result.json``), ``trials.jsonl``, ``report.json`` and
``report.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symnas.core.files import write_json_atomic, write_text_atomic
from symnas.flows.family_flows import data_root
from symnas.flows.registry import register_flow
from symnas.flows.search import search
from symnas.flows.seeding import current_trial_seed
from symnas.flows.validate import device_option, int_option, one_of, positive_number


@dataclass
class TangleNASFlowResult:
    """What a TangleNAS flow produced: the found architecture's trial and the report."""

    out: Path | None
    best: Any
    trials: list[Any]
    report: dict[str, Any]


class Retrain:
    """Objective: trains a spec from scratch (Adam, ``epochs``, ``lr``) under the trial's seed;
    returns its test accuracy, parameters and MACs."""

    def __init__(self, data: Any, epochs: int, lr: float | None) -> None:
        self.data, self.epochs, self.lr = data, epochs, lr

    def __call__(self, spec: dict[str, Any]) -> dict[str, float]:
        import torch

        from symnas import programs

        seed = current_trial_seed() or 0
        torch.manual_seed(seed)
        model = programs.build(spec, num_classes=self.data.num_classes)
        size = programs.count(model, self.data.input_shape)
        metrics = programs.train(model, self.data, epochs=self.epochs, lr=self.lr, seed=seed)
        return {
            "accuracy": metrics["accuracy"],
            "params": float(size["params"]),
            "macs": float(size["macs"]),
            "train_s": metrics["wall_s"],
        }


def describe(spec: dict[str, Any]) -> str:
    """A one-line text of a ViT or TDNN spec."""
    if "blocks" in spec:
        layers = [spec["stem"], *spec["blocks"]]
        text = " ".join(f"{layer['width']}k{layer['kernel']}" for layer in layers)
        return f"stem+{len(spec['blocks'])} blocks [{text}] cat{spec['cat_channels']}"
    depth = spec["depth"]
    ratios = ",".join(f"{r:g}" for r in spec["mlp_ratio"][:depth])
    heads = ",".join(str(h) for h in spec["num_heads"][:depth])
    return f"e{spec['embed_dim']} d{depth} r[{ratios}] h[{heads}]"


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown."""
    found = report["found"]
    lines = [
        f"# TangleNAS on {report['space']}",
        "",
        f"{report['data']}, {report['epochs']} search epochs (order {report['order']}, "
        f"{report['search_s']:.1f} s), retrained {report['retrain_epochs']} epochs.",
        "",
        "| architecture | test accuracy | params | MACs |",
        "|---|---|---|---|",
        f"| `{describe(found['spec'])}` | {found['accuracy']:.4f} | {found['params']:.0f} | "
        f"{found['macs']:.0f} |",
        "",
        "Final architecture weights (softmax):",
        "",
    ]
    lines += [f"- `{name}`: {weights}" for name, weights in report["arch_weights"].items()]
    return "\n".join(lines) + "\n"


def _run(
    name: str,
    space: Any,
    dataset: Any,
    algorithm: Any,
    budget: int | None,
    out: str | Path | None,
    resume: bool,
    seed: int,
    verbose: bool,
    retrain_epochs: int,
    retrain_lr: float | None,
    options: dict[str, Any],
) -> TangleNASFlowResult:
    """Runs the search and the retraining, and writes the report."""
    from symnas.algorithms.oneshot.tanglenas import TangleNAS

    if not isinstance(algorithm, TangleNAS):
        raise ValueError(
            f"{name}: algorithm must be None, 'tanglenas' or an algorithms.TangleNAS; got "
            f"{algorithm!r}."
        )
    budget = 1 if budget is None else budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"{name}: budget must be a positive int; got {budget!r}.")
    result = search(
        space,
        Retrain(dataset, retrain_epochs, retrain_lr),
        algorithm,
        budget=budget,
        out=out,
        seed=seed,
        resume=resume,
        verbose=verbose,
        options={**options, "retrain_epochs": retrain_epochs, "retrain_lr": retrain_lr},
    )
    best = result.best
    report = {
        "space": options["space"],
        "data": dataset.name,
        "epochs": algorithm.epochs,
        "order": algorithm.order,
        "search_s": algorithm.record.get("search_s", 0.0),
        "retrain_epochs": retrain_epochs,
        "arch_weights": algorithm.record["arch_weights"],
        "found": {"spec": best.spec, **best.metrics},
    }
    out = None if out is None else Path(out)
    if out is not None:
        write_json_atomic(out / "report.json", json.loads(json.dumps(report)))
        write_text_atomic(out / "report.md", markdown(report))
    if verbose:
        print(markdown(report))
    return TangleNASFlowResult(out, best, result.trials, report)


def _check_options(flow: str, **options: Any) -> None:
    """Refuses a bad search or retraining option before any data is loaded or trained."""
    for name in ("epochs", "retrain_epochs"):
        int_option(flow, name, options[name])
    one_of(flow, "order", options["order"], (1, 2))
    positive_number(flow, "lr", options["lr"])
    if options["retrain_lr"] is not None:
        positive_number(flow, "retrain_lr", options["retrain_lr"])
    device_option(flow, options["device"])


def _searcher(algorithm: Any, **settings: Any) -> Any:
    """The flow's TangleNAS: built from ``settings`` for None or ``"tanglenas"``."""
    from symnas.algorithms.oneshot.tanglenas import TangleNAS

    if algorithm is None or algorithm == "tanglenas":
        return TangleNAS(metric="accuracy", **settings)
    return algorithm


@register_flow(
    "tanglenas-vit",
    "TangleNAS on the mini AutoFormer ViT (digits or CIFAR-10 subset); the found architecture "
    "retrained with its accuracy, params and MACs",
)
def tanglenas_vit(
    algorithm: Any = None,
    budget: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int = 1,
    verbose: bool = True,
    data: str = "digits",
    image_size: int = 16,
    epochs: int = 30,
    lr: float = 5e-3,
    order: int = 1,
    augment: str = "none",
    retrain_epochs: int = 30,
    retrain_lr: float = 2e-3,
    device: str = "auto",
) -> TangleNASFlowResult:
    """Runs TangleNAS on the mini AutoFormer space and retrains the found ViT.

    Args:
      data: 'digits' or 'cifar10_subset' (optionally ':DIR'; default the shared folder).
      image_size: side of the pooled CIFAR-10 images (digits keep 8).
      epochs: TangleNAS search epochs.
      lr: AdamW learning rate of the supernet weights.
      order: 1 (first order) or 2 (unrolled second order).
      augment: 'none' or 'crop_flip' for the search batches.
      retrain_epochs: epochs of the found architecture's stand-alone training.
      retrain_lr: Adam learning rate of that training.
      device: where the supernet trains: 'auto', 'cpu' or 'cuda'.
    """
    from symnas.algorithms.oneshot.darts import AUGMENT_OPTIONS
    from symnas.flows.prenas_flow import mini_autoformer
    from symnas.programs.data import load_dataset, resized

    _check_options(
        "tanglenas-vit",
        epochs=epochs,
        retrain_epochs=retrain_epochs,
        order=order,
        lr=lr,
        retrain_lr=retrain_lr,
        device=device,
    )
    int_option("tanglenas-vit", "image_size", image_size, minimum=2)
    one_of("tanglenas-vit", "augment", augment, AUGMENT_OPTIONS)
    if data == "digits":
        dataset = load_dataset("digits")
    elif data.split(":", 1)[0] == "cifar10_subset":
        source = data if ":" in data else f"cifar10_subset:{data_root('cifar10_subset')}"
        dataset = resized(load_dataset(source), image_size)
    else:
        raise ValueError(
            f"tanglenas-vit: data must be 'digits' or 'cifar10_subset[:DIR]'; got {data!r}."
        )
    channels, side = dataset.input_shape[0], dataset.input_shape[-1]
    space = mini_autoformer(dataset.num_classes, channels, side)
    searcher = _searcher(
        algorithm,
        data=dataset,
        epochs=epochs,
        lr=lr,
        order=order,
        augment=augment,
        seed=seed,
        device=device,
    )
    options = {
        "space": f"mini AutoFormer ViT ({side}x{side}x{channels})",
        "data": data,
        "image_size": side,
    }
    return _run(
        "tanglenas-vit",
        space,
        dataset,
        searcher,
        budget,
        out,
        resume,
        seed,
        verbose,
        retrain_epochs,
        retrain_lr,
        options,
    )


@register_flow(
    "tanglenas-tdnn",
    "TangleNAS on the scaled-down EfficientTDNN (FSDD speakers); the found architecture "
    "retrained with its accuracy, params and MACs",
)
def tanglenas_tdnn(
    algorithm: Any = None,
    budget: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int = 1,
    verbose: bool = True,
    root: str | None = None,
    epochs: int = 10,
    lr: float = 5e-3,
    order: int = 1,
    retrain_epochs: int = 10,
    retrain_lr: float | None = None,
    device: str = "auto",
) -> TangleNASFlowResult:
    """Runs TangleNAS on the ``tdnn_fsdd`` space and retrains the found speaker model.

    Args:
      root: folder of the FSDD recordings (default ``$SYMNAS_DATA/fsdd`` or the shared one).
      epochs: TangleNAS search epochs.
      lr: AdamW learning rate of the supernet weights.
      order: 1 (first order) or 2 (unrolled second order).
      retrain_epochs: epochs of the found architecture's stand-alone training.
      retrain_lr: Adam learning rate of that training (None: Adam's default).
      device: where the supernet trains: 'auto', 'cpu' or 'cuda'.
    """
    from symnas.programs.data import load_dataset
    from symnas.spaces.examples import tdnn_fsdd_space

    _check_options(
        "tanglenas-tdnn",
        epochs=epochs,
        retrain_epochs=retrain_epochs,
        order=order,
        lr=lr,
        retrain_lr=retrain_lr,
        device=device,
    )
    dataset = load_dataset("fsdd", str(root or data_root("fsdd")))
    searcher = _searcher(
        algorithm, data=dataset, epochs=epochs, lr=lr, order=order, seed=seed, device=device
    )
    options = {"space": "scaled-down EfficientTDNN (tdnn_fsdd)", "data": "fsdd"}
    return _run(
        "tanglenas-tdnn",
        tdnn_fsdd_space(),
        dataset,
        searcher,
        budget,
        out,
        resume,
        seed,
        verbose,
        retrain_epochs,
        retrain_lr,
        options,
    )
