"""Reports: readable specs, the fields that tell rows apart, infeasible points in the plot."""

from __future__ import annotations

import numpy as np

from symnas.algorithms.objectives import Objectives
from symnas.flows import report
from symnas.flows.result import SearchResult, Trial


def _trial(i: int, accuracy: float, area: float, rows: int) -> Trial:
    spec = {"_type": "pkg.Accelerator", "rows": rows, "cols": 8, "scale": 0.123456}
    return Trial(i, np.zeros(1), [0], spec, {"accuracy": accuracy, "area": area}, "ok")


def _result() -> SearchResult:
    objectives = Objectives(("accuracy", "area"), ("max", "min"), {"area": ("<=", 2.0)})
    trials = [_trial(0, 0.9, 1.0, 4), _trial(1, 0.95, 1.5, 8), _trial(2, 0.99, 3.0, 16)]
    return SearchResult(trials, objectives)


def test_readable_spec_drops_type_and_rounds():
    text = report.readable({"_type": "a.b.Cell", "ops": ["conv", "skip"], "w": 0.123456, "n": 2})
    assert text == "Cell(ops=['conv', 'skip'], w=0.1235, n=2)"


def test_table_shows_only_the_fields_that_differ():
    text = report.table(_result())
    assert "rows=" in text and "cols=" not in text and "_type" not in text


def test_pareto_plot_marks_infeasible_points(tmp_path, monkeypatch):
    import matplotlib.axes

    labels = []
    original = matplotlib.axes.Axes.scatter

    def recording(self, x, y, *args, **kwargs):
        labels.append((kwargs.get("label"), kwargs.get("marker"), list(x)))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", recording)
    path = report.pareto_plot(_result(), tmp_path / "pareto.png")
    assert path.stat().st_size > 1000
    feasible = next(entry for entry in labels if entry[0] == "feasible trials")
    infeasible = next(entry for entry in labels if entry[0].startswith("infeasible"))
    assert feasible[2] == [1.0, 1.5] and infeasible[2] == [3.0]
    assert infeasible[1] == "x" and "area <= 2" in infeasible[0]
