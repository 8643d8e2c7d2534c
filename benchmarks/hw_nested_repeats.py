"""Repeated architectures in hw-nested's inner searches, with and without ``algorithms.Deduped``.

Runs the ``hw-nested`` flow (``--budget`` configurations, ``--inner`` architectures each,
a one-epoch supernet) once with its inner algorithm as shipped (deduped) and once with the bare
regularized evolution it wraps, per seed, and prints per run how many inner trials evaluated an
architecture already evaluated on the same configuration. Writes
``benchmarks/results/hw_nested_repeats.json``.

    python benchmarks/hw_nested_repeats.py [--seeds 3] [--budget 6] [--inner 12]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from symnas.core.files import write_json_atomic
from symnas.flows import hw_flow


def repeats(seed: int, budget: int, inner: int, deduped: bool) -> tuple[int, int]:
    """(inner trials, inner trials that repeat an architecture of the same configuration)."""
    original = hw_flow.inner_search_algorithm
    if not deduped:
        hw_flow.inner_search_algorithm = lambda algorithm: original(algorithm).base
    try:
        result = hw_flow.hw_nested(
            budget=budget, inner_budget=inner, supernet_epochs=1, seed=seed, verbose=False
        )
    finally:
        hw_flow.inner_search_algorithm = original
    trials = repeated = 0
    for configuration in {json.dumps(t.spec, sort_keys=True): t for t in result.outer.trials}:
        inner_trials = result.inner.result(json.loads(configuration)).trials
        specs = [json.dumps(t.spec, sort_keys=True) for t in inner_trials]
        trials += len(specs)
        repeated += len(specs) - len(set(specs))
    return trials, repeated


def main() -> None:
    """Runs both variants per seed and writes the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=6)
    parser.add_argument("--inner", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in range(args.seeds):
        for deduped in (False, True):
            trials, repeated = repeats(seed, args.budget, args.inner, deduped)
            rows.append({"seed": seed, "deduped": deduped, "trials": trials, "repeated": repeated})
            print(f"seed {seed} deduped={deduped}: {repeated} of {trials} inner trials repeated")
    out = Path(__file__).parent / "results" / "hw_nested_repeats.json"
    write_json_atomic(out, {"args": vars(args), "runs": rows})


if __name__ == "__main__":
    main()
