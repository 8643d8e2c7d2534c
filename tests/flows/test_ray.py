"""Trials on a local Ray cluster: the same log as the local executor when one trial is in
flight, a killed worker retried once then logged failed, a killed driver resumed, nested inner
searches as Ray tasks. Skipped when Ray is not installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pyglove as pg
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'symnas[ray]')")

from symnas import algorithms, flows  # noqa: E402
from symnas.core.files import write_json_atomic  # noqa: E402
from symnas.flows.executors import RayExecutor  # noqa: E402

SPACE = pg.Dict(x=pg.oneof(list(range(40))), y=pg.oneof(list(range(40))))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU local Ray cluster for the module; yields its address."""
    # Ray workers cannot import test modules: their functions travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def score(spec):
    """A deterministic objective."""
    return {"score": float(spec["x"] - abs(spec["y"] - 7))}


@dataclass
class DyingObjective:
    """Kills its worker process whenever it evaluates ``fatal``; counts its attempts there."""

    fatal: dict
    attempts: str

    def __call__(self, spec):
        if spec == self.fatal:
            with open(self.attempts, "a") as f:
                f.write("x")
            os.kill(os.getpid(), signal.SIGKILL)
        return score(spec)


def pair_score(hw, arch):
    """A pair objective for the nested search."""
    return {"score": float(hw["x"] + arch["y"])}


def _evolution():
    return algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="score")


