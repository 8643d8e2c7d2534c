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
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
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
