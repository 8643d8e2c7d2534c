"""DARTS (magnitude) vs DARTS-PT vs DARTS-PT fix-alpha vs random search on the NB201 cell.

Every method searches the NAS-Bench-201 cell on the CIFAR-10 subset images
(``../shared/data/cifar10_subset``: 1,000 training images, split into train and validation
halves as DARTS does), shrunk to ``--image-size`` pixels, with a scaled-down supernet (``--C``,
``--N``), for several seeds. The found cells are looked up in the published NAS-Bench-201
CIFAR-10 table (``../shared/data/nb201/nb201_cifar10.csv``, test accuracy, 200 epochs).

The defaults are DARTS-PT's NB201 protocol (Wang et al., ICLR 2021; ruocwang/darts-pt
``exp_scripts/darts-201.sh`` + ``darts-proj-201.sh``) at CPU scale: 100 first-order DARTS search
epochs, PT interval 5 fine-tuning epochs between edge decisions, every measurement on the whole
validation half; the supernet is shrunk to C=8, N=1 on 8x8 images (the paper: C=16, N=5, 32x32,
25k + 25k images; images average-pooled by ``programs.data.resized``) so that a seed costs a few
CPU-minutes. As in the reference, the cells' BatchNorm has no affine parameters (``--affine``
restores it), the weight and architecture batches and the PT measurements are crop+flip
augmented (the reference's train and validation queues both read the training set with the
training transform; ``--augment none`` turns it off), and PT fine-tunes at a constant rate of
lr / 10 on NB201 (``nasbench201/projection.py``; ``--tune-schedule cosine`` for the DARTS-space
code's cosine to 0.001).

- ``darts``: first-order DARTS for ``--epochs`` epochs (the paper's optimisers), magnitude
  selection (argmax alpha);
- ``darts_pt``: perturbation-based selection on that same supernet (``--interval`` fine-tuning
  epochs between decisions, ``--eval-batches`` validation batches per measurement; omitted: the
  whole validation half);
- ``darts_pt_fixalpha``: the supernet trained with the alphas fixed at their init, then PT;
- ``random``: cells drawn uniformly at random, each trained stand-alone (same C, N and image
  size) for ``--random-epochs`` epochs on the train half (SGD lr 0.025 momentum 0.9 wd 3e-4,
  cosine) and scored on the validation half; the best validation accuracy wins. It runs until
  its CPU time reaches that seed's DARTS-PT CPU time (search + selection); CPU time rather than
  wall-clock because the machine is shared (one torch thread, so on an idle core they agree).
- ``no search``: the mean (and std) published test accuracy of a uniformly drawn cell, computed
  exactly over all 15,625 cells of the table (the expectation of one uniform draw).

The softmax weights of the search's alphas are logged per search epoch (every op of every edge;
the ``skip_connect`` weight per edge and its mean over edges), so a collapse toward parameter-free
ops can be read off the results file.

Search time per epoch is also compared with a hand-written plain-PyTorch DARTS NB201 supernet
(same skeleton and ops, one softmax-mixed edge per op choice, the same first-order bilevel step)
on the same data, measured in the same process, alternating epochs.

Usage: nice -n 5 python benchmarks/darts_pt_nb201.py [--seeds 10] [--epochs 100] [--C 8] [--N 1]
       [--image-size 8] [--interval 5] [--eval-batches B] [--affine] [--augment crop_flip|none]
       [--tune-schedule auto|constant|cosine] [--random-epochs 16] [--jobs 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from symnas import programs, spaces
from symnas.algorithms.oneshot.darts import AUGMENT_OPTIONS, DARTSTrainer, darts_config
from symnas.algorithms.oneshot.perturbation import DARTSPT, TUNE_SCHEDULES
from symnas.flows.nb201_table import read_table
from symnas.programs.data import Dataset, cifar10_subset, resized, validation_split
from symnas.programs.data.augment import crop_flip
from symnas.programs.training.supernet_train import TRAIN_LOG, ArchitectureParameters
from symnas.spaces.cells import NB201_EDGES, NB201_OPS, nb201_arch_str

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def parameter_free(spec: dict) -> int:
    """Number of the cell's 6 edges whose op has no parameters."""
    return sum(op in PARAMETER_FREE for op in spec["edges"])


# ---------------------------------------------------------------- hand-written baseline
class _ReLUConvBN(nn.Sequential):
    def __init__(self, c: int, k: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c, c, k, padding=k // 2, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class _Mixed(nn.Module):
    def __init__(self, c: int, affine: bool) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            [
                _Zero(),
                nn.Identity(),
                _ReLUConvBN(c, 1, affine),
                _ReLUConvBN(c, 3, affine),
                nn.AvgPool2d(3, 1, 1, count_include_pad=False),
            ]
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))


