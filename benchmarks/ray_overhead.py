"""Trials per second and scheduling overhead per trial: local process pool vs Ray tasks.

Runs ``flows.search`` (random search over 1,000 candidates) with three objectives: a trivial
one (returns a number), a fixed 1 s sleep, and a sleep of 0.25 to 1.75 s (mean 1 s) that
depends on the candidate, where batches wait for their slowest trial and asynchronous proposal
does not. Each is run with the local executor (fork pool, batches of ``workers``) and the Ray
executor (asynchronous, ``max_concurrent`` in flight) at 2 and 4 concurrent trials; the
trivial objective also in this process (``workers=1``), the baseline of its ratios. The Ray
cluster is local (``ray.init(num_cpus=4)``, started once and warmed up before timing; its start
time is printed separately).

Overhead per trial = (wall x concurrency - sum of the trials' own wall times) / trials: the
slot time a trial costs beyond its objective. Ratios: trivial objective, wall time against the
in-process run; sleep objectives, wall time against the ideal (total sleep / concurrency).

    python benchmarks/ray_overhead.py [--reps 3] [--trivial-budget 200] [--sleep-budget 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyglove as pg
import torch

from symnas import algorithms, flows, spaces
from symnas.flows.executors import LocalExecutor, RayExecutor

# Compiled once: every search then starts at once.
CODEC = spaces.compile(pg.Dict(x=pg.oneof(list(range(1000)))))


def trivial(spec: dict) -> float:
    """Returns a number at once."""
    return float(spec["x"])


def sleep_1s(spec: dict) -> float:
    """Sleeps one second."""
    time.sleep(1.0)
    return float(spec["x"])


def sleep_varied(spec: dict) -> float:
    """Sleeps 0.25, 0.75, 1.25 or 1.75 s, by the candidate."""
    time.sleep(0.25 + 0.5 * (spec["x"] % 4))
    return float(spec["x"])


def run(objective, executor, budget: int, seed: int) -> tuple[float, float]:
    """One search; returns (wall seconds, sum of the trials' own wall seconds)."""
    start = time.perf_counter()
    result = flows.search(
        CODEC,
        objective,
        algorithms.RandomSearch(),
        budget,
        seed=seed,
        verbose=False,
        executor=executor,
    )
    wall = time.perf_counter() - start
    assert len(result.trials) == budget and all(t.ok for t in result.trials)
    return wall, sum(t.wall_s for t in result.trials)


def measure(name, objective, make, concurrency, budget, reps, baseline=None) -> float:
    """Prints the medians over ``reps`` runs of wall time, trials/s, overhead per trial and the
    ratio (against ``baseline`` seconds, else against the run's ideal: the trials' own time
    divided by the concurrency); returns the median wall time."""
    walls, overheads, ratios = [], [], []
    for rep in range(reps):
        wall, busy = run(objective, make(), budget, seed=rep)
        walls.append(wall)
        overheads.append((wall * concurrency - busy) / budget)
        ratios.append(
            wall / (baseline or wall) if objective is trivial else wall * concurrency / busy
        )
    wall = statistics.median(walls)
    print(
        f"{name:28s} {concurrency:>3d} {wall:8.2f} {budget / wall:9.1f} "
        f"{1000 * statistics.median(overheads):12.1f} {statistics.median(ratios):8.2f}",
        flush=True,
    )
    return wall


def main() -> None:
    """Runs every case and prints one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--trivial-budget", type=int, default=200)
    parser.add_argument("--sleep-budget", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    print(f"ray.init (local cluster, 4 logical CPUs): {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    run(trivial, RayExecutor(max_concurrent=4), 16, seed=99)
    print(f"first Ray search (starts 4 workers): {time.perf_counter() - start:.1f} s")
    print(
        f"{'case':28s} {'n':>3s} {'wall_s':>8s} {'trials/s':>9s} {'overhead_ms':>12s} {'ratio':>8s}"
    )

    baseline = measure(
        "trivial, in process",
        trivial,
        lambda: LocalExecutor(1),
        1,
        args.trivial_budget,
        args.reps,
    )
    cases = [(trivial, "trivial", args.trivial_budget, baseline)]
    cases += [(sleep_1s, "sleep 1 s", args.sleep_budget, None)]
    cases += [(sleep_varied, "sleep 0.25-1.75 s", args.sleep_budget, None)]
    for objective, label, budget, base in cases:
        for n in (2, 4):
            measure(
                f"{label}, local pool",
                objective,
                lambda n=n: LocalExecutor(n),
                n,
                budget,
                args.reps,
                base,
            )
            measure(
                f"{label}, ray",
                objective,
                lambda n=n: RayExecutor(max_concurrent=n),
                n,
                budget,
                args.reps,
                base,
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
