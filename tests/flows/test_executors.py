"""Executors without Ray: the asynchronous search loop with results arriving out of proposal
order, its feedback-order log and exact resume, and the refusals of bad executor settings."""

from __future__ import annotations

import json
import shutil
import sys

import pyglove as pg
import pytest

from symnas import algorithms, flows
from symnas.flows.executors import (
    Executor,
    LocalExecutor,
    RayExecutor,
    default_executor,
    make_executor,
    require_ray,
    using,
)
from symnas.flows.trial_eval import evaluate_spec

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(4)], act=pg.oneof(["relu", "gelu"]))
CALLS: list[str] = []


def score(spec):
    """A deterministic objective that counts its calls."""
    CALLS.append(json.dumps(spec, sort_keys=True))
    if spec["x"][0] == 5 and spec["act"] == "gelu":
        raise RuntimeError("boom")
    return {"score": float(sum(spec["x"])) + (0.5 if spec["act"] == "gelu" else 0.0)}


class ShuffledExecutor(Executor):
    """An asynchronous executor in this process whose results arrive out of proposal order:
    of the trials in flight, the one with the largest ``(id * 5) % 7`` finishes first (a
    function of the in-flight set only, so a resumed run sees the same order)."""

    asynchronous = True

    def __init__(self, in_flight: int) -> None:
        self.in_flight = in_flight
        self.queued: list[tuple[int, object, int]] = []

    @property
    def concurrency(self) -> int:
        return self.in_flight

    def start(self, objective, threads) -> None:
        self.objective = objective

    def submit(self, trial_id, spec, seed) -> None:
        self.queued.append((trial_id, spec, seed))

    def wait(self):
        pick = max(self.queued, key=lambda q: ((q[0] * 5) % 7, q[0]))
        self.queued.remove(pick)
        trial_id, spec, seed = pick
        return [(trial_id, evaluate_spec(self.objective, spec, seed))]

    def close(self, cancel: bool = False) -> None:
        self.queued.clear()


def _evolution():
    return algorithms.RegularizedEvolution(population_size=5, tournament_size=2, metric="score")


