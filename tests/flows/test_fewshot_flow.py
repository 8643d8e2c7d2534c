"""The fewshot-nb201 flow: registration, option checks, table reading and a tiny run."""

from __future__ import annotations

import json

import pytest

from symnas.flows import cli
from symnas.flows.fewshot_flow import fewshot_nb201, rank_agreement, read_table
from symnas.flows.nb201_table import nb201_table_path
from symnas.flows.registry import get_flow


def test_flow_is_registered_with_its_options():
    entry = get_flow("fewshot-nb201")
    assert {"data", "epochs", "gradient_batches", "cells", "table", "device"} <= set(entry.options)
    assert entry.parse_options({"epochs": "3", "cells": "20"}) == {"epochs": 3, "cells": 20}


def test_bad_budget_and_table_are_refused(tmp_path):
    with pytest.raises(ValueError, match="option .budget. must be an integer >= 2"):
        fewshot_nb201(budget=1, verbose=False)
    bad = tmp_path / "table.csv"
    bad.write_text("index,arch\n0,x\n")
    with pytest.raises(ValueError, match="arch_str and test_acc"):
        read_table(bad)


def test_rank_agreement():
    assert rank_agreement([1, 2, 3, 4], [10, 20, 30, 40]) == {"kendall": 1.0, "spearman": 1.0}
    assert rank_agreement([4, 3, 2, 1], [10, 20, 30, 40])["kendall"] == pytest.approx(-1.0)


def test_read_table_of_the_published_nb201_results(shared_data):
    table = read_table(shared_data / "nb201" / "nb201_cifar10.csv")
    assert len(table) == 15625
    assert max(table.values()) == pytest.approx(94.37, abs=0.01)


def test_tiny_run_trains_and_searches_every_method(tmp_path, capsys):
    result = fewshot_nb201(
        budget=2, out=tmp_path, epochs=2, cells=3, gradient_batches=1, verbose=False, device="cpu"
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["methods"]) == ["one_shot", "exhaustive", "gm"]
    assert report["methods"]["exhaustive"]["sub_supernets"] == 5
    assert report["methods"]["gm"]["sub_supernets"] == 2  # epochs=2: one split, at epoch 1
    for row in report["methods"].values():
        assert len(row["estimates"]) == 3 and row["train_steps"] > 0
    assert len(result.trials) == 2 and result.best is not None
    assert (tmp_path / "gm" / "supernet" / "plan.json").exists()
    shared = nb201_table_path("fewshot-nb201", None)  # the published table, when present
    assert report["table"] == (None if shared is None else str(shared))
    if shared is not None:  # tau, rho and the true accuracy come from it, as in darts-pt-nb201
        for row in report["methods"].values():
            assert -1 <= row["kendall"] <= 1 and 0 < row["best_true_acc"] < 100
        assert "nan" not in (tmp_path / "report.md").read_text()
    # The flow's last line suggests `symnas report OUT`: it shows the flow's table and each search.
    assert cli.main(["report", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Few-shot supernets on NB201 cells")
    for method in ("one_shot", "exhaustive", "gm"):
        assert f"## {method}/search\n2 trials (2 ok, 0 failed)" in text
