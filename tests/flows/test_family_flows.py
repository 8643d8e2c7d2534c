"""The family flows select on a held-out validation split and report the test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from symnas import programs
from symnas.flows import cli, family_flows
from symnas.flows.family_flows import METRIC, VALID_FRACTION, nb201_digits, train_objective


class _Trial:
    """A trial handle that records the reports of ``train_objective`` and never stops it."""

    def __init__(self, budget: int = 2, checkpoint_dir: Path | None = None) -> None:
        self.budget = budget
        self.checkpoint_dir = checkpoint_dir
        self.start = 0
        self.reports: list[tuple[int, dict]] = []

    def continue_from(self, step: int) -> None:
        self.start = step

    def report(self, step: int, metrics: dict) -> None:
        self.reports.append((step, metrics))

    def should_stop(self) -> bool:
        return False


SPEC = {
    "_type": "symnas.spaces.cells.NB201Cell",
    "edges": ["nor_conv_3x3", "skip_connect", "none", "none", "avg_pool_3x3", "avg_pool_3x3"],
    "C": 8,
    "N": 1,
    "num_classes": 10,
    "in_chans": 1,
}


def test_the_objective_trains_without_the_valid_part_and_reports_valid_accuracy():
    digits = family_flows._dataset("digits", None)
    full = programs.data.digits()
    assert digits.has_valid and torch.equal(digits.x_test, full.x_test)
    assert len(digits.y_train) + len(digits.y_valid) == len(full.y_train)
    assert len(digits.y_valid) == pytest.approx(VALID_FRACTION * len(full.y_train), abs=10)
    trial = _Trial()
    metrics = train_objective(SPEC, trial, data_name="digits", epochs=4)
    assert set(metrics) == {
        METRIC,
        "valid_loss",
        "test_accuracy",
        "params",
        "macs",
        "train_s",
        "epochs_trained",
    }
    # The per-epoch reports, which pruners and bracket algorithms read, are validation scores;
    # the last one is the trial's selection metric, and the test accuracy is never reported.
    assert [step for step, _ in trial.reports] == [1, 2]
    assert all(set(m) == {METRIC, "valid_loss"} for _, m in trial.reports)
    assert trial.reports[-1][1][METRIC] == metrics[METRIC]
    assert trial.reports[-1][1]["valid_loss"] == metrics["valid_loss"]
    assert metrics[METRIC] != metrics["test_accuracy"]


@pytest.mark.parametrize("name", [None, "tpe", "asha", "nsga2"])
def test_the_flows_algorithms_optimise_the_validation_accuracy(name):
    names = family_flows._algorithm(name).objectives().names
    assert names[0] == METRIC and "test_accuracy" not in names


def test_pruned_and_finished_trials_carry_validation_scores(tmp_path):
    out = tmp_path / "median"
    argv = ["run", "nb201-digits", "--budget", "7", "--set", "epochs=2", "--out", str(out)]
    assert cli.main([*argv, "--pruner", "median", "--algorithm", "tpe"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"]["metric"] == METRIC
    assert config["options"]["valid_fraction"] == VALID_FRACTION
    for line in (out / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert all(set(m) == {METRIC, "valid_loss"} for _, m in record["reports"])
        if record["status"] == "ok":
            assert {METRIC, "test_accuracy"} <= set(record["metrics"])
        else:  # a pruned trial is fed its last validation report
            assert record["metrics"] == record["reports"][-1][1]


def test_a_run_made_without_the_validation_split_is_not_resumed(tmp_path):
    nb201_digits(budget=1, epochs=1, out=tmp_path, verbose=False)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    del config["options"]["valid_fraction"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="valid_fraction"):
        nb201_digits(budget=2, epochs=1, out=tmp_path, resume=True, verbose=False)
    config["algorithm"]["metric"] = "accuracy"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'algorithm.metric' was 'accuracy'"):
        nb201_digits(budget=2, epochs=1, out=tmp_path, resume=True, verbose=False)


def test_a_promoted_trial_continues_its_lower_rung_bit_for_bit(tmp_path):
    """A budget-3 trial continued to 9 equals a budget-9 trial trained straight (same seed):
    the schedule spans the flow's 9 epochs, whatever the trial's budget."""
    folder = tmp_path / "arch"
    cheap = {**SPEC, "edges": ["nor_conv_1x1", "skip_connect", "none", "none", "none", "none"]}
    low = train_objective(cheap, _Trial(3, folder), data_name="digits", epochs=9)
    assert low["epochs_trained"] == 3 and (folder / "epoch_3.pt").is_file()
    promoted = _Trial(9, folder)
    continued = train_objective(cheap, promoted, data_name="digits", epochs=9)
    assert promoted.start == 3 and [s for s, _ in promoted.reports] == list(range(4, 10))
    straight = _Trial(9)
    full = train_objective(cheap, straight, data_name="digits", epochs=9)
    assert continued["epochs_trained"] == 6 and full["epochs_trained"] == 9
    for name in (METRIC, "valid_loss", "test_accuracy"):
        assert continued[name] == full[name]
    assert promoted.reports == straight.reports[3:]
    assert not (folder / "epoch_9.pt").exists()  # a full-count state is never continued
    # A trial at the same budget again continues the state below it, not its own.
    again = _Trial(3, folder)
    repeated = train_objective(cheap, again, data_name="digits", epochs=9)
    assert again.start == 0 and repeated[METRIC] == low[METRIC]


def test_hyperband_on_a_flow_continues_promoted_cells_and_counts_epochs_trained(tmp_path):
    result = nb201_digits(budget=6, epochs=3, algorithm="hyperband", out=tmp_path, verbose=False)
    promoted = [t for t in result.trials if t.extra.get("start")]
    assert promoted and all(t.extra["budget"] == 3 and t.extra["start"] == 1 for t in promoted)
    assert all(t.metrics["epochs_trained"] == 2 for t in promoted)
    trained = sum(t.metrics["epochs_trained"] for t in result.trials)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["budget_trained"] == trained < sum(t.extra["budget"] for t in result.trials)
