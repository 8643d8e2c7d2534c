"""Stall cycles and DRAM traffic of ``programs.cost.hardware`` against SCALE-Sim's memory simulation.

The GEMMs of small models of every family (as in ``costmodel_vs_scalesim.py``) run through
SCALE-Sim 3 (Samajdar et al., ISPASS 2020) with small double-buffered SRAMs and a user DRAM
bandwidth, so that the array stalls: each (GEMM, array, dataflow, SRAM sizes, bandwidth) job
is one SCALE-Sim run. SCALE-Sim gives each operand its own DRAM port (``bandwidth`` words per
cycle each, one-byte words); the analytical model gets the same three ports. Prints the Spearman
correlation and the median relative error of stall cycles (over the jobs where SCALE-Sim stalls)
and of DRAM traffic (ifmap + filter reads and ofmap writes, in words).

SCALE-Sim 3.0.0 needs ``numpy<2.3``; it runs in a worker process whose interpreter
``--scalesim-python`` may point at such an environment (default: this interpreter).

    python benchmarks/memory_model_vs_scalesim.py --scalesim-python /tmp/ssvenv/bin/python \
        --results runs/scalesim_memory.jsonl

Several ``--results`` files are compared together (e.g. a second draw with ``--seed 1``).
``--odd-sizes`` draws SRAMs of 3, 5 or 6 KB and bandwidths of 3, 5 or 7 words per cycle that
divide none of the half SRAMs, where the model's rounding of window steps and prefetch bursts
shows (the default sizes, 1-2 KB and 1-2 words per cycle, cannot tell rounding choices apart).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ARRAYS = ((8, 8), (16, 16), (8, 32), (32, 8))
DATAFLOWS = ("ws", "os", "is")
SRAM_KB = (1, 2)
BANDWIDTHS = (1, 2)
ODD_SRAM_KB = (3, 5, 6)
ODD_BANDWIDTHS = (3, 5, 7)


def scalesim_worker() -> None:
    """Reads jobs (JSON on stdin), runs SCALE-Sim's compute and memory simulation on each."""
    from scalesim.layout_utils import layouts
    from scalesim.scale_config import scale_config
    from scalesim.single_layer_sim import single_layer_sim
    from scalesim.topology_utils import topologies

    for job in json.load(sys.stdin):
        start = time.perf_counter()
        config = scale_config()
        config.set_arr_dims(job["rows"], job["cols"])
        config.set_dataflow(job["dataflow"])
        config.set_buffer_sizes_kb(job["ifmap_kb"], job["filter_kb"], job["ofmap_kb"])
        config.use_user_bandwidth = True
        config.bandwidths = [job["bandwidth"]]
        for operand in ("ifmap", "filter"):
            setattr(config, f"{operand}_sram_bank_bandwidth", job["bandwidth"])
            setattr(config, f"{operand}_sram_bank_num", 1)
        config.force_valid()
        topo = topologies()
        m, k, n = job["m"], job["k"], job["n"]
        topo.load_layer_params_from_list("gemm", ["gemm", m, k, 1, k, 1, n, 1, 1, 1, 1])
        sim = single_layer_sim()
        sim.set_params(0, config_obj=config, topology_obj=topo, layout_obj=layouts(), verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            sim.run()
        _, compute_cycles, stalls, *_ = sim.get_compute_report_items()
        detail = sim.get_detail_report_items()
        result = {
            "total": int(compute_cycles) + 1,
            "stalls": int(stalls),
            "ifmap_reads": int(detail[11]),
            "filter_reads": int(detail[14]),
            "ofmap_writes": int(detail[17]),
            "seconds": time.perf_counter() - start,
        }
        print(json.dumps({**job, **result}), flush=True)


def make_jobs(per_family: int, max_lines: int, seed: int, odd_sizes: bool = False) -> list[dict]:
    """(GEMM, array, dataflow, SRAMs, bandwidth) jobs drawn at random, a few per model; with
    ``odd_sizes``, SRAMs that are not powers of two and a bandwidth dividing no half SRAM."""
    from costmodel_vs_scalesim import family_tables

    from symnas.programs.cost.hardware import LayerTable, cost_table

    rng = np.random.default_rng(seed)
    sram_kb, bandwidths = (ODD_SRAM_KB, ODD_BANDWIDTHS) if odd_sizes else (SRAM_KB, BANDWIDTHS)
    jobs = []
    for family, table in family_tables(seed).items():
        shapes = sorted(
            {(int(a), int(b), int(c)) for a, b, c in zip(table.m, table.k, table.n, strict=True)}
        )
        for _ in range(per_family):
            m, k, n = shapes[rng.integers(len(shapes))]
            rows, cols = ARRAYS[rng.integers(len(ARRAYS))]
            job = {
                "family": family,
                "m": m,
                "k": k,
                "n": n,
                "rows": rows,
                "cols": cols,
                "dataflow": DATAFLOWS[rng.integers(len(DATAFLOWS))],
                "ifmap_kb": int(rng.choice(sram_kb)),
                "filter_kb": int(rng.choice(sram_kb)),
                "ofmap_kb": int(rng.choice(sram_kb)),
                "bandwidth": int(rng.choice(bandwidths)),
            }
            halves = [job[f"{op}_kb"] * 512 for op in ("ifmap", "filter", "ofmap")]
            if odd_sizes and any(half % job["bandwidth"] == 0 for half in halves):
                continue
            single = LayerTable.from_json(_gemm_json([(m, k, n)]))
            lines = cost_table(single, [_spec(job)])["compute_cycles"][0, 0]
            if lines <= max_lines:
                jobs.append(job)
    return jobs


def _spec(job: dict) -> dict:
    return {
        "rows": job["rows"],
        "cols": job["cols"],
        "dataflow": job["dataflow"],
        "ifmap_sram_kb": job["ifmap_kb"],
        "filter_sram_kb": job["filter_kb"],
        "ofmap_sram_kb": job["ofmap_kb"],
        "bandwidth": job["bandwidth"],
        "word_bytes": 1,
        "dram_ports": 3,
    }


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


def ours(jobs: list[dict]) -> dict[str, np.ndarray]:
    """Stall cycles and DRAM words of the analytical model, one job at a time."""
    from symnas.programs.cost.hardware import LayerTable, cost_table
    from symnas.programs.cost.hardware_memory import systolic_traffic

    stalls, traffic, compute, operands = [], [], [], []
    for job in jobs:
        table = LayerTable.from_json(_gemm_json([(job["m"], job["k"], job["n"])]))
        res = cost_table(table, [_spec(job)])
        stalls.append(res["total_stall_cycles"][0])
        traffic.append(res["total_dram_bytes"][0])
        compute.append(res["total_compute_cycles"][0])
        m, k, n = (np.array([float(job[key])]) for key in "mkn")
        memory = systolic_traffic(
            m,
            k,
            n,
            np.array([float(job["rows"])]),
            np.array([float(job["cols"])]),
            {flow: np.array([job["dataflow"] == flow]) for flow in DATAFLOWS},
            {op: np.array([job[f"{op}_kb"] * 1024.0]) for op in ("ifmap", "filter", "ofmap")},
            np.array([float(job["bandwidth"])]),
            compute[-1],
            m * k,
        )
        operands.append([memory[f"{op}_words"][0] for op in ("ifmap", "filter", "ofmap")])
    return {
        "stalls": np.array(stalls),
        "dram": np.array(traffic),
        "compute": np.array(compute),
        "operands": np.array(operands),
    }


JOB_KEYS = ("family", "m", "k", "n", "rows", "cols", "dataflow", "ifmap_kb", "filter_kb")
JOB_KEYS += ("ofmap_kb", "bandwidth")


def run_scalesim(jobs: list[dict], python: str, workers: int, out: Path | None) -> list[dict]:
    """SCALE-Sim results of ``jobs`` from ``workers`` processes (appended to ``out`` as found)."""
    procs = []
    for w in range(workers):
        proc = subprocess.Popen(
            [python, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        proc.stdin.write(json.dumps(jobs[w::workers]))
        proc.stdin.close()
        procs.append(proc)
    done = []
    for proc in procs:
        for line in proc.stdout:
            done.append(json.loads(line))
            if out is not None:
                with open(out, "a") as f:
                    f.write(line)
        if proc.wait() != 0:
            raise RuntimeError("a SCALE-Sim worker failed")
    return done


def _row(name: str, est: np.ndarray, ref: np.ndarray) -> str:
    from scipy.stats import spearmanr

    rel = np.abs(est - ref) / np.maximum(ref, 1)
    rho = spearmanr(est, ref).statistic if len(ref) > 2 else float("nan")
    return f"{name:<22} {len(ref):>5} {rho:>9.4f} {np.median(rel):>15.4f} {rel.max():>12.4f}"


def main() -> None:
    """Runs the comparison and prints its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", default=sys.executable)
    parser.add_argument("--per-family", type=int, default=30, help="jobs per model")
    parser.add_argument("--max-lines", type=int, default=4000, help="cap on compute cycles")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="SCALE-Sim processes")
    parser.add_argument(
        "--odd-sizes",
        action="store_true",
        help="SRAMs of 3/5/6 KB, bandwidths of 3/5/7 words per cycle dividing no half SRAM",
    )
    parser.add_argument(
        "--results",
        nargs="+",
        help="JSON-lines files of SCALE-Sim results (reused when present, else the first is "
        "written)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        scalesim_worker()
        return
    files = [Path(name) for name in args.results or []]
    done = [json.loads(x) for f in files if f.exists() for x in f.read_text().splitlines()]
    if not done:
        jobs = make_jobs(args.per_family, args.max_lines, args.seed, args.odd_sizes)
        done = run_scalesim(jobs, args.scalesim_python, args.workers, files[0] if files else None)
    jobs = [{k: r[k] for k in JOB_KEYS} for r in done]
    sim = done
    est = ours(jobs)
    ref_stalls = np.array([r["stalls"] for r in sim], dtype=float)
    ref_dram = np.array(
        [r["ifmap_reads"] + r["filter_reads"] + r["ofmap_writes"] for r in sim], dtype=float
    )
    # SCALE-Sim's cycle figure (an index, hence + 1) includes its stalls.
    ref_compute = np.array([r["total"] - r["stalls"] for r in sim], dtype=float)
    stalled = ref_stalls > 0
    print(f"jobs: {len(jobs)}; SCALE-Sim stalls in {int(stalled.sum())} of them")
    print(f"{'quantity':<22} {'n':>5} {'spearman':>9} {'median_rel_err':>15} {'max_rel_err':>12}")
    print(_row("compute cycles (all)", est["compute"], ref_compute))
    print(_row("stall cycles", est["stalls"][stalled], ref_stalls[stalled]))
    print(_row("DRAM words", est["dram"][stalled], ref_dram[stalled]))
    print(_row("DRAM words (all jobs)", est["dram"], ref_dram))
    for i, (op, key) in enumerate(
        (("ifmap", "ifmap_reads"), ("filter", "filter_reads"), ("ofmap", "ofmap_writes"))
    ):
        ref = np.array([r[key] for r in sim], dtype=float)
        print(_row(f"{op} words (all jobs)", est["operands"][:, i], ref))
    for flow in DATAFLOWS:
        keep = stalled & np.array([j["dataflow"] == flow for j in jobs])
        print(_row(f"stall cycles, {flow}", est["stalls"][keep], ref_stalls[keep]))
        print(_row(f"DRAM words, {flow}", est["dram"][keep], ref_dram[keep]))
    print(f"SCALE-Sim wall time: {sum(r['seconds'] for r in sim):.1f} s for {len(jobs)} jobs")


if __name__ == "__main__":
    main()
