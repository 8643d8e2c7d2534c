"""Run folders written by the real flows, small: a search whose specs and errors carry HTML and
unicode, a nested 3-objective run, a DARTS search, few-shot trainings, an empty folder, a search
whose trials all failed, a log cut off mid-line, a search with the median pruner and a Hyperband
search; made once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces
from symnas.flows.nested import nested

INJECTION = "</script><script>window.symnasInjected=1</script>"
IMG_INJECTION = "<img src=x onerror=window.symnasInjected=2>"
UNICODE = "ünïcødé ✓ 漢字"
SPACE = pg.Dict(
    op=pg.oneof(["conv", "skip", INJECTION, UNICODE]),
    width=pg.oneof([8, 16, 32]),
    depth=pg.oneof([1, 2, 3]),
)


def spec_objective(spec):
    """Width matters, op a little, depth not at all; wide deep nets fail with an HTML error."""
    if spec["width"] == 32 and spec["depth"] == 3:
        raise ValueError(f"out of memory {IMG_INJECTION} {INJECTION} {UNICODE}")
    bonus = {"conv": 0.05, "skip": 0.0, INJECTION: 0.02, UNICODE: 0.01}[spec["op"]]
    return {"accuracy": 0.5 + spec["width"] / 100 + bonus, "params": float(spec["width"] ** 2)}


#: Steps each trial of the pruned search reports.
CURVE_STEPS = 4


def curve_objective(spec, trial):
    """A learning curve rising towards ``spec_objective``'s accuracy; one report per step."""
    target = 0.5 + spec["width"] / 100 + 0.01 * spec["depth"]
    accuracy = 0.0
    for step in range(1, CURVE_STEPS + 1):
        accuracy = target * (1.0 - 0.5**step)
        trial.report(step, {"accuracy": accuracy})
        if trial.should_stop():
            break
    return {"accuracy": accuracy}


def budget_objective(spec, budget):
    """The same curve read at ``budget`` epochs."""
    return {"accuracy": (0.5 + spec["width"] / 100 + 0.01 * spec["depth"]) * (1.0 - 0.5**budget)}


def always_fails(spec):
    raise RuntimeError(f"broken {INJECTION}")


HW = pg.Dict(rows=pg.oneof([2, 4, 8, 16]), cols=pg.oneof([2, 4, 8, 16]))
ARCH = pg.Dict(width=pg.oneof([1, 2, 3, 4]), depth=pg.oneof([1, 2, 3]))


def pair_metrics(hw, arch):
    """Bigger nets are more accurate and slower; bigger arrays are faster and larger."""
    work = arch["width"] * arch["depth"]
    accuracy = 1.0 - 0.5 / work
    latency = work * 100.0 / (hw["rows"] * hw["cols"]) + 0.1 * hw["rows"]
    return {"accuracy": accuracy, "latency": latency, "area": float(hw["rows"] * hw["cols"])}


@pytest.fixture(scope="session")
def hostile() -> SimpleNamespace:
    """The texts the specs and errors of the ``search`` run carry."""
    return SimpleNamespace(injection=INJECTION, img=IMG_INJECTION, unicode=UNICODE)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The run folders by kind."""
    from symnas.algorithms.oneshot.fewshot import FewShotTrainer
    from symnas.programs.data import synthetic
    from symnas.programs.training.supernet_train import TrainConfig

    root = tmp_path_factory.mktemp("html_runs")
    out = {name: root / name for name in ("search", "nested", "darts", "fewshot", "empty")}
    flows.search(
        SPACE,
        spec_objective,
        algorithms.create("random", metric="accuracy", seed=0),
        budget=36,
        out=out["search"],
        verbose=False,
        max_consecutive_failures=36,
    )
    nested(
        HW,
        ARCH,
        algorithms.NSGA2(
            population_size=4,
            objectives={"accuracy": "max", "latency": "min", "area": "min"},
            constraints={"area": ("<=", 64.0)},
            seed=1,
        ),
        algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="accuracy"),
        pair_metrics,
        outer_budget=8,
        inner_budget=5,
        out=out["nested"],
        verbose=False,
    )
    data = synthetic(40, (3, 4, 4), 4, seed=0, noise=0.5)
    darts = algorithms.DARTS(data=data, epochs=3, batch_size=8, seed=1)
    cell = spaces.nb201_cell(C=2, N=1, num_classes=4)
    flows.search(cell, lambda s: 1.0, algorithm=darts, budget=1, out=out["darts"], verbose=False)
    for method in ("exhaustive", "gm"):
        FewShotTrainer(
            cell,
            data,
            TrainConfig(epochs=3, batch_size=16, lr=0.05, seed=0),
            method=method,
            gradient_batches=1,
            out=out["fewshot"] / method / "supernet",
            device="cpu",
            progress=False,
        ).fit()
    out["empty"].mkdir()
    out["failed"] = root / "failed"
    flows.search(
        SPACE,
        always_fails,
        algorithms.create("random", metric="accuracy", seed=0),
        budget=3,
        out=out["failed"],
        verbose=False,
        max_consecutive_failures=5,
    )
    out["pruned"] = root / "pruned"
    flows.search(
        SPACE,
        curve_objective,
        algorithms.create("random", metric="accuracy", seed=0),
        budget=16,
        out=out["pruned"],
        verbose=False,
        pruner="median",
    )
    out["hyperband"] = root / "hyperband"
    flows.search(
        SPACE,
        budget_objective,
        algorithms.create("hyperband", metric="accuracy"),
        budget=20,
        out=out["hyperband"],
        verbose=False,
        fidelity=flows.Fidelity(1, 9),
    )
    out["torn"] = root / "torn"
    shutil.copytree(out["search"], out["torn"])
    log = out["torn"] / "trials.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"id": 3, "genome": [0, 0\n'  # a corrupt line in the middle
    log.write_bytes(b"".join(lines) + b'{"id": 36, "genome": [1,')  # and a torn last line
    return out


@pytest.fixture(scope="session")
def pages(runs) -> dict[str, list[Path]]:
    """The pages written for each run folder (``write_pages``), written once."""
    from symnas.flows.html_report import write_pages

    kinds = ("search", "nested", "darts", "fewshot", "failed", "empty", "pruned", "hyperband")
    return {kind: write_pages(runs[kind]) for kind in kinds}
