"""Reproducible and crash-safe searches: per-trial seeds, repeated runs, kills at random moments.

Every trial runs under a seed derived from (search seed, trial id), so a repeated run, a run
resumed after a kill and an uninterrupted run log the same metrics, even for objectives whose
result depends on torch's and numpy's global generators (weight initialisation).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pyglove as pg
import pytest
import torch

from symnas import algorithms, flows
from symnas.flows import cli
from symnas.flows.seeding import current_trial_seed, trial_seed

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(4)], act=pg.oneof(["relu", "gelu"]))
HW = pg.Dict(width=pg.oneof([1, 2, 3, 4]), depth=pg.oneof([1, 2]))


def tiny_training(spec):
    """Builds and trains a tiny model: the result depends on weight initialisation."""
    width = 2 + sum(spec["x"])
    model = torch.nn.Sequential(
        torch.nn.Linear(3, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)
    )
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    for _ in range(3):  # plain SGD steps (torch.optim's first use imports much of torch)
        loss = torch.nn.functional.mse_loss(model(x), y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.1 * parameter.grad
    return {"loss": loss.item(), "noise": float(np.random.random()), "seed": current_trial_seed()}


def noisy(spec):
    """An objective drawing from every global generator, with a short sleep (a kill then often
    lands while a trial runs)."""
    time.sleep(0.05)
    return float(sum(spec["x"])) + random.random() + np.random.random() + float(torch.rand(1))


def pair(hw, arch):
    """A nested objective drawing from the global generators, with a short sleep."""
    time.sleep(0.03)
    return {"score": hw["width"] * sum(arch["x"]) + float(np.random.random()), "cost": hw["depth"]}


def _algorithm():
    return algorithms.RegularizedEvolution(
        population_size=6, tournament_size=3, metric="loss", mode="min"
    )


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]


def _view(records: list[dict]) -> list[tuple]:
    """What must be equal between runs: ids, candidates, statuses, seeds and every metric but
    wall-clock times (``*_s``)."""

    def untimed(metrics):
        return metrics and {k: v for k, v in metrics.items() if not k.endswith("_s")}

    rows = [(r["id"], r["dna"], r["status"], untimed(r["metrics"]), r["seed"]) for r in records]
    return sorted(rows, key=lambda row: row[0])  # parallel workers log in finishing order


def test_trial_seed_depends_on_search_seed_and_trial():
    seeds = {trial_seed(s, t) for s in range(4) for t in range(50)}
    assert len(seeds) == 200
    assert trial_seed(3, 7) == trial_seed(3, 7)
    assert all(0 <= s < 2**31 for s in seeds)


def test_same_search_twice_gives_the_same_metrics(tmp_path):
    first = flows.search(SPACE, tiny_training, _algorithm(), 9, out=tmp_path / "a", seed=3)
    second = flows.search(SPACE, tiny_training, _algorithm(), 9, out=tmp_path / "b", seed=3)
    assert _view(_records(tmp_path / "a")) == _view(_records(tmp_path / "b"))
    assert [t.metrics for t in first.trials] == [t.metrics for t in second.trials]
    # Each trial ran under its own logged seed, derived from (search seed, trial id).
    assert [t.seed for t in first.trials] == [trial_seed(3, i) for i in range(9)]
    assert [t.metrics["seed"] for t in first.trials] == [t.seed for t in first.trials]
    other = flows.search(SPACE, tiny_training, _algorithm(), 3, seed=4, verbose=False)
    assert other.trials[0].metrics["noise"] != first.trials[0].metrics["noise"]


def test_trials_do_not_depend_on_what_ran_before_in_the_process(tmp_path):
    flows.search(SPACE, tiny_training, _algorithm(), 6, out=tmp_path / "a", seed=1)
    torch.rand(100), np.random.random(7), random.random()  # disturb every global generator
    flows.search(SPACE, tiny_training, _algorithm(), 6, out=tmp_path / "b", seed=1)
    assert _view(_records(tmp_path / "a")) == _view(_records(tmp_path / "b"))


def test_nb201_digits_flow_is_reproducible(tmp_path, capsys):
    """The family flow of the report: a run and a second, resumed, one log identical metrics."""
    argv = ["run", "nb201-digits", "--budget", "2", "--set", "epochs=1", "--out"]
    assert cli.main(argv + [str(tmp_path / "a")]) == 0
    short = ["run", "nb201-digits", "--budget", "1", "--set", "epochs=1", "--out"]
    assert cli.main(short + [str(tmp_path / "b")]) == 0
    assert cli.main(argv + [str(tmp_path / "b"), "--resume"]) == 0
    a, b = _view(_records(tmp_path / "a")), _view(_records(tmp_path / "b"))
    assert a == b  # a second run, resumed after one trial, logs the same metrics
    assert a[0][3]["accuracy"] > 0


# ---------------------------------------------------------------- kills at random moments
def _run_flat(out: str, workers: int, budget: int) -> None:
    algo = algorithms.RegularizedEvolution(population_size=6, tournament_size=3, seed=2)
    flows.search(
        SPACE, noisy, algo, budget, out=out, resume=True, workers=workers, verbose=False, seed=5
    )


def _run_nested(out: str, workers: int, budget: int) -> None:
    flows.nested(
        HW,
        SPACE,
        algorithms.NSGA2(population_size=4, objectives={"score": "max", "cost": "min"}),
        algorithms.RegularizedEvolution(
            population_size=4, tournament_size=2, metric="score", seed=1
        ),
        pair,
        outer_budget=budget,
        inner_budget=6,
        out=out,
        seed=5,
        resume=True,
        workers=workers,
        verbose=False,
    )


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _logged(out: Path) -> int:
    """Complete trial records in every log under ``out`` (outer and inner searches)."""
    return sum(log.read_bytes().count(b"\n") for log in out.rglob("trials.jsonl"))


def _wait_for_progress(process, out: Path, target: int, workers: int) -> None:
    """Blocks until ``target`` records are logged under ``out`` and, with several workers, the
    pool's processes are running; the machine's speed only changes how long that takes."""
    deadline = time.monotonic() + 600  # a hang guard, not a timing expectation
    while _logged(out) < target or (workers > 1 and not _children(process.pid)):
        assert process.is_alive(), f"the search ended before {target} records were logged"
        assert time.monotonic() < deadline, "the search made no progress for 10 minutes"
        time.sleep(0.01)


def _kill_and_resume(
    run, out: Path, workers: int, budget: int, kills: int, seed: int, records: int
) -> tuple[int, int]:
    """Runs ``run`` in a forked process and SIGKILLs it ``kills`` times (resuming after each),
    the k-th time once about 2k / (3 kills) of the ``records`` the whole run logs are logged,
    then a random moment more, so that every kill hits a running search whatever the machine's
    load; checks that its pool workers die with it, then lets it finish. Returns how many kills
    hit a running search and how many of those saw pool workers."""
    rng = random.Random(seed)
    context = mp.get_context("fork")
    hits = watched = 0
    for k in range(kills):
        # Spread over the first two thirds: the last third keeps the search busy while the
        # test process, however delayed by the load, waits its random moment.
        target = (k + 1) * 2 * records // (3 * kills) + rng.randint(-1, 1)
        process = context.Process(target=run, args=(str(out), workers, budget))
        process.start()
        _wait_for_progress(process, out, target, workers)
        time.sleep(rng.uniform(0.0, 0.03))
        workers_seen = _children(process.pid)
        watched += bool(workers_seen)
        if process.is_alive():
            hits += 1
            os.kill(process.pid, signal.SIGKILL)
        process.join()
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in workers_seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in workers_seen), "pool workers outlived the search"
    final = context.Process(target=run, args=(str(out), workers, budget))
    final.start()
    final.join(600)
    assert final.exitcode == 0
    return hits, watched


@pytest.mark.parametrize("workers", [1, 2])
def test_flat_search_killed_ten_times_equals_uninterrupted(tmp_path, workers):
    budget = 40
    hits, watched = _kill_and_resume(
        _run_flat, tmp_path / "killed", workers, budget, 10, seed=workers, records=budget
    )
    assert hits == 10  # every kill landed while the search ran
    assert watched == (10 if workers > 1 else 0)  # pool workers were seen to die
    _run_flat(str(tmp_path / "straight"), workers, budget)
    killed, straight = _records(tmp_path / "killed"), _records(tmp_path / "straight")
    assert sorted(r["id"] for r in killed) == list(range(budget))  # none lost or repeated
    assert _view(killed) == _view(straight)


def test_nested_search_killed_ten_times_equals_uninterrupted(tmp_path):
    budget = 8
    _run_nested(str(tmp_path / "straight"), 1, budget)
    records = _logged(tmp_path / "straight")  # outer and inner records of the whole run
    hits, _ = _kill_and_resume(
        _run_nested, tmp_path / "killed", 1, budget, 10, seed=7, records=records
    )
    assert hits == 10
    killed, straight = _records(tmp_path / "killed"), _records(tmp_path / "straight")
    assert sorted(r["id"] for r in killed) == list(range(budget))
    assert _view(killed) == _view(straight)
    inner = sorted(p.name for p in (tmp_path / "straight" / "inner").iterdir())
    assert inner == sorted(p.name for p in (tmp_path / "killed" / "inner").iterdir())
    for key in inner:
        a = _records(tmp_path / "killed" / "inner" / key)
        b = _records(tmp_path / "straight" / "inner" / key)
        assert sorted(r["id"] for r in a) == list(range(6))
        assert _view(a) == _view(b)
