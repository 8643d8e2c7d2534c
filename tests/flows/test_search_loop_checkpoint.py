"""The search loop with a checkpointed algorithm: what a resume restores (trials fed back,
proposals in flight) and when a checkpoint is written, seen through the scripted executor and
the checkpointing counter of ``conftest.py``."""

from __future__ import annotations

import importlib
import io
import json
import warnings

import pytest

from symnas import flows
from symnas.flows.checkpoint import CHECKPOINT_FILE

search_module = importlib.import_module("symnas.flows.search")  # the module, not the function


class Objective:
    """``score = (37 x) mod 11`` of spec ``{"x": x}``; a ``KeyboardInterrupt`` (a killed
    driver) on call number ``interrupt_at``; records every evaluated ``x``."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at = interrupt_at
        self.calls: list[int] = []

    def __call__(self, spec) -> dict[str, float]:
        self.calls.append(spec["x"])
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        return {"score": float((37 * spec["x"]) % 11)}


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]


def _checkpoint(out) -> dict:
    return json.loads((out / CHECKPOINT_FILE).read_text())


def _search(fakes, out, budget, executor, objective=None, algorithm=None, resume=False):
    return flows.search(
        fakes.CODEC,
        objective or Objective(),
        algorithm or fakes.CheckpointedCounter(),
        budget,
        out=out,
        resume=resume,
        executor=executor,
        verbose=False,
    )


def test_a_batched_resume_starts_from_the_checkpoint(tmp_path, fakes):
    _search(fakes, tmp_path, 6, fakes.ScriptedExecutor(2, asynchronous=False))
    saved = _checkpoint(tmp_path)
    assert (saved["fed"], saved["next_id"], saved["pending"]) == (6, 6, {})
    algo, executor = fakes.CheckpointedCounter(), fakes.ScriptedExecutor(2, asynchronous=False)
    result = _search(fakes, tmp_path, 8, executor, algorithm=algo, resume=True)
    assert algo._fed == [(6, 2.0), (7, 6.0)], "the checkpointed trials are not fed back again"
    assert algo._asked == [2] and executor.submitted() == [6, 7]
    assert [t.id for t in result.trials] == list(range(8))
    assert [t.metrics for t in result.trials] == [{"score": float((37 * i) % 11)} for i in range(8)]
    assert _checkpoint(tmp_path)["fed"] == 8


def test_an_asynchronous_resume_restores_the_trials_in_flight(tmp_path, fakes, monkeypatch):
    straight = tmp_path / "straight"
    _search(fakes, straight, 8, fakes.ScriptedExecutor(3))
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)  # checkpoint at every feedback
    out = tmp_path / "cut"
    executor = fakes.ScriptedExecutor(3)
    with pytest.raises(KeyboardInterrupt):
        _search(fakes, out, 8, executor, Objective(interrupt_at=4))
    assert [r["id"] for r in _records(out)] == [2, 3, 4]
    saved = _checkpoint(out)
    assert (saved["fed"], saved["next_id"], sorted(saved["pending"])) == (3, 5, ["0", "1"])

    algo, executor, objective = fakes.CheckpointedCounter(), fakes.ScriptedExecutor(3), Objective()
    result = _search(fakes, out, 8, executor, objective, algo, resume=True)
    assert executor.submitted() == [0, 1, 5, 6, 7], "the pending proposals run first"
    assert objective.calls == [5, 6, 7, 1, 0]
    assert [x for x, _ in algo._fed] == [5, 6, 7, 1, 0]
    assert algo._asked == [1, 1, 1], "proposals 0 to 4 come from the checkpoint"
    assert _records(out) == _records(straight)
    assert [t.id for t in result.trials] == list(range(8))


def test_pending_trials_logged_after_the_checkpoint_are_replayed(tmp_path, fakes, monkeypatch):
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)  # checkpoint at every feedback
    early = tmp_path / "early_state.json"

    class Snapshot(Objective):
        """Keeps the checkpoint written after the first feedback."""

        def __call__(self, spec):
            if len(self.calls) == 1:
                early.write_text((tmp_path / CHECKPOINT_FILE).read_text())
            return super().__call__(spec)

    with pytest.raises(KeyboardInterrupt):
        _search(fakes, tmp_path, 8, fakes.ScriptedExecutor(3, pick=fakes.oldest_first), Snapshot(5))
    assert [r["id"] for r in _records(tmp_path)] == [0, 1, 2, 3]
    (tmp_path / CHECKPOINT_FILE).write_text(early.read_text())
    saved = _checkpoint(tmp_path)
    assert (saved["fed"], saved["next_id"], sorted(saved["pending"])) == (1, 3, ["1", "2"])

    algo, objective = fakes.CheckpointedCounter(), Objective()
    executor = fakes.ScriptedExecutor(3, pick=fakes.oldest_first)
    result = _search(fakes, tmp_path, 8, executor, objective, algo, resume=True)
    assert executor.submitted() == [4, 5, 6, 7], "logged trials are not evaluated again"
    assert objective.calls == [4, 5, 6, 7]
    assert [x for x, _ in algo._fed] == [1, 2, 3, 4, 5, 6, 7]
    assert algo._asked == [1] * 5
    assert [r["id"] for r in _records(tmp_path)] == list(range(8))
    assert [r["fed"] for r in _records(tmp_path)] == list(range(8))
    assert [t.id for t in result.trials] == list(range(8))


def test_an_exhausted_algorithm_is_checkpointed_and_not_asked_again(tmp_path, fakes):
    _search(
        fakes, tmp_path, 10, fakes.ScriptedExecutor(3), algorithm=fakes.CheckpointedCounter(limit=4)
    )
    saved = _checkpoint(tmp_path)
    assert (saved["fed"], saved["next_id"]) == (4, 4)
    algo, executor = fakes.CheckpointedCounter(limit=4), fakes.ScriptedExecutor(3)
    result = _search(fakes, tmp_path, 10, executor, algorithm=algo, resume=True)
    assert executor.submitted() == [] and algo._fed == []
    assert algo._stops == 2, "asked once more after the checkpoint, which counted one stop"
    assert [t.id for t in result.trials] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "in_flight, asynchronous, budget, written",
    [(3, False, 6, True), (3, False, 7, False), (3, True, 6, False), (1, True, 5, True)],
    ids=["full-batches", "cut-batch", "cut-in-flight", "one-in-flight"],
)
def test_no_checkpoint_when_the_budget_held_a_proposal_back(
    tmp_path, fakes, in_flight, asynchronous, budget, written
):
    """A run with a larger budget would have proposed more at that point, so the state after a
    budget-cut round is not one the resumed search can go on from."""
    executor = fakes.ScriptedExecutor(in_flight, asynchronous=asynchronous)
    _search(fakes, tmp_path, budget, executor)
    assert (tmp_path / CHECKPOINT_FILE).exists() == written


def test_the_last_checkpoint_holds_every_proposal_of_the_budget(tmp_path, fakes, monkeypatch):
    """Checkpointing at every feedback: the state after the budget's last proposal, made with
    every slot filled, is still one a longer search passes through, so it is kept."""
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)
    executor = fakes.ScriptedExecutor(3, pick=fakes.oldest_first)
    _search(fakes, tmp_path, 6, executor)
    saved = _checkpoint(tmp_path)
    assert (saved["fed"], saved["next_id"], sorted(saved["pending"])) == (4, 6, ["4", "5"])
    algo, executor, objective = fakes.CheckpointedCounter(), fakes.ScriptedExecutor(3), Objective()
    result = _search(fakes, tmp_path, 8, executor, objective, algo, resume=True)
    assert executor.submitted() == [6, 7] and sorted(objective.calls) == [6, 7]
    assert [x for x, _ in algo._fed][:2] == [4, 5], "the logged pending trials come first"
    assert [t.id for t in result.trials] == list(range(8))


def _forge(out, **fields) -> None:
    """Rewrites checkpoint fields; ``algorithm_<name>`` ones go into the algorithm state."""
    payload = _checkpoint(out)
    for key, value in fields.items():
        if key.startswith("algorithm_"):
            payload["algorithm"][key.removeprefix("algorithm_")] = value
        else:
            payload[key] = value
    (out / CHECKPOINT_FILE).write_text(json.dumps(payload))


def _batch(fakes):
    return fakes.ScriptedExecutor(2, asynchronous=False)


@pytest.mark.parametrize(
    "forged",
    [
        dict(algorithm_num_feedbacks=5),
        dict(algorithm_num_proposals=7, next_id=7, pending={"6": [6]}),
    ],
    ids=["feedback-count", "pending-in-a-batch"],
)
def test_a_batch_checkpoint_that_disagrees_with_its_log_is_not_used(tmp_path, fakes, forged):
    _search(fakes, tmp_path / "straight", 8, _batch(fakes))
    out = tmp_path / "run"
    _search(fakes, out, 6, _batch(fakes))
    _forge(out, **forged)
    algo = fakes.CheckpointedCounter()
    _search(fakes, out, 8, _batch(fakes), algorithm=algo, resume=True)
    assert [x for x, _ in algo._fed] == list(range(8)), "the whole log is replayed"
    assert _records(out) == _records(tmp_path / "straight")


def test_an_asynchronous_checkpoint_with_other_pending_trials_is_not_used(
    tmp_path, fakes, monkeypatch
):
    _search(fakes, tmp_path / "straight", 8, fakes.ScriptedExecutor(3))
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _search(fakes, out, 8, fakes.ScriptedExecutor(3), Objective(interrupt_at=4))
    pending = _checkpoint(out)["pending"]
    assert sorted(pending) == ["0", "1"]
    _forge(out, pending={"0": pending["0"], "7": pending["1"]})
    algo = fakes.CheckpointedCounter()
    _search(fakes, out, 8, fakes.ScriptedExecutor(3), algorithm=algo, resume=True)
    assert [x for x, _ in algo._fed][:3] == [2, 3, 4], "the whole log is replayed"
    assert _records(out) == _records(tmp_path / "straight")


def test_a_checkpoint_at_exactly_the_budget_is_used(tmp_path, fakes):
    _search(fakes, tmp_path, 6, _batch(fakes))
    algo, executor = fakes.CheckpointedCounter(), _batch(fakes)
    result = _search(fakes, tmp_path, 6, executor, algorithm=algo, resume=True)
    assert algo._fed == [] and algo._asked == [] and executor.submitted() == []
    assert [t.id for t in result.trials] == list(range(6))


class Terminal(io.StringIO):
    """A stand-in for a terminal's stderr."""

    def isatty(self) -> bool:
        return True


