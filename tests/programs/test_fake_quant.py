"""LSQ fake quantization (``programs.families.fake_quant``): the paper's gradients, the
initialisation, the step-size guard, and PyTorch's learnable fake-quantize op beside it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from symnas.programs.families.fake_quant import (
    STEP_EPS,
    QuantConv2d,
    Quantizer,
    QuantLinear,
    QuantSetting,
    lsq_quantize,
)


def _paper_step_gradient(x, step, qmin, qmax, g):
    """Esser et al. 2020, eq. 3 times the gradient scale g, summed over x."""
    v = x / step
    inside = torch.where(v > qmin, torch.where(v < qmax, v.round() - v, qmax), qmin)
    return g * inside.to(torch.float64).sum()


def test_the_step_size_gradient_is_lsq_equation_3_with_its_scale():
    torch.manual_seed(0)
    x = 0.7 * torch.randn(200, dtype=torch.float64)
    for bits in (2, 3, 4, 8):
        qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        step = torch.tensor([0.21], dtype=torch.float64, requires_grad=True)
        g = 1 / math.sqrt(x.numel() * qmax)
        lsq_quantize(x, step, torch.zeros(1, dtype=torch.float64), qmin, qmax, g).sum().backward()
        expected = _paper_step_gradient(x, 0.21 + STEP_EPS, qmin, qmax, g)
        assert float(step.grad) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_rounding_passes_the_gradient_straight_through_inside_the_range_only():
    x = torch.tensor([-1.0, -0.1, 0.05, 0.2, 5.0], requires_grad=True)
    lsq_quantize(x, torch.tensor([0.1]), torch.zeros(1), -4, 3, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_pytorch_learnable_fake_quantize_agrees_inside_the_range_and_not_at_the_bounds():
    qmin, qmax = -2, 1
    inside = torch.linspace(-0.55, 0.25, 40)  # x / s within (-1.9, 0.9)
    beyond = torch.tensor([0.33, 0.40, 0.50])  # x / s = 1.1, 1.33, 1.67 > Q_P
    grads = {}
    for name, x in (("inside", inside), ("beyond", beyond)):
        ours, theirs = (torch.tensor([0.3], requires_grad=True) for _ in range(2))
        y_ours = lsq_quantize(x, ours, torch.zeros(1), qmin, qmax, 1.0)
        y_theirs = torch._fake_quantize_learnable_per_tensor_affine(
            x, theirs, torch.zeros(1), qmin, qmax, 1.0
        )
        assert torch.allclose(y_ours, y_theirs, atol=1e-5)
        y_ours.sum().backward()
        y_theirs.sum().backward()
        grads[name] = (float(ours.grad), float(theirs.grad))
    assert grads["inside"][0] == pytest.approx(grads["inside"][1], abs=1e-4)
    # LSQ gives Q_P = 1 to each of the three; PyTorch's op gives round(v) - v to the two that
    # round back into the range (1 - 1.1, 1 - 1.33) and Q_P only to the third.
    assert grads["beyond"][0] == pytest.approx(3.0, abs=1e-4)
    assert grads["beyond"][1] == pytest.approx(1.0 - 0.1 - 1 / 3 - 1e-6, abs=1e-3)


def test_weight_step_sizes_start_at_twice_the_mean_magnitude_over_root_qp():
    torch.manual_seed(1)
    w = torch.randn(8, 4, 3, 3)
    for bits in (2, 4, 8):
        qp = 2 ** (bits - 1) - 1
        tensor = Quantizer(QuantSetting(bits, False, True))
        tensor(w)
        assert float(tensor.step.detach()) == pytest.approx(
            float(2 * w.abs().mean() / math.sqrt(qp))
        )
        channel = Quantizer(QuantSetting(bits, True, True), channels=8)
        channel(w)
        expected = 2 * w.reshape(8, -1).abs().mean(dim=1) / math.sqrt(qp)
        assert torch.allclose(channel.step, expected)


def test_activations_after_a_relu_use_the_unsigned_range():
    quantizer = Quantizer(QuantSetting(2, False, True), weight=False)
    out = quantizer(torch.relu(torch.randn(4, 3, 5, 5)))
    assert bool(quantizer.unsigned) and quantizer.levels() == (0, 3)
    assert out.min() >= 0 and len(torch.unique(out)) <= 4


def test_an_asymmetric_quantizer_covers_the_range_and_learns_its_offset():
    x = torch.linspace(1.0, 3.0, 101)
    quantizer = Quantizer(QuantSetting(3, False, False), weight=False)
    out = quantizer(x)
    assert float(out.detach().min()) == pytest.approx(1.0, abs=1e-5)
    assert float(out.detach().max()) == pytest.approx(3.0, abs=1e-5)
    assert len(torch.unique(out)) == 8
    (out - 2.0).square().sum().backward()
    assert quantizer.offset.grad is not None and quantizer.step.grad is not None


@pytest.mark.parametrize("step", [0.0, -0.0, -1e-3])
def test_two_bit_quantization_of_a_zero_or_negative_step_gives_no_nan(step):
    quantizer = Quantizer(QuantSetting(2, True, True), channels=4)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    quantizer(w)  # initialise, then break the step size
    with torch.no_grad():
        quantizer.step.fill_(step)
    out = quantizer(w)
    out.square().sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(quantizer.step.grad).all() and torch.isfinite(w.grad).all()


def test_quantized_layers_share_the_float_layer_weights_and_float_is_unquantized():
    torch.manual_seed(2)
    conv, linear = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(5, 2)
    x = torch.randn(2, 3, 6, 6)
    float32 = QuantSetting(32, False, True)
    same = QuantConv2d(conv, float32, float32)
    assert same.weight is conv.weight and same.weight_quantizer is None
    assert torch.equal(same(x), conv(x))
    four = QuantConv2d(conv, QuantSetting(4, True, True), QuantSetting(4, False, True))
    assert four.weight_quantizer.step.shape == (4,)
    assert not torch.equal(four(x), conv(x))
    two = QuantLinear(linear, QuantSetting(2, False, False), float32)
    assert two.act_quantizer is None and two.weight_quantizer.step.shape == (1,)
    assert len(torch.unique(two.weight_quantizer(linear.weight))) <= 4
