"""Rank correlation of latency estimates with latencies measured on real devices, NB201 cells.

Ground truth: HW-NAS-Bench (Li et al., ICLR 2021) latencies of every NAS-Bench-201 CIFAR-10
network on an FPGA, a Raspberry Pi 4, a Pixel 3, a Xeon Gold 6226 and a Titan X GPU
(``../shared/data/nb201/nb201_latency_ms.csv``). On a random subset of cells (fixed seed) this
prints the Spearman correlation with each device column of:

- ``cpu``: ``programs.cpu_latency`` measured on this machine (1 thread, batch 1);
- ``model``: ``programs.hardware`` analytical latency on a systolic-array configuration that
  resembles the device (``DEVICES``: rough peak MACs per cycle, word size, clock, bandwidth);
- ``params`` and ``macs``: ``programs.count``, the usual proxy baselines.

    python benchmarks/nb201_latency.py --cells 200
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from symnas import programs, spaces

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"

# Array size ~ peak multiply-accumulates per cycle; bandwidth ~ DRAM bytes per clock cycle.
DEVICES = {
    # Zynq-class FPGA accelerator: 16-bit fixed point, 200 MHz.
    "fpga": {"rows": 32, "cols": 32, "dataflow": "ws", "word_bytes": 2, "clock_mhz": 200.0,
             "bandwidth": 16, "ifmap_sram_kb": 128, "filter_sram_kb": 128, "ofmap_sram_kb": 128},
    # 4 Cortex-A72 cores, 128-bit NEON (16 fp32 MACs/cycle), 1.5 GHz, LPDDR4 ~4 GB/s.
    "raspi4": {"rows": 4, "cols": 4, "dataflow": "os", "word_bytes": 4, "clock_mhz": 1500.0,
               "bandwidth": 3, "ifmap_sram_kb": 256, "filter_sram_kb": 256, "ofmap_sram_kb": 256},
    # Snapdragon 845, 4 big Kryo cores at 2.8 GHz, LPDDR4X ~15 GB/s.
    "pixel3": {"rows": 8, "cols": 4, "dataflow": "os", "word_bytes": 4, "clock_mhz": 2800.0,
               "bandwidth": 5, "ifmap_sram_kb": 256, "filter_sram_kb": 256, "ofmap_sram_kb": 512},
    # Xeon Gold 6226: AVX-512 (32 fp32 MACs/cycle/core), 2.7 GHz, ~100 GB/s.
    "gold_6226": {"rows": 16, "cols": 16, "dataflow": "os", "word_bytes": 4, "clock_mhz": 2700.0,
                  "bandwidth": 37, "ifmap_sram_kb": 1024, "filter_sram_kb": 1024,
                  "ofmap_sram_kb": 1024},
    # Titan X: 3,584 CUDA cores at 1.5 GHz, ~480 GB/s.
    "titanx_1": {"rows": 64, "cols": 64, "dataflow": "os", "word_bytes": 4, "clock_mhz": 1500.0,
                 "bandwidth": 320, "ifmap_sram_kb": 2048, "filter_sram_kb": 2048,
                 "ofmap_sram_kb": 2048},
}  # fmt: skip


def load(n_cells: int, seed: int) -> list[dict]:
    """A random subset of cells: arch string and the measured latency of every device."""
    with open(DATA / "nb201_cifar10.csv") as f:
        arch = {int(r["index"]): r["arch_str"] for r in csv.DictReader(f)}
    with open(DATA / "nb201_latency_ms.csv") as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    picks = np.random.default_rng(seed).choice(sorted(rows), size=n_cells, replace=False)
    return [{"arch_str": arch[i], **{d: float(rows[i][d]) for d in DEVICES}} for i in sorted(picks)]


def main() -> None:
    """Measures every estimate on the subset and prints the Spearman table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-cpu", action="store_true", help="do not time cpu_latency")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"NB201 latency data not found at {DATA}.")

    cells = load(args.cells, args.seed)
    hw = programs.hardware.hardware_arrays(DEVICES.values())
    estimates: dict[str, list[float]] = {"cpu": [], "params": [], "macs": []}
    estimates.update({f"model_{d}": [] for d in DEVICES})
    start = time.perf_counter()
    for cell in cells:
        model = programs.build(spaces.nb201_arch(cell["arch_str"]))
        counts = programs.count(model, (3, 32, 32))
        estimates["params"].append(counts["params"])
        estimates["macs"].append(counts["macs"])
        estimates["cpu"].append(
            float("nan")
            if args.skip_cpu
            else programs.cpu_latency(
                model, (3, 32, 32), threads=args.threads, repeats=args.repeats
            )
        )
        table = programs.hardware.layers(model, (3, 32, 32))
        latency = programs.hardware.cost_table(table, hw)["total_latency_ms"]
        for d, value in zip(DEVICES, latency, strict=True):
            estimates[f"model_{d}"].append(float(value))
    print(f"{len(cells)} NB201 cells (seed {args.seed}), {time.perf_counter() - start:.0f} s")
    header = f"{'device':<10} {'cpu_latency':>12} {'model(dev)':>11} {'params':>8} {'macs':>8}"
    header += f" {'model-macs':>11}"
    print(header)
    for d in DEVICES:
        truth = [c[d] for c in cells]

        def rho(key: str, truth: list[float] = truth) -> float:
            return spearmanr(estimates[key], truth).statistic

        print(
            f"{d:<10} {rho('cpu'):>12.3f} {rho(f'model_{d}'):>11.3f} "
            f"{rho('params'):>8.3f} {rho('macs'):>8.3f} {rho(f'model_{d}') - rho('macs'):>+11.3f}"
        )


if __name__ == "__main__":
    main()
