"""Resume from the algorithm checkpoint (``out/algorithm_state.json``): only the trials logged
after it are replayed, only the trials the log lacks are evaluated, and the log and the best
trial equal an uninterrupted run's, in batch and asynchronous scheduling."""

from __future__ import annotations

import importlib
import json
import shutil
import warnings

import pyglove as pg
import pytest

from symnas import algorithms, flows
from symnas.flows.checkpoint import CHECKPOINT_FILE
from symnas.flows.executors import Executor
from symnas.flows.trial_eval import evaluate_spec
from symnas.spaces.codec import compile as compile_space

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(4)], lr=pg.floatv(0.0, 1.0))
CODEC = compile_space(SPACE)
search_module = importlib.import_module("symnas.flows.search")  # the module, not the function
BUDGET = 14
CALLS: list[str] = []

ALGORITHMS = {
    "regularized_evolution": lambda: algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, metric="score"
    ),
    "nsga2": lambda: algorithms.NSGA2(4, {"score": "max", "size": "min"}),
    "random": lambda: algorithms.RandomSearch(metric="score"),
    "tpe": lambda: algorithms.TPE(metric="score", n_startup_trials=4, n_ei_candidates=4),
}


class Interrupt:
    """Raises ``KeyboardInterrupt`` (a killed driver) on call number ``at``."""

    at: int | None = None


def score(spec) -> dict[str, float]:
    """A deterministic objective that records its calls and fails on one kind of spec."""
    CALLS.append(json.dumps(spec, sort_keys=True))
    if Interrupt.at is not None and len(CALLS) == Interrupt.at:
        raise KeyboardInterrupt
    if spec["x"][0] == spec["x"][1]:
        raise RuntimeError("boom")
    return {"score": float(sum(spec["x"])) + spec["lr"], "size": float(spec["x"][2])}


class InProcess(Executor):
    """Evaluates in this process. Asynchronous: of the trials in flight the one with the largest
    ``(id * 5) % 7`` finishes first; batch: a round's trials finish in that order too."""

    def __init__(self, in_flight: int, asynchronous: bool) -> None:
        self.in_flight = in_flight
        self.asynchronous = asynchronous
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


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()
    Interrupt.at = None
    yield
    Interrupt.at = None


@pytest.fixture
def replays(monkeypatch) -> list[int]:
    """The ids of the logged trials the search replays (checked against a new proposal)."""
    seen: list[int] = []
    original = search_module._replayed

    def counting(trial, genome, codec, out_dir):
        seen.append(trial.id)
        return original(trial, genome, codec, out_dir)

    monkeypatch.setattr(search_module, "_replayed", counting)
    return seen


def _run(out, name, scheduling, budget=BUDGET, resume=False):
    return flows.search(
        CODEC,
        score,
        ALGORITHMS[name](),
        budget=budget,
        out=out,
        seed=3,
        resume=resume,
        verbose=False,
        executor=InProcess(3, asynchronous=scheduling == "asynchronous"),
    )


def _records(folder) -> list[dict]:
    lines = (folder / "trials.jsonl").read_text().splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in lines]
    return sorted(records, key=lambda r: r["id"])


def _checkpoint(folder) -> dict:
    return json.loads((folder / CHECKPOINT_FILE).read_text())


@pytest.mark.parametrize("scheduling", ["batch", "asynchronous"])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_killed_search_resumes_from_its_checkpoint(
    tmp_path, monkeypatch, replays, name, scheduling
):
    straight = _run(tmp_path / "straight", name, scheduling)
    expected = _records(tmp_path / "straight")
    assert any(r["status"] == "failed" for r in expected), "a failed trial is fed back too"

    # Checkpoints at every feedback; the driver is killed during the 9th evaluation.
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)
    CALLS.clear()
    Interrupt.at = 9
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", name, scheduling)
    Interrupt.at = None
    logged = len(_records(tmp_path / "cut"))
    saved = _checkpoint(tmp_path / "cut")
    assert saved["log"]["records"] <= logged < BUDGET
    if scheduling == "asynchronous":
        assert saved["pending"], "trials in flight at the checkpoint are recorded"

    CALLS.clear()
    replays.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a usable checkpoint: no fallback warning
        resumed = _run(tmp_path / "cut", name, scheduling, resume=True)
    assert len(CALLS) == BUDGET - logged, "only the trials the log lacks are evaluated"
    assert len(replays) == logged - saved["log"]["records"], "covered trials are not replayed"
    assert _records(tmp_path / "cut") == expected
    assert [t.id for t in resumed.trials] == list(range(BUDGET))
    assert resumed.best.id == straight.best.id
    assert resumed.best.metrics == straight.best.metrics


@pytest.mark.parametrize("scheduling", ["batch", "asynchronous"])
@pytest.mark.parametrize("name", ["regularized_evolution", "tpe"])
def test_trials_logged_after_the_checkpoint_are_replayed(
    tmp_path, monkeypatch, replays, name, scheduling
):
    """A search stopped by its budget and resumed with larger ones: the checkpoint holds the
    last state before the budget held a proposal back, and later trials are replayed."""
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)
    # The same stops and resumes without checkpoints (the whole log replayed each time).
    reference = tmp_path / "reference"
    for budget in (6, 10, BUDGET):
        (reference / CHECKPOINT_FILE).unlink(missing_ok=True)
        _run(reference, name, scheduling, budget=budget, resume=budget > 6)
    expected = _records(reference)
    out = tmp_path / "run"
    _run(out, name, scheduling, budget=6)
    old = tmp_path / "old_state.json"
    shutil.copy(out / CHECKPOINT_FILE, old)
    _run(out, name, scheduling, budget=10, resume=True)
    assert _checkpoint(out)["fed"] > json.loads(old.read_text())["fed"]
    CALLS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checkpoint a resumed run wrote matches its log
        _run(out, name, scheduling, budget=10, resume=True)
    assert CALLS == [] and len(_records(out)) == 10
    shutil.copy(old, out / CHECKPOINT_FILE)  # a checkpoint older than the log
    lines = (out / "trials.jsonl").read_text().splitlines()
    after = sorted(json.loads(line)["id"] for line in lines[_checkpoint(out)["log"]["records"] :])

    CALLS.clear()
    replays.clear()
    _run(out, name, scheduling, budget=BUDGET, resume=True)
    assert sorted(replays) == after and len(after) >= 2
    assert len(CALLS) == BUDGET - 10
    assert _records(out) == expected