def test_the_progress_bar_counts_the_restored_trials(tmp_path, fakes, monkeypatch):
    _search(fakes, tmp_path, 6, _batch(fakes))
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    flows.search(
        fakes.CODEC,
        Objective(),
        fakes.CheckpointedCounter(),
        8,
        out=tmp_path,
        resume=True,
        executor=_batch(fakes),
    )
    assert "8/8" in terminal.getvalue()


def test_without_config_json_a_checkpoint_of_another_configuration_is_not_used(tmp_path, fakes):
    _search(fakes, tmp_path, 6, _batch(fakes))
    (tmp_path / "config.json").unlink()  # nothing left to compare the settings with but the state
    algo = fakes.CheckpointedCounter()
    with pytest.warns(RuntimeWarning, match="another configuration"):
        flows.search(
            fakes.CODEC,
            Objective(),
            algo,
            8,
            out=tmp_path,
            resume=True,
            executor=_batch(fakes),
            options={"epochs": 2},
            verbose=False,
        )
    assert [x for x, _ in algo._fed] == list(range(8)), "the whole log is replayed"


def test_a_checkpoint_without_its_log_is_dropped_quietly(tmp_path, fakes):
    _search(fakes, tmp_path, 6, _batch(fakes))
    (tmp_path / "trials.jsonl").unlink()
    algo = fakes.CheckpointedCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the search starts afresh
        result = _search(fakes, tmp_path, 4, _batch(fakes), algorithm=algo, resume=True)
    assert [x for x, _ in algo._fed] == [0, 1, 2, 3]
    assert [t.id for t in result.trials] == [0, 1, 2, 3]
    assert _checkpoint(tmp_path)["fed"] == 4


