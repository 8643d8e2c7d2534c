"""``quant-hw-nested`` against the float ``hw-nested`` at the same budget: hypervolume of
accuracy against latency.

One run is one flow at one seed (``--method float|quant --seed S``), written to
``benchmarks/results/quant_hw_nested/<method>_<seed>.json`` with every evaluated (accelerator,
network) pair's accuracy, latency, energy, area and feasibility, so that runs can go one per
slot. ``--summarise`` reads every run file and writes ``benchmarks/results/quant_hw_nested.json``:
per method and seed the hypervolume (``algorithms.pareto.hypervolume``) of the feasible pairs in
(accuracy, -latency) above the reference (accuracy 0, latency = the largest latency of any
feasible pair of any run), and the best accuracy of a feasible pair within both flows' latency
target (0.05 ms), with the mean and a 95% t-interval over seeds, and the paired difference
quant - float of the hypervolume.

    python benchmarks/quant_hw_nested.py --method float --seed 0
    python benchmarks/quant_hw_nested.py --method quant --seed 0
    python benchmarks/quant_hw_nested.py --summarise
    python benchmarks/quant_hw_nested.py --cost-table

``--cost-table`` prices one ResNet20 pooling network at uniform 8, 4 and 2 bits (the first and
last unit at 8) on a 16 x 16 output-stationary array with and without Bit Fusion and writes
``benchmarks/results/quant_cost_table.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from symnas.algorithms.pareto import hypervolume
from symnas.core.files import write_json_atomic

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "quant_hw_nested"
SETTINGS = {"budget": 16, "inner_budget": 12, "supernet_epochs": 8, "max_area_mm2": 2.0}
TARGET_LATENCY_MS = 0.05  # both flows' default MnasNet latency target


def run(method: str, seed: int, out: Path) -> dict:
    """Runs one flow and returns its pairs and timing."""
    import torch

    from symnas.flows.hw_flow import hw_nested
    from symnas.flows.quant_hw_flow import quant_hw_nested

    torch.set_num_threads(1)
    flow = quant_hw_nested if method == "quant" else hw_nested
    start = time.time()
    result = flow(seed=seed, out=str(out), verbose=False, device="cpu", **SETTINGS)
    seconds = time.time() - start
    pairs = []
    for pair in result.pairs():
        m = pair.metrics
        pairs.append(
            {
                "accuracy": m["accuracy"],
                "latency_ms": m["latency_ms"],
                "energy": m["energy"],
                "area_mm2": m["area_mm2"],
                "feasible": m["area_mm2"] <= SETTINGS["max_area_mm2"]
                and m.get("unsupported_units", 0.0) == 0.0,
                "hw": pair.hw,
                "arch": pair.arch,
            }
        )
    return {"method": method, "seed": seed, "settings": SETTINGS, "seconds": seconds,
            "pairs": pairs}  # fmt: skip


def _interval(values: list[float]) -> dict:
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "ci95": None, "n": len(values)}
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(values)}


def _best_within(points: np.ndarray, latency_ms: float) -> float:
    """The best accuracy of the pairs at or below ``latency_ms`` (0 when there is none)."""
    within = points[points[:, 1] <= latency_ms] if len(points) else points
    return float(within[:, 0].max()) if len(within) else 0.0


def summarise() -> dict:
    """Hypervolumes of every stored run, per method and seed, with intervals over seeds."""
    runs = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    feasible = {
        (r["method"], r["seed"]): np.array(
            [[p["accuracy"], p["latency_ms"]] for p in r["pairs"] if p["feasible"]]
        ).reshape(-1, 2)
        for r in runs
    }
    worst_latency = max(float(points[:, 1].max()) for points in feasible.values() if len(points))
    reference = np.array([0.0, -worst_latency])
    out: dict = {"reference": {"accuracy": 0.0, "latency_ms": worst_latency}, "methods": {}}
    for (method, seed), points in sorted(feasible.items()):
        volume = hypervolume(points * [1.0, -1.0], reference) if len(points) else 0.0
        run_ = next(r for r in runs if r["method"] == method and r["seed"] == seed)
        entry = out["methods"].setdefault(method, {"seeds": {}})
        entry["seeds"][str(seed)] = {
            "hypervolume": volume,
            "feasible_pairs": int(len(points)),
            "pairs": len(run_["pairs"]),
            "best_accuracy": float(points[:, 0].max()) if len(points) else None,
            "min_latency_ms": float(points[:, 1].min()) if len(points) else None,
            "best_accuracy_within_target": _best_within(points, TARGET_LATENCY_MS),
            "seconds": run_["seconds"],
        }
    for entry in out["methods"].values():
        for key in ("hypervolume", "best_accuracy_within_target"):
            entry[key] = _interval([s[key] for s in entry["seeds"].values()])
    if {"float", "quant"} <= set(out["methods"]):
        seeds = sorted(
            set(out["methods"]["float"]["seeds"]) & set(out["methods"]["quant"]["seeds"])
        )
        diffs = [
            out["methods"]["quant"]["seeds"][s]["hypervolume"]
            - out["methods"]["float"]["seeds"][s]["hypervolume"]
            for s in seeds
        ]
        out["quant_minus_float"] = _interval(diffs)
    return out


def cost_table() -> list[dict]:
    """Latency, energy and DRAM traffic of one network at uniform widths, fused or not."""
    from symnas import spaces
    from symnas.flows.quant_hw_flow import QuantCoDesignObjective
    from symnas.spaces.quantization import quant_spec

    arch = spaces.compile(spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8))
    spec = arch.decode(arch.random(1, np.random.default_rng(0))[0])
    objective = QuantCoDesignObjective(lambda _: 1.0, (1, 8, 8), target_latency_ms=0.05)
    rows = []
    for fused in (False, True):
        hw = {"rows": 16, "cols": 16, "dataflow": "os", "precisions": [2, 4, 8],
              "bit_fusion": fused}  # fmt: skip
        for bits in (8, 4, 2):
            m = objective(hw, quant_spec(spec, bits))
            rows.append({"bit_fusion": fused, "bits": bits, "latency_ms": m["latency_ms"],
                         "energy_uJ": m["energy"], "area_mm2": m["area_mm2"]})  # fmt: skip
    return rows


def main() -> None:
    """Runs one (method, seed), or summarises the stored runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("float", "quant"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--cost-table", action="store_true")
    parser.add_argument("--work", default="runs/quant_hw_nested", help="flow output folders")
    args = parser.parse_args()
    if args.cost_table:
        rows = cost_table()
        write_json_atomic(RESULTS / "quant_cost_table.json", rows)
        for row in rows:
            print(row)
        return
    if args.summarise:
        summary = summarise()
        write_json_atomic(RESULTS / "quant_hw_nested.json", summary)
        print(json.dumps({k: v for k, v in summary.items() if k != "methods"}, indent=1))
        for method, entry in summary["methods"].items():
            for key in ("hypervolume", "best_accuracy_within_target"):
                print(method, key, json.dumps(entry[key]),
                      {s: round(v[key], 5) for s, v in entry["seeds"].items()})  # fmt: skip
        return
    if args.method is None:
        parser.error("give --method float|quant (or --summarise)")
    out = Path(args.work) / f"{args.method}_{args.seed}"
    if out.exists():  # scratch folder of an earlier attempt: start afresh
        shutil.rmtree(out)
    record = run(args.method, args.seed, out)
    write_json_atomic(RUNS / f"{args.method}_{args.seed}.json", record)
    feasible = [p for p in record["pairs"] if p["feasible"]]
    print(f"{args.method} seed {args.seed}: {len(feasible)} feasible of {len(record['pairs'])} "
          f"pairs in {record['seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
