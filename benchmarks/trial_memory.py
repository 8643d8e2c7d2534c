"""Where a trial's memory goes: the bytes a random-search trial holds after an in-memory search.

Runs ``--trials`` trials of random search on the 30-decision AutoFormer-Tiny space with the
trivial objective of ``large_search.py`` under ``tracemalloc``, then prints the memory still
allocated per trial (everything the result and the algorithm keep) and the sizes of one trial's
parts (``sys.getsizeof``, containers with their items' storage; shared small ints and interned
keys not counted).

    python benchmarks/trial_memory.py --trials 20000
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc

import numpy as np
from large_search import trivial_objective

from symnas import algorithms, flows, spaces


def parts(trial) -> dict[str, int]:
    """Bytes of a trial's record fields: the object itself and each field's own storage."""
    genome = trial.genome
    owner = genome if genome.base is None else genome.base
    sizes = {
        "trial object": sys.getsizeof(trial)
        + (sys.getsizeof(trial.__dict__) if hasattr(trial, "__dict__") else 0),
        "genome": sys.getsizeof(genome) + (0 if owner is genome else sys.getsizeof(owner)),
        "dna list": sys.getsizeof(trial.dna),
        "spec (dict and its lists)": sys.getsizeof(trial.spec)
        + sum(sys.getsizeof(v) for v in trial.spec.values() if isinstance(v, list)),
        "metrics dict": sys.getsizeof(trial.metrics),
        "extra dict": sys.getsizeof(trial.extra),
        "seed and wall_s": sys.getsizeof(trial.seed) + sys.getsizeof(trial.wall_s),
    }
    sizes["sum"] = sum(sizes.values())
    return sizes


def main() -> None:
    """Prints the traced bytes per trial and one trial's parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    args = parser.parse_args()
    space = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = flows.search(
        space, trivial_objective, algorithms.RandomSearch(seed=0), budget=args.trials, verbose=False
    )
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"{args.trials:,} trials: {held / args.trials:.0f} bytes a trial still allocated")
    sizes = parts(result.trials[len(result.trials) // 2])
    for name, size in sizes.items():
        print(f"  {name:<28} {size:>5} B")
    assert np.isfinite(result.best.metrics["objective"])


if __name__ == "__main__":
    main()
