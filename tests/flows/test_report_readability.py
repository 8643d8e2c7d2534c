"""Report tables a reader can use: whole headers, no fields a spec lacks, each (hardware,
architecture) pair once, command-line flags in command-line errors."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pyglove as pg

from symnas import algorithms, flows
from symnas.algorithms.objectives import Objectives
from symnas.flows import cli
from symnas.flows.nested import hardware_key
from symnas.flows.report import table
from symnas.flows.result import SearchResult, Trial


def _trial(i: int, spec, metrics) -> Trial:
    return Trial(i, np.zeros(0), [], spec, metrics, "ok")


def test_metric_headers_are_whole():
    result = SearchResult(
        [_trial(0, {"x": 1}, {"test_accuracy": 0.5}), _trial(1, {"x": 2}, {"test_accuracy": 0.7})],
        Objectives(("test_accuracy",), ("max",)),
    )
    header = table(result).splitlines()[1]
    assert "test_accuracy" in header.split()


def test_fields_a_spec_lacks_are_not_listed_as_none():
    # Derivations of a grammar have different shapes: paths of one are absent from another.
    deep = {"op": "seq", "children": [{"op": "conv"}, {"op": "seq", "children": [{"op": "id"}]}]}
    flat = {"op": "conv"}
    result = SearchResult(
        [_trial(0, deep, {"accuracy": 0.4}), _trial(1, flat, {"accuracy": 0.6})],
        Objectives(("accuracy",), ("max",)),
    )
    text = table(result)
    assert "=None" not in text
    assert "children[1].children[0].op='id'" in text.splitlines()[3]  # the deep one, second


def test_pairs_list_each_hardware_architecture_pair_once(tmp_path):
    hw_space = pg.Dict(size=pg.oneof([1, 2, 3]))
    arch_space = pg.Dict(width=pg.oneof([1, 2]))  # 2 architectures, 5 inner trials: repeats

    def pair(hw, arch):
        return {"score": float(hw["size"] * arch["width"]), "cost": float(hw["size"])}

    result = flows.nested(
        hw_space,
        arch_space,
        algorithms.NSGA2(population_size=2, objectives={"score": "max", "cost": "min"}),
        algorithms.RandomSearch(metric="score", seed=1),
        pair,
        outer_budget=3,
        inner_budget=5,
        out=tmp_path,
        verbose=False,
    )
    inner_trials = sum(len(result.inner.result(t.spec).trials) for t in result.outer.trials)
    keys = [(hardware_key(p.hw), json.dumps(p.arch, sort_keys=True)) for p in result.pairs()]
    assert len(keys) == len(set(keys)) < inner_trials


def test_cli_errors_name_flags_not_python_arguments(tmp_path, capsys):
    script = tmp_path / "one.py"
    script.write_text(
        textwrap.dedent("""
        import pyglove as pg
        from symnas import flows

        def flow(budget=None, out=None, **options):
            space = pg.Dict(x=pg.oneof([1, 2, 3]))
            return flows.search(space, lambda s: s["x"], "random", budget=2, out=out, **options)
        """)
    )
    argv = ["run", str(script), "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "pass --resume to continue" in err and "resume=True" not in err
