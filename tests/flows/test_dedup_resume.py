"""A deduped search resumes after a kill to the uninterrupted run's log, evaluating only the
trials the log lacks, from its checkpoint and by replaying the log."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pyglove as pg
import pytest

from symnas import algorithms, flows
from symnas.flows.checkpoint import CHECKPOINT_FILE

search_module = importlib.import_module("symnas.flows.search")

# 18 points: the evolution below repeats often, and a budget of 14 leaves little new.
SPACE = pg.Dict(x=pg.oneof(list(range(6))), act=pg.oneof(["relu", "gelu", "silu"]))
BUDGET = 14


class RecordingObjective:
    """A deterministic score that appends each evaluated spec to ``path`` (one JSON line) and
    raises KeyboardInterrupt instead of evaluating call number ``interrupt_at``."""

    def __init__(self, path: Path, interrupt_at: int | None = None) -> None:
        self.path = path
        self.interrupt_at = interrupt_at

    def __call__(self, spec) -> dict[str, float]:
        calls = self.calls()
        if self.interrupt_at is not None and len(calls) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        with self.path.open("a") as f:
            f.write(json.dumps(spec, sort_keys=True) + "\n")
        return {"score": float(spec["x"]) + (0.5 if spec["act"] == "gelu" else 0.0)}

    def calls(self) -> list[str]:
        """The specs evaluated so far, as sorted-key JSON."""
        return self.path.read_text().splitlines() if self.path.exists() else []


def _log(out: Path) -> list[tuple[int, str, dict | None]]:
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    return sorted((r["id"], json.dumps(r["spec"], sort_keys=True), r["metrics"]) for r in records)


def _search(out, objective, resume=False):
    algorithm = algorithms.Deduped(
        base=algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="score")
    )
    return flows.search(
        SPACE, objective, algorithm, budget=BUDGET, out=out, seed=5, resume=resume, verbose=False
    )


@pytest.mark.parametrize("checkpoints", [True, False], ids=["checkpoint", "replay"])
def test_resume_after_a_kill_equals_the_uninterrupted_search(tmp_path, monkeypatch, checkpoints):
    if checkpoints:  # a checkpoint after every feedback, so the resume starts from one
        monkeypatch.setattr(search_module, "SUMMARY_INTERVAL_S", 0.0)
    straight = RecordingObjective(tmp_path / "straight.jsonl")
    _search(tmp_path / "straight", straight)
    calls = straight.calls()
    assert len(calls) == len(set(calls)) == BUDGET  # each point evaluated at most once
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _search(out, RecordingObjective(tmp_path / "first.jsonl", interrupt_at=9))
    assert (out / CHECKPOINT_FILE).exists() == checkpoints
    resumed = RecordingObjective(tmp_path / "resumed.jsonl")
    _search(out, resumed, resume=True)
    assert resumed.calls() == calls[8:]
    assert _log(out) == _log(tmp_path / "straight")
