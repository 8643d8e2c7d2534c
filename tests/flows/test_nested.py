"""Nested hardware x architecture search: algorithm swaps, constraints, resume at both levels."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, flows
from symnas.flows.nested import hardware_key, joint_search, nested
from symnas.flows.report import report as report_text

HW = pg.Dict(rows=pg.oneof([2, 4, 8, 16]), cols=pg.oneof([2, 4, 8, 16]))
ARCH = pg.Dict(width=pg.oneof([1, 2, 3, 4]), depth=pg.oneof([1, 2, 3]))


def pair_metrics(hw, arch):
    """Bigger nets are more accurate and slower; bigger arrays are faster and larger."""
    work = arch["width"] * arch["depth"]
    accuracy = 1.0 - 0.5 / work
    latency = work * 100.0 / (hw["rows"] * hw["cols"]) + 0.1 * hw["rows"]
    return {
        "accuracy": accuracy,
        "latency": latency,
        "area": float(hw["rows"] * hw["cols"]),
        "reward": accuracy - 0.05 * latency,
    }


def outer_algorithm(seed=1):
    return algorithms.NSGA2(
        population_size=4,
        objectives={"accuracy": "max", "latency": "min"},
        constraints={"area": ("<=", 64.0)},
        seed=seed,
    )


def inner_algorithm(seed=None):
    return algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, metric="reward", seed=seed
    )


def test_nested_logs_both_levels_and_returns_a_feasible_front(tmp_path):
    result = nested(
        HW,
        ARCH,
        outer_algorithm(),
        inner_algorithm(),
        pair_metrics,
        outer_budget=8,
        inner_budget=6,
        out=tmp_path,
        verbose=False,
    )
    outer_log = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert len(outer_log) == 8
    for line in outer_log:
        record = json.loads(line)
        inner_dir = tmp_path / "inner" / hardware_key(record["spec"])
        inner = [json.loads(x) for x in (inner_dir / "trials.jsonl").read_text().splitlines()]
        assert len(inner) == 6
        best_reward = max(r["metrics"]["reward"] for r in inner)
        assert record["metrics"]["reward"] == best_reward  # the inner best is fed back
    front = result.pareto_front()
    assert front and all(p.metrics["area"] <= 64.0 for p in front)
    pairs = result.pairs()
    for p in front:  # nothing evaluated dominates a front pair
        for q in pairs:
            if q.metrics["area"] > 64:
                continue
            assert not (
                q.metrics["accuracy"] >= p.metrics["accuracy"]
                and q.metrics["latency"] <= p.metrics["latency"]
                and (q.metrics["accuracy"], q.metrics["latency"])
                != (p.metrics["accuracy"], p.metrics["latency"])
            )


@pytest.mark.parametrize(
    "outer,inner",
    [
        (algorithms.RandomSearch(metric="reward"), algorithms.RandomSearch(metric="reward")),
        (
            algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="reward"),
            algorithms.NSGA2(population_size=4, objectives={"reward": "max"}),
        ),
    ],
)
def test_either_algorithm_swaps_with_one_argument(outer, inner):
    result = nested(
        HW, ARCH, outer, inner, pair_metrics, outer_budget=6, inner_budget=5, verbose=False
    )
    assert len(result.outer.trials) == 6
    assert result.best is not None and "reward" in result.best.metrics


KILLED = """
import os, signal, sys
import pyglove as pg
from symnas import algorithms
from symnas.flows.nested import nested

HW = pg.Dict(rows=pg.oneof([2, 4, 8, 16]), cols=pg.oneof([2, 4, 8, 16]))
ARCH = pg.Dict(width=pg.oneof([1, 2, 3, 4]), depth=pg.oneof([1, 2, 3]))
calls = 0

def metrics(hw, arch):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    work = arch["width"] * arch["depth"]
    latency = work * 100.0 / (hw["rows"] * hw["cols"]) + 0.1 * hw["rows"]
    return {"accuracy": 1.0 - 0.5 / work, "latency": latency,
            "area": float(hw["rows"] * hw["cols"]), "reward": 1.0 - 0.5 / work - 0.05 * latency}

nested(HW, ARCH,
       algorithms.NSGA2(population_size=4, objectives={"accuracy": "max", "latency": "min"},
                        constraints={"area": ("<=", 64.0)}, seed=1),
       algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="reward"),
       metrics, outer_budget=8, inner_budget=6, out=sys.argv[1], verbose=False)
