"""A search whose objective never touches torch does not import it; torch is seeded when it is
in use (imported already, or declared by the objective with ``uses_torch = True``)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import torch

from symnas.flows import seeding
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


class _FakeTorch:
    """Records how a stand-in torch module is seeded (the real one cannot be unloaded)."""

    def __init__(self, cuda: bool) -> None:
        self.seeds: list[tuple[str, int]] = []
        fake = self

        class _Generator:
            def manual_seed(self, seed):
                fake.seeds.append(("cpu", seed))

        class _Cuda:
            def is_available(self):
                return cuda

            def manual_seed_all(self, seed):
                fake.seeds.append(("cuda", seed))

        self.random = type("random", (), {"default_generator": _Generator()})()
        self.cuda = _Cuda()


def test_seed_everything_seeds_torch_only_when_imported_or_needed(monkeypatch):
    fake = _FakeTorch(cuda=True)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(seeding.importlib, "import_module", lambda name: {"torch": fake}[name])
    seeding.seed_everything(7, torch_needed=False)
    assert fake.seeds == []  # not imported, not needed: left alone
    seeding.seed_everything(7, torch_needed=True)
    assert fake.seeds == [("cpu", 7), ("cuda", 7)]
    seeding.seed_everything(6)  # called alone, it seeds torch (importing it)
    assert fake.seeds[2:] == [("cpu", 6), ("cuda", 6)]
    del fake.seeds[2:]
    monkeypatch.setitem(sys.modules, "torch", fake)
    seeding.seed_everything(8, torch_needed=False)  # imported already: seeded
    assert fake.seeds[2:] == [("cpu", 8), ("cuda", 8)]


def test_seed_everything_seeds_random_and_numpy():
    seeding.seed_everything(5)
    drawn = (random.random(), float(np.random.random()))
    assert drawn == (random.Random(5).random(), float(np.random.RandomState(5).random()))


def test_an_objective_declares_torch_with_an_attribute():
    class Declared:
        uses_torch = True

    assert seeding.uses_torch(Declared()) is True
    assert seeding.uses_torch(lambda spec: 0.0) is False
