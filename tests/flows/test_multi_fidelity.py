"""Multi-fidelity search in ``flows.search``: reports logged per trial and per line, pruned
trials logged and fed back with their last report, budgeted algorithms' budgets passed and
logged, bad input refused or recorded with nothing lost, and a killed bracket search resumed
with no rung result lost or repeated."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pyglove as pg
import pytest

from symnas import algorithms, flows
from symnas.algorithms.pruners import MedianPruner
from symnas.core.files import write_json_atomic
from symnas.flows import Fidelity
from symnas.flows.last_reports import last_reports

SPACE = pg.Dict(a=pg.oneof(list(range(8))), b=pg.oneof(list(range(8))))
EPOCHS = Fidelity(1, 9)


def _quality(spec) -> float:
    return (spec["a"] + spec["b"]) / 14.0


def curve_objective(spec, trial):
    """A learning curve that saturates at the spec's quality; reports every epoch."""
    value = 0.0
    for epoch in range(1, trial.budget + 1):
        value = _quality(spec) * (1.0 - 0.5**epoch)
        trial.report(epoch, {"acc": value})
        if trial.should_stop():
            break
    return {"acc": value}


def budget_objective(spec, budget):
    """The same curve, read at ``budget`` epochs."""
    return {"acc": _quality(spec) * (1.0 - 0.5**budget)}


def _records(folder):
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]


def _tpe():
    return algorithms.create("tpe", metric="acc", n_startup_trials=4)


def test_reports_are_logged_per_trial_and_per_line(tmp_path):
    result = flows.search(
        SPACE, curve_objective, _tpe(), 4, out=tmp_path, fidelity=EPOCHS, verbose=False
    )
    records = _records(tmp_path)
    assert [r["budget"] for r in records] == [9] * 4  # no budgeted algorithm: the top
    assert all([s for s, _ in r["reports"]] == list(range(1, 10)) for r in records)
    lines = [json.loads(x) for x in (tmp_path / "reports.jsonl").read_text().splitlines()]
    first = _quality(result.trials[0].spec) * 0.5
    assert len(lines) == 36
    assert lines[0] == {"trial": 0, "step": 1, "metrics": {"acc": first}, "budget": 9}
    assert {i: r["step"] for i, r in last_reports(tmp_path).items()} == {i: 9 for i in range(4)}
    assert all(r["status"] == "ok" for r in last_reports(tmp_path).values())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["fidelity"] == {"low": 1, "high": 9, "unit": "epochs"}


def test_pruned_trials_are_logged_and_fed_back_with_their_last_report(tmp_path):
    algo = _tpe()
    result = flows.search(
        SPACE,
        curve_objective,
        algo,
        24,
        out=tmp_path,
        fidelity=EPOCHS,
        pruner="median",
        verbose=False,
    )
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert pruned, "the median pruner stopped no trial"
    for t in pruned:
        step, metrics = t.extra["reports"][-1]
        assert step < 9 and t.metrics == metrics and t.extra["feedback"] == "last_report"
    assert result.summary()["counts"]["pruned"] == len(pruned)
    assert result.best.status == "ok"
    # Fed back: TPE holds every trial, pruned ones with their last report.
    assert algo.num_feedbacks == 24 and len(algo._genomes) == 24
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["pruner"]["pruner"] == "MedianPruner"
    # The first 5 completed trials are never pruned (n_startup_trials=5).
    assert all(t.status == "ok" for t in result.trials[:5])


def test_same_command_same_log_with_a_pruner(tmp_path):
    for name in ("a", "b"):
        flows.search(
            SPACE,
            curve_objective,
            _tpe(),
            16,
            out=tmp_path / name,
            fidelity=EPOCHS,
            pruner=MedianPruner(n_startup_trials=3),
            verbose=False,
        )
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(tmp_path / "a")]
    again = [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(tmp_path / "b")]
    assert strip == again


