"""Memory and time of a long search with a trivial objective: in memory, logged, resumed.

On the 30-decision AutoFormer-Tiny space, regularized evolution (population 20, tournament 5)
or random search (``--algorithm random``, whose state holds every architecture it has seen)
runs ``--trials`` trials in fresh processes, so that each peak resident memory (``ru_maxrss``)
is its own: in memory (``out=None``) and logged to ``trials.jsonl`` (these two side by side),
then resumed from that log for one more trial, first from the algorithm checkpoint
(``algorithm_state.json``), then once more with the checkpoint removed (the whole log replayed
through the algorithm). Prints the peak RSS, the wall time and the ratio of the logged run's
peak to the in-memory run's. The objective never touches torch, so no process imports it.

    python benchmarks/large_search.py --trials 100000 [--algorithm random]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def trivial_objective(spec) -> float:
    """Cheap stand-in for a real program: a number derived from the spec."""
    return (
        float(spec["embed_dim"] * spec["depth"]) + sum(spec["mlp_ratio"]) + sum(spec["num_heads"])
    )


def make_algorithm(name: str):
    """The benchmarked algorithm, seeded."""
    from symnas import algorithms

    if name == "random":
        return algorithms.RandomSearch(seed=0)
    return algorithms.RegularizedEvolution(population_size=20, tournament_size=5, seed=0)


def run(mode: str, trials: int, out: str | None, algorithm: str) -> None:
    """One search in this process; prints a JSON line with its time and peak RSS."""
    from symnas import flows, spaces

    space = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    algo = make_algorithm(algorithm)
    budget = {"resume": trials + 1, "replay": trials + 2}.get(mode, trials)
    if mode == "replay":
        (Path(out) / "algorithm_state.json").unlink()
    start = time.perf_counter()
    result = flows.search(
        space,
        trivial_objective,
        algo,
        budget=budget,
        out=out,
        resume=mode in ("resume", "replay"),
        verbose=False,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "trials": len(result.trials), "s": seconds, "mb": peak_mb}))


def start(mode: str, trials: int, out: str | None, algorithm: str) -> subprocess.Popen:
    """Starts ``run`` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", mode, "--trials", str(trials)]
    cmd += ["--algorithm", algorithm]
    if out is not None:
        cmd += ["--out", out]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def figures(proc: subprocess.Popen) -> dict:
    """The JSON line a child printed."""
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"a search process failed with exit code {proc.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def main() -> None:
    """Runs the three searches and prints their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--child", choices=("memory", "logged", "resume", "replay"))
    parser.add_argument("--out")
    parser.add_argument(
        "--algorithm", choices=("regularized_evolution", "random"), default="regularized_evolution"
    )
    args = parser.parse_args()
    if args.child:
        run(args.child, args.trials, args.out, args.algorithm)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The in-memory and logged searches run side by side; each measures its own peak.
        in_memory = start("memory", args.trials, None, args.algorithm)
        on_disk = start("logged", args.trials, tmp, args.algorithm)
        memory, logged = figures(in_memory), figures(on_disk)
        resumed = figures(start("resume", args.trials, tmp, args.algorithm))
        replayed = figures(start("replay", args.trials, tmp, args.algorithm))
    print(f"{args.trials:,} trials, vit_tiny (30 decisions), {args.algorithm}")
    print(f"{'run':<28} {'wall s':>8} {'ms/trial':>9} {'peak RSS MB':>12}")
    for name, r in (("in memory", memory), ("logged (trials.jsonl)", logged)):
        per_trial = 1e3 * r["s"] / r["trials"]
        print(f"{name:<28} {r['s']:>8.1f} {per_trial:>9.3f} {r['mb']:>12.0f}")
    for name, r in (("resume + 1 (checkpoint)", resumed), ("resume + 1 (full replay)", replayed)):
        print(f"{name:<28} {r['s']:>8.1f} {'':>9} {r['mb']:>12.0f}")
    print(f"peak RSS logged / in memory: {logged['mb'] / memory['mb']:.3f}")


if __name__ == "__main__":
    main()
