"""The ``prenas-vit`` flow: selection, preferred training, specialisation and its report."""

from __future__ import annotations

import json

import pytest
import torch

from symnas.algorithms import PreNAS
from symnas.flows import cli
from symnas.flows.prenas_flow import mini_autoformer, prenas_vit
from symnas.flows.registry import flows
from symnas.spaces.vit import num_architectures


def test_flow_is_registered_and_its_space_has_1008_architectures():
    assert "prenas-vit" in flows()
    assert num_architectures(mini_autoformer()) == 3 * (4**2 + 4**3 + 4**4)


def test_flow_writes_the_report_and_resumes_without_retraining(tmp_path, monkeypatch):
    result = prenas_vit(epochs=2, out=tmp_path, verbose=False, baseline=True, device="cpu")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["candidates"] == 150 and len(report["preferred"]) == 4
    assert report["training"]["prenas"]["epoch"] == 2
    assert report["training"]["uniform"]["step"] == report["training"]["prenas"]["step"]
    sizes = [row["params"] for row in report["preferred"]]
    assert sizes == sorted(sizes)
    for row in report["preferred"]:
        assert 0.0 <= row["val_accuracy"] <= 1.0 and "uniform_test_accuracy" in row
        assert "test_accuracy" in row  # every finalist was evaluated by the search
    budgets = [row["budget"]["params"] for row in report["specialized"]]
    assert budgets == [sizes[0], (sizes[0] + sizes[-1]) / 2, sizes[-1]]
    for row in report["specialized"]:
        assert row["params"] <= row["budget"]["params"]
        feasible = [r for r in report["preferred"] if r["params"] <= row["budget"]["params"]]
        assert row["val_accuracy"] == max(r["val_accuracy"] for r in feasible)
    assert "| params budget |" in (tmp_path / "report.md").read_text()
    assert len(result.trials) == 4 and (tmp_path / "trials.jsonl").exists()
    assert result.out == tmp_path and result.best.metrics["val_accuracy"] == max(
        r["val_accuracy"] for r in report["preferred"]
    )
    # The finalists come best first: the search proposes them in inherited-accuracy order.
    vals = [t.metrics["val_accuracy"] for t in result.trials]
    assert vals == sorted(vals, reverse=True)
    assert (tmp_path / "oneshot" / "supernet" / "checkpoint.pt").exists()
    assert torch.get_num_threads() == 1  # the thread count of conftest.py is restored

    def no_training(*args, **kwargs):
        raise AssertionError("resume must reuse the finished checkpoint")

    monkeypatch.setattr(
        "symnas.programs.training.supernet_train.SupernetTrainer._run_epoch", no_training
    )
    again = prenas_vit(epochs=2, out=tmp_path, resume=True, verbose=False, baseline=True)
    assert [t.metrics for t in again.trials] == [t.metrics for t in result.trials]
    assert json.loads((tmp_path / "report.json").read_text())["preferred"] == report["preferred"]


def test_cli_runs_the_flow(tmp_path, capsys):
    code = cli.main(
        [
            "run",
            "prenas-vit",
            "--budget",
            "1",
            "--out",
            str(tmp_path),
            "--set",
            "baseline=0",
            "--set",
            "epochs=1",
        ]
    )
    assert code == 0
    assert "best" in capsys.readouterr().out
    assert (tmp_path / "oneshot" / "preferred.json").exists()
    assert (tmp_path / "oneshot" / "supernet" / "checkpoint.pt").exists()


def test_flow_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="algorithm must be None or an algorithms.PreNAS"):
        prenas_vit(algorithm="random", out=tmp_path, verbose=False)
    with pytest.raises(ValueError, match=r"option 'data' must be one of \['digits'\]"):
        prenas_vit(data="cifar", out=tmp_path, verbose=False)
    searcher = PreNAS(data="digits", epochs=1, buckets=2, metric="val_accuracy")
    result = prenas_vit(algorithm=searcher, verbose=False, baseline=False)
    assert len(result.trials) == 2 and result.out is None