class _Cell(nn.Module):
    def __init__(self, c: int, affine: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_Mixed(c, affine) for _ in NB201_EDGES)

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
    """A plain-PyTorch DARTS NB201 supernet: stem, 3 stages of N mixed cells, ResNet blocks
    (``affine``: the cells' BatchNorm)."""

    def __init__(self, C: int, N: int, num_classes: int, affine: bool = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(_Block(c // 2, c))
            layers.extend(_Cell(c, affine) for _ in range(N))
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


def plain_epoch_times(
    train: Dataset,
    valid: Dataset,
    C: int,
    N: int,
    epochs: int,
    affine: bool = True,
    augment: bool = False,
) -> list[float]:
    """Seconds per epoch of first-order DARTS on the hand-written supernet (``augment``: crop and
    flip of both steps' batches)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = PlainDARTS201(C, N, train.num_classes, affine)
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
            if augment:
                x, xv = crop_flip(x, rng), crop_flip(xv, rng)
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
def alpha_trace(log: Path, decisions: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Per search epoch, the softmax weights of the alphas from the trainer's ``train_log.jsonl``:
    the ``skip_connect`` weight of every edge and its mean over edges, and every op's mean weight
    over edges (``op_mean``); ``final`` is the last epoch's weights of every edge."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    names = list(decisions)
    ops = list(decisions[names[0]])
    if any(list(decisions[n]) != ops for n in names):
        raise ValueError("alpha_trace: the edges' op lists differ.")
    weights = np.array([[r["arch_weights"][n] for n in names] for r in records])
    skip = weights[:, :, ops.index("skip_connect")]
    return {
        "epoch": [r["epoch"] for r in records],
        "edges": names,
        "skip_mean": np.round(skip.mean(1), 5).tolist(),
        "skip_per_edge": np.round(skip, 5).tolist(),
        "op_mean": {op: np.round(weights[:, :, i].mean(1), 5).tolist() for i, op in enumerate(ops)},
        "final": {n: [round(float(v), 5) for v in weights[-1, k]] for k, n in enumerate(names)},
    }


def run_pt(
    data: Dataset, space: Any, seed: int, args: argparse.Namespace, fix_alpha: bool, folder: Path
) -> dict[str, Any]:
    """One DARTS(-PT) search: the selected cells, the CPU time (search + selection), the wall
    seconds of each part, the PT decisions and (alphas trained) the per-epoch alpha trace."""
    algo = DARTSPT(
        data=data,
        epochs=args.epochs,
        interval=args.interval,
        eval_batches=args.eval_batches,
        fix_alpha=fix_alpha,
        affine=args.affine,
        augment=args.augment,
        tune_schedule=args.tune_schedule,
        seed=seed,
        device="cpu",
    )
    start = time.process_time()
    algo.search(space, folder, resume=False, progress=False)
    cpu = time.process_time() - start
    selection = algo.record["selection"]
    log = folder / "search" / TRAIN_LOG
    return {
        "selected": algo.selected,
        "cpu_s": cpu,
        "search_wall_s": algo.record["search_s"],
        "select_wall_s": selection["select_s"],
        "tune_epochs": selection["tune_epochs"],
        "decisions": selection["decisions"],
        "alpha": None if fix_alpha else alpha_trace(log, algo.supernet.decisions),
    }


def run_random(
    data: Dataset, space: Any, seed: int, args: argparse.Namespace, budget_s: float
) -> dict[str, Any]:
    """Random search: uniform cells, stand-alone training for ``--random-epochs`` epochs, best
    validation accuracy, until its CPU time reaches ``budget_s`` (at least one cell)."""
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
    return {
        "spec": best[1],
        "tried": [{"arch_str": nb201_arch_str(s), "valid_acc": round(a, 4)} for a, s in tried],
        "cpu_s": time.process_time() - start,
    }


def run_seed(job: tuple) -> dict[str, Any]:
    """Every method for one seed (runs in a worker process with one torch thread)."""
    seed, args, data, space = job
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pt = run_pt(data, space, seed, args, False, Path(tmp) / "pt")
        fix = run_pt(data, space, seed, args, True, Path(tmp) / "fix")
    rs = run_random(data, space, seed, args, pt["cpu_s"])
    return {
        "seed": seed,
        "cells": {
            "darts": pt["selected"]["magnitude"],
            "darts_pt": pt["selected"]["perturbation"],
            "darts_pt_fixalpha": fix["selected"]["perturbation"],
            "random": rs["spec"],
        },
        "cpu_s": {
            "darts_pt": round(pt["cpu_s"], 1),
            "darts_pt_fixalpha": round(fix["cpu_s"], 1),
            "random": round(rs["cpu_s"], 1),
        },
        "wall_s": {
            "darts_search": pt["search_wall_s"],
            "darts_pt_selection": pt["select_wall_s"],
            "fixalpha_search": fix["search_wall_s"],
            "fixalpha_selection": fix["select_wall_s"],
        },
        "tune_epochs": pt["tune_epochs"],
        "pt_decisions": pt["decisions"],
        "fixalpha_decisions": fix["decisions"],
        "random_tried": rs["tried"],
        "alpha": pt["alpha"],
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
        supernet = programs.supernet(space, affine=args.affine)
        trainer = DARTSTrainer(
            supernet,
            train,
            darts_config(1, augment=None if args.augment == "none" else args.augment),
            arch=ArchitectureParameters(supernet.arch_decisions()),
            valid=valid,
            device="cpu",
        )
        start = time.perf_counter()
        trainer.fit()
        ours.append(time.perf_counter() - start)
        plain.extend(
            plain_epoch_times(
                train, valid, args.C, args.N, 1, args.affine, args.augment == "crop_flip"
            )
        )
    return ours, plain


def run_job(job: tuple) -> dict[str, Any]:
    """A seed's searches, or (seed None) the epoch-time comparison."""
    if job[0] is None:
        ours, plain = epoch_times(job[1:])
        return {"seed": None, "ours": ours, "plain": plain}
    return run_seed(job)


# ---------------------------------------------------------------- statistics and output
METHODS = ("darts", "darts_pt", "darts_pt_fixalpha", "random")


class Table:
    """The published NB201 CIFAR-10 test accuracies and their distribution over all cells."""

    def __init__(self, path: Path) -> None:
        self.acc = read_table(path)
        self.sorted = sorted(self.acc.values())

    def percentile(self, acc: float) -> float:
        """Share (%) of all cells of the table with a lower test accuracy than ``acc``."""
        return 100.0 * bisect.bisect_left(self.sorted, acc) / len(self.sorted)

    def no_search(self) -> dict[str, Any]:
        """Mean, std and median test accuracy of a uniformly drawn cell (exact, all cells)."""
        values = self.sorted
        return {
            "source": "exact, all cells of the table (the expectation of one uniform draw)",
            "cells": len(values),
            "mean": round(statistics.fmean(values), 3),
            "std": round(statistics.pstdev(values), 3),
            "median": round(statistics.median(values), 3),
        }


def t_interval(values: list[float]) -> dict[str, float]:
    """Mean, sample std and the 95% t-interval of the mean over seeds."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"n": n, "mean": round(mean, 3), "std": math.nan, "ci95": [math.nan, math.nan]}
    std = statistics.stdev(values)
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {
        "n": n,
        "mean": round(mean, 3),
        "std": round(std, 3),
        "ci95": [round(mean - half, 3), round(mean + half, 3)],
    }


def fmt(s: dict[str, float]) -> str:
    """``mean [lo, hi]`` of a ``t_interval``."""
    return f"{s['mean']:.2f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"


def seed_record(result: dict[str, Any], table: Table) -> dict[str, Any]:
    """A seed's JSON record: each method's cell with its published accuracy."""
    cells = {}
    for method, spec in result["cells"].items():
        arch = nb201_arch_str(spec)
        acc = table.acc[arch]
        cells[method] = {
            "arch_str": arch,
            "test_acc": round(acc, 4),
            "parameter_free": parameter_free(spec),
            "percentile": round(table.percentile(acc), 2),
        }
    for row in result["random_tried"]:
        row["test_acc"] = round(table.acc[row["arch_str"]], 4)
    rest = {k: v for k, v in result.items() if k not in ("seed", "cells")}
    return {"seed": result["seed"], "cells": cells, **rest}


def trace_lines(alpha: dict[str, Any], every: int) -> list[str]:
    """Alpha trace summary: epoch 1 and every ``every``-th epoch."""
    lines = []
    for i, epoch in enumerate(alpha["epoch"]):
        if epoch != 1 and epoch % every and i != len(alpha["epoch"]) - 1:
            continue
        pf = sum(alpha["op_mean"][op][i] for op in PARAMETER_FREE)
        edges = " ".join(f"{w:.3f}" for w in alpha["skip_per_edge"][i])
        lines.append(
            f"    epoch {epoch:3d}: skip mean {alpha['skip_mean'][i]:.3f} (edges {edges}), "
            f"parameter-free weight {pf:.3f}"
        )
    return lines


def summarise(records: list[dict[str, Any]], table: Table, epochs: int) -> dict[str, Any]:
    """Means with 95% t-intervals, win counts and the alpha trace at epochs 1, mid, last."""
    baseline = table.no_search()
    out: dict[str, Any] = {"methods": {}}
    for method in METHODS:
        accs = [r["cells"][method]["test_acc"] for r in records]
        out["methods"][method] = {
            **t_interval(accs),
            "parameter_free_mean": round(
                statistics.fmean(r["cells"][method]["parameter_free"] for r in records), 2
            ),
            "seeds_above_no_search_mean": sum(a > baseline["mean"] for a in accs),
        }

    def paired(a: str, b: str) -> dict[str, Any]:
        diff = [r["cells"][a]["test_acc"] - r["cells"][b]["test_acc"] for r in records]
        return {
            "wins": sum(d > 0 for d in diff),
            "ties": sum(d == 0 for d in diff),
            "losses": sum(d < 0 for d in diff),
            "difference": t_interval(diff),
        }

    out["darts_pt_vs_darts"] = paired("darts_pt", "darts")
    out["darts_pt_fixalpha_vs_darts_pt"] = paired("darts_pt_fixalpha", "darts_pt")
    out["darts_pt_vs_random"] = paired("darts_pt", "random")
    marks = sorted({1, max(epochs // 2, 1), epochs})
    out["skip_alpha_mean_over_seeds"] = {
        str(e): round(statistics.fmean(r["alpha"]["skip_mean"][e - 1] for r in records), 4)
        for e in marks
    }
    out["parameter_free_alpha_mean_over_seeds"] = {
        str(e): round(
            statistics.fmean(
                sum(r["alpha"]["op_mean"][op][e - 1] for op in PARAMETER_FREE) for r in records
            ),
            4,
        )
        for e in marks
    }
    return out


def dumps(obj: Any, indent: int = 0) -> str:
    """JSON with containers indented; lists of numbers and short flat dicts on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    flat = isinstance(obj, dict) and not any(isinstance(v, (dict, list)) for v in obj.values())
    if flat and len(json.dumps(obj)) <= 90:
        return json.dumps(obj)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        if all(
            isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v) for v in obj
        ):
            rows = [f"{inner}{json.dumps(v)}" for v in obj]
        else:
            rows = [f"{inner}{dumps(v, indent + 2)}" for v in obj]
        return "[\n" + ",\n".join(rows) + f"\n{pad}]"
    return json.dumps(obj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="Seeds 0 .. seeds-1.")
    parser.add_argument("--epochs", type=int, default=100, help="DARTS search epochs.")
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument(
        "--interval", type=int, default=5, help="PT fine-tuning epochs between edge decisions."
    )
    parser.add_argument(
        "--eval-batches",
        type=int,
        default=None,
        help="Validation batches of 64 per PT measurement; omitted: the whole validation half.",
    )
    parser.add_argument(
        "--affine",
        action="store_true",
        help="Affine BatchNorm in the supernet's cells (default: affine=False, the reference's).",
    )
    parser.add_argument(
        "--augment",
        choices=AUGMENT_OPTIONS,
        default="crop_flip",
        help="Augmentation of the search's weight and architecture batches and of the PT "
        "measurements (default: crop_flip, the reference's).",
    )
    parser.add_argument(
        "--tune-schedule",
        choices=TUNE_SCHEDULES,
        default="auto",
        help="PT fine-tuning rate schedule (auto: constant on NB201, the reference's).",
    )
    parser.add_argument(
        "--random-epochs", type=int, default=16, help="Stand-alone epochs per random cell."
    )
    parser.add_argument("--timing-epochs", type=int, default=3)
    parser.add_argument("--trace-every", type=int, default=10, help="Alpha trace print period.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="Parallel worker processes.")
    parser.add_argument("--out", default="benchmarks/results/darts_pt_nb201.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = resized(cifar10_subset(DATA / "cifar10_subset"), args.image_size)
    table = Table(DATA / "nb201" / "nb201_cifar10.csv")
    space = spaces.nb201_cell(C=args.C, N=args.N, num_classes=10, in_chans=3)
    measure = (
        "the whole validation half"
        if args.eval_batches is None
        else f"{args.eval_batches} validation batches of 64"
    )
    print(
        f"NB201 cell, C={args.C} N={args.N}, CIFAR-10 subset at {args.image_size}px "
        f"({len(data.y_train)} train images: halves for weights and alphas), {args.epochs} search "
        f"epochs, PT interval {args.interval} epoch(s), {measure} per measurement, cell BN "
        f"affine={args.affine}, augment={args.augment}, PT tuning rate {args.tune_schedule}, "
        f"random search {args.random_epochs} epoch(s) per cell; load average "
        f"{os.getloadavg()}",
        flush=True,
    )
    baseline = table.no_search()
    print(
        f"no search (uniform cell, exact over {baseline['cells']} cells): mean "
        f"{baseline['mean']:.2f}, std {baseline['std']:.2f}, median {baseline['median']:.2f}",
        flush=True,
    )
    jobs = [(seed, args, data, space) for seed in range(args.seeds)]
    if args.timing_epochs:
        jobs.insert(0, (None, args, data, space))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "out"},
            "train_images": len(data.y_train) // 2,
            "valid_images": len(data.y_train) - len(data.y_train) // 2,
        },
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "no_search": baseline,
    }
    records: list[dict[str, Any]] = []
    timing: dict[str, Any] | None = None
    with multiprocessing.get_context("spawn").Pool(max(args.jobs, 1)) as pool:
        for result in pool.imap_unordered(run_job, jobs):
            if result["seed"] is None:
                timing = result
                print(f"epoch times: symnas {result['ours']}, plain {result['plain']}", flush=True)
                continue
            record = seed_record(result, table)
            records.append(record)
            records.sort(key=lambda r: r["seed"])
            line = [f"seed {record['seed']}:"]
            for method, cell in record["cells"].items():
                line.append(
                    f"{method} {cell['test_acc']:.2f} ({cell['parameter_free']} pf) "
                    f"{cell['arch_str']}"
                )
            cpu = record["cpu_s"]
            line.append(
                f"[CPU s: PT {cpu['darts_pt']:.0f}, fix {cpu['darts_pt_fixalpha']:.0f}, "
                f"random {cpu['random']:.0f} ({len(record['random_tried'])} cells)]"
            )
            line.append("alpha trace (softmax weights, mean over edges):")
            print("\n  ".join(line), flush=True)
            print("\n".join(trace_lines(record["alpha"], args.trace_every)), flush=True)
            report["seeds"] = records
            report["summary"] = summarise(records, table, args.epochs)
            report["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
            out.write_text(dumps(report) + "\n")
            print(f"wrote {out} ({len(records)} seeds)", flush=True)

    summary = report["summary"]
    print(
        "\n| method | NB201 CIFAR-10 test acc, mean [95% t-interval] | std | pf ops (of 6) |"
        " seeds above no-search mean |"
    )
    print("|---|---|---|---|---|")
    for method, s in summary["methods"].items():
        print(
            f"| {method} | {fmt(s)} | {s['std']:.2f} | {s['parameter_free_mean']:.1f} | "
            f"{s['seeds_above_no_search_mean']} of {s['n']} |"
        )
    print(
        f"| no search (exact) | {baseline['mean']:.2f} | {baseline['std']:.2f} | 3.6 (expected) |"
        " - |"
    )
    for key in ("darts_pt_vs_darts", "darts_pt_fixalpha_vs_darts_pt", "darts_pt_vs_random"):
        p = summary[key]
        print(
            f"{key}: {p['wins']} wins, {p['ties']} ties, {p['losses']} losses; difference "
            f"{fmt(p['difference'])}"
        )
    print(f"skip alpha (mean over edges and seeds): {summary['skip_alpha_mean_over_seeds']}")
    print(
        "parameter-free alpha mass (none + skip + pool, mean over edges and seeds): "
        f"{summary['parameter_free_alpha_mean_over_seeds']}"
    )
    if timing is not None:
        ours, plain = statistics.median(timing["ours"]), statistics.median(timing["plain"])
        report["epoch_time_s"] = {"symnas": timing["ours"], "plain": timing["plain"]}
        out.write_text(dumps(report) + "\n")
        print(
            f"\nsearch time per epoch (median of {len(timing['ours'])}, alternating): symnas "
            f"DARTSTrainer {ours:.2f} s, hand-written mixed-op loop {plain:.2f} s, "
            f"ratio {ours / plain:.2f}"
        )
    cpu = {m: statistics.fmean(r["cpu_s"][m] for r in records) for m in records[0]["cpu_s"]}
    print(
        "CPU seconds per seed (mean): "
        + ", ".join(f"{m} {v:.0f}" for m, v in cpu.items())
        + "; random search tried "
        + f"{statistics.fmean(len(r['random_tried']) for r in records):.1f} cells per seed"
    )


if __name__ == "__main__":
    main()
