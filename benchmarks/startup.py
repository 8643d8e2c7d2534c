"""Start-up cost: import + the first trial of a trivial search, symnas vs Optuna.

Each run is a fresh interpreter that imports the library, searches a three-parameter space
(a choice of three integers, a float in [0, 1], a choice of two strings) for one trial of a
trivial objective with random search, and reports its own CPU seconds (user + system, the
interpreter's start included) and whether torch was imported. symnas: ``import symnas.flows``,
``flows.search(space, objective, "random", budget=1, verbose=False)`` in memory; Optuna:
``import optuna``, ``create_study(sampler=RandomSampler(seed=0))``, ``optimize(n_trials=1)``
with its logging at WARNING. Runs alternate between the two; prints the median and range.

    python benchmarks/startup.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_symnas() -> None:
    """One trivial trial with symnas."""
    import pyglove as pg

    import symnas.flows as flows

    space = pg.Dict(x=pg.oneof([1, 2, 3]), y=pg.floatv(0.0, 1.0), z=pg.oneof(["a", "b"]))
    flows.search(space, lambda s: s["x"] + s["y"], "random", budget=1, verbose=False)


def run_optuna() -> None:
    """One trivial trial with Optuna."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial) -> float:
        x = trial.suggest_categorical("x", [1, 2, 3])
        y = trial.suggest_float("y", 0.0, 1.0)
        trial.suggest_categorical("z", ["a", "b"])
        return x + y

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)


def child(library: str) -> None:
    """Runs one library's trial and prints its CPU time as a JSON line."""
    {"symnas": run_symnas, "optuna": run_optuna}[library]()
    print(json.dumps({"cpu_s": cpu_seconds(), "torch": "torch" in sys.modules}))


def measure(library: str) -> dict:
    """Runs ``child`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", library], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Alternates fresh runs of both libraries and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", choices=("symnas", "optuna"))
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    runs: dict[str, list[dict]] = {"symnas": [], "optuna": []}
    for _ in range(args.runs):
        for library in runs:
            runs[library].append(measure(library))
    medians = {}
    for library, figures in runs.items():
        cpu = [f["cpu_s"] for f in figures]
        medians[library] = statistics.median(cpu)
        torch = any(f["torch"] for f in figures)
        print(
            f"{library:<7} CPU s: median {medians[library]:.3f}, range {min(cpu):.3f}-"
            f"{max(cpu):.3f} over {len(cpu)} runs; torch imported: {torch}"
        )
    print(f"symnas / optuna (medians): {medians['symnas'] / medians['optuna']:.2f}")


if __name__ == "__main__":
    main()
