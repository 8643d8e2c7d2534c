"""What HW-NAS-Bench's Eyeriss latencies price: the published cells against MACs and the model.

HW-NAS-Bench (Li et al., ICLR 2021) gives Eyeriss latencies (Timeloop + Accelergy) for every
NAS-Bench-201 cell, but only in its pickle, which is not in ``../shared/data``; its README and
example notebook print them for cells 0-2 on CIFAR-10, CIFAR-100 and ImageNet16-120, the nine
values in ``PUBLISHED``. For those cells this script prints MACs (``programs.count``), the
latency per MAC, and the analytical model's latency (``programs.cost.hardware``) with each
dataflow on an Eyeriss-like configuration (12 x 14 PEs, 3 x 36 KB = 108 KB of SRAM, 16-bit
words, 200 MHz, 8 bytes a cycle of DRAM bandwidth). Then it fits ``latency = a + b * MACs`` on
the three CIFAR-10 cells with MACs counted three ways: as they are (pooling has none), with
every ``avg_pool_3x3`` counted as a 1 x 1 convolution, and as a dense 3 x 3 convolution.
Last, on ``--cells`` random cells (seed 0), it takes the MACs with pooling priced as a dense
3 x 3 convolution as a stand-in for that latency and prints the Spearman correlation of MACs as
they are and of the model's latency (rs, ws) with it.

    python benchmarks/eyeriss_nb201.py [--cells 200]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from symnas import programs, spaces
from symnas.programs.cost import hardware

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"
# HW-NAS-Bench README and example.ipynb (GATECH-EIC/HW-NAS-Bench @ 393bb8a): eyeriss_latency, ms.
PUBLISHED = {
    (0, "cifar10"): 3.64562,
    (0, "cifar100"): 3.64864,
    (0, "ImageNet16-120"): 0.91456,
    (1, "cifar10"): 7.57778,
    (1, "cifar100"): 7.5808,
    (1, "ImageNet16-120"): 1.8976,
    (2, "cifar10"): 10.5269,
    (2, "cifar100"): 10.52992,
    (2, "ImageNet16-120"): 2.63488,
}
TASKS = {"cifar10": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}
EYERISS = {
    "rows": 12,
    "cols": 14,
    "ifmap_sram_kb": 36,
    "filter_sram_kb": 36,
    "ofmap_sram_kb": 36,
    "bandwidth": 8,
    "clock_mhz": 200,
    "word_bytes": 2,
}


def macs(arch: str, classes: int = 10, size: int = 32) -> int:
    """MACs of the NB201 network of ``arch`` (C=16, N=5) on ``size`` x ``size`` RGB input."""
    return programs.count(
        programs.build(spaces.nb201_arch(arch, num_classes=classes)), (3, size, size)
    )["macs"]


def model_latency(arch: str, flow: str) -> float:
    """The analytical model's latency (ms) of a CIFAR-10 cell on the Eyeriss-like configuration."""
    table = hardware.layers(programs.build(spaces.nb201_arch(arch)), (3, 32, 32))
    return hardware.table_cost(table, dict(EYERISS, dataflow=flow), per_layer=False)["latency_ms"]


def main() -> None:
    """Prints the per-cell table, the three line fits and the rank correlations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(DATA / "nb201_cifar10.csv") as f:
        archs = {int(r["index"]): r["arch_str"] for r in csv.DictReader(f)}
    print(
        "cell task            published ms  MACs (M)  ms per MMAC | model ms (compute / memory kcycles)"
    )
    for (cell, task), ms in PUBLISHED.items():
        classes, size = TASKS[task]
        model = programs.build(spaces.nb201_arch(archs[cell], num_classes=classes))
        table = hardware.layers(model, (3, size, size))
        count = macs(archs[cell], classes, size)
        row = f"{cell:>4} {task:<15} {ms:>12.3f} {count / 1e6:>9.2f} {ms / count * 1e6:>12.4f} |"
        for flow in ("rs", "ws", "os"):
            c = hardware.table_cost(table, dict(EYERISS, dataflow=flow), per_layer=False)
            row += f" {flow} {c['latency_ms']:.2f} ({c['compute_cycles'] / 1e3:.0f} / {c['mem_cycles'] / 1e3:.0f})"
        print(row)
    latency = np.array([PUBLISHED[(cell, "cifar10")] for cell in range(3)])
    for label, pool in (
        ("pooling as is", None),
        ("pool as 1x1 conv", "nor_conv_1x1"),
        ("pool as dense 3x3 conv", "nor_conv_3x3"),
    ):
        counted = np.array(
            [
                macs(archs[c] if pool is None else archs[c].replace("avg_pool_3x3", pool))
                for c in range(3)
            ],
            dtype=np.float64,
        )
        design = np.stack([np.ones(3), counted / 1e6], axis=1)
        coef = np.linalg.lstsq(design, latency, rcond=None)[0]
        error = np.max(np.abs(design @ coef - latency) / latency)
        print(
            f"{label:<24} MACs (M) {np.round(counted / 1e6, 2)}  fit {coef[0]:.3f} ms + {coef[1]:.4f} ms/MMAC, largest relative error {error:.3f}"
        )

    picks = sorted(np.random.default_rng(0).choice(len(archs), size=args.cells, replace=False))
    cells = [archs[int(i)] for i in picks]
    stand_in = [macs(a.replace("avg_pool_3x3", "nor_conv_3x3")) for a in cells]
    estimates = {"MACs": [macs(a) for a in cells]}
    estimates.update(
        {f"model {flow}": [model_latency(a, flow) for a in cells] for flow in ("rs", "ws")}
    )
    for name, values in estimates.items():
        rho = spearmanr(values, stand_in).statistic
        print(
            f"{args.cells} cells: Spearman of {name} with MACs priced pool-as-dense-conv: {rho:.3f}"
        )


if __name__ == "__main__":
    main()
