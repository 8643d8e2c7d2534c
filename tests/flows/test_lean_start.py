"""A search whose objective never touches torch does not import it; torch is seeded when it is
in use (imported already, or declared by the objective with ``uses_torch = True``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

from symnas.flows.seeding import seeded_trial, trial_seed

SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import pyglove as pg
    import symnas.flows as flows

    space = pg.Dict(x=pg.oneof([1, 2, 3]), y=pg.floatv(0.0, 1.0))
    report = {}
    for algorithm in ("random", "regularized_evolution", "tpe"):
        flows.search(space, lambda s: s["x"] + s["y"], algorithm, budget=4, verbose=False,
                     out=sys.argv[1] + "/" + algorithm)
    report["torch_after_trivial"] = "torch" in sys.modules

    class Declared:
        uses_torch = True

        def __call__(self, spec):
            import torch
            return float(torch.rand(1))

    result = flows.search(space, Declared(), "random", budget=2, verbose=False)
    report["declared"] = [t.metrics["objective"] for t in result.trials]
    print(json.dumps(report))
    """
)

UNDECLARED = textwrap.dedent(
    """
    import json, sys, warnings
    import pyglove as pg
    import symnas.flows as flows

    def lazy(spec):
        import torch
        return float(torch.rand(1))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flows.search(pg.Dict(x=pg.oneof([1, 2])), lazy, "random", budget=3, verbose=False)
    print(json.dumps([str(w.message) for w in caught]))
    """
)


def _run(script: str, *args: str):
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_trivial_search_imports_no_torch_and_declared_objective_seeds_it(tmp_path):
    report = _run(SCRIPT, str(tmp_path))
    assert report["torch_after_trivial"] is False
    expected = []
    for trial_id in range(2):
        torch.random.default_generator.manual_seed(trial_seed(0, trial_id))
        expected.append(float(torch.rand(1)))
    assert report["declared"] == expected


def test_objective_importing_torch_undeclared_is_warned_once():
    messages = _run(UNDECLARED)
    assert len(messages) == 1
    assert "uses_torch = True" in messages[0]


def test_seeded_trial_seeds_torch_once_it_is_imported():
    with seeded_trial(11):
        first = torch.rand(3)
    torch.rand(5)  # move the generator on
    with seeded_trial(11):
        assert torch.equal(torch.rand(3), first)
