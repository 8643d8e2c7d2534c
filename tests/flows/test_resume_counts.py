"""Resume evaluates exactly the trials the log lacks, and refuses a log it cannot replay.

The objective records every call in a file (so calls made in worker processes count too): a
resume that re-ran logged trials, or deleted the log and started over, would still end with the
same log as a straight run, but not with the same calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyglove as pg
import pytest

from symnas import algorithms, flows

SPACE = pg.Dict(x=[pg.oneof(list(range(6))) for _ in range(5)], act=pg.oneof(["relu", "gelu"]))
BUDGET = 12


class RecordingObjective:
    """A deterministic score that appends each evaluated spec to ``path`` (one JSON line)."""

    def __init__(self, path: Path, interrupt_at: int | None = None) -> None:
        self.path = Path(path)
        self.interrupt_at = interrupt_at

    def __call__(self, spec) -> dict[str, float]:
        calls = self.calls()
        if self.interrupt_at is not None and len(calls) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        with self.path.open("a") as f:
            f.write(json.dumps(spec, sort_keys=True) + "\n")
        return {"score": float(sum(spec["x"])) + (0.5 if spec["act"] == "gelu" else 0.0)}

    def calls(self) -> list[str]:
        """The specs evaluated so far, as sorted-key JSON."""
        return self.path.read_text().splitlines() if self.path.exists() else []


def _algorithm():
    return algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="score")


def _search(out, objective, budget=BUDGET, resume=False, workers=1):
    return flows.search(
        SPACE,
        objective,
        _algorithm(),
        budget=budget,
        out=out,
        seed=3,
        resume=resume,
        workers=workers,
        verbose=False,
    )


def _log(out: Path) -> list[tuple[int, str, dict | None]]:
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    return sorted((r["id"], json.dumps(r["spec"], sort_keys=True), r["metrics"]) for r in records)


@pytest.fixture
def straight(tmp_path):
    """Specs of an uninterrupted run, in trial order, and its log."""
    objective = RecordingObjective(tmp_path / "straight_calls.jsonl")
    _search(tmp_path / "straight", objective)
    return objective.calls(), _log(tmp_path / "straight")


def test_resume_after_an_interrupt_evaluates_only_the_missing_trials(tmp_path, straight):
    calls, log = straight
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _search(out, RecordingObjective(tmp_path / "first.jsonl", interrupt_at=6))
    assert len(_log(out)) == 5
    resumed = RecordingObjective(tmp_path / "resumed.jsonl")
    _search(out, resumed, resume=True)
    assert resumed.calls() == calls[5:]
    assert _log(out) == log


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_with_a_larger_budget_evaluates_only_the_new_trials(tmp_path, workers):
    straight = RecordingObjective(tmp_path / "straight_calls.jsonl")
    _search(tmp_path / "straight", straight, workers=workers)
    out = tmp_path / "run"
    first = RecordingObjective(tmp_path / "first.jsonl")
    _search(out, first, budget=4, workers=workers)
    assert len(first.calls()) == 4
    again = RecordingObjective(tmp_path / "again.jsonl")
    _search(out, again, budget=4, resume=True, workers=workers)
    assert again.calls() == []
    more = RecordingObjective(tmp_path / "more.jsonl")
    result = _search(out, more, resume=True, workers=workers)
    # Workers finish in any order, so compare the evaluated specs as a multiset.
    assert sorted(more.calls()) == sorted(straight.calls()[4:])
    assert len(result.trials) == BUDGET
    assert _log(out) == _log(tmp_path / "straight")


def test_resume_refuses_a_log_the_algorithm_does_not_propose(tmp_path):
    out = tmp_path / "run"
    _search(out, RecordingObjective(tmp_path / "first.jsonl"), budget=6)
    path = out / "trials.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[2]["spec"] != records[3]["spec"]
    # Swap what trials 2 and 3 evaluated (ids stay in place): the replay proposes trial 2's
    # candidate, but the log now holds trial 3's.
    for key in ("genome", "dna", "spec", "metrics"):
        records[2][key], records[3][key] = records[3][key], records[2][key]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    resumed = RecordingObjective(tmp_path / "resumed.jsonl")
    with pytest.raises(ValueError, match=r"trial 2\b.*proposes") as info:
        _search(out, resumed, budget=8, resume=True)
    assert "Cannot resume" in str(info.value)
    assert resumed.calls() == []


def test_resume_with_another_algorithm_is_refused_before_any_evaluation(tmp_path):
    out = tmp_path / "run"
    _search(out, RecordingObjective(tmp_path / "first.jsonl"), budget=4)
    resumed = RecordingObjective(tmp_path / "resumed.jsonl")
    with pytest.raises(ValueError, match="Cannot resume"):
        flows.search(
            SPACE,
            resumed,
            algorithms.RegularizedEvolution(population_size=5, tournament_size=2, metric="score"),
            budget=8,
            out=out,
            seed=3,
            resume=True,
            verbose=False,
        )
    assert resumed.calls() == []