def test_no_checkpoint_while_the_log_holds_trials_not_yet_fed_back(tmp_path, fakes, monkeypatch):
    """A batched resume replays trials 0 and 1 while the log also holds trial 3: a state saved
    then would not cover the log, so none is written until the replay catches up."""
    full = tmp_path / "full"
    _search(fakes, full, 6, _batch(fakes))  # logged in the order 1, 0, 3, 2, 5, 4
    out = tmp_path / "cut"
    out.mkdir()
    (out / "config.json").write_text((full / "config.json").read_text())
    lines = (full / "trials.jsonl").read_text().splitlines(keepends=True)
    (out / "trials.jsonl").write_text("".join(lines[:3]))
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", -1.0)  # checkpoint at every feedback
    with pytest.raises(KeyboardInterrupt):
        _search(fakes, out, 6, _batch(fakes), Objective(interrupt_at=1), resume=True)
    assert not (out / CHECKPOINT_FILE).exists()


def test_spaced_checkpoints_wait_but_the_last_one_is_always_written(tmp_path, fakes, monkeypatch):
    monkeypatch.setattr(search_module, "CHECKPOINT_COST_FACTOR", 1e9)  # one periodic, no more
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", 1e-12)  # spaced, but due every time

    def run(out, objective):
        return _search(fakes, out, 8, fakes.ScriptedExecutor(1, asynchronous=False), objective)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", Objective(interrupt_at=5))
    assert _checkpoint(tmp_path / "cut")["fed"] == 1, "later periodic ones wait"
    run(tmp_path / "full", Objective())
    assert _checkpoint(tmp_path / "full")["fed"] == 8, "the final checkpoint does not wait"
    monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", 0.0)  # not spaced: never waits
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "every", Objective(interrupt_at=5))
    assert _checkpoint(tmp_path / "every")["fed"] == 4