def test_resumed_pruned_search_equals_the_uninterrupted_one(tmp_path):
    def run(out, budget, resume=False):
        return flows.search(
            SPACE,
            curve_objective,
            _tpe(),
            budget,
            out=out,
            resume=resume,
            fidelity=EPOCHS,
            pruner=MedianPruner(n_startup_trials=3),
            verbose=False,
        )

    run(tmp_path / "a", 8)
    assert (tmp_path / "a" / "algorithm_state.json").exists()  # resumed from the checkpoint
    run(tmp_path / "a", 20, resume=True)
    run(tmp_path / "b", 20)
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(tmp_path / "a")]
    again = [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(tmp_path / "b")]
    assert strip == again and any(r["status"] == "pruned" for r in strip[8:])


@pytest.mark.parametrize("name", ["successive_halving", "hyperband", "asha", "bohb"])
def test_budgeted_algorithms_pass_and_log_budgets(tmp_path, name):
    algo = algorithms.create(name, metric="acc")
    result = flows.search(
        SPACE, budget_objective, algo, 30, out=tmp_path, fidelity=EPOCHS, verbose=False
    )
    budgets = [t.extra["budget"] for t in result.trials]
    assert set(budgets) <= {1, 3, 9} and 9 in budgets and 1 in budgets
    assert result.best.extra["budget"] == 9  # low rungs are not candidates
    for t in result.trials:  # the objective got the logged budget
        assert t.metrics["acc"] == pytest.approx(budget_objective(t.spec, t.extra["budget"])["acc"])
    # Every configuration above the lowest budget was evaluated one rung lower first.
    seen = {}
    for t in result.trials:
        key = json.dumps(t.spec, sort_keys=True)
        if t.extra["budget"] > 1 and name != "hyperband" and name != "bohb":
            assert seen.get(key) == t.extra["budget"] // 3
        seen[key] = t.extra["budget"]


def test_asha_runs_asynchronously_on_a_process_pool(tmp_path):
    result = flows.search(
        SPACE,
        budget_objective,
        algorithms.create("asha", metric="acc"),
        20,
        out=tmp_path,
        fidelity=EPOCHS,
        workers=2,
        verbose=False,
    )
    assert json.loads((tmp_path / "config.json").read_text())["scheduling"] == "asynchronous"
    assert sorted(r["fed"] for r in _records(tmp_path)) == list(range(20))
    assert {t.extra["budget"] for t in result.trials} >= {1, 3}


def test_bad_reports_fail_the_trial_and_keep_its_reports(tmp_path):
    def objective(spec, trial):
        trial.report(1, {"acc": 0.5})
        if spec["a"] % 2:
            trial.report(1, {"acc": 0.6})  # not after step 1
        trial.report(2, {"acc": math.nan})

    result = flows.search(
        SPACE,
        objective,
        _tpe(),
        4,
        out=tmp_path,
        fidelity=EPOCHS,
        verbose=False,
        max_consecutive_failures=None,
    )
    for t, record in zip(result.trials, _records(tmp_path), strict=True):
        assert t.status == "failed" and record["reports"] == [[1, {"acc": 0.5}]]
        expected = "steps must increase" if t.spec["a"] % 2 else "'acc' is nan"
        assert expected in t.error
    assert len((tmp_path / "reports.jsonl").read_text().splitlines()) == 4


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot be combined with Hyperband"):
        flows.search(SPACE, curve_objective, "hyperband", 3, fidelity=EPOCHS, pruner="median")
    with pytest.raises(ValueError, match=r"'max_budget'=30 lies outside .*\[1, 9\]"):
        flows.search(
            SPACE, budget_objective, algorithms.Hyperband(max_budget=30.0), 3, fidelity=EPOCHS
        )
    with pytest.raises(ValueError, match="must take it: objective\\(spec, budget\\)"):
        flows.search(SPACE, _quality, "asha", 3, fidelity=EPOCHS)
    with pytest.raises(ValueError, match="needs a budget range"):
        flows.search(SPACE, budget_objective, "hyperband", 3)
    with pytest.raises(ValueError, match="needs the budget range"):
        flows.search(SPACE, budget_objective, "random", 3)
    with pytest.raises(ValueError, match="a pruner needs an objective that reports"):
        flows.search(SPACE, _quality, "random", 3, pruner="median")
    with pytest.raises(TypeError, match="second parameter 'epochs' has no default"):
        flows.search(SPACE, lambda spec, epochs: 0.0, "random", 3)
    with pytest.raises(ValueError, match="single-objective"):
        flows.search(
            SPACE,
            curve_objective,
            algorithms.NSGA2(population_size=4, objectives={"acc": "max", "b": "min"}),
            3,
            fidelity=EPOCHS,
            pruner="median",
        )
    with pytest.raises(ValueError, match="'low'=9 exceeds 'high'=1"):
        Fidelity(9, 1)
    with pytest.raises(ValueError, match="'unit' must be one of"):
        Fidelity(1, 9, unit="steps")
    with pytest.raises(ValueError, match="lies outside the declared fidelity range"):
        EPOCHS.value(12)
    assert not (tmp_path / "trials.jsonl").exists()  # refused before any work


