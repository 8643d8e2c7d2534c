"""Compute cycles of ``programs.cost.hardware`` against SCALE-Sim, per layer, and the speed of both.

Layers come from models of every family (``programs.build`` on random specs of NB201, ViT,
ResNet20-pooling and EfficientTDNN spaces, plus a plain CNN and an MLP), traced by
``programs.cost.hardware.layers``. Each GEMM is simulated by SCALE-Sim (Samajdar et al., ISPASS 2020;
``pip install scalesim``) in GEMM mode with large SRAMs on several array sizes and all three
dataflows; a grouped layer is compared on one group's GEMM (its cost is ``count`` times that,
as SCALE-Sim runs depthwise layers channel by channel). Prints the Spearman correlation and the median relative
error of compute cycles, and the wall-time ratio of SCALE-Sim over ``cost_table`` on the same
pairs (the analytical model evaluates the full layers x configurations grid), for each of
``--runs`` runs and as a range to two significant digits, in wall time and in CPU time (on a
loaded machine SCALE-Sim's minutes of wall time include waiting for a core, the millisecond
``cost_table`` calls mostly do not, so the CPU-time ratio is the one to compare across loads).

SCALE-Sim 3.0.0 calls ``int()`` on one-element arrays, which numpy >= 2.3 rejects, so it runs in a
worker process whose interpreter ``--scalesim-python`` may point at an environment with
``numpy<2.3`` (default: this interpreter).

    python benchmarks/costmodel_vs_scalesim.py --scalesim-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

ARRAYS = ((8, 8), (16, 16), (32, 32), (8, 32), (32, 8))
DATAFLOWS = ("ws", "os", "is")


def scalesim_worker() -> None:
    """Reads GEMM jobs (JSON on stdin), simulates each with SCALE-Sim, writes cycles and times."""
    from scalesim.layout_utils import layouts
    from scalesim.scale_config import scale_config
    from scalesim.single_layer_sim import single_layer_sim
    from scalesim.topology_utils import topologies

    results = []
    for job in json.load(sys.stdin):
        start, cpu_start = time.perf_counter(), time.process_time()
        config = scale_config()
        config.set_arr_dims(job["rows"], job["cols"])
        config.set_dataflow(job["dataflow"])
        config.set_buffer_sizes_kb(8192, 8192, 8192)
        config.force_valid()
        topo = topologies()
        m, k, n = job["m"], job["k"], job["n"]
        topo.load_layer_params_from_list("gemm", ["gemm", m, k, 1, k, 1, n, 1, 1, 1, 1])
        sim = single_layer_sim()
        sim.set_params(0, config_obj=config, topology_obj=topo, layout_obj=layouts(), verbose=False)
        sim.run()
        _, compute_cycles, stalls, *_ = sim.get_compute_report_items()
        results.append(
            {
                "cycles": compute_cycles,
                "stalls": stalls,
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu_start,
            }
        )
    json.dump(results, sys.stdout)


def family_tables(seed: int) -> dict[str, object]:
    """Layer tables of small models of each family, keyed by family name."""
    from torch import nn

    from symnas import programs, spaces
    from symnas.programs.cost import hardware

    rng = np.random.default_rng(seed)
    families = {
        "nb201": (spaces.nb201_cell(C=8, N=1), (3, 16, 16)),
        "vit": (spaces.vit_tiny(image_size=8, patch_size=2, num_classes=10), (3, 8, 8)),
        "pooling": (spaces.resnet20_pooling(image_size=16), (3, 16, 16)),
        "tdnn": (spaces.tdnn(in_feats=20, num_classes=6, embed_dim=32), (20, 24)),
    }
    tables = {}
    for name, (space, shape) in families.items():
        codec = spaces.compile(space)
        for i, genome in enumerate(codec.random(2, rng)):
            model = programs.build(codec.decode(genome))
            tables[f"{name}-{i}"] = hardware.layers(model, shape)
    cnn = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.Conv2d(32, 32, 3, padding=1, groups=4),
        nn.Conv2d(32, 64, 1),
    )
    mlp = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64), nn.Linear(64, 10))
    tables["cnn"] = hardware.layers(cnn, (3, 16, 16))
    tables["mlp"] = hardware.layers(mlp, (16, 64))
    return tables


def make_jobs(tables: dict, max_lines: int, per_family: int, seed: int) -> list[dict]:
    """(GEMM, array, dataflow) jobs, one group per layer, capped in SCALE-Sim work per job."""
    from symnas.programs.cost.hardware import LayerTable, cost_table

    rng = np.random.default_rng(seed)
    configs = [{"rows": r, "cols": c, "dataflow": d} for r, c in ARRAYS for d in DATAFLOWS]
    jobs = []
    for family, table in tables.items():
        shapes = sorted(
            {(int(a), int(b), int(c)) for a, b, c in zip(table.m, table.k, table.n, strict=True)}
        )
        single = LayerTable.from_json(_gemm_json(shapes))
        lines = cost_table(single, configs)["compute_cycles"]
        candidates = [
            {"family": family, "m": m, "k": k, "n": n, **configs[h]}
            for h in range(len(configs))
            for i, (m, k, n) in enumerate(shapes)
            if lines[h, i] <= max_lines
        ]
        picks = rng.permutation(len(candidates))[:per_family]
        jobs.extend(candidates[p] for p in sorted(picks))
    return jobs


def _gemm_json(shapes: list[tuple[int, int, int]]) -> dict[str, list]:
    m, k, n = (list(col) for col in zip(*shapes, strict=True))
    return {
        "names": [f"g{i}" for i in range(len(shapes))],
        "kinds": ["linear"] * len(shapes),
        "m": m,
        "k": k,
        "n": n,
        "count": [1] * len(shapes),
        "in_words": [a * b for a, b in zip(m, k, strict=True)],
        "w_words": [b * c for b, c in zip(k, n, strict=True)],
        "out_words": [a * c for a, c in zip(m, n, strict=True)],
    }


def ours(jobs: list[dict], repeats: int) -> tuple[np.ndarray, float, float]:
    """Analytical compute cycles of the jobs and the median wall and CPU times of one full-grid
    evaluation."""
    from symnas.programs.cost.hardware import LayerTable, cost_table, hardware_arrays

    shapes = sorted({(j["m"], j["k"], j["n"]) for j in jobs})
    configs = sorted({(j["rows"], j["cols"], j["dataflow"]) for j in jobs})
    table = LayerTable.from_json(_gemm_json(shapes))
    specs = [{"rows": r, "cols": c, "dataflow": d} for r, c, d in configs]
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        grid = cost_table(table, hardware_arrays(specs))["compute_cycles"]
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    cycles = np.array(
        [
            grid[
                configs.index((j["rows"], j["cols"], j["dataflow"])),
                shapes.index((j["m"], j["k"], j["n"])),
            ]
            for j in jobs
        ]
    )
    return cycles, float(np.median(times)), float(np.median(cpu_times))


def pairs_per_second(repeats: int) -> tuple[int, int, float]:
    """Layers of one NB201 network x 1,000 random accelerators: time of one ``cost_table``."""
    from symnas import programs, spaces
    from symnas.programs.cost import hardware

    table = hardware.layers(
        programs.build(
            spaces.nb201_arch(
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
                "|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
            )
        ),
        (3, 32, 32),
    )
    codec = spaces.compile(spaces.systolic_accelerator())
    specs = [codec.decode(g) for g in codec.random(1000, np.random.default_rng(0))]
    hw = hardware.hardware_arrays(specs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hardware.cost_table(table, hw)
        times.append(time.perf_counter() - start)
    return len(table), len(specs), float(np.median(times))


def simulate(python: str, jobs: list[dict]) -> list[dict]:
    """SCALE-Sim's cycles and per-job wall times, from a worker run by ``python``."""
    proc = subprocess.run(
        [python, __file__, "--worker"],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def _two_digits(value: float) -> str:
    """``value`` rounded to two significant digits, with thousands separators."""
    return f"{float(f'{value:.2g}'):,.0f}" if value >= 10 else f"{value:.2g}"


def main() -> None:
    """Runs the comparison and prints its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", default=sys.executable)
    parser.add_argument("--max-lines", type=int, default=6000, help="cap on cycles per job")
    parser.add_argument("--per-family", type=int, default=12, help="jobs per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="timed SCALE-Sim / cost_table runs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        scalesim_worker()
        return
    from scipy.stats import spearmanr

    jobs = make_jobs(family_tables(args.seed), args.max_lines, args.per_family, args.seed)
    ratios, cpu_ratios = [], []
    for run in range(args.runs):
        sim = simulate(args.scalesim_python, jobs)
        sim_seconds = sum(r["seconds"] for r in sim)
        sim_cpu = sum(r["cpu_seconds"] for r in sim)
        est, our_seconds, our_cpu = ours(jobs, repeats=50)
        ratios.append(sim_seconds / our_seconds)
        cpu_ratios.append(sim_cpu / our_cpu)
        print(
            f"run {run + 1}: SCALE-Sim {sim_seconds:.2f} s wall / {sim_cpu:.2f} s CPU for "
            f"{len(jobs)} pairs, cost_table {our_seconds * 1e3:.3f} ms wall / "
            f"{our_cpu * 1e3:.3f} ms CPU (full grid, median of 50): {ratios[-1]:,.0f}x wall, "
            f"{cpu_ratios[-1]:,.0f}x CPU"
        )
    # SCALE-Sim reports the index of the last cycle: one less than the cycle count.
    ref = np.array([r["cycles"] + 1 for r in sim], dtype=float)
    rel = np.abs(est - ref) / ref
    print(
        f"jobs: {len(jobs)} (GEMM x array x dataflow), families: {len({j['family'] for j in jobs})}"
    )
    print(f"stall cycles reported by SCALE-Sim: {sum(r['stalls'] for r in sim)}")
    print(f"{'subset':<10} {'n':>4} {'spearman':>9} {'median_rel_err':>15} {'max_rel_err':>12}")
    for name in ("all", *DATAFLOWS):
        keep = np.array([name in ("all", j["dataflow"]) for j in jobs])
        rho = spearmanr(est[keep], ref[keep]).statistic
        print(
            f"{name:<10} {keep.sum():>4} {rho:>9.4f} {np.median(rel[keep]):>15.5f} "
            f"{rel[keep].max():>12.5f}"
        )
    for name, values in (("wall", ratios), ("CPU", cpu_ratios)):
        print(
            f"speed ratio (SCALE-Sim / cost_table, {name} time) over {args.runs} runs: "
            f"{_two_digits(min(values))}x to {_two_digits(max(values))}x "
            f"(median {_two_digits(float(np.median(values)))}x)"
        )
    n_layers, n_hw, seconds = pairs_per_second(repeats=20)
    print(
        f"NB201 (C=16, N=5, 32x32) {n_layers} layers x {n_hw} accelerators: "
        f"{seconds * 1e3:.2f} ms per cost_table ({n_hw / seconds:,.0f} (arch, hw) pairs/s)"
    )


if __name__ == "__main__":
    main()
