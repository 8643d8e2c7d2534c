"""ShiftNAS's mechanics: bins drawn by the stated probabilities, the shift toward still-improving
bins, a generator that moves toward its complexity target under its loss, end-to-end training
through the supernet and an exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from symnas import programs
from symnas.algorithms.samplers import create_sampler
from symnas.algorithms.samplers.shiftnas import shifted_probabilities, supernet_params
from symnas.programs.data import synthetic
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.examples import examples


def _vit():
    space = examples()["vit"].obj()
    torch.manual_seed(0)
    return space, programs.supernet(space)


def _relative_errors(sampler, rng, draws: int) -> list[float]:
    """``|params(a) - c_k| / c_k`` of ``draws`` generator samples, with their target bins."""
    errors = []
    for _ in range(draws):
        spec = sampler.sample(rng)[0]
        k = sampler.last_bin
        target = sampler.targets[k]
        errors.append(abs(supernet_params(sampler.supernet, spec) - target) / target)
        sampler.update([spec], [1.0])  # steps the generator on its complexity loss
    return errors


def test_the_generator_moves_toward_its_complexity_target_and_bins_follow_p():
    space, supernet = _vit()
    sampler = create_sampler("shiftnas", lr=0.05, hidden=16).bind(space, supernet)
    rng = np.random.default_rng(0)
    before = np.mean(_relative_errors(sampler, rng, 30))
    _relative_errors(sampler, rng, 60)
    after = np.mean(_relative_errors(sampler, rng, 30))
    assert after < 0.5 * before, (before, after)

    sampler.probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    counts = np.bincount([sampler.draw_bin(rng) for _ in range(4000)], minlength=4)
    assert chisquare(counts, sampler.probabilities * 4000).pvalue > 0.01


def test_the_probabilities_shift_toward_bins_that_still_improve():
    space, supernet = _vit()
    sampler = create_sampler("shiftnas", bins=3).bind(space, supernet)
    np.testing.assert_allclose(sampler.probabilities, 1 / 3)
    sampler.epoch_losses = [[2.0, 1], [2.0, 1], [2.0, 1]]
    sampler.end_epoch(0, 3)
    np.testing.assert_allclose(sampler.probabilities, 1 / 3)  # no variation yet
    sampler.epoch_losses = [[1.0, 1], [1.9, 1], [0.0, 0]]  # bin 0 improved most, bin 2 unseen
    sampler.end_epoch(1, 3)
    variation = [0.5, 0.05, 0.5]  # an unseen bin takes the largest variation
    np.testing.assert_allclose(sampler.variation, variation)
    expected = shifted_probabilities(variation, 0.05, 0.1)
    np.testing.assert_allclose(sampler.probabilities, expected)
    assert expected[0] > 0.4 > 0.1 / 3 < expected[1] < 0.05
    assert sampler.last_losses == [1.0, 1.9, 2.0]


def test_training_reaches_the_generator_through_the_supernet_and_resumes_exactly(
    tmp_path, interrupt_fit
):
    def trainer(out=None, resume=False):
        space, supernet = _vit()
        data = synthetic(48, (1, 8, 8), 10, seed=0)
        config = TrainConfig(epochs=3, optimizer="sgd", lr=0.05, batch_size=12, seed=1)
        sampler = create_sampler("shiftnas", hidden=8)
        return SupernetTrainer(
            supernet, data, config, sampler=sampler, space=space, out=out, resume=resume,
            device="cpu", progress=False,
        )  # fmt: skip

    check = trainer()
    x, y = check.data.x_train[:6], check.data.y_train[:6]
    spec = check.sampler.sample(np.random.default_rng(0))[0]
    logits = check.sampler.logits(check.supernet, x, spec)
    torch.testing.assert_close(logits, check.supernet(x, spec), atol=1e-5, rtol=1e-5)
    torch.nn.functional.cross_entropy(logits, y).backward()
    heads = check.sampler.generator.heads
    assert all(h.weight.grad is not None and h.weight.grad.abs().sum() > 0 for h in heads)

    straight = trainer()
    start = [p.detach().clone() for p in straight.sampler.generator.parameters()]
    straight.fit()
    now = list(straight.sampler.generator.parameters())
    assert any(not torch.equal(p, s) for p, s in zip(now, start, strict=True))

    interrupt_fit(trainer(tmp_path), 2)
    resumed = trainer(tmp_path, resume=True)
    resumed.fit()
    assert resumed.sampler.state_dict() == straight.sampler.state_dict()
    for a, b in zip(
        straight.supernet.state_dict().values(), resumed.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_bad_settings_and_supernets_are_refused():
    with pytest.raises(ValueError, match="epsilon must lie in"):
        create_sampler("shiftnas", epsilon=1.5)
    with pytest.raises(ValueError, match="bins must be an int"):
        create_sampler("shiftnas", bins=0)
    space, supernet = _vit()
    sampler = create_sampler("shiftnas").bind(space, supernet)
    with pytest.raises(ValueError, match="bin_index must lie in"):
        sampler.generate(4)
    assert supernet.arch_of(sampler.generate(0)) is not None


@pytest.mark.parametrize("family", ["vit_resnas", "tdnn", "vit_mos"])
def test_shiftnas_trains_every_sized_family(family):
    entry = examples()[family]
    space = entry.obj()
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = synthetic(16, entry.meta["input_shape"], space.num_classes, seed=0)
    config = TrainConfig(epochs=2, batch_size=8, optimizer="sgd", lr=0.01)
    trainer = SupernetTrainer(
        supernet, data, config, sampler=create_sampler("shiftnas", hidden=8), space=space,
        device="cpu", progress=False,
    )  # fmt: skip
    assert np.isfinite(trainer.fit()["loss"])
    spec = trainer.sampler.sample(np.random.default_rng(0))[0]
    x = data.x_train[:3]
    supernet.eval()
    torch.testing.assert_close(trainer.sampler.logits(supernet, x, spec), supernet(x, spec))


def test_the_complexity_of_one_hots_is_the_parameter_count_with_its_multilinear_gradient():
    space, supernet = _vit()
    sampler = create_sampler("shiftnas").bind(space, supernet)
    chosen = [len(values) - 1 - (t % 2) for t, values in enumerate(sampler.decisions.values())]
    onehots = [
        torch.nn.functional.one_hot(torch.tensor(i), len(values)).float().requires_grad_()
        for i, values in zip(chosen, sampler.decisions.values(), strict=True)
    ]
    value = sampler.complexity(onehots)
    assert value.item() == supernet_params(supernet, sampler.spec_of(chosen))
    value.backward()
    for t, onehot in enumerate(onehots):
        for j in range(len(onehot)):
            other = chosen[:t] + [j] + chosen[t + 1 :]
            assert onehot.grad[j].item() == supernet_params(supernet, sampler.spec_of(other))
