"""The search loop: logging, failures, resume after a kill, parallel workers, algorithm swap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(5)], act=pg.oneof(["relu", "gelu"]))


def score(spec):
    """A deterministic objective for worker processes."""
    return {"score": float(sum(spec["x"])) + (0.5 if spec["act"] == "gelu" else 0.0)}


def flaky(spec):
    """Fails on some specs, returns NaN on others."""
    if spec["x"][0] == 0:
        raise RuntimeError("boom")
    if spec["x"][0] == 1:
        return float("nan")
    return float(sum(spec["x"]))


def _ids_and_specs(result):
    return [(t.id, json.dumps(t.spec, sort_keys=True), t.status) for t in result.trials]


def test_search_logs_every_trial_and_summary(tmp_path):
    algo = algorithms.RegularizedEvolution(population_size=8, tournament_size=3, metric="score")
    result = flows.search(SPACE, score, algo, budget=30, out=tmp_path, seed=1)
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 30
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == list(range(30))
    codec = spaces.compile(SPACE)
    for r in records:
        assert r["status"] == "ok"
        assert r["spec"] == pg.to_json(
            pg.materialize(SPACE, pg.DNA.from_numbers(r["dna"], codec.dna_spec))
        )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"total": 30, "ok": 30, "failed": 0}
    assert summary["best"]["metrics"]["score"] == max(r["metrics"]["score"] for r in records)
    assert result.best.metrics == summary["best"]["metrics"]


def test_failed_and_nan_trials_are_recorded_and_search_goes_on(tmp_path):
    result = flows.search(SPACE, flaky, algorithms.RandomSearch(), budget=40, out=tmp_path, seed=0)
    assert len(result.trials) == 40
    failed = result.failed
    assert failed, "the space makes some trials fail"
    errors = " ".join(t.error for t in failed)
    assert "RuntimeError: boom" in errors
    assert "Metric 'objective' is nan" in errors
    assert all(t.spec["x"][0] in (0, 1) for t in failed)
    assert result.best.spec["x"][0] >= 2


def test_existing_log_needs_resume(tmp_path):
    flows.search(SPACE, score, algorithms.RandomSearch(metric="score"), budget=3, out=tmp_path)
    with pytest.raises(ValueError, match="resume=True"):
        flows.search(SPACE, score, algorithms.RandomSearch(metric="score"), budget=3, out=tmp_path)


def test_resume_with_another_seed_is_refused(tmp_path):
    flows.search(SPACE, score, algorithms.RandomSearch(metric="score"), budget=3, out=tmp_path)
    with pytest.raises(ValueError, match="'seed' was 0"):
        flows.search(
            SPACE,
            score,
            algorithms.RandomSearch(metric="score"),
            budget=5,
            out=tmp_path,
            seed=9,
            resume=True,
        )


def test_corrupt_log_is_a_clear_error(tmp_path):
    flows.search(SPACE, score, algorithms.RandomSearch(metric="score"), budget=3, out=tmp_path)
    log = tmp_path / "trials.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:20] + "}"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"trials.jsonl:2: corrupt trial record"):
        flows.search(
            SPACE,
            score,
            algorithms.RandomSearch(metric="score"),
            budget=5,
            out=tmp_path,
            resume=True,
        )


KILLED_SCRIPT = """
import os, signal, sys
import pyglove as pg
from symnas import algorithms, flows

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(5)], act=pg.oneof(["relu", "gelu"]))
calls = 0

def objective(spec):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return float(sum(spec["x"])) + (0.5 if spec["act"] == "gelu" else 0.0)

flows.search(SPACE, objective,
             algorithms.RegularizedEvolution(population_size=6, tournament_size=3, seed=4),
             budget=int(sys.argv[3]), out=sys.argv[1], workers=int(sys.argv[4]), verbose=False)
