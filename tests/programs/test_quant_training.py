"""EQ-Net's training losses (``programs.training.quant_losses``) and the shared trainer training a
quantization supernet with them."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symnas import programs, spaces
from symnas.algorithms.samplers import QuantScheduler, UniformSampler
from symnas.programs.data import synthetic
from symnas.programs.training.estimator import SupernetEstimator, recalibrate_bn
from symnas.programs.training.quant_losses import (
    mean_bits,
    progressive_guidance_losses,
    weight_distribution_loss,
)
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.programs.training.train import evaluate


def _moments(w: torch.Tensor) -> tuple[float, float]:
    values = w.detach().flatten().double().numpy()
    z = (values - values.mean()) / values.std(ddof=1)
    return float(np.mean(z**4)), float(np.mean(z**3))


def test_wdr_pulls_kurtosis_to_1_8_and_skewness_to_0_over_all_layers_but_the_first():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(16, 3)
    )
    with torch.no_grad():
        model[2].weight.exponential_()  # a skewed, heavy-tailed layer
    moments = [_moments(m.weight) for m in (model[2], model[4])]
    expected = 0.015 * np.mean([(k - 1.8) ** 2 for k, _ in moments]) + 1.0 * np.mean(
        [s**2 for _, s in moments]
    )
    loss = weight_distribution_loss(model, 0.015, 1.0)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert model[0].weight.grad is None and model[2].weight.grad.abs().sum() > 0


def _specs():
    arch = spaces.nb201_arch(
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
        C=2,
        N=1,
        num_classes=3,
        in_chans=1,
    )
    return [spaces.quant_spec(arch, bits, edge_bits=None) for bits in (2, 8, 4)]


def test_gpg_orders_by_precision_and_distils_each_group_from_the_one_before():
    torch.manual_seed(0)
    logits = {2: torch.randn(5, 3), 4: torch.randn(5, 3), 8: torch.randn(5, 3)}
    y = torch.tensor([0, 1, 2, 0, 1])
    ordered, losses = progressive_guidance_losses(
        _specs(), lambda spec: logits[int(mean_bits(spec))], y, 0.5, F.cross_entropy
    )
    assert [mean_bits(s) for s in ordered] == [8, 4, 2]
    assert float(losses[0]) == pytest.approx(float(F.cross_entropy(logits[8], y)))
    for student, teacher, loss in ((4, 8, losses[1]), (2, 4, losses[2])):
        p = F.softmax(logits[teacher], dim=1)
        kl = (p * (p.log() - F.log_softmax(logits[student], dim=1))).sum(dim=1).mean()
        expected = 0.5 * kl + 0.5 * F.cross_entropy(logits[student], y)
        assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def _trainer(sampler, **options):
    space = spaces.quantized(
        spaces.nb201_cell(C=2, N=1, num_classes=3, in_chans=1),
        bits=(2, 4, 8),
        granularity=("per_channel",),
        symmetric=(True,),
    )
    torch.manual_seed(0)
    supernet = programs.supernet(space, affine=False)
    data = synthetic(64, (1, 8, 8), 3, seed=0, noise=0.5)
    options = {"epochs": 1, **options}
    config = TrainConfig(batch_size=16, lr=0.05, seed=0, **options)
    return SupernetTrainer(
        supernet, data, config, sampler=sampler, space=space, device="cpu", progress=False
    )


def test_the_shared_trainer_trains_the_quantized_supernet_with_wdr_gpg_and_the_scheduler():
    trainer = _trainer(
        QuantScheduler(num_paths=3), wdr_kurtosis=0.015, wdr_skewness=1.0, gpg_alpha=0.5
    )
    record = trainer.fit()
    assert np.isfinite(record["loss"]) and record["step"] == 3
    assert sum(trainer.sampler.seen) == 9
    steps = [
        q.step
        for layer in trainer.supernet.layers.values()
        for q in layer.weight_quantizers.values()
        if bool(q.initialized)
    ]
    assert steps and all(torch.isfinite(s).all() for s in steps)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"wdr_kurtosis": -1.0}, r"wdr_kurtosis must be a number >= 0"),
        ({"gpg_alpha": 1.5}, r"gpg_alpha must be None or a number in \[0, 1\]"),
    ],
)
def test_bad_loss_options_are_refused_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        _trainer(UniformSampler(), **options)


def test_gpg_needs_specs_trained_on_the_whole_batch():
    class Split(UniformSampler):
        split_batch = True

    with pytest.raises(ValueError, match=r"gpg_alpha .* needs a path sampler"):
        _trainer(Split(num_paths=2), gpg_alpha=0.5)


def test_the_estimator_scores_configurations_with_recalibrated_bn_as_their_extracted_networks():
    trainer = _trainer(UniformSampler(num_paths=2), max_steps=2)
    trainer.fit()
    spec = _specs()[0]
    estimator = SupernetEstimator(
        trainer.supernet, trainer.data, recalibrate_batches=2, device="cpu"
    )
    scores = estimator(spec)
    model = recalibrate_bn(
        trainer.supernet, spec, trainer.data.loader("train", 256, shuffle=False), 2
    )
    assert scores["accuracy"] == pytest.approx(evaluate(model, trainer.data)["accuracy"])


def test_a_resumed_scheduled_training_ends_with_the_uninterrupted_weights(tmp_path, interrupt_fit):
    def trainer(out, resume=False):
        made = _trainer(QuantScheduler(num_paths=2), epochs=2, gpg_alpha=0.5)
        made.out, made.resume = out, resume
        return made

    whole = trainer(tmp_path / "whole")
    whole.fit()
    interrupt_fit(trainer(tmp_path / "split"), 1)  # as the second epoch begins
    resumed = trainer(tmp_path / "split", resume=True)
    resumed.fit()
    assert resumed.sampler.state_dict() == whole.sampler.state_dict()
    for (name, a), b in zip(
        whole.supernet.state_dict().items(), resumed.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_a_supernet_trained_on_one_configuration_is_static_qat_of_it():
    family = spaces.resnet_pooling((4, 4, 8), num_pools=1, num_classes=3, in_chans=1, image_size=8)
    space = spaces.quantized(family, bits=(2, 4))
    arch = pg.to_json(family.clone(override={"pool_at": [1]}))
    spec = spaces.quant_spec(arch, 2)
    data = synthetic(64, (1, 8, 8), 3, seed=0, noise=0.5)
    recipe = {"batch_size": 16, "lr": 0.05, "optimizer": "sgd", "seed": 0}
    torch.manual_seed(0)
    supernet = programs.supernet(space, batch_stats=False)
    config = TrainConfig(epochs=2, **recipe)
    SupernetTrainer(
        supernet,
        data,
        config,
        sampler=UniformSampler(specs=[spec]),
        space=space,
        device="cpu",
        progress=False,
    ).fit()
    torch.manual_seed(0)
    static = programs.build(spec)
    programs.train(static, data, 2, **recipe)
    inherited, trained = supernet.extract(spec).state_dict(), static.state_dict()
    assert set(inherited) == set(trained)
    for key, tensor in trained.items():
        assert torch.equal(inherited[key], tensor), key
