"""Zero-cost proxies with closed forms, computed by hand on networks with chosen weights.

- ``l2_norm``: the sum over convolution and linear layers of the Frobenius norm of the weight
  (biases and norm layers excluded);
- ``params``: millions of trainable parameters;
- ``grad_norm``, ``snip``, ``plain`` on one linear layer: with logits ``z = W x`` and
  cross-entropy, ``dL/dW = (softmax(z) - onehot(y)) x^T``;
- ``synflow`` on a bias-free linear chain: ``R = 1^T |W_L| ... |W_1| 1`` is linear in every
  layer's weights, so each layer's ``sum |W * dR/dW|`` equals ``R`` and the score is ``L * R``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from symnas.algorithms import zero_cost


def _linear(weight: list[list[float]], bias: bool = False) -> nn.Linear:
    w = torch.tensor(weight)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias:
            layer.bias.fill_(10.0)
    return layer


def test_l2_norm_is_the_sum_of_layer_weight_norms():
    conv = nn.Conv2d(1, 2, 2, bias=True)
    with torch.no_grad():
        conv.weight.fill_(0.5)  # 8 weights of 0.5: norm sqrt(8 * 0.25) = sqrt(2)
        conv.bias.fill_(100.0)
    net = nn.Sequential(
        conv,
        nn.BatchNorm2d(2),
        nn.Flatten(),
        _linear([[3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]] + [[0.0] * 8] * 2, bias=True),
    )
    with torch.no_grad():
        net[1].weight.fill_(7.0)
    x = torch.randn(2, 1, 3, 3)
    scores = zero_cost.score(net, (x, None), ["l2_norm", "params"])
    assert scores["l2_norm"] == pytest.approx(math.sqrt(2.0) + 5.0)
    # conv 8 + 2, batch norm 2 + 2, linear 24 + 3.
    assert scores["params"] == pytest.approx(41 / 1e6)


def test_l2_norm_grows_with_the_weights():
    net = nn.Sequential(_linear([[1.0, 2.0], [2.0, 0.0]]), nn.ReLU(), _linear([[0.0, 1.0]]))
    x = torch.ones(1, 2)
    base = zero_cost.score(net, (x, None), ["l2_norm"])["l2_norm"]
    assert base == pytest.approx(3.0 + 1.0)
    with torch.no_grad():
        net[2].weight.mul_(4.0)
    assert zero_cost.score(net, (x, None), ["l2_norm"])["l2_norm"] == pytest.approx(3.0 + 4.0)


def test_gradient_proxies_of_one_linear_layer():
    # W = [[2, 0], [0, 1]], x = [1, 1], y = 0: z = [2, 1], softmax(z) - onehot = [-s, s] with
    # s = 1 / (1 + e). dL/dW = [[-s, -s], [s, s]]: grad_norm = ||dL/dW|| = 2 s;
    # snip = sum |dL/dW * W| = 2 s + s = 3 s; plain = sum dL/dW * W = -2 s + s = -s.
    net = _linear([[2.0, 0.0], [0.0, 1.0]])
    batch = (torch.ones(1, 2), torch.tensor([0]))
    scores = zero_cost.score(net, batch, ["grad_norm", "snip", "plain"])
    s = 1.0 / (1.0 + math.e)
    assert scores["grad_norm"] == pytest.approx(2 * s, rel=1e-5)
    assert scores["snip"] == pytest.approx(3 * s, rel=1e-5)
    assert scores["plain"] == pytest.approx(-s, rel=1e-5)
    # The label decides the sign of the gradient: with y = 1, dL/dW = [[s', s'], [-s', -s']]
    # with s' = e / (1 + e), so plain = 2 s' - s' = s'.
    other = zero_cost.score(net, (torch.ones(1, 2), torch.tensor([1])), ["plain"])
    assert other["plain"] == pytest.approx(math.e / (1 + math.e), rel=1e-5)


def test_synflow_of_a_linear_chain_is_depth_times_the_path_sum():
    # |W1| = [[1, 2], [3, 0]] (signs dropped), |W2| = [[1, 1]]: |W1| 1 = [3, 3], R = 6; two
    # layers give 2 * 6 = 12. The ReLU between them sees only positive values.
    net = nn.Sequential(_linear([[1.0, -2.0], [3.0, 0.0]]), nn.ReLU(), _linear([[1.0, -1.0]]))
    x = torch.randn(4, 2)
    assert zero_cost.score(net, (x, None), ["synflow"])["synflow"] == pytest.approx(12.0)
    three = nn.Sequential(
        _linear([[1.0, -2.0], [3.0, 0.0]]), _linear([[1.0, 0.5], [0.0, 2.0]]), _linear([[1.0, 1.0]])
    )
    # |W2| |W1| 1 = [[1, .5], [0, 2]] [3, 3] = [4.5, 6]; R = 10.5; three layers: 31.5.
    assert zero_cost.score(three, (x, None), ["synflow"])["synflow"] == pytest.approx(31.5)


def test_scores_leave_the_module_unchanged():
    net = nn.Sequential(_linear([[2.0, 0.0], [0.0, 1.0]], bias=True), nn.BatchNorm1d(2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    batch = (torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    zero_cost.score(net, batch, ["grad_norm", "snip", "synflow", "l2_norm"])
    assert not net.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in net.parameters())