"""


def test_resume_at_both_levels_after_a_kill(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED))
    killed = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(script), str(killed), "22"], timeout=120, capture_output=True
    )
    assert proc.returncode != 0
    outer_done = len((killed / "trials.jsonl").read_text().splitlines())
    assert 0 < outer_done < 8  # killed inside an inner search of a later outer trial
    resumed = nested(
        HW,
        ARCH,
        outer_algorithm(),
        inner_algorithm(),
        pair_metrics,
        outer_budget=8,
        inner_budget=6,
        out=killed,
        resume=True,
        verbose=False,
    )
    straight = nested(
        HW,
        ARCH,
        outer_algorithm(),
        inner_algorithm(),
        pair_metrics,
        outer_budget=8,
        inner_budget=6,
        out=tmp_path / "straight",
        verbose=False,
    )

    def summary(result):
        return [(t.id, json.dumps(t.spec, sort_keys=True), t.metrics) for t in result.outer.trials]

    assert summary(resumed) == summary(straight)
    for trial in resumed.outer.trials:
        inner = (killed / "inner" / hardware_key(trial.spec) / "trials.jsonl").read_text()
        ids = [json.loads(x)["id"] for x in inner.splitlines()]
        assert sorted(ids) == list(range(6))  # no inner trial lost or repeated


def test_joint_baseline_searches_the_product_space():
    algo = algorithms.NSGA2(
        population_size=8,
        objectives={"accuracy": "max", "latency": "min"},
        constraints={"area": ("<=", 64.0)},
    )
    result = joint_search(HW, ARCH, algo, pair_metrics, budget=48, verbose=False)
    assert set(result.trials[0].spec) == {"hw", "arch"}
    front = result.pareto_front()
    assert front and all(t.metrics["area"] <= 64 for t in front)
    assert np.isfinite([t.metrics["latency"] for t in front]).all()


def test_parallel_nested_needs_an_output_folder():
    with pytest.raises(ValueError, match="give 'out'"):
        flows.nested(
            HW,
            ARCH,
            outer_algorithm(),
            inner_algorithm(),
            pair_metrics,
            outer_budget=2,
            inner_budget=2,
            workers=2,
        )


def test_parallel_nested_is_reproducible(tmp_path):
    kwargs = dict(outer_budget=6, inner_budget=4, verbose=False)
    first = nested(
        HW,
        ARCH,
        outer_algorithm(),
        inner_algorithm(),
        pair_metrics,
        out=tmp_path / "a",
        workers=2,
        **kwargs,
    )
    again = nested(
        HW,
        ARCH,
        outer_algorithm(),
        inner_algorithm(),
        pair_metrics,
        out=tmp_path / "b",
        workers=2,
        **kwargs,
    )
    assert [t.metrics for t in first.outer.trials] == [t.metrics for t in again.outer.trials]
    assert len(first.pairs()) == len(again.pairs()) > 0


def test_hw_nested_flow_writes_front_table_and_plot(tmp_path):
    from symnas.flows.hw_flow import hw_nested

    out = tmp_path / "hw"
    result = hw_nested(budget=4, inner_budget=4, supernet_epochs=1, out=str(out), verbose=False)
    assert len(result.outer.trials) == 4
    front = result.pareto_front()
    assert front and all(p.metrics["area_mm2"] <= 2.0 for p in front)
    assert all(p.metrics["latency_ms"] > 0 and 0 < p.metrics["accuracy"] <= 1 for p in front)
    assert (out / "pairs_pareto.png").stat().st_size > 1000
    assert "Pareto front of (hardware, architecture) pairs" in (out / "report.txt").read_text()
    # The report of the folder plots the outer search beside the pairs' plot, not over it.
    pairs_plot = (out / "pairs_pareto.png").read_bytes()
    assert "Pareto plot:" in report_text(out)
    assert (out / "pareto.png").stat().st_size > 1000
    assert (out / "pairs_pareto.png").read_bytes() == pairs_plot
    accuracy = json.loads((out / "supernet_accuracy.json").read_text())
    assert len(accuracy) == 36  # every pooling configuration scored with inherited weights
    # The inner searches are deduped: no (hardware, architecture) pair is evaluated twice.
    for trial in result.outer.trials:
        specs = [json.dumps(t.spec, sort_keys=True) for t in result.inner.result(trial.spec).trials]
        assert len(specs) == len(set(specs)) == 4
    pairs = [
        (json.dumps(p.hw, sort_keys=True), json.dumps(p.arch, sort_keys=True))
        for p in result.pairs()
    ]
    assert len(pairs) == len(set(pairs))


def test_hw_nested_flow_reports_with_a_single_objective_outer_algorithm(tmp_path, caplog):
    from symnas.flows.hw_flow import hw_nested

    out = tmp_path / "hw"
    with caplog.at_level(logging.INFO, logger="symnas"):
        hw_nested(
            algorithm="random",
            inner_algorithm="random",
            budget=2,
            inner_budget=3,
            supernet_epochs=1,
            out=str(out),
            verbose=True,
        )
    assert (out / "pairs_pareto.png").stat().st_size > 1000
    assert "Pareto front of (hardware, architecture) pairs" in (out / "report.txt").read_text()
    # Its long phases show progress (through the module loggers under symnas).
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("symnas.")]
    assert "hw-nested: training the pooling supernet, 1 epochs ..." in messages
    assert any(m.startswith("hw-nested: scoring 36 architectures on it: done in") for m in messages)
    assert any(m.startswith("trial 1 ok (2/2 done)") for m in messages)


@pytest.mark.parametrize("inner", [None, "random", "nsga2"])
def test_hw_nested_dedups_every_inner_algorithm(inner):
    from symnas.flows.hw_flow import inner_search_algorithm

    algorithm = inner_search_algorithm(inner)
    assert isinstance(algorithm, algorithms.Deduped)
    assert inner_search_algorithm(algorithm) is algorithm