KILLED_SCRIPT = """
import os, signal, sys
import pyglove as pg
from symnas import algorithms, flows

SPACE = pg.Dict(a=pg.oneof(list(range(8))), b=pg.oneof(list(range(8))))
calls = 0

def objective(spec, trial):
    global calls
    calls += 1
    value = 0.0
    for epoch in range(1, trial.budget + 1):
        value = (spec["a"] + spec["b"]) / 14.0 * (1.0 - 0.5 ** epoch)
        trial.report(epoch, {"acc": value})
    if calls == int(sys.argv[3]):  # reported, not yet logged
        os.kill(os.getpid(), signal.SIGKILL)
    return {"acc": value}

flows.search(SPACE, objective, algorithms.create(sys.argv[2], metric="acc"), budget=40,
             out=sys.argv[1], fidelity=flows.Fidelity(1, 9), verbose=False)
"""


def killed_objective(spec, trial):
    value = 0.0
    for epoch in range(1, trial.budget + 1):
        value = (spec["a"] + spec["b"]) / 14.0 * (1.0 - 0.5**epoch)
        trial.report(epoch, {"acc": value})
    return {"acc": value}


@pytest.mark.parametrize("name", ["hyperband", "bohb"])
def test_killed_bracket_search_resumes_exactly(tmp_path, name):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_SCRIPT))
    killed = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(script), str(killed), name, "27"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stderr
    assert len(_records(killed)) == 26
    # The killed trial's report is in the file until the resumed search drops it.
    assert json.loads((killed / "reports.jsonl").read_text().splitlines()[-1])["trial"] == 26

    def run(out, resume):
        algo = algorithms.create(name, metric="acc")
        return flows.search(
            SPACE,
            killed_objective,
            algo,
            40,
            out=out,
            resume=resume,
            fidelity=Fidelity(1, 9),
            verbose=False,
        )

    run(killed, True)
    run(tmp_path / "straight", False)

    def strip(folder):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(folder)]

    assert strip(killed) == strip(tmp_path / "straight")  # nothing lost or repeated
    reports = (killed / "reports.jsonl").read_text().splitlines()
    assert sorted(reports) == sorted(
        (tmp_path / "straight" / "reports.jsonl").read_text().splitlines()
    )


def _latest_state(folder, budget):
    """The JSON state saved in ``folder`` at the most epochs below ``budget`` (or None)."""
    saved = [p for p in folder.glob("*.json") if int(p.stem) < budget]
    return max(saved, key=lambda p: int(p.stem), default=None)


def checkpointing_objective(spec, trial):
    """The learning curve, continued from the latest state of the architecture saved below the
    trial's budget; saves its own state after its budget."""
    start, value = 0, 0.0
    folder = trial.checkpoint_dir
    state = None if folder is None else _latest_state(folder, trial.budget)
    if state is not None:
        start, value = json.loads(state.read_text())
        trial.continue_from(start)
    for epoch in range(start + 1, trial.budget + 1):
        value = _quality(spec) * (1.0 - 0.5**epoch)
        trial.report(epoch, {"acc": value})
    if folder is not None:
        write_json_atomic(folder / f"{trial.budget}.json", [trial.budget, value])
    return {"acc": value}


