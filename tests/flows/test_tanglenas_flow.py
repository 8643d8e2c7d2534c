"""The ``tanglenas-vit`` flow: search, retraining of the found architecture, report and resume."""

from __future__ import annotations

import json

import pytest

from symnas import flows, programs
from symnas.flows.prenas_flow import mini_autoformer


def test_vit_flow_reports_the_retrained_architecture(tmp_path):
    run = flows.registry.get_flow("tanglenas-vit").run
    options = dict(epochs=1, retrain_epochs=1, lr=5e-3, verbose=False, device="cpu")
    result = run(out=tmp_path / "run", **options)
    found = result.report["found"]
    programs.supernet(mini_autoformer()).arch_of(found["spec"])
    model = programs.build(found["spec"])
    assert found["params"] == sum(p.numel() for p in model.parameters())
    assert 0.0 <= found["accuracy"] <= 1.0 and found["macs"] > 0
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["found"]["spec"] == found["spec"]
    assert set(saved["arch_weights"]) == set(programs.supernet(mini_autoformer()).arch_decisions())
    again = run(out=tmp_path / "run", resume=True, **options)
    assert again.report["found"] == found


def test_bad_data_and_algorithm_are_named():
    run = flows.registry.get_flow("tanglenas-vit").run
    with pytest.raises(ValueError, match="data must be 'digits' or 'cifar10_subset"):
        run(data="mnist", verbose=False)
    with pytest.raises(ValueError, match="algorithm must be None, 'tanglenas'"):
        run(algorithm="darts", epochs=1, verbose=False)
