"""The search loop: logging, failures, resume after a kill, parallel workers, algorithm swap."""

from __future__ import annotations

import json
import re
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
    assert summary["counts"] == {"total": 30, "ok": 30, "failed": 0, "pruned": 0}
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


# ---------------------------------------------------------------- failures, fingerprints, folders
def broken(spec):
    """An objective with a bug: every trial fails."""
    raise ZeroDivisionError(f"bug on {spec['act']}")


def test_consecutive_failures_stop_with_the_first_traceback(tmp_path):
    with pytest.raises(flows.SearchFailed) as info:
        flows.search(SPACE, broken, algorithms.RandomSearch(), budget=50, out=tmp_path)
    message = str(info.value)
    assert "5 consecutive trials failed (trials 0 to 4)" in message
    assert "ZeroDivisionError: bug on" in message and "Traceback" in message
    assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == 5  # budget not spent
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"total": 5, "ok": 0, "failed": 5, "pruned": 0}


def test_failure_limit_is_configurable():
    with pytest.raises(flows.SearchFailed, match="2 consecutive trials failed"):
        flows.search(SPACE, broken, "random", budget=9, max_consecutive_failures=2, verbose=False)
    result = flows.search(
        SPACE, broken, "random", budget=9, max_consecutive_failures=None, verbose=False
    )
    assert len(result.failed) == 9
    with pytest.raises(ValueError, match="'max_consecutive_failures' must be a positive"):
        flows.search(SPACE, broken, "random", budget=9, max_consecutive_failures=0)


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(space=spaces.nb201_cell(C=64, N=5, num_classes=100)), "'space.C' was 8"),
        (dict(options={"epochs": 3}), "'options.epochs' was 1"),
        (dict(options={"epochs": 1, "lr": 0.1}), "'options.lr' was None"),
        (dict(workers=2), "'workers' was 1"),
    ],
    ids=["space", "option", "new-option", "workers"],
)
def test_resume_with_another_configuration_names_the_field(tmp_path, change, field):
    base = dict(space=spaces.nb201_cell(C=8, N=1, num_classes=10), options={"epochs": 1})
    flows.search(
        base["space"], score_any, "random", budget=2, out=tmp_path, options=base["options"]
    )
    settings = {**base, **change}
    space = settings.pop("space")
    with pytest.raises(ValueError, match=re.escape(field)):
        flows.search(space, score_any, "random", budget=4, out=tmp_path, resume=True, **settings)


def score_any(spec):
    """A constant objective for spaces of any shape."""
    return 1.0


def test_metrics_without_the_optimised_key_are_failed_before_logging(tmp_path):
    def misnamed(spec):
        return {"acc": float(sum(spec["x"]))}

    algo = algorithms.RandomSearch(metric="accuracy")
    result = flows.search(
        SPACE, misnamed, algo, budget=3, out=tmp_path, max_consecutive_failures=None
    )
    records = [json.loads(x) for x in (tmp_path / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed"] * 3
    assert "optimises ['accuracy']" in records[0]["error"]
    assert result.best is None

    def named(spec):
        return {"accuracy": float(sum(spec["x"]))}

    resumed = flows.search(
        SPACE, named, algorithms.RandomSearch(metric="accuracy"), 5, out=tmp_path, resume=True
    )
    assert [t.status for t in resumed.trials] == ["failed"] * 3 + ["ok"] * 2


def test_output_folder_problems_are_one_clear_error(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    calls = []

    def counting(spec):
        calls.append(spec)
        return 1.0

    with pytest.raises(ValueError, match="'out': .*file.txt is a file, not a folder"):
        flows.search(SPACE, counting, "random", budget=2, out=a_file)
    with pytest.raises(ValueError, match="'out': cannot write in folder"):
        flows.search(SPACE, counting, "random", budget=2, out=a_file / "sub")
    assert not calls  # nothing ran


def test_bad_seed_and_objective():
    with pytest.raises(ValueError, match="'seed' must be a non-negative integer"):
        flows.search(SPACE, score, "random", budget=2, seed=-1)
    with pytest.raises(TypeError, match="'objective' must be callable"):
        flows.search(SPACE, "score", "random", budget=2)
