"""The QuantLLM-style scheduler (``quant_scheduler``): its stated rates, that sampling follows
them, its precision groups, its running losses and its settings."""

from __future__ import annotations

import numpy as np
import pytest

from symnas import spaces
from symnas.algorithms.samplers import QuantScheduler, create_sampler
from symnas.spaces.quantization import unit_bits


def _space():
    return spaces.quantized(
        spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8), bits=(2, 4, 8, 32)
    )


def _bound(**options):
    return create_sampler("quant_scheduler", **options).bind(_space())


def test_rates_are_uniform_until_every_group_has_a_loss_then_follow_the_stated_rule():
    sampler = _bound(temperature=0.1, floor=0.2)
    assert sampler.levels == [2, 4, 8, 32]
    assert np.allclose(sampler.rates(), 0.25)
    sampler.load_state_dict(
        {"levels": [2, 4, 8, 32], "loss": [2.0, 1.0, None, 1.0], "seen": [1, 1, 0, 1]}
    )
    assert np.allclose(sampler.rates(), 0.25)
    losses = np.array([2.0, 1.2, 1.0, 0.8])
    sampler.load_state_dict({"levels": [2, 4, 8, 32], "loss": losses.tolist(), "seen": [1] * 4})
    gaps = (losses - losses.mean()) / (0.1 * losses.mean())
    soft = np.exp(gaps) / np.exp(gaps).sum()
    expected = 0.2 / 4 + 0.8 * soft
    assert np.allclose(sampler.rates(), expected)
    assert np.all(np.diff(sampler.rates()) < 0)  # the lagging 2-bit group is drawn most
    assert sampler.rates().min() >= 0.2 / 4


def test_sampled_groups_follow_the_rates():
    sampler = _bound(num_paths=4)
    sampler.load_state_dict(
        {"levels": [2, 4, 8, 32], "loss": [1.6, 1.2, 1.0, 1.0], "seen": [1] * 4}
    )
    rates, rng, n = sampler.rates(), np.random.default_rng(0), 1500
    counts = np.zeros(4)
    for _ in range(n // 4):
        sampler.sample(rng)
        for _, group in sampler._pending:
            counts[group] += 1
    frequencies = counts / counts.sum()
    tolerance = 4 * np.sqrt(rates * (1 - rates) / counts.sum())
    assert np.all(np.abs(frequencies - rates) <= tolerance), (frequencies, rates)


def test_a_groups_configurations_centre_on_its_bit_width():
    sampler = _bound(sigma=0.5)
    rng = np.random.default_rng(1)
    means = {}
    for group in range(4):
        levels = [
            np.mean(
                [
                    sampler.levels.index(b)
                    for pair in _searched(sampler._draw(group, rng))
                    for b in pair
                ]
            )
            for _ in range(40)
        ]
        means[group] = float(np.mean(levels))
    assert means[0] < means[1] < means[2] < means[3]
    assert means[0] < 0.5 and means[3] > 2.5
    bits = unit_bits(sampler._draw(0, rng))  # a spec of the space: edges fixed, bits offered
    assert bits["layers.0"] == bits["fc"] == (8, 8)
    assert {b for pair in bits.values() for b in pair} <= {2, 4, 8, 32}


def _searched(spec):
    bits = unit_bits(spec)
    return [bits[u] for u in bits if u not in ("layers.0", "fc")]


def test_running_losses_are_exponential_averages_per_drawn_group():
    sampler = _bound(num_paths=2, momentum=0.5)
    rng = np.random.default_rng(2)
    specs = sampler.sample(rng)
    groups = [group for _, group in sampler._pending]
    sampler.update(list(reversed(specs)), [3.0, 1.0])  # order as a GPG step reorders them
    expected = {}
    for group, loss in zip(reversed(groups), [3.0, 1.0], strict=True):
        expected[group] = loss if group not in expected else 0.5 * expected[group] + 0.5 * loss
    for group, loss in expected.items():
        assert sampler.loss[group] == pytest.approx(loss)
    assert sum(sampler.seen) == 2
    with pytest.raises(ValueError, match="a spec it did not draw"):
        sampler.update(specs[:1], [1.0])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_paths": 0}, "num_paths must be an int >= 1"),
        ({"sigma": 0}, "sigma must be a positive number"),
        ({"momentum": 1.0}, r"momentum must lie in \[0, 1\)"),
        ({"floor": 1.5}, "floor must be at most 1.0"),
    ],
)
def test_bad_settings_are_refused_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        QuantScheduler(**options)


def test_it_binds_only_to_a_quantized_space():
    with pytest.raises(ValueError, match="draws from a quantized space"):
        QuantScheduler().bind(spaces.resnet20_pooling())
    sampler = _bound()
    with pytest.raises(ValueError, match="levels"):
        sampler.load_state_dict({"levels": [2, 4], "loss": [None, None], "seen": [0, 0]})
