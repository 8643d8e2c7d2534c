"""Size, build time and browser load time of the HTML report of a long search.

Writes a trial log of ``--trials`` NB201-like trials (six op edges, a tenth failed, accuracy,
latency and parameters as metrics, two objectives with a parameter cap, as a hardware-aware
search logs them), then times ``write_pages`` (``--repeats`` builds; wall and CPU time of this
process) and opening the page in headless Chromium until every figure is drawn (``--repeats``
loads, each in a fresh browser), and records the page's size.

    python benchmarks/html_report_size.py --trials 100000 --out runs/html_100k
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from symnas.core.files import write_json_atomic
from symnas.flows.html_browser import check_page, chromium
from symnas.flows.html_report import write_pages
from symnas.flows.html_search_data import MAX_HISTORY_POINTS
from symnas.flows.trial_log import TrialLog

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PARAMS_CAP = 60_000.0


def write_log(folder: Path, trials: int, seed: int) -> None:
    """The trial log and the objectives of a long two-objective search."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trials.jsonl").unlink(missing_ok=True)
    log = TrialLog(folder / "trials.jsonl")
    for i in range(trials):
        genome = rng.integers(0, len(OPS), 6)
        spec = {
            "_type": "symnas.spaces.cells.NB201Cell",
            "edges": [OPS[g] for g in genome],
            "C": 8,
            "N": 1,
            "num_classes": 10,
        }
        convs = int(np.isin(genome, (2, 3)).sum())
        ok = rng.random() > 0.1
        metrics = {
            "accuracy": float(0.6 + 0.05 * convs - 0.02 * (genome[0] == 0) + 0.02 * rng.normal()),
            "latency_ms": float(0.1 + 0.04 * convs + 0.005 * rng.random()),
            "params": float(20_000 + 9_000 * (genome == 3).sum() + 2_000 * (genome == 2).sum()),
        }
        log.append(
            {
                "id": i,
                "genome": genome.tolist(),
                "dna": genome.tolist(),
                "spec": spec,
                "metrics": metrics if ok else None,
                "status": "ok" if ok else "failed",
                "error": None if ok else "RuntimeError: loss diverged to nan at step 212",
                "wall_s": 0.5,
                "seed": int(rng.integers(2**31)),
            }
        )
    log.close()
    objectives = {
        "names": ["accuracy", "latency_ms"],
        "modes": ["max", "min"],
        "constraints": {"params": ["<=", PARAMS_CAP]},
    }
    write_json_atomic(folder / "summary.json", {"objectives": objectives})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/html_report_size")
    parser.add_argument("--json", default="benchmarks/results/html_report_size.json")
    args = parser.parse_args()
    folder = Path(args.out)
    write_log(folder, args.trials, args.seed)
    builds, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        [page, *_] = write_pages(folder)
        builds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    loads, errors, figures = [], [], []
    for _ in range(args.repeats):
        with chromium() as driver:  # a fresh browser each time: nothing cached
            check = check_page(driver, page, timeout_s=120)
        loads.append(check.load_s)
        errors += check.errors
        figures = [(f.id, f.expected, f.ok) for f in check.figures]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    record = {
        "trials": args.trials,
        "seed": args.seed,
        "log_bytes": (folder / "trials.jsonl").stat().st_size,
        "page_bytes": page.stat().st_size,
        "history_points": MAX_HISTORY_POINTS,
        "build_s": [round(b, 2) for b in builds],
        "build_cpu_s": [round(c, 2) for c in cpu],
        "load_s": [round(v, 2) for v in loads],
        "console_errors": errors,
        "figures": figures,
        "commit": commit,
        "load_average": os.getloadavg(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
    }
    write_json_atomic(args.json, record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
