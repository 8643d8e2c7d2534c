"""TangleNAS: the bilevel search over superimposed entangled weights, its selection, refusal of
families without entangled choices and resume after a kill."""

from __future__ import annotations

import json

import pytest
import torch

from symnas import algorithms, flows, programs, spaces
from symnas.algorithms.oneshot.base import encode_spec
from symnas.algorithms.oneshot.darts import DARTSTrainer
from symnas.algorithms.registry import create
from symnas.programs.data import synthetic
from symnas.programs.training.supernet_train import ArchitectureParameters
from symnas.spaces.examples import examples


def digits_like(n: int = 32):
    """8x8 one-channel images with 10 classes, the shape of the ``vit_digits`` space."""
    return synthetic(n, (1, 8, 8), 10, seed=0, noise=0.5)


def _run(out=None, resume=False, space=None, **options):
    algo = algorithms.TangleNAS(
        data=digits_like(), epochs=2, batch_size=16, lr=5e-3, seed=1, **options
    )
    space = space or examples()["vit"].obj()
    result = flows.search(
        space, lambda spec: 1.0, algorithm=algo, budget=1, out=out, resume=resume, verbose=False
    )
    return algo, result


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    """One uninterrupted TangleNAS run on the ViT example: (searcher, result, output folder)."""
    out = tmp_path_factory.mktemp("tanglenas") / "whole"
    return (*_run(out), out)


def test_search_trains_every_decision_and_proposes_the_argmax(vit_run):
    algo, result, out = vit_run
    space = examples()["vit"].obj()
    codec = spaces.compile(space)
    codec.validate(encode_spec(codec, result.best.spec))
    assert result.best.spec == algo.selected["magnitude"]
    assert result.best.spec == algo.supernet.discretize(algo.arch.weights())
    init = ArchitectureParameters(algo.supernet.arch_decisions(), seed=1)
    moved = [
        not torch.equal(a.detach(), b.detach())
        for a, b in zip(algo.arch.parameters(), init.parameters(), strict=True)
    ]
    assert all(moved)
    log = (out / "oneshot" / "search" / "train_log.jsonl").read_text().splitlines()
    assert set(json.loads(log[-1])["arch_weights"]) == set(algo.supernet.arch_decisions())


def test_the_reference_recipe_is_the_default():
    algo = create("tanglenas")
    config = algo.train_config(0)
    assert (config.optimizer, config.lr, config.weight_decay, config.lr_min) == (
        "adamw",
        5e-4,
        0.05,
        1e-5,
    )
    assert (config.arch_lr, config.arch_betas, config.arch_weight_decay) == (
        3e-4,
        (0.5, 0.999),
        1e-3,
    )
    assert (algo.train_portion, algo.order, config.grad_clip, algo.data) == (0.8, 1, None, "digits")


def test_second_order_runs_on_the_tdnn(tmp_path):
    entry = examples()["tdnn"]
    data = synthetic(24, (30, 12), 6, seed=0, noise=0.5)
    algo = algorithms.TangleNAS(data=data, epochs=1, batch_size=8, order=2, seed=0)
    result = flows.search(entry.obj(), lambda s: 1.0, algorithm=algo, budget=1, verbose=False)
    programs.supernet(entry.obj()).arch_of(result.best.spec)
    assert algo.record["arch_weights"].keys() == algo.supernet.arch_decisions().keys()


def test_a_family_without_entangled_choices_is_refused():
    algo = algorithms.TangleNAS(data=digits_like(), epochs=1, seed=0)
    with pytest.raises(TypeError, match=r"TangleNAS needs a supernet with the 'sized'") as error:
        algo.search(examples()["nb201"].obj(), None, False, False)
    assert "vit" in str(error.value) and "tdnn" in str(error.value)


def test_a_killed_search_resumes_to_the_same_architecture(vit_run, tmp_path, monkeypatch):
    reference = vit_run[0]
    original = DARTSTrainer.begin_epoch

    def killed(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt("killed")
        original(self, epoch)

    monkeypatch.setattr(DARTSTrainer, "begin_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut")
    monkeypatch.setattr(DARTSTrainer, "begin_epoch", original)
    resumed, _ = _run(tmp_path / "cut", resume=True)
    assert resumed.selected == reference.selected
    ours, theirs = resumed.supernet.state_dict(), reference.supernet.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    for a, b in zip(resumed.arch.parameters(), reference.arch.parameters(), strict=True):
        assert torch.equal(a.detach(), b.detach())
