"""Per-trial overhead of the search loop: symnas vs plain PyGlove.

On the 30-decision AutoFormer-Tiny space with a trivial objective, times N trials of
``pg.sample(space, pg.evolution.regularized_evolution(...))`` and of ``flows.search(...,
RegularizedEvolution(...))`` (with and without the trial log on disk) in the same process, and
prints milliseconds per trial and the ratio. A short untimed search first warms the process up
(imports, first seeded trial). Besides the whole call divided by its trials, the marginal cost
of a trial is the difference between a search of N trials and one of N/2, divided by N/2 (the
fixed start-up, such as compiling the space and writing ``config.json``, cancels out).

    python benchmarks/overhead.py [--pg-trials 200] [--symnas-trials 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pyglove as pg
import torch

from symnas import algorithms, flows, spaces


def trivial_objective(spec) -> float:
    """Cheap stand-in for a real program: a number derived from the spec."""
    return (
        float(spec["embed_dim"] * spec["depth"]) + sum(spec["mlp_ratio"]) + sum(spec["num_heads"])
    )


def time_pyglove(space, trials: int) -> float:
    algo = pg.evolution.regularized_evolution(population_size=20, tournament_size=5, seed=0)
    start = time.perf_counter()
    for model, feedback in pg.sample(space, algo, num_examples=trials):
        feedback(float(model.embed_dim * model.depth) + sum(model.mlp_ratio) + sum(model.num_heads))
    return (time.perf_counter() - start) / trials


def time_symnas(space, trials: int, log: bool) -> float:
    """Seconds of one ``flows.search`` call of ``trials`` trials, per trial."""
    algo = algorithms.RegularizedEvolution(population_size=20, tournament_size=5, seed=0)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        flows.search(
            space, trivial_objective, algo, budget=trials, out=out if log else None, verbose=False
        )
        return (time.perf_counter() - start) / trials


def marginal_symnas(space, trials: int, log: bool) -> tuple[float, float]:
    """(whole call per trial, marginal seconds per trial) from searches of N and N/2 trials."""
    half = trials // 2
    whole = time_symnas(space, trials, log)
    return whole, (whole * trials - time_symnas(space, half, log) * half) / (trials - half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-trials", type=int, default=200)
    parser.add_argument("--symnas-trials", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    codec = spaces.compile(space)
    print(f"space: vit_tiny, {codec.num_slots} decisions, {codec.size:,} DNAs")
    time_symnas(space, 50, log=True)  # warm-up, untimed
    pg_ms = time_pyglove(space, args.pg_trials) * 1e3
    sym_ms, sym_marginal = (1e3 * t for t in marginal_symnas(space, args.symnas_trials, False))
    log_ms, log_marginal = (1e3 * t for t in marginal_symnas(space, args.symnas_trials, True))
    print(f"pg.sample + regularized_evolution: {pg_ms:8.3f} ms/trial ({args.pg_trials} trials)")
    print(f"flows.search ({args.symnas_trials} trials)   whole call   marginal  (ms/trial)")
    print(f"  in memory:                        {sym_ms:8.3f}   {sym_marginal:8.3f}")
    print(f"  trials.jsonl on disk:             {log_ms:8.3f}   {log_marginal:8.3f}")
    print(
        f"ratio (pg / symnas, in memory): {pg_ms / sym_ms:8.1f}x whole, {pg_ms / sym_marginal:8.1f}x marginal"
    )
    print(
        f"ratio (pg / symnas, logged):    {pg_ms / log_ms:8.1f}x whole, {pg_ms / log_marginal:8.1f}x marginal"
    )


if __name__ == "__main__":
    main()
