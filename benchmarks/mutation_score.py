"""Mutation score of the core modules: mutmut over a staged copy of the committed tree.

mutmut names a module by its file path, so the package is staged as ``src/symnas/...`` in a
scratch folder (``git archive`` of a commit, default HEAD), where ``[tool.mutmut]`` of
``pyproject.toml`` (which modules to mutate, which fast tests to run) applies. The working tree
is never modified. Prints, per mutated module, the number of mutants, how many the tests killed
(a timeout counts as killed), how many survived or had no covering test, and the score
``killed / (mutants - skipped)``, then the surviving mutants' names (``mutmut show NAME`` in the
scratch folder prints each diff).

Heavy on CPU; not part of CI. Run it niced, on every configured module or on some of them with
their own tests (``--only`` and ``--tests`` replace the two lists in the staged configuration):

    nice -n 10 python benchmarks/mutation_score.py [--work /tmp/symnas-mutmut] [--max-children 2]
    nice -n 10 python benchmarks/mutation_score.py --only src/symnas/algorithms/pareto.py \
        --tests tests/algorithms/test_mechanisms.py tests/algorithms/test_sampling_algorithms.py

A module too large for the time at hand is scored on a fixed random sample of its mutants:
``--sample 150 --seed 0`` checks at most 150 mutants per module, drawn with ``random.Random(0)``
from the sorted names of all its mutants (the others are reported as not checked).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "spaces", "algorithms", "programs", "flows", "testing")
KILLED = ("killed", "timeout")
NOT_RUN = ("skipped", "not checked")


def stage(work: Path, commit: str) -> None:
    """Extracts ``commit`` into ``work`` with the package folders moved under ``src/symnas``."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    (work / "src" / "symnas").mkdir(parents=True)
    for name in PACKAGES:
        (work / name).rename(work / "src" / "symnas" / name)


def override(pyproject: Path, key: str, values: list[str]) -> None:
    """Replaces the list ``key = [...]`` of the staged ``[tool.mutmut]`` table with ``values``."""
    text = pyproject.read_text()
    pattern = re.compile(rf"^{re.escape(key)} = \[.*?\]$", re.MULTILINE | re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{pyproject}: no '{key} = [...]' list in [tool.mutmut] to replace.")
    pyproject.write_text(pattern.sub(lambda _: f"{key} = {json.dumps(values)}", text, count=1))


def set_option(pyproject: Path, key: str, value: float) -> None:
    """Adds ``key = value`` to the staged ``[tool.mutmut]`` table."""
    text = pyproject.read_text()
    if "[tool.mutmut]\n" not in text:
        raise ValueError(f"{pyproject}: no [tool.mutmut] table.")
    pyproject.write_text(text.replace("[tool.mutmut]\n", f"[tool.mutmut]\n{key} = {value}\n", 1))


GENERATE = (
    "import os\n"
    "from mutmut.__main__ import copy_also_copy_files, copy_src_dir, create_mutants, "
    "setup_source_paths\n"
    "os.makedirs('mutants', exist_ok=True)\n"
    "copy_src_dir()\n"
    "copy_also_copy_files()\n"
    "setup_source_paths()\n"
    "create_mutants(1)\n"
)


def sample_mutants(work: Path, env: dict[str, str], size: int, seed: int) -> list[str]:
    """At most ``size`` mutant names per module, a seeded draw from all of the staged ones.

    The mutants are generated once to learn their names (deterministic for a source file), then
    the generated folder is removed so that ``mutmut run`` starts from a clean state.
    """
    subprocess.run(
        [sys.executable, "-c", GENERATE], cwd=work, env=env, check=True, capture_output=True
    )
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shutil.rmtree(work / "mutants")
    by_module: dict[str, list[str]] = collections.defaultdict(list)
    for line in results.splitlines():
        name = line.strip().rpartition(": ")[0]
        if "__mutmut_" in name:
            by_module[module_of(name)].append(name)
    rng = random.Random(seed)
    chosen = []
    for module in sorted(by_module):
        names = sorted(by_module[module])
        chosen += sorted(rng.sample(names, min(size, len(names))))
    return chosen


def module_of(mutant: str) -> str:
    """``symnas.spaces.codec`` of ``symnas.spaces.codec.xǁCodecǁmutate__mutmut_3``."""
    parts = mutant.split(".")
    for i, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:i])
    return mutant.rsplit(".", 1)[0]


def scores(results: str) -> tuple[dict[str, collections.Counter], list[str]]:
    """Status counts per module and the surviving mutants, from ``mutmut results --all true``."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors = []
    for line in results.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        counts[module_of(name)][status] += 1
        if status not in KILLED and status not in NOT_RUN:
            survivors.append(f"{name}: {status}")
    return counts, survivors


def main() -> None:
    """Stages the tree, runs mutmut, prints the per-module scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/symnas-mutmut"))
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="reuse an existing staged run")
    parser.add_argument("--only", nargs="+", help="files to mutate (src/symnas/...)")
    parser.add_argument("--tests", nargs="+", help="test files to run against the mutants")
    parser.add_argument("--sample", type=int, help="check at most this many mutants a module")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --sample draw")
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        help="mutmut's timeout_multiplier (default 15): a mutant's CPU-time limit is "
        "2 x multiplier x (its tests' time + 1 s)",
    )
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.commit],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not (args.keep and args.work.exists()):
        stage(args.work, commit)
        if args.only:
            override(args.work / "pyproject.toml", "only_mutate", args.only)
        if args.tests:
            override(args.work / "pyproject.toml", "pytest_add_cli_args_test_selection", args.tests)
        if args.timeout_multiplier is not None:
            set_option(args.work / "pyproject.toml", "timeout_multiplier", args.timeout_multiplier)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    names = sample_mutants(args.work, env, args.sample, args.seed) if args.sample else []
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *names],
        cwd=args.work,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=args.work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts, survivors = scores(results)
    print(f"commit {commit}, mutmut run {elapsed / 60:.1f} min, {args.max_children} children")
    if args.sample:
        print(f"sample: at most {args.sample} mutants a module, seed {args.seed}")
    print(
        f"{'module':<44} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'score':>6}"
    )
    for module in sorted(counts):
        c = counts[module]
        total = sum(c.values())
        killed = sum(c[s] for s in KILLED)
        checked = total - sum(c[s] for s in NOT_RUN)
        score = killed / checked if checked else float("nan")
        print(
            f"{module:<44} {total:>7} {killed:>7} {c['survived']:>8} {c['no tests']:>8} "
            f"{score:>6.1%}"
        )
    print(f"surviving mutants ({len(survivors)}):")
    for line in survivors:
        print(f"  {line}")


if __name__ == "__main__":
    main()