def test_promoted_candidates_continue_from_their_lower_rung(tmp_path):
    result = flows.search(
        SPACE,
        checkpointing_objective,
        "hyperband",
        30,
        out=tmp_path,
        fidelity=EPOCHS,
        verbose=False,
    )
    records = _records(tmp_path)
    continued = [r for r in records if "start" in r]
    assert continued, "no promoted candidate continued"
    for r in continued:
        earlier = [q for q in records if q["id"] < r["id"] and q["dna"] == r["dna"]]
        assert r["start"] in {q["budget"] for q in earlier} and r["start"] < r["budget"]
        assert [s for s, _ in r["reports"]] == list(range(r["start"] + 1, r["budget"] + 1))
    # Same architecture, same folder; one folder per architecture.
    folders = {p.name for p in (tmp_path / "checkpoints").iterdir()}
    assert len(folders) == len({json.dumps(r["dna"]) for r in records})
    trained = sum(r["budget"] - r.get("start", 0) for r in records)
    assert result.summary()["budget_trained"] == trained < sum(r["budget"] for r in records)
    # Without an output folder there is no checkpoint folder: every trial trains from scratch.
    plain = flows.search(
        SPACE, checkpointing_objective, "hyperband", 30, fidelity=EPOCHS, verbose=False
    )
    assert all("start" not in t.extra for t in plain.trials)
    assert [t.metrics for t in plain.trials] == [r["metrics"] for r in records]


def test_continue_from_is_checked(tmp_path):
    def objective(spec, trial):
        trial.report(2, {"acc": 0.5})
        trial.continue_from(1)
        return {"acc": 0.5}

    def backwards(spec, trial):
        trial.continue_from(4)
        trial.report(3, {"acc": 0.5})
        return {"acc": 0.5}

    for bad, match in ((objective, "before any report"), (backwards, "step 3 after step 4")):
        result = flows.search(SPACE, bad, "random", 1, fidelity=EPOCHS, verbose=False)
        assert result.trials[0].status == "failed" and match in result.trials[0].error


KILLED_CHECKPOINT_SCRIPT = """
import json, os, signal, sys
import pyglove as pg
from symnas import flows
from symnas.core.files import write_json_atomic

SPACE = pg.Dict(a=pg.oneof(list(range(8))), b=pg.oneof(list(range(8))))
calls = 0

def objective(spec, trial):
    global calls
    calls += 1
    start, value = 0, 0.0
    saved = [p for p in trial.checkpoint_dir.glob("*.json") if int(p.stem) < trial.budget]
    if saved:
        start, value = json.loads(max(saved, key=lambda p: int(p.stem)).read_text())
        trial.continue_from(start)
    for epoch in range(start + 1, trial.budget + 1):
        value = (spec["a"] + spec["b"]) / 14.0 * (1.0 - 0.5 ** epoch)
        trial.report(epoch, {"acc": value})
    write_json_atomic(trial.checkpoint_dir / f"{trial.budget}.json", [trial.budget, value])
    if calls == int(sys.argv[2]):  # saved and reported, not yet logged
        os.kill(os.getpid(), signal.SIGKILL)
    return {"acc": value}

flows.search(SPACE, objective, "hyperband", budget=int(sys.argv[3]), out=sys.argv[1],
             resume=len(sys.argv) > 4, fidelity=flows.Fidelity(1, 9), verbose=False)
"""


def test_killed_search_with_checkpoints_resumes_exactly(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_CHECKPOINT_SCRIPT))

    def run(out, kill_at, *resume):
        return subprocess.run(
            [sys.executable, str(script), str(out), str(kill_at), "30", *resume],
            capture_output=True,
            text=True,
            timeout=120,
        )

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    # Killed after a promoted candidate (trial 9 runs at budget 3) saved its state.
    assert run(killed, 10).returncode != 0 and len(_records(killed)) == 9
    assert list(killed.glob("checkpoints/*/3.json"))  # its state at its own budget is on disk
    assert run(killed, 0, "resume").returncode == 0
    assert run(straight, 0).returncode == 0, "the uninterrupted run failed"

    def strip(folder):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in _records(folder)]

    assert strip(killed) == strip(straight)  # no rung result lost, repeated or trained twice
    assert strip(straight)[9]["budget"] == 3 and strip(straight)[9]["start"] == 1

    def states(folder):
        return {p.relative_to(folder): p.read_text() for p in folder.glob("checkpoints/*/*")}

    assert states(killed) == states(straight)
