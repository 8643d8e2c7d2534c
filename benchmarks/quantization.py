"""Elastic quantization (EQ-Net) against static quantization-aware training, on real CIFAR-10.

EQ-Net ("EQ-Net: Elastic Quantization Neural Networks", Xu et al., ICCV 2023) claims that one
weight-sharing quantization supernet gives sub-networks "close to or better than" the same
network trained separately with quantization-aware training (QAT) at each bit-width. This
benchmark measures that claim at a small scale, and how well the supernet ranks mixed-precision
configurations, for two networks of fixed architecture:

- ``pooling``: ResNet20 with half widths (8/16/32 channels, pools before layers 4 and 7);
- ``nb201``: the NAS-Bench-201 network (C=8, N=1) of the cell
  ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``.

Data: the CIFAR-10 subset of ``../shared/data/cifar10_subset`` (1,000 training and 1,000 test
images) average-pooled to ``--image-size`` (8). The quantization space is
``spaces.quantized(arch, bits=(2, 3, 4, 6, 8), granularity=("per_channel",),
symmetric=(True,))``: per-unit weight and input bit-widths, the first and last unit at 8 bits
(EQ-Net's default), LSQ step sizes.

Configurations: the five uniform ones ``u8, u6, u4, u3, u2`` (every searched unit's weights and
inputs at that width), and ``--mixed`` (12) mixed-precision ones ``m00..``, drawn once with
``np.random.default_rng(0)``: each takes Dirichlet(0.5) weights over the five widths and draws
every searched operand's width from them, so their mean precision spreads over the range.

- ``--part standalone``: static QAT, each configuration's quantized network trained alone from
  scratch for ``--standalone-epochs`` (SGD 0.05, momentum 0.9, weight decay 5e-4, cosine, batch
  64), test accuracy. Uniform configurations at every ``--seeds`` seed; mixed ones at
  ``--truth-seed`` (0) only (their ranking's ground truth).
- ``--part supernet``: per method and seed, one quantization supernet trained by the shared
  ``SupernetTrainer`` for ``--epochs`` with 3 configurations per step and the same optimiser,
  then every configuration scored with inherited weights on the test images, its BN statistics
  re-estimated on 8 training batches (EQ-Net's ``Adaptive_BN``). Both supernets keep the
  standalone networks' affine BN (pooling: ``batch_stats=False``; NB201: ``affine=True``):
  trained on the ``u8`` configuration alone, the pooling supernet then reaches exactly the
  standalone ``u8`` network's accuracy (0.348 at seed 0), while its default batch-statistics BN
  (``affine=False``, no running statistics) reached 0.22. Methods: ``uniform`` (3 uniformly random configurations per step),
  ``uniform_wdr_gpg`` (EQ-Net's WDR with rates 0.015/1.0 and GPG with alpha 0.5),
  ``scheduler`` (the ``quant_scheduler`` path sampler, QuantLLM-style) and
  ``scheduler_wdr_gpg``.
- ``--part report``: merges the parts into ``benchmarks/results/quantization.json`` as
  ``{"<family>/<method>": {seed: {config: {"supernet": acc, "standalone": acc}}}}`` and prints
  the figures: supernet minus standalone accuracy per uniform width (mean over seeds, 95%
  t-interval), and Kendall tau of the supernet's estimates over the mixed configurations against
  their standalone accuracies (mean over seeds, 95% t-interval).

    /work/heavy python benchmarks/quantization.py --family pooling --part standalone
    /work/heavy python benchmarks/quantization.py --family pooling --part supernet
    python benchmarks/quantization.py --part report

Parts are written to ``--parts`` (``runs/quantization``) as JSON and skipped when present.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
import torch
from scipy.stats import kendalltau
from scipy.stats import t as student_t

from symnas import programs, spaces
from symnas.algorithms.samplers import QuantScheduler, UniformSampler
from symnas.core.files import write_json_atomic
from symnas.programs.data import Dataset, cifar10_subset, resized
from symnas.programs.training.estimator import SupernetEstimator
from symnas.programs.training.quant_losses import mean_bits
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.pooling import PoolingSpace

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "quantization.json"
BITS = (2, 3, 4, 6, 8)
UNIFORM = (8, 6, 4, 3, 2)
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
HALF_RESNET20 = (8, 8, 8, 8, 16, 16, 16, 32, 32, 32)
METHODS = ("uniform", "uniform_wdr_gpg", "scheduler", "scheduler_wdr_gpg")
RECIPE = {"batch_size": 64, "optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4}


def family_space(family: str, image_size: int) -> tuple[Any, dict[str, Any]]:
    """The family space with its one architecture, and that architecture's spec."""
    if family == "pooling":
        space = PoolingSpace(
            channels=list(HALF_RESNET20),
            pool_at=pg.manyof(2, [4, 7], distinct=True, sorted=True),
            num_classes=10,
            in_chans=3,
            image_size=image_size,
        )
        return space, pg.to_json(space.clone(override={"pool_at": [4, 7]}))
    arch = spaces.nb201_arch(NB201_CELL, C=8, N=1, num_classes=10, in_chans=3)
    return spaces.NB201Cell(**{k: v for k, v in arch.items() if k != "_type"}), arch


