"""Rank correlation of latency estimates with latencies measured on real devices, NB201 cells.

Ground truth: HW-NAS-Bench (Li et al., ICLR 2021) latencies of every NAS-Bench-201 CIFAR-10
network on an FPGA, a Raspberry Pi 4, a Pixel 3, a Xeon Gold 6226 and a Titan X GPU
(``../shared/data/nb201/nb201_latency_ms.csv``), or any CSV with an ``index`` column (the NB201
index) and one latency column per device (``--latency-csv``, ``--devices``). On a random subset
of cells (fixed seed), for each device and each calibration size ``k``, ``--draws`` times: draw
``k`` calibration cells, fit ``programs.cost.latency_model.CalibratedLatencyModel`` on them and take
the Spearman correlation with the measured latency on the other cells (held-out only) of:

- ``calibrated``: the calibrated kernel-level model;
- ``model``: the uncalibrated analytical model (``programs.cost.hardware`` total cycles / clock);
- ``macs`` and ``params``: ``programs.count``, the usual proxy baselines.

A device named in ``latency_model.DEVICES`` uses its configuration there; any other column (or
every column with ``--generic``) uses the ``generic`` configuration, as for a device nothing is
known about. Features are cached per cell and configuration in ``--cache``.

    python benchmarks/nb201_latency.py --cells 500 --draws 10
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from symnas import programs, spaces
from symnas.programs.cost import hardware, hardware_layers, latency_model, trace

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"
CACHE = Path(__file__).resolve().parents[1] / "runs" / "nb201_latency_features.json"


def load(latency_csv: Path, arch_csv: Path, devices: list[str] | None, n_cells: int, seed: int):
    """A random subset of cells: arch strings and a ``(cells, devices)`` latency array."""
    with open(arch_csv) as f:
        arch = {int(r["index"]): r["arch_str"] for r in csv.DictReader(f)}
    with open(latency_csv) as f:
        reader = csv.DictReader(f)
        columns = [c for c in reader.fieldnames or [] if c != "index"]
        rows = {int(r["index"]): r for r in reader}
    devices = devices or columns
    missing = [d for d in devices if d not in columns]
    if missing:
        raise SystemExit(f"--devices {missing} not in {latency_csv}; columns: {columns}.")
    if n_cells > len(rows):
        raise SystemExit(f"--cells {n_cells}: the CSV holds {len(rows)} cells.")
    picks = sorted(np.random.default_rng(seed).choice(sorted(rows), size=n_cells, replace=False))
    latency = np.array([[float(rows[i][d]) for d in devices] for i in picks])
    return [arch[i] for i in picks], devices, latency


def cost_model_version() -> str:
    """A hash of the cost model's source: cached features are void when it changes."""
    parts = (hardware, hardware_layers, trace, latency_model.kernel_features)
    parts += (latency_model.kernel_kinds, latency_model.dead_modules)
    source = "".join(inspect.getsource(p) for p in parts) + str(latency_model.FEATURE_NAMES)
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def cell_features(archs: list[str], configs: dict[str, str], cache_path: Path) -> dict:
    """Per cell: params, MACs and the kernel features on every config (cached in a JSON file)."""
    version = cost_model_version()
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if cache.get("version") != version:
        cache = {"version": version, "cells": {}}
    wanted = set(configs.values()) | {"generic"}
    todo = [a for a in archs if a not in cache["cells"] or wanted - set(cache["cells"][a])]
    start = time.perf_counter()
    for arch in todo:
        model = programs.build(spaces.nb201_arch(arch))
        counts = programs.count(model, (3, 32, 32))
        names = sorted(set(configs.values()) | {"generic"})
        feats = latency_model.kernel_features(model, (3, 32, 32), names)
        entry = {"params": counts["params"], "macs": counts["macs"]}
        entry.update({name: row.tolist() for name, row in zip(names, feats, strict=True)})
        cache["cells"][arch] = entry
    if todo:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    print(f"features: {len(todo)} cells traced in {time.perf_counter() - start:.0f} s")
    return {a: cache["cells"][a] for a in archs}


def rho(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Spearman correlation."""
    return float(spearmanr(estimate, truth).statistic)


def evaluate(features, truth, params, macs, config, k, draws, seed) -> dict[str, list[float]]:
    """Held-out Spearman of each estimate over ``draws`` random calibration sets of ``k``."""
    out: dict[str, list[float]] = {"calibrated": [], "model": [], "macs": [], "params": []}
    analytical = latency_model.analytical_latency_ms(features, config)
    for draw in range(draws):
        calibration, held_out = latency_model.calibration_split(len(truth), k, [seed, k, draw])
        fitted = latency_model.CalibratedLatencyModel(config).fit_features(
            features[calibration], truth[calibration]
        )
        predicted = fitted.predict_features(features[held_out])
        out["calibrated"].append(rho(predicted, truth[held_out]))
        for key, estimate in (("model", analytical), ("macs", macs), ("params", params)):
            out[key].append(rho(estimate[held_out], truth[held_out]))
    return out


def main() -> None:
    """Computes the features of the subset and prints the held-out Spearman tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--latency-csv", type=Path, default=DATA / "nb201_latency_ms.csv")
    parser.add_argument("--arch-csv", type=Path, default=DATA / "nb201_cifar10.csv")
    parser.add_argument("--devices", nargs="+", help="latency columns (default: all)")
    parser.add_argument("--generic", action="store_true", help="'generic' config for every device")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for path in (args.latency_csv, args.arch_csv):
        if not path.is_file():
            raise SystemExit(f"NB201 data not found at {path}.")

    archs, devices, latency = load(
        args.latency_csv, args.arch_csv, args.devices, args.cells, args.seed
    )
    configs = {
        d: d if d in latency_model.DEVICES and not args.generic else "generic" for d in devices
    }
    cells = cell_features(archs, configs, args.cache)
    params = np.array([cells[a]["params"] for a in archs], dtype=np.float64)
    macs = np.array([cells[a]["macs"] for a in archs], dtype=np.float64)
    print(f"{len(archs)} NB201 cells (seed {args.seed}), {args.draws} calibration draws per k")
    print(f"{'device':<10} {'config':<9} {'k':>3} {'model':>6} {'calibrated (min-max)':>26} "
          f"{'macs':>6} {'params':>6} {'cal-macs':>8}")  # fmt: skip
    for j, device in enumerate(devices):
        config = configs[device]
        features = np.array([cells[a][config] for a in archs])
        for k in args.k:
            r = evaluate(features, latency[:, j], params, macs, config, k, args.draws, args.seed)
            cal = np.array(r["calibrated"])
            mean = {key: float(np.mean(v)) for key, v in r.items()}
            print(
                f"{device:<10} {config:<9} {k:>3} {mean['model']:>6.3f} "
                f"{cal.mean():>7.3f} +- {cal.std():.3f} ({cal.min():.3f}-{cal.max():.3f}) "
                f"{mean['macs']:>6.3f} {mean['params']:>6.3f} "
                f"{mean['calibrated'] - mean['macs']:>+8.3f}"
            )


if __name__ == "__main__":
    main()
