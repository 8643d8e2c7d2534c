"""DARTS (magnitude) vs DARTS-PT vs DARTS-PT fix-alpha vs random search on the NB201 cell.

Every method searches the NAS-Bench-201 cell on the CIFAR-10 subset images
(``../shared/data/cifar10_subset``: 1,000 training images, split into train and validation
halves as DARTS does), shrunk to ``--image-size`` pixels, with a scaled-down supernet (``--C``,
``--N``), for several seeds. The found cells are looked up in the published NAS-Bench-201
CIFAR-10 table (``../shared/data/nb201/nb201_cifar10.csv``, test accuracy, 200 epochs).

- ``darts``: first-order DARTS for ``--epochs`` epochs (the paper's optimisers), magnitude
  selection (argmax alpha);
- ``darts_pt``: perturbation-based selection on that same supernet (``--interval`` fine-tuning
  epochs between decisions, ``--eval-batches`` validation batches per measurement);
- ``darts_pt_fixalpha``: the supernet trained with the alphas fixed at their init, then PT;
- ``random``: cells drawn uniformly at random, each trained stand-alone (same C, N and image
  size) for ``--random-epochs`` epochs on the train half (SGD lr 0.025 momentum 0.9 wd 3e-4,
  cosine) and scored on the validation half; the best validation accuracy wins. It runs until
  its CPU time reaches that seed's DARTS-PT CPU time (search + selection); CPU time rather than
  wall-clock because the machine is shared (one torch thread, so on an idle core they agree).

Search time per epoch is also compared with a hand-written plain-PyTorch DARTS NB201 supernet
(same skeleton and ops, one softmax-mixed edge per op choice, the same first-order bilevel step)
on the same data, measured in the same process, alternating epochs.

Usage: nice -n 5 python benchmarks/darts_pt_nb201.py [--seeds 5] [--epochs 10] [--C 8] [--N 1]
       [--image-size 16] [--interval 1] [--eval-batches 4] [--jobs 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from symnas import programs, spaces
from symnas.algorithms.oneshot.darts import DARTSTrainer, darts_config
from symnas.algorithms.oneshot.perturbation import DARTSPT
from symnas.programs.data import Dataset, cifar10_subset, validation_split
from symnas.programs.supernet_train import ArchitectureParameters
from symnas.spaces.cells import NB201_EDGES, NB201_OPS, nb201_arch_str

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def shrink(data: Dataset, size: int) -> Dataset:
    """The dataset with images average-pooled to ``size`` x ``size``."""
    if data.input_shape[-1] == size:
        return data
    pool = lambda x: F.adaptive_avg_pool2d(x, size).contiguous()  # noqa: E731
    return Dataset(
        pool(data.x_train),
        data.y_train,
        pool(data.x_test),
        data.y_test,
        data.num_classes,
        (data.input_shape[0], size, size),
        f"{data.name}-{size}px",
    )


def read_table(path: Path) -> dict[str, float]:
    """Published NB201 CIFAR-10 test accuracy by arch string."""
    with open(path) as f:
        return {row["arch_str"]: float(row["test_acc"]) for row in csv.DictReader(f)}


def parameter_free(spec: dict) -> int:
    """Number of the cell's 6 edges whose op has no parameters."""
    return sum(op in PARAMETER_FREE for op in spec["edges"])


# ---------------------------------------------------------------- hand-written baseline
class _ReLUConvBN(nn.Sequential):
    def __init__(self, c: int, k: int) -> None:
        super().__init__(
            nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c)
        )


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class _Mixed(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            [
                _Zero(),
                nn.Identity(),
                _ReLUConvBN(c, 1),
                _ReLUConvBN(c, 3),
                nn.AvgPool2d(3, 1, 1, count_include_pad=False),
            ]
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))


class _Cell(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_Mixed(c) for _ in NB201_EDGES)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            nodes.append(
                sum(
                    self.edges[k](nodes[src], w[k])
                    for k, (d, src) in enumerate(NB201_EDGES)
                    if d == dst
                )
            )
        return nodes[-1]


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out)
        )
        self.b = _ReLUConvBN(c_out, 3)
        self.short = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.short(x) + self.b(self.a(x))