def configurations(arch: dict[str, Any], mixed: int) -> dict[str, dict[str, Any]]:
    """The uniform configurations and ``mixed`` mixed-precision ones, by name."""
    configs = {f"u{b}": spaces.quant_spec(arch, b) for b in UNIFORM}
    units = spaces.quant_units(arch)
    searched = units[1:-1]
    rng = np.random.default_rng(0)
    for i in range(mixed):
        weights = rng.dirichlet(np.full(len(BITS), 0.5))
        widths = {u: tuple(int(b) for b in rng.choice(BITS, size=2, p=weights)) for u in searched}
        widths[units[0]] = widths[units[-1]] = (8, 8)
        configs[f"m{i:02d}"] = spaces.quant_spec(arch, widths)
    return configs


def load_data(image_size: int) -> Dataset:
    """The CIFAR-10 subset at ``image_size`` pixels."""
    folder = DATA / "cifar10_subset"
    if not folder.exists():
        sys.exit(f"quantization benchmark: {folder} is missing (the CIFAR-10 subset).")
    return resized(cifar10_subset(folder), image_size)


def run_standalone(args: argparse.Namespace, data: Dataset, out: Path) -> None:
    """Static QAT of every configuration (uniform at every seed, mixed at the first)."""
    _, arch = family_space(args.family, args.image_size)
    configs = configurations(arch, args.mixed)
    for seed in args.seeds:
        path = out / f"standalone_{args.family}_{seed}.json"
        if path.exists():
            continue
        results = {}
        for name, spec in configs.items():
            if name.startswith("m") and seed != args.truth_seed:
                continue
            torch.manual_seed(seed)
            model = programs.build(spec)
            metrics = programs.train(
                model, data, args.standalone_epochs, seed=seed, device="cpu", **RECIPE
            )
            results[name] = metrics["accuracy"]
            print(
                f"standalone {args.family} seed {seed} {name}: {metrics['accuracy']:.4f} "
                f"({metrics['wall_s']:.1f} s)",
                flush=True,
            )
        write_json_atomic(path, results)


def _sampler(method: str) -> Any:
    if method.startswith("scheduler"):
        return QuantScheduler(num_paths=3)
    return UniformSampler(num_paths=3)


def run_supernet(args: argparse.Namespace, data: Dataset, out: Path) -> None:
    """Trains one supernet per method and seed and scores every configuration."""
    space, arch = family_space(args.family, args.image_size)
    qspace = spaces.quantized(space, bits=BITS, granularity=("per_channel",), symmetric=(True,))
    configs = configurations(arch, args.mixed)
    for method in args.methods:
        for seed in args.seeds:
            path = out / f"supernet_{args.family}_{method}_{seed}.json"
            if path.exists():
                continue
            losses = {"wdr_kurtosis": 0.015, "wdr_skewness": 1.0, "gpg_alpha": 0.5}
            config = TrainConfig(
                epochs=args.epochs, seed=seed, **RECIPE, **(losses if "wdr_gpg" in method else {})
            )
            torch.manual_seed(seed)
            task = {"batch_stats": False} if args.family == "pooling" else {}
            supernet = programs.supernet(qspace, **task)
            start = time.perf_counter()
            trainer = SupernetTrainer(
                supernet,
                data,
                config,
                sampler=_sampler(method),
                space=qspace,
                device="cpu",
                progress=False,
            )
            record = trainer.fit()
            estimator = SupernetEstimator(supernet, data, recalibrate_batches=8, device="cpu")
            scores = {name: estimator(spec)["accuracy"] for name, spec in configs.items()}
            result = {
                "accuracy": scores,
                "train_loss": record["loss"],
                "train_s": record["train_s"],
                "wall_s": round(time.perf_counter() - start, 1),
            }
            if isinstance(trainer.sampler, QuantScheduler):
                result["scheduler"] = trainer.sampler.state_dict()
            write_json_atomic(path, result)
            print(
                f"supernet {args.family} {method} seed {seed}: "
                + " ".join(f"{k}={v:.3f}" for k, v in scores.items() if k.startswith("u"))
                + f" ({result['wall_s']} s)",
                flush=True,
            )


