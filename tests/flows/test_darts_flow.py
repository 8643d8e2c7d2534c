"""The darts-pt-nb201 flow on the real CIFAR-10 subset, scaled down to seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symnas.flows.darts_flow import darts_pt_nb201
from symnas.flows.registry import get_flow

TINY = {"epochs": 1, "C": 2, "N": 1, "image_size": 8, "eval_batches": 1, "device": "cpu"}


def small_subset(source: Path, folder: Path, n: int = 64) -> str:
    """The first ``n`` images of each split of the CIFAR-10 subset, as a subset folder."""
    folder.mkdir()
    for split in ("train", "test"):
        name = f"cifar10_jpg_{split}_100pc.npz"
        with np.load(source / name) as archive:
            np.savez(folder / name, x=archive["x"][:n], y=archive["y"][:n])
    return f"cifar10_subset:{folder}"


def test_flow_reports_both_selections_with_published_accuracy(shared_data, tmp_path):
    if not (shared_data / "cifar10_subset").is_dir():
        pytest.skip(f"{shared_data / 'cifar10_subset'} is absent")
    data = small_subset(shared_data / "cifar10_subset", tmp_path / "images")
    result = darts_pt_nb201(out=tmp_path / "run", verbose=False, data=data, **TINY)
    cells = result.report["cells"]
    assert set(cells) == {"magnitude", "perturbation"}
    for row in cells.values():
        assert row["arch_str"].count("~") == 6 and 0 <= row["parameter_free_ops"] <= 6
        assert 10.0 <= row["nb201_cifar10_test_acc"] <= 95.0
    assert (
        result.best.metrics["nb201_cifar10_test_acc"]
        == cells["perturbation"]["nb201_cifar10_test_acc"]
    )
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["eval_batches"] == 1
    resumed = darts_pt_nb201(out=tmp_path / "run", resume=True, verbose=False, data=data, **TINY)
    assert resumed.report["cells"] == cells


def test_flow_is_registered_and_refuses_digits():
    assert "epochs" in get_flow("darts-pt-nb201").options
    with pytest.raises(ValueError, match="cifar10_subset"):
        darts_pt_nb201(data="digits", verbose=False)
    with pytest.raises(ValueError, match="option .image_size. must be an integer >= 1; got 0"):
        darts_pt_nb201(image_size=0, verbose=False)