class PlainDARTS201(nn.Module):
    """A plain-PyTorch DARTS NB201 supernet: stem, 3 stages of N mixed cells, ResNet blocks."""

    def __init__(self, C: int, N: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(_Block(c // 2, c))
            layers.extend(_Cell(c) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(NB201_OPS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.alpha, dim=-1)
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h, w) if isinstance(layer, _Cell) else layer(h)
        return self.classifier(self.head(h).mean((2, 3)))


def plain_epoch_times(train: Dataset, valid: Dataset, C: int, N: int, epochs: int) -> list[float]:
    """Seconds per epoch of first-order DARTS on the hand-written supernet."""
    torch.manual_seed(0)
    model = PlainDARTS201(C, N, train.num_classes)
    weights = [p for n, p in model.named_parameters() if n != "alpha"]
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([model.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        valid_batches = iter(valid.loader("test", 64, shuffle=True, seed=epoch))
        for x, y in train.loader("train", 64, shuffle=True, seed=epoch):
            try:
                xv, yv = next(valid_batches)
            except StopIteration:
                valid_batches = iter(valid.loader("test", 64, shuffle=True, seed=epoch + 100))
                xv, yv = next(valid_batches)
            a_opt.zero_grad()
            F.cross_entropy(model(xv), yv).backward()
            a_opt.step()
            w_opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            nn.utils.clip_grad_norm_(weights, 5.0)
            w_opt.step()
        times.append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------- methods
def run_pt(data: Dataset, space, seed: int, args, fix_alpha: bool, folder: Path) -> dict:
    """One DARTS(-PT) search; the selected cells and its CPU time (search + selection)."""
    algo = DARTSPT(
        data=data,
        epochs=args.epochs,
        interval=args.interval,
        eval_batches=args.eval_batches,
        fix_alpha=fix_alpha,
        seed=seed,
        device="cpu",
    )
    start = time.process_time()
    algo.search(space, folder, resume=False, progress=False)
    return {"selected": algo.selected, "cpu_s": time.process_time() - start}


def run_random(data: Dataset, space, seed: int, args, budget_s: float) -> dict:
    """Random search: uniform cells, short stand-alone training, best validation accuracy,
    until its CPU time reaches ``budget_s``."""
    train, valid = validation_split(data, 0.5, seed)
    codec = spaces.compile(space)
    rng = np.random.default_rng(seed)
    start, tried = time.process_time(), []
    while not tried or time.process_time() - start < budget_s:
        spec = codec.decode(codec.random(1, rng)[0])
        torch.manual_seed(seed + len(tried))
        metrics = programs.train(
            programs.build(spec),
            valid,
            epochs=args.random_epochs,
            optimizer="sgd",
            lr=0.025,
            weight_decay=3e-4,
            seed=seed + len(tried),
        )
        tried.append((metrics["accuracy"], spec))
    best = max(tried, key=lambda t: t[0])
    return {"spec": best[1], "tried": len(tried), "cpu_s": time.process_time() - start}


def run_seed(job: tuple) -> dict:
    """Every method for one seed (runs in a worker process with one torch thread)."""
    seed, args, data, space = job
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pt = run_pt(data, space, seed, args, False, Path(tmp) / "pt")
        fix = run_pt(data, space, seed, args, True, Path(tmp) / "fix")
    rs = run_random(data, space, seed, args, pt["cpu_s"])
    print(f"seed {seed} done: CPU s PT {pt['cpu_s']:.0f}, fix {fix['cpu_s']:.0f}", flush=True)
    return {
        "seed": seed,
        "cells": {
            "darts": pt["selected"]["magnitude"],
            "darts_pt": pt["selected"]["perturbation"],
            "darts_pt_fixalpha": fix["selected"]["perturbation"],
            "random": rs["spec"],
        },
        "cpu_s": {
            "darts_pt": pt["cpu_s"],
            "darts_pt_fixalpha": fix["cpu_s"],
            "random": rs["cpu_s"],
        },
        "tried": rs["tried"],
    }


def epoch_times(job: tuple) -> tuple[list[float], list[float]]:
    """Seconds per first-order DARTS epoch, symnas's trainer and the hand-written loop,
    alternating in one process so that both see the same machine load."""
    args, data, space = job
    torch.set_num_threads(args.threads)
    train, valid = validation_split(data, 0.5, 0)
    ours, plain = [], []
    for _ in range(args.timing_epochs):
        torch.manual_seed(0)
        supernet = programs.supernet(space)
        trainer = DARTSTrainer(
            supernet,
            train,
            darts_config(1),
            arch=ArchitectureParameters(supernet.arch_decisions()),
            valid=valid,
            device="cpu",
        )
        start = time.perf_counter()
        trainer.fit()
        ours.append(time.perf_counter() - start)
        plain.extend(plain_epoch_times(train, valid, args.C, args.N, 1))
    return ours, plain


def run_job(job: tuple) -> dict:
    """A seed's searches, or (seed None) the epoch-time comparison."""
    if job[0] is None:
        ours, plain = epoch_times(job[1:])
        return {"seed": None, "ours": ours, "plain": plain}
    return run_seed(job)


def summary(values: list[float]) -> str:
    """Mean +- sample std."""
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    return f"{statistics.mean(values):.2f} +- {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--eval-batches", type=int, default=4)
    parser.add_argument("--random-epochs", type=int, default=2)
    parser.add_argument("--timing-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="Parallel worker processes.")
    parser.add_argument("--out", default="benchmarks/results/darts_pt_nb201.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = shrink(cifar10_subset(DATA / "cifar10_subset"), args.image_size)
    table = read_table(DATA / "nb201" / "nb201_cifar10.csv")
    space = spaces.nb201_cell(C=args.C, N=args.N, num_classes=10, in_chans=3)
    print(
        f"NB201 cell, C={args.C} N={args.N}, CIFAR-10 subset at {args.image_size}px "
        f"({len(data.y_train)} train images: halves for weights and alphas), {args.epochs} search "
        f"epochs, PT interval {args.interval} epoch(s), {args.eval_batches} validation batches "
        f"of 64 per measurement, random search {args.random_epochs} epoch(s) per cell",
        flush=True,
    )
    jobs = [(None, args, data, space)] + [(seed, args, data, space) for seed in range(args.seeds)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results, timing, found = [], None, {}
    with multiprocessing.get_context("spawn").Pool(max(args.jobs, 1)) as pool:
        for result in pool.imap_unordered(run_job, jobs):
            if result["seed"] is None:
                timing = result
                print(f"epoch times: symnas {result['ours']}, plain {result['plain']}", flush=True)
                continue
            results.append(result)
            line = [f"seed {result['seed']}:"]
            for method, spec in result["cells"].items():
                arch = nb201_arch_str(spec)
                acc = table.get(arch, float("nan"))
                line.append(f"{method} {acc:.2f} ({parameter_free(spec)} pf) {arch}")
            cpu = result["cpu_s"]
            line.append(
                f"[CPU s: PT {cpu['darts_pt']:.0f}, fix {cpu['darts_pt_fixalpha']:.0f}, "
                f"random {cpu['random']:.0f} ({result['tried']} cells)]"
            )
            print("\n  ".join(line), flush=True)
            results.sort(key=lambda r: r["seed"])
            found = {
                m: [{"seed": r["seed"], "arch_str": nb201_arch_str(r["cells"][m])} for r in results]
                for m in result["cells"]
            }
            out.write_text(json.dumps(found, indent=2) + "\n")
            print(f"wrote {out} ({len(results)} seeds)", flush=True)

    print(
        "\n| method | NB201 CIFAR-10 test acc (mean +- std) | parameter-free ops (of 6) | cells |"
    )
    print("|---|---|---|---|")
    for method, rows in found.items():
        accs = [table[r["arch_str"]] for r in rows if r["arch_str"] in table]
        pf = [parameter_free(spaces.nb201_arch(r["arch_str"])) for r in rows]
        print(f"| {method} | {summary(accs)} | {statistics.mean(pf):.1f} | {len(rows)} |")
    ours, plain = statistics.median(timing["ours"]), statistics.median(timing["plain"])
    print(
        f"\nsearch time per epoch (median of {len(timing['ours'])}, alternating): symnas "
        f"DARTSTrainer {ours:.2f} s, hand-written mixed-op loop {plain:.2f} s, "
        f"ratio {ours / plain:.2f}"
    )
    cpu = {m: statistics.mean(r["cpu_s"][m] for r in results) for m in results[0]["cpu_s"]}
    print(
        "CPU seconds per seed (mean): "
        + ", ".join(f"{m} {v:.0f}" for m, v in cpu.items())
        + f"; random search tried {statistics.mean(r['tried'] for r in results):.1f} cells per seed"
    )


if __name__ == "__main__":
    main()