def _interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = student_t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def report(args: argparse.Namespace, out: Path) -> None:
    """Merges the parts into the results JSON and prints the figures."""
    merged: dict[str, Any] = {}
    lines = []
    for family in ("pooling", "nb201"):
        standalone = {
            int(p.stem.rsplit("_", 1)[1]): json.loads(p.read_text())
            for p in sorted(out.glob(f"standalone_{family}_*.json"))
        }
        if not standalone:
            continue
        truth_seed = args.truth_seed
        _, arch = family_space(family, args.image_size)
        precision = {n: mean_bits(spec) for n, spec in configurations(arch, args.mixed).items()}
        truth = standalone.get(truth_seed, {})
        named = [n for n in truth if n.startswith("m")]
        if len(named) > 2:
            tau = kendalltau([truth[n] for n in named], [precision[n] for n in named]).statistic
            lines.append(f"{family} standalone mixed vs mean bit-width: tau {tau:.3f}")
        for name in [f"u{b}" for b in UNIFORM]:
            accs = [standalone[s][name] for s in sorted(standalone)]
            mean, half = _interval(accs)
            lines.append(f"{family} standalone QAT {name}: {mean:.4f} +- {half:.4f}")
        for method in METHODS:
            prefix = f"supernet_{family}_{method}"
            runs = {
                int(p.stem.rsplit("_", 1)[1]): json.loads(p.read_text())
                for p in sorted(out.glob(f"{prefix}_*.json"))
                if p.stem.rsplit("_", 1)[0] == prefix  # not uniform_wdr_gpg for uniform
            }
            if not runs:
                continue
            entry = merged.setdefault(f"{family}/{method}", {})
            taus, bit_taus, gaps = [], [], {f"u{b}": [] for b in UNIFORM}
            for seed, run in sorted(runs.items()):
                rows = {}
                for name, acc in run["accuracy"].items():
                    own = standalone.get(seed if name.startswith("u") else truth_seed, {})
                    rows[name] = {"supernet": acc, "standalone": own.get(name)}
                    if name.startswith("u") and name in own:
                        gaps[name].append(acc - own[name])
                entry[str(seed)] = rows
                mixed = [n for n in rows if n.startswith("m") and rows[n]["standalone"] is not None]
                every = [n for n in rows if n.startswith("m")]
                bit_taus.append(
                    kendalltau(
                        [rows[n]["supernet"] for n in every], [precision[n] for n in every]
                    ).statistic
                )
                if len(mixed) > 2:
                    taus.append(
                        kendalltau(
                            [rows[n]["supernet"] for n in mixed],
                            [rows[n]["standalone"] for n in mixed],
                        ).statistic
                    )
            gap_text = " ".join(
                "{}: {:+.4f} +- {:.4f}".format(name, *_interval(v)) for name, v in gaps.items() if v
            )
            tau_text = "tau {:.3f} +- {:.3f}".format(*_interval(taus)) if taus else "tau n/a"
            tau_text += " (vs mean bit-width {:.3f} +- {:.3f})".format(*_interval(bit_taus))
            lines.append(
                f"{family} {method} ({len(runs)} seeds): {tau_text}; supernet - "
                f"standalone {gap_text}"
            )
    write_json_atomic(RESULTS, merged)
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("pooling", "nb201"), default="pooling")
    parser.add_argument("--part", choices=("standalone", "supernet", "report"), required=True)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12, help="supernet epochs")
    parser.add_argument("--standalone-epochs", type=int, default=12)
    parser.add_argument("--mixed", type=int, default=12, help="mixed-precision configurations")
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument(
        "--truth-seed", type=int, default=0, help="the seed that trains the mixed configurations"
    )
    parser.add_argument("--parts", type=Path, default=Path("runs/quantization"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.parts.mkdir(parents=True, exist_ok=True)
    if args.part == "report":
        report(args, args.parts)
        return
    data = load_data(args.image_size)
    if args.part == "standalone":
        run_standalone(args, data, args.parts)
    else:
        run_supernet(args, data, args.parts)


if __name__ == "__main__":
    main()