def _records(folder):
    lines = (folder / "trials.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in lines]


def test_asynchronous_feedback_order_is_logged_and_resume_replays_it(tmp_path):
    full = tmp_path / "full"
    result = flows.search(
        SPACE, score, _evolution(), budget=18, out=full, seed=3, executor=ShuffledExecutor(3)
    )
    records = _records(full)
    assert [r["fed"] for r in records] == list(range(18)), "the log is in feedback order"
    assert sorted(r["id"] for r in records) == list(range(18)), "each trial logged once"
    assert [r["id"] for r in records] != list(range(18)), "results arrived out of order"
    assert [t.id for t in result.trials] == list(range(18))
    assert any(r["status"] == "failed" for r in records)
    assert json.loads((full / "config.json").read_text())["scheduling"] == "asynchronous"

    # A driver killed after 7 trials were fed back: its log and config, then a resume.
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(full / "config.json", cut / "config.json")
    lines = (full / "trials.jsonl").read_text().splitlines(keepends=True)
    (cut / "trials.jsonl").write_text("".join(lines[:7]))
    CALLS.clear()
    flows.search(
        SPACE,
        score,
        _evolution(),
        budget=18,
        out=cut,
        seed=3,
        resume=True,
        executor=ShuffledExecutor(3),
    )
    assert _records(cut) == records
    assert len(CALLS) == 18 - 7, "only the trials the log lacks are evaluated"

    CALLS.clear()
    again = flows.search(
        SPACE,
        score,
        _evolution(),
        budget=18,
        out=cut,
        seed=3,
        resume=True,
        executor=ShuffledExecutor(3),
    )
    assert CALLS == [] and len(again.trials) == 18


def test_resume_in_another_feedback_order_is_refused(tmp_path):
    flows.search(SPACE, score, _evolution(), budget=8, out=tmp_path, executor=ShuffledExecutor(3))
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    # Claim that the last proposed trial was fed back first: no search proposes it that early.
    last = max(records, key=lambda r: r["id"])
    for r in records:
        r["fed"] = -1 if r is last else r["fed"]
    (tmp_path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(ValueError, match="same executor concurrency"):
        flows.search(
            SPACE,
            score,
            _evolution(),
            budget=10,
            out=tmp_path,
            resume=True,
            executor=ShuffledExecutor(3),
        )


def test_an_asynchronous_log_is_not_resumed_in_batches(tmp_path):
    flows.search(SPACE, score, _evolution(), budget=6, out=tmp_path, executor=ShuffledExecutor(2))
    with pytest.raises(ValueError, match="asynchronous mode"):
        flows.search(
            SPACE,
            score,
            _evolution(),
            budget=8,
            out=tmp_path,
            resume=True,
            executor=LocalExecutor(2),
        )


def test_one_trial_in_flight_equals_the_local_search(tmp_path):
    flows.search(SPACE, score, _evolution(), budget=12, out=tmp_path / "a", seed=5)
    flows.search(
        SPACE,
        score,
        _evolution(),
        budget=12,
        out=tmp_path / "b",
        seed=5,
        executor=ShuffledExecutor(1),
    )
    local = _records(tmp_path / "a")
    assert [r["fed"] for r in local] == list(range(12))
    assert _records(tmp_path / "b") == local


def test_executor_settings_are_checked():
    with pytest.raises(ValueError, match=r"'executor' must be one of \['local', 'ray'\]"):
        make_executor("dask", 1)
    with pytest.raises(ValueError, match="'workers'=3 conflicts with the executor object"):
        make_executor(LocalExecutor(2), 3)
    with pytest.raises(ValueError, match="'workers'=1 conflicts with the executor object"):
        make_executor(LocalExecutor(2), 1)
    with pytest.raises(ValueError, match="'max_concurrent' must be a positive integer"):
        RayExecutor(max_concurrent=0)
    with pytest.raises(ValueError, match=r"unknown keys \['cpus'\]; allowed: \['num_cpus'"):
        RayExecutor(resources_per_trial={"cpus": 1})
    with pytest.raises(ValueError, match="'retries' must be a non-negative integer"):
        RayExecutor(retries=-1)
    with pytest.raises(ValueError, match="'workers' must be a positive integer"):
        LocalExecutor(0)
    with pytest.raises(ValueError, match="needs executor 'ray'"):
        with using("local", address="127.0.0.1:6379"):
            pass


def test_using_sets_the_default_executor_of_a_block():
    assert default_executor() == "local"
    with using("ray", address="10.0.0.1:6379"):
        assert default_executor() == "ray"
        ray_executor = make_executor(None, 3)
        assert isinstance(ray_executor, RayExecutor)
        assert (ray_executor.address, ray_executor.max_concurrent) == ("10.0.0.1:6379", 3)
        assert make_executor("ray", 1).max_concurrent == 1, "1: one trial in flight"
        assert make_executor("ray", None).max_concurrent is None, "None: the cluster's CPUs"
        assert make_executor(None, None).max_concurrent is None
    assert make_executor(None, 2).workers == 2
    assert make_executor("local", None).workers == 1, "None: one trial, in this process"
    executor = LocalExecutor(2)
    assert make_executor(executor, None) is executor


def test_missing_ray_is_reported_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'symnas\[ray\]'"):
        require_ray()


FLOW_SCRIPT = """
import pyglove as pg
from symnas import flows

def objective(spec):
    return float(spec["x"])

def flow(out, budget=None, **_):
    return flows.search(pg.Dict(x=pg.oneof(list(range(9)))), objective, "random", budget or 4,
                        out=out, verbose=False)
"""


def test_cli_refuses_a_ray_address_without_the_ray_executor(tmp_path, capsys):
    from symnas.flows import cli

    script = tmp_path / "flow.py"
    script.write_text(FLOW_SCRIPT)
    assert cli.main(["run", str(script), "--ray-address", "127.0.0.1:6379"]) == 2
    assert "--ray-address ADDR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", str(script), "--executor", "dask"])
    assert "invalid choice: 'dask'" in capsys.readouterr().err


def test_cli_without_ray_installed_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    from symnas.flows import cli

    monkeypatch.setitem(sys.modules, "ray", None)
    script = tmp_path / "flow.py"
    script.write_text(FLOW_SCRIPT)
    code = cli.main(["run", str(script), "--executor", "ray", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "pip install 'symnas[ray]'" in capsys.readouterr().err
    assert default_executor() == "local", "the command's executor does not outlive it"
