"""The trainer's side of adaptive samplers: weighted index draws, split batches, epoch hooks and
exact resume with PA&DA, its control and multi-architecture sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from symnas import programs, spaces
from symnas.algorithms.samplers import create_sampler
from symnas.programs.data import synthetic, weighted_indices
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.examples import examples

SPACE_ARGS = {"C": 2, "N": 1, "num_classes": 3, "in_chans": 1}


def tiny(size: int = 48):
    space = spaces.nb201_cell(**SPACE_ARGS)
    torch.manual_seed(0)
    supernet = programs.supernet(space, affine=False, track_running_stats=False)
    return space, supernet, synthetic(2 * size, (1, 8, 8), 3, seed=0, noise=0.5)


def test_weighted_indices_follow_the_weights():
    p = np.array([0.5, 0.05, 0.25, 0.2, 0.0])
    drawn = weighted_indices(p, 4000, seed=3)
    counts = np.bincount(drawn, minlength=5)
    assert counts[4] == 0
    assert chisquare(counts[:4], p[:4] * 4000).pvalue > 0.01
    np.testing.assert_array_equal(drawn, weighted_indices(p, 4000, seed=3))
    with pytest.raises(ValueError, match="summing to 1"):
        weighted_indices([0.5, 0.6], 3, seed=0)


def test_the_loader_reads_given_indices_in_order_with_repeats():
    data = synthetic(20, (1, 2, 2), 2, seed=0)
    order = np.array([3, 3, 0, 7, 1])
    xs = torch.cat([x for x, _ in data.loader("train", 2, indices=order)])
    assert torch.equal(xs, data.x_train[order])
    with pytest.raises(ValueError, match="not both"):
        data.loader("train", 2, shuffle=True, indices=order)
    size = len(data.y_train)
    with pytest.raises(ValueError, match=rf"lie in \[0, {size}\)"):
        data.loader("train", 2, indices=[size])


def _trainer(name, out=None, resume=False, epochs=4, **options):
    space, supernet, data = tiny()
    config = TrainConfig(epochs=epochs, optimizer="sgd", lr=0.05, batch_size=16, seed=1)
    sampler = create_sampler(name, **options)
    return SupernetTrainer(
        supernet, data, config, sampler=sampler, space=space, out=out, resume=resume,
        device="cpu", progress=False,
    )  # fmt: skip


def test_split_batches_train_each_path_on_its_share():
    trainer = _trainer("multi_path", num_paths=3)
    reference = _trainer("multi_path", num_paths=3)
    x, y = trainer.data.x_train[:10], trainer.data.y_train[:10]
    specs = reference.sampler.sample(np.random.default_rng(1))
    shares = [slice(0, 4), slice(4, 7), slice(7, 10)]  # equal up to one example
    expected = sum(
        F.cross_entropy(reference.supernet(x[s], spec), y[s]) * (s.stop - s.start) / 10
        for spec, s in zip(specs, shares, strict=True)
    )
    expected.backward()
    loss = trainer.weight_step(x, y)
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6)
    got = dict(trainer.supernet.named_parameters())
    for name, param in reference.supernet.named_parameters():
        assert (param.grad is None) == (got[name].grad is None), name
        if param.grad is not None:
            assert torch.allclose(got[name].grad, param.grad, atol=1e-6), name
    two = _trainer("multi_path", num_paths=4)
    assert two.weight_step(x[:2], y[:2]) > 0  # fewer examples than paths: 2 shares


def test_pada_draws_each_epoch_from_its_data_weights_and_anneals_the_paths():
    trainer = _trainer("pada", epochs=3)
    seen = []
    observe = trainer.sampler.observe_data
    trainer.sampler.observe_data = lambda i, z, t: (seen.append(list(i)), observe(i, z, t))[1]
    trainer.fit()
    size, steps = len(trainer.data.y_train), trainer.steps_per_epoch
    first = sorted(i for batch in seen[:steps] for i in batch)
    assert first == list(range(size))  # epoch 0: a plain shuffle
    later = [i for batch in seen[steps : 2 * steps] for i in batch]
    assert len(later) == size
    assert len(set(later)) < size  # epoch 1: drawn with replacement
    assert trainer.sampler.data.tau == pytest.approx(2 / 3)
    p = trainer.sampler.probabilities
    assert p[2] + p[3] > 0.4 + 1e-6 and p[0] == pytest.approx(0.2 / 3)


@pytest.mark.parametrize("name", ["pada", "control", "multi_path", "pada_data"])
def test_a_resumed_training_equals_an_uninterrupted_one(tmp_path, name, interrupt_fit):
    options = {"per_cell": True}
    straight = _trainer(name, **options)
    straight.fit()

    interrupt_fit(_trainer(name, out=tmp_path, **options), 2)
    resumed = _trainer(name, out=tmp_path, resume=True, **options)
    resumed.fit()
    assert resumed.sampler.state_dict() == straight.sampler.state_dict()
    for a, b in zip(
        straight.supernet.state_dict().values(), resumed.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


@pytest.mark.parametrize("family", ["tdnn", "pooling"])
def test_multi_path_trains_other_families(family):
    entry = examples()[family]
    space = entry.obj()
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = synthetic(16, entry.meta["input_shape"], space.num_classes, seed=0)
    config = TrainConfig(epochs=1, optimizer="sgd", lr=0.01, batch_size=8, max_steps=1)
    trainer = SupernetTrainer(
        supernet, data, config, sampler=create_sampler("multi_path", num_paths=2), space=space,
        device="cpu", progress=False,
    )  # fmt: skip
    assert np.isfinite(trainer.fit()["loss"])