@pytest.mark.parametrize(
    "damage, warning",
    [
        (lambda path: path.write_text("{not json"), "unreadable"),
        (lambda path: _edit(path, config="0" * 64), "another configuration"),
        (lambda path: _edit(path, log={"records": 1, "bytes": 10, "sha256": "x"}), "no longer"),
        (lambda path: _edit(path, log={"records": 1, "bytes": 10**9, "sha256": "x"}), "shorter"),
        (lambda path: _edit(path, algorithm={"algorithm": "TPE"}), "fields"),
        (lambda path: _edit(path, pending={"3": [0, 0, 0, 0, 0.5]}), "add up"),
    ],
)
def test_an_unusable_checkpoint_warns_and_replays_the_whole_log(tmp_path, replays, damage, warning):
    _run(tmp_path / "straight", "tpe", "batch")
    expected = _records(tmp_path / "straight")
    out = tmp_path / "run"
    _run(out, "tpe", "batch", budget=9)
    damage(out / CHECKPOINT_FILE)
    CALLS.clear()
    replays.clear()
    with pytest.warns(RuntimeWarning, match=warning):
        _run(out, "tpe", "batch", resume=True)
    assert sorted(replays) == list(range(9)), "the whole log is replayed"
    assert len(CALLS) == BUDGET - 9
    assert _records(out) == expected


def test_a_smaller_budget_than_the_checkpoint_replays_up_to_the_budget(tmp_path, replays):
    out = tmp_path / "run"
    _run(out, "regularized_evolution", "batch", budget=9)
    CALLS.clear()
    result = _run(out, "regularized_evolution", "batch", budget=5, resume=True)
    assert [t.id for t in result.trials] == list(range(5))
    assert sorted(replays) == list(range(5))
    assert CALLS == []


def test_an_algorithm_that_cannot_checkpoint_writes_none(tmp_path):
    algo = algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, metric="score", population_init=pg.geno.Random(seed=1)
    )
    flows.search(CODEC, score, algo, budget=5, out=tmp_path, verbose=False)
    assert (tmp_path / "summary.json").exists()
    assert not (tmp_path / CHECKPOINT_FILE).exists()


def test_the_checkpoint_records_the_log_it_covers(tmp_path):
    _run(tmp_path, "nsga2", "batch", budget=6)
    state = _checkpoint(tmp_path)
    assert state["algorithm"]["algorithm"] == "NSGA2"
    assert state["next_id"] == state["fed"] == 6 and state["pending"] == {}
    assert state["log"]["bytes"] == (tmp_path / "trials.jsonl").stat().st_size


def _edit(path, **fields) -> None:
    payload = json.loads(path.read_text())
    payload.update(fields)
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize("parser", ["orjson", "json"])
def test_a_trusted_log_prefix_reads_as_the_checked_one(tmp_path, monkeypatch, parser):
    from symnas.flows import trial_log
    from symnas.flows.trial_log import read_trials

    if parser == "orjson":
        pytest.importorskip("orjson", reason="the optional 'fast' extra is not installed")
    else:
        monkeypatch.setattr(trial_log, "orjson", None)
    _run(tmp_path, "random", "batch", budget=6)
    path = tmp_path / "trials.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    head = sum(len(line) for line in lines[:4])
    expected = read_trials(path)
    assert read_trials(path, trusted_bytes=head) == expected
    assert read_trials(path, trusted_bytes=head - 1) == expected, "not at a line end: checked"
    path.write_bytes(b"".join(lines[:5]) + b"{oops\n")
    with pytest.raises(ValueError, match=r"trials.jsonl:6: corrupt trial record"):
        read_trials(path, trusted_bytes=head)


def test_the_log_position_covers_the_file_as_read_trials_counts_it(tmp_path):
    import hashlib

    from symnas.flows.trial_log import TrialLog

    path = tmp_path / "trials.jsonl"
    path.write_bytes(b'{"a":1}\n\n \t\n{"b":2}\n')  # blank lines are not records
    log = TrialLog(path)
    assert log.position()["records"] == 2
    log.append({"c": 3})
    log.close()
    content = path.read_bytes()
    assert content.endswith(b'{"c":3}\n')
    assert log.position() == {
        "records": 3,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_periodic_checkpoints_wait_for_many_times_their_cost(tmp_path, monkeypatch):
    """A costly checkpoint delays the next periodic one; the resume is still exact."""
    _run(tmp_path / "straight", "regularized_evolution", "batch")
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", 1e-9)
    monkeypatch.setattr(search_module, "CHECKPOINT_COST_FACTOR", 1e9)
    CALLS.clear()
    Interrupt.at = 9
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", "regularized_evolution", "batch")
    Interrupt.at = None
    assert _checkpoint(tmp_path / "cut")["fed"] == 3, "only the first round's checkpoint"
    _run(tmp_path / "cut", "regularized_evolution", "batch", resume=True)
    assert _records(tmp_path / "cut") == _records(tmp_path / "straight")