"""


def _objective_plain(spec):
    return float(sum(spec["x"])) + (0.5 if spec["act"] == "gelu" else 0.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, workers):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_SCRIPT))
    killed_dir = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(script), str(killed_dir), "13", "30", str(workers)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0  # killed mid-way
    logged = (killed_dir / "trials.jsonl").read_text().splitlines()
    assert 0 < len(logged) < 30

    def algo():
        return algorithms.RegularizedEvolution(population_size=6, tournament_size=3, seed=4)

    resumed = flows.search(
        SPACE,
        _objective_plain,
        algo(),
        budget=30,
        out=killed_dir,
        resume=True,
        workers=workers,
        verbose=False,
    )
    straight = flows.search(
        SPACE,
        _objective_plain,
        algo(),
        budget=30,
        out=tmp_path / "straight",
        workers=workers,
        verbose=False,
    )
    assert _ids_and_specs(resumed) == _ids_and_specs(straight)
    records = [json.loads(x) for x in (killed_dir / "trials.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == list(range(30))  # nothing lost or repeated


def test_workers_are_reproducible_for_a_seed():
    def run():
        algo = algorithms.RegularizedEvolution(population_size=6, tournament_size=3, metric="score")
        return flows.search(SPACE, score, algo, budget=24, seed=5, workers=2, verbose=False)

    first, second = run(), run()
    assert _ids_and_specs(first) == _ids_and_specs(second)
    assert [t.metrics for t in first.trials] == [t.metrics for t in second.trials]


def test_unpicklable_objective_with_workers_says_how_to_fix():
    with pytest.raises(ValueError, match="module-level function"):
        flows.search(SPACE, lambda s: 1.0, algorithms.RandomSearch(), budget=2, workers=2)


@pytest.mark.parametrize(
    "algorithm",
    [
        algorithms.RandomSearch(metric="score"),
        algorithms.RegularizedEvolution(population_size=8, tournament_size=3, metric="score"),
        algorithms.NSGA2(population_size=8, objectives={"score": "max"}),
    ],
    ids=lambda a: type(a).__name__,
)
def test_swapping_the_algorithm_is_one_argument(algorithm):
    result = flows.search(SPACE, score, algorithm=algorithm, budget=48, seed=0, verbose=False)
    assert len(result.trials) == 48
    assert result.best.metrics["score"] >= 20


def test_multi_objective_pareto_front():
    def two(spec):
        return {"big": float(sum(spec["x"])), "first": float(spec["x"][0])}

    algo = algorithms.NSGA2(population_size=8, objectives={"big": "max", "first": "min"})
    result = flows.search(SPACE, two, algo, budget=64, seed=0, verbose=False)
    front = result.pareto_front()
    assert front
    for t in front:
        for u in result.trials:
            better = (
                u.metrics["big"] >= t.metrics["big"] and u.metrics["first"] <= t.metrics["first"]
            )
            strictly = (
                u.metrics["big"] > t.metrics["big"] or u.metrics["first"] < t.metrics["first"]
            )
            assert not (better and strictly)


def test_bad_arguments():
    with pytest.raises(ValueError, match="'budget' must be a positive integer"):
        flows.search(SPACE, score, algorithms.RandomSearch(), budget=0)
    with pytest.raises(TypeError, match="'algorithm' must be a symnas algorithm"):
        flows.search(SPACE, score, object(), budget=3)
    with pytest.raises(ValueError, match="Unknown algorithm"):
        flows.search(SPACE, score, "annealing", budget=3)


def test_keyboard_interrupt_flushes_the_log_and_summary(tmp_path):
    calls = []

    def interrupted(spec):
        calls.append(spec)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return float(sum(spec["x"]))

    with pytest.raises(KeyboardInterrupt):
        flows.search(SPACE, interrupted, algorithms.RandomSearch(), budget=20, out=tmp_path)
    assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["total"] == 4
    resumed = flows.search(
        SPACE,
        lambda s: float(sum(s["x"])),
        algorithms.RandomSearch(),
        budget=6,
        out=tmp_path,
        resume=True,
    )
    assert [t.id for t in resumed.trials] == list(range(6))
