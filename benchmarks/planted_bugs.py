"""Planted bugs: each core mechanism removed or inverted, one at a time, must fail its tests.

Stages a commit (default HEAD) in a scratch folder with ``git archive``, plants one bug at a time
by replacing a line of a source file there, runs the tests written to catch it, and restores the
file. The scratch package is imported through a folder of links (``symnas/spaces`` ->
``<scratch>/spaces``...) put first on ``PYTHONPATH``, ahead of the editable install; the working
tree is never modified. Prints CAUGHT (tests failed), SURVIVED (tests passed) or SKIP (the line to
replace is no longer in the source: update the pattern) per bug, and exits non-zero unless every
bug was planted and caught.

    nice -n 5 python benchmarks/planted_bugs.py [--work /tmp/symnas-planted] [NAME-FILTER ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "spaces", "algorithms", "programs", "flows")
MECHANISMS = "tests/algorithms/test_mechanisms.py"
CODEC = "tests/spaces/test_codec_operators.py"
RESUME = "tests/flows/test_resume_counts.py"
HARDWARE = "tests/programs/test_hardware_closed_forms.py"
ZERO_COST = "tests/algorithms/test_zero_cost_closed_forms.py"

# (name, file, line(s) to replace, replacement, tests that must fail)
BUGS = [
    (
        "nsga2: crossover removed",
        "algorithms/nsga2.py",
        "        if cross.any():\n",
        "        if False:\n",
        [MECHANISMS],
    ),
    (
        "nsga2: tournament prefers the worse rank",
        "algorithms/nsga2.py",
        "a_wins = (self._rank[a] < self._rank[b])",
        "a_wins = (self._rank[a] > self._rank[b])",
        [MECHANISMS],
    ),
    (
        "nsga2: crowding distance zeroed",
        "algorithms/pareto.py",
        "    return distance\n",
        "    return np.zeros(n)\n",
        [MECHANISMS],
    ),
    (
        "nsga2: constraints ignored in domination",
        "algorithms/pareto.py",
        "    return (both_feasible & pareto) | feasible_beats | (both_infeasible & less_violation)",
        "    return pareto",
        [MECHANISMS],
    ),
    (
        "nsga2: infeasible compared by objectives",
        "algorithms/pareto.py",
        "(both_infeasible & less_violation)",
        "(both_infeasible & pareto)",
        [MECHANISMS],
    ),
    (
        "evolution: no aging (population never shrinks)",
        "algorithms/regularized_evolution.py",
        "deque(maxlen=self._size)",
        "deque()",
        [MECHANISMS],
    ),
    (
        "evolution: selection inverted (min)",
        "algorithms/regularized_evolution.py",
        "parent = max(picks,",
        "parent = min(picks,",
        [MECHANISMS],
    ),
    (
        "evolution: random parent (no selection pressure)",
        "algorithms/regularized_evolution.py",
        "parent = max(picks, key=lambda j: self._population[j][1])",
        "parent = picks[0]",
        [MECHANISMS],
    ),
    (
        "evolution: worst member dies instead of the oldest",
        "algorithms/regularized_evolution.py",
        "                self._population.append((genome.copy(), float(reward[0])))",
        "                if len(self._population) == self._size:\n"
        "                    worst = min(range(self._size), key=lambda j: self._population[j][1])\n"
        "                    del self._population[worst]\n"
        "                self._population.append((genome.copy(), float(reward[0])))",
        [MECHANISMS],
    ),
    (
        "codec: crossover returns the first parent",
        "spaces/codec.py",
        "        child = np.where(take_b[:, self._unit_of], b, a)\n",
        "        child = a.copy()\n",
        [CODEC, MECHANISMS],
    ),
    (
        "codec: one-point instead of uniform crossover",
        "spaces/codec.py",
        "        take_b = rng.random((a.shape[0], len(self._units))) < 0.5\n",
        "        take_b = np.arange(len(self._units))[None, :] >= rng.integers(0, len(self._units) + 1, (a.shape[0], 1))\n",
        [CODEC],
    ),
    (
        "search: resume deletes the log and starts over",
        "flows/search.py",
        '        records = read_trials(out_dir / "trials.jsonl", repair=True, trusted_bytes=trusted)\n',
        '        (out_dir / "trials.jsonl").unlink(missing_ok=True)\n'
        '        records = read_trials(out_dir / "trials.jsonl", repair=True, trusted_bytes=trusted)\n',
        [RESUME],
    ),
    (
        "search: logged trials evaluated again",
        "flows/search.py",
        "                if trial_id in self.logged:\n",
        "                if False:\n",
        [RESUME],
    ),
    (
        "search: replay does not check the proposal",
        "flows/search.py",
        "    if codec.key(trial.genome) != codec.key(genome):\n",
        "    if False:\n",
        [RESUME],
    ),
    (
        "hardware: os and ws DRAM traffic swapped",
        "programs/cost/hardware_memory.py",
        '    is_os, is_ws = flow["os"], flow["ws"]\n',
        '    is_os, is_ws = flow["ws"], flow["os"]\n',
        [HARDWARE],
    ),
    (
        "hardware: DRAM energy per byte 16 instead of 160",
        "programs/cost/hardware.py",
        "DRAM_PJ_PER_BYTE = 160.0",
        "DRAM_PJ_PER_BYTE = 16.0",
        [HARDWARE],
    ),
    (
        "hardware: row-stationary spills counted once instead of twice",
        "programs/cost/hardware.py",
        'o_words * (1 + 2 * np.where(o_words > cap["ofmap"], spills, 0.0)),',
        'o_words * (1 + np.where(o_words > cap["ofmap"], spills, 0.0)),',
        [HARDWARE],
    ),
    (
        "hardware: partial sums written once instead of once per reduction fold",
        "programs/cost/hardware_memory.py",
        '    writes = m * n * np.where(flow["os"] | fits, 1.0, rf)\n',
        "    writes = m * n\n",
        [HARDWARE],
    ),
    (
        "zero-cost: l2_norm returns a constant",
        "algorithms/zero_cost/saliency.py",
        "    return {name: layer.weight.detach().norm() for name, layer in layers(module)}",
        "    return {name: torch.tensor(1.0) for name, layer in layers(module)}",
        [ZERO_COST],
    ),
    (
        "zero-cost: snip without abs",
        "algorithms/zero_cost/saliency.py",
        "    return {name: (g * w).abs() for name, (w, g) in grads.items()}",
        "    return {name: (g * w) for name, (w, g) in grads.items()}",
        [ZERO_COST],
    ),
]


def stage(work: Path, commit: str) -> Path:
    """Extracts ``commit`` into ``work/tree`` and links ``work/links/symnas/<package>`` to it."""
    if work.exists():
        shutil.rmtree(work)
    tree, links = work / "tree", work / "links" / "symnas"
    tree.mkdir(parents=True)
    links.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for name in PACKAGES:
        (links / name).symlink_to(tree / name)
    return tree


def run_tests(tree: Path, links: Path, tests: list[str]) -> tuple[int, str]:
    """Return code of pytest on ``tests`` and its first failure (or last line)."""
    env = dict(os.environ, PYTHONPATH=str(links))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith("FAILED")]
    return proc.returncode, (failed[0] if failed else (lines[-1] if lines else proc.stderr[-200:]))


def main() -> None:
    """Plants every bug (or those whose name contains a filter) and reports the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="run only bugs whose name contains one")
    parser.add_argument("--work", type=Path, default=Path("/tmp/symnas-planted"))
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    tree = stage(args.work, args.commit)
    caught = total = skipped = 0
    for name, path, old, new, tests in BUGS:
        if args.filters and not any(f in name for f in args.filters):
            continue
        source = tree / path
        original = source.read_text()
        if original.count(old) != 1:
            print(f"SKIP     {name}: the line to replace occurs {original.count(old)} times")
            skipped += 1
            continue
        source.write_text(original.replace(old, new))
        try:
            code, line = run_tests(tree, args.work / "links", tests)
        finally:
            source.write_text(original)
        verdict = {0: "SURVIVED", 1: "CAUGHT"}.get(code, f"ERROR {code}")
        caught += code == 1
        total += 1
        print(f"{verdict:<8} {name}: {line}", flush=True)
    print(f"{caught} of {total} planted bugs caught, {skipped} skipped (stale patterns)")
    if caught < total or skipped:
        sys.exit(1)


if __name__ == "__main__":
    main()