def _records(folder):
    lines = (folder / "trials.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in lines]


def test_one_trial_in_flight_on_ray_logs_what_the_local_executor_logs(cluster, tmp_path):
    flows.search(SPACE, score, _evolution(), budget=8, out=tmp_path / "local", seed=2)
    flows.search(
        SPACE,
        score,
        _evolution(),
        budget=8,
        out=tmp_path / "ray",
        seed=2,
        executor=RayExecutor(max_concurrent=1),
    )
    assert _records(tmp_path / "ray") == _records(tmp_path / "local")


def test_workers_one_is_one_trial_in_flight_and_none_is_the_whole_cluster(cluster, tmp_path):
    flows.search(SPACE, score, _evolution(), budget=6, out=tmp_path / "local", seed=2, workers=1)
    flows.search(
        SPACE, score, _evolution(), 6, out=tmp_path / "one", seed=2, workers=1, executor="ray"
    )
    flows.search(SPACE, score, _evolution(), 6, out=tmp_path / "all", seed=2, executor="ray")
    config = {
        name: json.loads((tmp_path / name / "config.json").read_text())
        for name in ("local", "one", "all")
    }
    assert (config["local"]["workers"], config["local"]["scheduling"]) == (1, "batch")
    assert (config["one"]["workers"], config["one"]["scheduling"]) == (1, "batch")
    assert (config["all"]["workers"], config["all"]["scheduling"]) == (2, "asynchronous")
    assert _records(tmp_path / "one") == _records(tmp_path / "local")


def test_a_killed_worker_is_retried_once_then_logged_failed(cluster, tmp_path):
    specs = [t.spec for t in flows.search(SPACE, score, "random", budget=6, seed=4).trials]
    fatal = specs[1]
    assert specs.count(fatal) == 1
    attempts = tmp_path / "attempts"
    objective = DyingObjective(fatal, str(attempts))
    result = flows.search(
        SPACE,
        objective,
        "random",
        budget=6,
        out=tmp_path / "run",
        seed=4,
        max_consecutive_failures=None,
        executor=RayExecutor(max_concurrent=2),
    )
    records = _records(tmp_path / "run")
    assert sorted(r["id"] for r in records) == list(range(6)), "every trial logged once"
    by_id = {r["id"]: r for r in records}
    assert by_id[1]["status"] == "failed"
    assert "failed 2 time(s)" in by_id[1]["error"] and "WorkerCrashedError" in by_id[1]["error"]
    assert attempts.read_text() == "xx", "run once, retried once"
    assert [t.status for t in result.trials].count("ok") == 5


DRIVER = textwrap.dedent(
    """
    import sys, time
    import pyglove as pg
    from symnas import algorithms, flows
    from symnas.flows.executors import RayExecutor

    SPACE = pg.Dict(x=pg.oneof(list(range(40))), y=pg.oneof(list(range(40))))

    def slow(spec):
        time.sleep(0.2)
        return {"score": float(spec["x"] - abs(spec["y"] - 7))}

    flows.search(
        SPACE, slow,
        algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="score"),
        budget=10, out=sys.argv[2], seed=1,
        executor=RayExecutor(address=sys.argv[1], max_concurrent=2),
    )
    """
)


def test_a_driver_killed_with_sigkill_resumes_from_its_log(cluster, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "run"
    stderr = tmp_path / "driver.err"
    with open(stderr, "w") as err:
        driver = subprocess.Popen(
            [sys.executable, str(script), cluster, str(out)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    log = out / "trials.jsonl"
    deadline = time.monotonic() + 600  # a hang guard, not a timing expectation
    while time.monotonic() < deadline and driver.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert driver.poll() is None, stderr.read_text()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = log.read_text()
    complete = before[: before.rfind("\n") + 1].splitlines()  # a cut last line is dropped
    assert 3 <= len(complete) < 10

    calls = tmp_path / "calls"
    resumed = flows.search(
        SPACE,
        CountingScore(str(calls)),
        _evolution(),
        budget=10,
        out=out,
        seed=1,
        resume=True,
        executor=RayExecutor(max_concurrent=2),
    )
    after = log.read_text().splitlines()
    assert after[: len(complete)] == complete, "logged trials are kept as they were"
    records = [json.loads(line) for line in after]
    assert sorted(r["id"] for r in records) == list(range(10)), "no trial lost or repeated"
    assert [r["fed"] for r in records] == list(range(10))
    assert len(calls.read_text()) == 10 - len(complete)
    assert [t.id for t in resumed.trials] == list(range(10))

    # Replaying the whole log proposes every logged genome again and evaluates nothing.
    calls.unlink()
    flows.search(
        SPACE,
        CountingScore(str(calls)),
        _evolution(),
        budget=10,
        out=out,
        seed=1,
        resume=True,
        executor=RayExecutor(max_concurrent=2),
    )
    assert not calls.exists()


@dataclass
class CountingScore:
    """``score`` that appends one byte to ``path`` per call (calls made in Ray workers)."""

    path: str

    def __call__(self, spec):
        with open(self.path, "a") as f:
            f.write("x")
        return score(spec)


def test_nested_inner_searches_run_as_ray_tasks(cluster, tmp_path):
    result = flows.nested(
        pg.Dict(x=pg.oneof(list(range(10)))),
        pg.Dict(y=pg.oneof(list(range(10)))),
        algorithms.RandomSearch(metric="score"),
        algorithms.RandomSearch(metric="score"),
        pair_score,
        outer_budget=3,
        inner_budget=3,
        out=tmp_path,
        seed=0,
        workers=2,
        executor="ray",
        verbose=False,
    )
    inner_logs = sorted((tmp_path / "inner").glob("*/trials.jsonl"))
    configurations = {json.dumps(t.spec, sort_keys=True) for t in result.trials}
    assert len(inner_logs) == len(configurations)
    assert all(len(p.read_text().splitlines()) == 3 for p in inner_logs)
    assert len(result.pairs()) == 3 * len(configurations)
    best = max(result.pairs(), key=lambda p: p.metrics["score"])
    assert result.best.metrics["score"] == best.metrics["score"]


CLI_SCRIPT = """
import pyglove as pg
from symnas import flows

def objective(spec):
    return float(spec["x"])

def flow(out, budget=None, **_):
    return flows.search(pg.Dict(x=pg.oneof(list(range(9)))), objective, "random", budget or 4,
                        out=out, verbose=False)
"""


def test_symnas_run_with_the_ray_executor(cluster, tmp_path):
    from symnas.flows import cli

    script = tmp_path / "flow.py"
    script.write_text(CLI_SCRIPT)
    out = tmp_path / "out"
    assert cli.main(["run", str(script), "--executor", "ray", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["workers"], config["scheduling"]) == (2, "asynchronous"), "the cluster's CPUs"
    assert sorted(r["id"] for r in _records(out)) == list(range(4))


def asha_objective(spec, budget):
    """A learning curve read at ``budget`` epochs."""
    return {"acc": (spec["x"] + spec["y"]) / 78.0 * (1.0 - 0.5**budget)}


def test_asha_on_ray_promotes_and_resumes(cluster, tmp_path):
    def run(resume):
        return flows.search(
            SPACE,
            asha_objective,
            algorithms.create("asha", metric="acc"),
            24,
            out=tmp_path,
            resume=resume,
            executor=RayExecutor(max_concurrent=2),
            fidelity=flows.Fidelity(1, 9),
            verbose=False,
        )

    result = run(False)
    records = [json.loads(x) for x in (tmp_path / "trials.jsonl").read_text().splitlines()]
    assert sorted(r["fed"] for r in records) == list(range(24))
    budgets = {t.extra["budget"] for t in result.trials}
    assert {1, 3} <= budgets
    # A promoted configuration ran one rung lower first, fed back before it was proposed.
    by_spec = {}
    for record in sorted(records, key=lambda r: r["fed"]):
        key = json.dumps(record["spec"], sort_keys=True)
        if record["budget"] > 1:
            assert by_spec.get(key) == record["budget"] // 3
        by_spec[key] = record["budget"]
    before = (tmp_path / "trials.jsonl").read_text()
    run(True)  # replays the asynchronous log in its feedback order, evaluates nothing
    assert (tmp_path / "trials.jsonl").read_text() == before


def continuing_objective(spec, trial):
    """The same curve, continued from the architecture's state saved below the budget."""
    saved = [p for p in trial.checkpoint_dir.glob("*.json") if int(p.stem) < trial.budget]
    start = max((int(p.stem) for p in saved), default=0)
    if start:
        trial.continue_from(start)
    value = 0.0
    for epoch in range(start + 1, trial.budget + 1):
        value = (spec["x"] + spec["y"]) / 78.0 * (1.0 - 0.5**epoch)
        trial.report(epoch, {"acc": value})
    write_json_atomic(trial.checkpoint_dir / f"{trial.budget}.json", value)
    return {"acc": value}


def test_asha_on_ray_continues_promoted_candidates_from_the_shared_folder(cluster, tmp_path):
    flows.search(
        SPACE,
        continuing_objective,
        algorithms.create("asha", metric="acc"),
        24,
        out=tmp_path,
        executor=RayExecutor(max_concurrent=2),
        fidelity=flows.Fidelity(1, 9),
        verbose=False,
    )
    records = [json.loads(x) for x in (tmp_path / "trials.jsonl").read_text().splitlines()]
    promoted = [r for r in records if r["budget"] > 1]
    assert promoted and all(r["start"] == r["budget"] // 3 for r in promoted)
    assert all(r["reports"][0][0] == r["start"] + 1 for r in promoted)
