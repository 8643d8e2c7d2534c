"""Balanced Mixture of SuperNets: balancing, temperature, routing, M=1 = plain weight sharing,
exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms.samplers import SAMPLERS, UniformSampler, create_sampler
from symnas.algorithms.samplers.balanced_mixture import (
    BalancedMixtureSampler,
    balanced,
    balancing_marginals,
    conditional,
    kl_to_uniform,
    temperature,
)
from symnas.core.compare import first_difference
from symnas.programs.data import synthetic, validation_split
from symnas.programs.training.mixture import SupernetMixture, spec_key
from symnas.programs.training.supernet_train import CHECKPOINT, SupernetTrainer, TrainConfig
from symnas.spaces.pooling import resnet_pooling


def tiny_space():
    """A pooling space of 10 architectures (2 pools among 5 positions) on 8x8 images."""
    return resnet_pooling([4, 4, 4, 8, 8, 8], num_pools=2, num_classes=3, in_chans=1, image_size=8)


def tiny_data():
    """``(train, validation)`` halves of learnable synthetic 8x8 images."""
    return validation_split(synthetic(128, (1, 8, 8), 3, seed=0, noise=0.5), 0.5)


def every_spec(space):
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.distinct(int(codec.size), np.random.default_rng(0))]


def _train(sampler, epochs=3, out=None, resume=False):
    space = tiny_space()
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    train, valid = tiny_data()
    trainer = SupernetTrainer(
        supernet,
        train,
        TrainConfig(epochs=epochs, optimizer="sgd", lr=0.1, batch_size=16, seed=0),
        sampler=sampler,
        space=space,
        valid=valid if sampler.observes_valid else None,
        out=out,
        resume=resume,
        device="cpu",
        progress=False,
    )
    trainer.fit()
    return trainer


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if torch.is_tensor(v)}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- balancing
def test_temperature_is_linear_from_one_in_the_first_epoch_to_the_maximum_in_the_last():
    assert [temperature(e, 5) for e in range(5)] == [1.0, 25.75, 50.5, 75.25, 100.0]
    assert temperature(0, 1) == 1.0 and temperature(3, 4, max_temperature=10.0) == 10.0


def test_the_sampler_moves_to_each_epochs_temperature_and_ends_at_the_maximum():
    trainer = _train(BalancedMixtureSampler(models=2), epochs=3)
    sampler = trainer.sampler
    assert sampler.epoch == 3 and sampler.temperature == 100.0
    seen = []
    fresh = BalancedMixtureSampler(models=2).bind(
        tiny_space(), sampler.prepare(programs.supernet(tiny_space()))
    )
    for epoch in range(4):
        seen.append(fresh.temperature)
        fresh.end_epoch(epoch, 4)
    assert seen == [1.0, 34.0, 67.0, 100.0]


def test_balancing_makes_the_marginal_uniform_and_replaying_it_gives_the_same_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.uniform(0.0, 1.0, size=(36, 4))
    logits[:, 0] += 0.3  # supernet 0 looks best for most architectures
    raw = conditional(logits, 20.0)
    assert kl_to_uniform(raw.mean(axis=0)) > 0.04 and np.allclose(raw.sum(axis=1), 1.0)
    marginals = balancing_marginals(logits, 20.0)
    assert marginals, "a skewed assignment needs balancing"
    prob = balanced(logits, 20.0, marginals)
    assert kl_to_uniform(prob.mean(axis=0)) <= 1e-4
    assert np.allclose(prob.sum(axis=1), 1.0)
    # every round divides by the marginal of the previous one, as the reference's loop does
    manual = raw
    for marginal in marginals:
        assert np.allclose(manual.mean(axis=0), marginal)
        manual = manual / marginal
        manual = manual / manual.sum(axis=1, keepdims=True)
    assert np.allclose(manual, prob)


def test_equal_logits_need_no_balancing_and_give_uniform_rows():
    logits = np.ones((36, 4))
    assert balancing_marginals(logits, 50.0) == []
    assert np.allclose(balanced(logits, 50.0, []), 0.25)


def test_the_marginals_of_an_epoch_start_are_replayed_on_the_later_logits():
    space = tiny_space()
    sampler = BalancedMixtureSampler(models=2)
    sampler.bind(space, sampler.prepare(programs.supernet(space)))
    sampler.assignment_logits[:, 0] = 0.9
    sampler.assignment_logits[:, 1] = 0.1
    sampler.end_epoch(0, 3)  # temperature 50.5, marginals of these logits
    before = sampler.marginals
    assert before and abs(sampler.balance()[0] - 0.5) < 0.01
    # A later step changes W; the marginals stay those of the start.
    sampler.assignment_logits[0, 1] = 1.0
    assert sampler.marginals is before
    assert np.allclose(sampler.probabilities(), balanced(sampler.assignment_logits, 50.5, before))


def test_a_step_moves_its_logit_toward_the_validation_accuracy_by_the_ema():
    space = tiny_space()
    sampler = BalancedMixtureSampler(models=2)
    sampler.bind(space, sampler.prepare(programs.supernet(space)))
    specs = sampler.sample(np.random.default_rng(0))
    row, member = sampler.drawn
    assert sampler.supernet.pinned == (spec_key(specs[0]), member)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    sampler.observe_valid(specs, [logits], torch.tensor([0, 1, 0, 1]))  # accuracy 0.5
    assert sampler.assignment_logits[row, member] == pytest.approx(0.9 * 1.0 + 0.1 * 0.5)
    assert sampler.assignment_logits.sum() == pytest.approx(sampler.assignment_logits.size - 0.05)
    assert sampler.supernet.pinned is None


# ---------------------------------------------------------------------------- routing
def test_each_spec_runs_in_its_assigned_supernet_only():
    space = tiny_space()
    torch.manual_seed(0)
    mixture = SupernetMixture.of(programs.supernet(space), 2, seed=0)
    specs = every_spec(space)
    mixture.assign({spec_key(s): i % 2 for i, s in enumerate(specs)})
    x = torch.randn(4, 1, 8, 8)
    mixture.eval()
    with torch.no_grad():
        before = [mixture(x, s) for s in specs]
        for p in mixture.members[1].parameters():
            p.add_(0.5)
        after = [mixture(x, s) for s in specs]
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        assert torch.equal(a, b) == (i % 2 == 0), f"spec {i} of supernet {i % 2}"
    assert torch.equal(mixture.extract(specs[1]).eval()(x), after[1])
    with pytest.raises(ValueError, match="assigned to no member"):
        SupernetMixture.of(programs.supernet(space), 2).activate(specs[0])


def test_the_copies_are_initialised_anew_from_their_seed_and_the_first_is_the_given_supernet():
    space = tiny_space()
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    first, again = SupernetMixture.of(supernet, 3, seed=1), SupernetMixture.of(supernet, 3, seed=1)
    other = SupernetMixture.of(supernet, 3, seed=2)
    assert first.members[0] is supernet and first.size == 3
    weights = [_state(m) for m in first.members]
    assert not _equal(weights[0], weights[1]) and not _equal(weights[1], weights[2])
    assert _equal(weights[1], _state(again.members[1]))
    assert not _equal(weights[1], _state(other.members[1]))


def test_a_training_step_changes_only_the_drawn_supernet_and_estimates_follow_the_assignment():
    space = tiny_space()
    train, valid = tiny_data()
    sampler = BalancedMixtureSampler(models=3)
    trainer = SupernetTrainer(
        programs.supernet(space),
        train,
        TrainConfig(epochs=1, optimizer="sgd", lr=0.1, batch_size=16, seed=0),
        sampler=sampler,
        space=space,
        valid=valid,
        device="cpu",
        progress=False,
    )
    mixture = trainer.supernet
    assert isinstance(mixture, SupernetMixture) and mixture.size == 3
    trainer.valid_batches = trainer._valid_stream(0)
    x, y = next(iter(train.loader("train", 16)))
    drawn = []
    for _ in range(6):
        before = [_state(m) for m in mixture.members]
        trainer.weight_step(x, y)
        changed = [not _equal(b, _state(m)) for b, m in zip(before, mixture.members, strict=True)]
        assert sum(changed) == 1
        drawn.append(changed.index(True))
    assert len(set(drawn)) > 1
    sampler.end_epoch(0, 1)  # the assignment is published after each epoch
    assignment = sampler.assignment()
    assert mixture.assignment == assignment and len(assignment) == 10
    spec = every_spec(space)[0]
    assert mixture.route(spec) == assignment[spec_key(spec)]


# ---------------------------------------------------------------------------- degenerate case
def test_one_supernet_is_plain_uniform_weight_sharing_exactly():
    plain = _train(UniformSampler())
    mixed = _train(BalancedMixtureSampler(models=1))
    assert [r["loss"] for r in plain.history] == [r["loss"] for r in mixed.history]
    assert _equal(_state(mixed.supernet.members[0]), _state(plain.supernet))


# ---------------------------------------------------------------------------- registry, errors
def test_registered_by_name_for_the_pooling_family():
    entry = SAMPLERS.get("balanced_mixture")
    assert entry.meta["family"] == "pooling"
    sampler = create_sampler("balanced_mixture", models=2)
    assert isinstance(sampler, BalancedMixtureSampler) and sampler.config()["models"] == 2


def test_bad_settings_and_missing_validation_are_named():
    with pytest.raises(ValueError, match="models must be an int >= 1"):
        BalancedMixtureSampler(models=0)
    with pytest.raises(ValueError, match="ema_decay must be a number in"):
        BalancedMixtureSampler(ema_decay=1.0)
    space = tiny_space()
    with pytest.raises(TypeError, match="bind it to sampler.prepare"):
        BalancedMixtureSampler(models=2).bind(space, programs.supernet(space))
    train, _ = tiny_data()
    with pytest.raises(ValueError, match="give valid="):
        SupernetTrainer(
            programs.supernet(space),
            train,
            TrainConfig(epochs=1),
            sampler=BalancedMixtureSampler(),
            space=space,
            device="cpu",
        )


# ---------------------------------------------------------------------------- resume
def test_a_killed_mixture_training_resumes_to_the_same_weights_and_assignment(
    tmp_path, kill_supernet_training
):
    straight = _train(BalancedMixtureSampler(models=2))
    out = tmp_path / "run"
    kill_supernet_training(__file__, "t._train(t.BalancedMixtureSampler(models=2), out=out)", out)
    assert torch.load(out / CHECKPOINT, weights_only=True)["epoch"] == 1
    resumed = _train(BalancedMixtureSampler(models=2), out=out, resume=True)
    assert first_difference(straight.sampler.state_dict(), resumed.sampler.state_dict()) is None
    assert resumed.supernet.assignment == straight.supernet.assignment
    assert _equal(_state(resumed.supernet), _state(straight.supernet))


def test_the_hw_nested_accuracy_table_trains_a_mixture_by_its_sampler_name():
    from symnas.flows.hw_flow import supernet_accuracy_table

    data = synthetic(128, (1, 8, 8), 3, seed=0, noise=0.5)
    table = supernet_accuracy_table(
        tiny_space(), data, epochs=1, sampler="balanced_mixture", device="cpu"
    )
    assert len(table) == 10 and all(0.0 <= v <= 1.0 for v in table.values())
