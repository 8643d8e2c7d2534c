"""Activation- and output-based zero-cost proxies worked by hand on tiny networks.

- ``nwot`` (Mellor et al. 2021, v2): binary codes ``c = 1[input > 0]`` of every rectifier call,
  ``K[i, j]`` = the number of code bits on which samples ``i`` and ``j`` agree, score
  ``log|det K|``.
- ``jacov`` (Mellor et al. 2021, v1): per-sample input Jacobians ``J`` of the summed output,
  their correlation matrix with eigenvalues ``l``, score ``-sum(log(l + k) + 1 / (l + k))``,
  ``k = 1e-5``.
- ``epsinas`` (Gracheva 2021): weights set to one constant ``w`` and biases to 0, for two
  constants; each output vector min-max normalised, exact zeros dropped, score
  ``mean|y1 - y2| / mean(y1, y2)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symnas.algorithms.zero_cost import activation


def _linear(weight: list[list[float]]) -> nn.Linear:
    w = torch.tensor(weight)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(w)
    return layer


def _nwot_two_layers(x: torch.Tensor) -> float:
    return activation.nwot(
        nn.Sequential(nn.ReLU(), _linear([[1.0, -1.0]]), nn.ReLU()), torch.as_tensor(x)
    )


def test_nwot_counts_agreeing_bits_over_every_rectifier():
    # Layer-1 codes 1[x > 0]; layer 2 sees relu(x1) - relu(x2):
    #   [2, 2]   -> codes 1 1 | 0  (2 - 2 = 0 exactly: not > 0)
    #   [2, -1]  -> codes 1 0 | 1  (2 - 0 = 2)
    #   [-1, -1] -> codes 0 0 | 0  (0 - 0 = 0)
    # Agreements: K = [[3, 1, 1], [1, 3, 1], [1, 1, 3]], det = 3 * 8 - 2 - 2 = 20.
    x = torch.tensor([[2.0, 2.0], [2.0, -1.0], [-1.0, -1.0]])
    assert _nwot_two_layers(x) == pytest.approx(math.log(20.0), rel=1e-12)
    # Only the sign of the determinant's log is dropped: a larger agreement shows in K.
    y = torch.tensor([[2.0, 2.0], [2.0, -1.0], [-1.0, 3.0]])
    # [-1, 3] -> codes 0 1 | 0: K = [[3, 1, 2], [1, 3, 0], [2, 0, 3]], det = 27 - 3 - 12 = 12.
    assert _nwot_two_layers(y) == pytest.approx(math.log(12.0), rel=1e-12)


def test_nwot_of_identical_codes_is_minus_infinity():
    # Two samples with the same codes make two equal rows of K.
    x = torch.tensor([[1.0, -1.0], [2.0, -3.0], [-1.0, 1.0]])
    assert activation.nwot(nn.Sequential(nn.ReLU()), x) == -math.inf


def test_nwot_codes_use_batch_statistics():
    # Train-mode batch norm centres each feature: feature 1 (1, 2, 3) has mean 2, feature 2
    # (4, 1, 2) mean 7/3; codes 0 1, 0 0, 1 0; K = [[2, 1, 0], [1, 2, 1], [0, 1, 2]], det 4.
    # With the running statistics (mean 0, variance 1) every code would be 1 1: K singular.
    net = nn.Sequential(nn.BatchNorm1d(2), nn.ReLU()).eval()
    x = torch.tensor([[1.0, 4.0], [2.0, 1.0], [3.0, 2.0]])
    assert activation.nwot(net, x) == pytest.approx(math.log(4.0), rel=1e-9)
    assert not net.training


@pytest.mark.parametrize(
    "rectifier",
    [F.relu, torch.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.elu, torch.Tensor.relu],
    ids=lambda f: f.__name__,
)
def test_nwot_codes_every_rectifier_like_function(rectifier):
    class Net(nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return rectifier(h)

    x = torch.tensor([[2.0, 2.0], [2.0, -1.0], [-1.0, -1.0]])
    # Codes 1 1, 1 0, 0 0: K = [[2, 1, 0], [1, 2, 1], [0, 1, 2]], det 4.
    assert activation.nwot(Net(), x) == pytest.approx(math.log(4.0), rel=1e-12)


def test_nwot_passes_keyword_arguments_and_skips_tensors_without_the_batch():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate = nn.Parameter(torch.tensor([1.0, -1.0, 2.0, 0.5]))

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            scale = torch.relu(self.gate).sum()  # 4 values, not a batch of 3: not coded
            # A slope of -1 makes |h|: the second call's codes are 1 wherever h != 0.
            return F.relu(F.leaky_relu(h, negative_slope=-1.0)) * scale

    x = torch.tensor([[2.0, 2.0], [2.0, -1.0], [-1.0, -1.0]])
    # First call: codes 1 1, 1 0, 0 0; second call: 1 1 for every sample. Four bits:
    # K = [[4, 3, 2], [3, 4, 3], [2, 3, 4]], det = 4 * 7 - 3 * 6 + 2 * 1 = 12.
    assert activation.nwot(Net(), x) == pytest.approx(math.log(12.0), rel=1e-12)


def test_jacov_of_two_rectified_samples():
    # d sum(relu(x)) / dx = 1[x > 0]: J1 = [1, 1, 0], J2 = [1, 0, 1]. Centred: [1, 1, -2] / 3
    # and [1, -2, 1] / 3, correlation (1 - 2 - 2) / 6 = -1/2, eigenvalues 1/2 and 3/2.
    x = torch.tensor([[1.0, 2.0, -1.0], [3.0, -1.0, 2.0]])
    k = 1e-5
    expected = -sum(math.log(v + k) + 1.0 / (v + k) for v in (0.5, 1.5))
    assert activation.jacov(nn.Sequential(nn.ReLU()), x) == pytest.approx(expected, rel=1e-9)
    # A linear layer after the rectifier scales each Jacobian row; correlations are unchanged.
    scaled = nn.Sequential(nn.ReLU(), _linear([[3.0, 3.0, 3.0]]))
    assert activation.jacov(scaled, x) == pytest.approx(expected, rel=1e-6)


def test_jacov_is_nan_when_a_jacobian_is_constant():
    # The first sample's Jacobian [1, 1, 1] has no variance: its correlations are undefined.
    # NaN without a numpy warning.
    x = torch.tensor([[1.0, 2.0, 1.0], [3.0, -1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(activation.jacov(nn.Sequential(nn.ReLU()), x))


def _tanh_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 1), nn.Tanh(), nn.Linear(1, 1))


def test_epsinas_of_a_tanh_network_worked_by_hand():
    # Weights w, biases 0: y(x) = w tanh(w x). On x = 0, 1, 2 the min-max normalised output is
    # [0, tanh(w) / tanh(2 w), 1]; the zero is dropped under both constants, the last gap is 0:
    # score = (|a - b| / 2) / ((a + 1 + b + 1) / 4) with a, b the middle values for w1, w2.
    x = torch.tensor([[0.0], [1.0], [2.0]])
    w1, w2 = 0.5, 2.0
    a, b = (math.tanh(w) / math.tanh(2 * w) for w in (w1, w2))
    expected = (abs(a - b) / 2) / ((a + b + 2) / 4)
    net = _tanh_net()
    before = [p.detach().clone() for p in net.parameters()]
    assert activation.epsinas(net, x, (w1, w2)) == pytest.approx(expected, rel=1e-5)
    for p, q in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, q)
    # The constants matter, the random initialisation does not; the order of the two does not.
    assert activation.epsinas(net, x, (w2, w1)) == pytest.approx(expected, rel=1e-5)
    assert activation.epsinas(net, x, (w1, 1.0)) != pytest.approx(expected, rel=1e-3)


def test_epsinas_gap_drops_exact_zeros_and_averages_both_outputs():
    first = np.array([0.2, 0.5, 1.0, 0.0])
    second = np.array([0.4, 0.0, 1.0, 0.0])
    # Gaps where both are non-zero: 0.2 and 0; mean 0.1. Non-zero outputs: 0.2, 0.5, 1, 0.4, 1,
    # mean 3.1 / 5.
    assert activation.epsinas_gap(first, second) == pytest.approx(0.1 / (3.1 / 5))
    assert first[1] == 0.5 and second[1] == 0.0  # the inputs are not modified
    # No output defined under both: NaN, without a warning about an empty mean.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(activation.epsinas_gap(np.array([0.0, 1.0]), np.array([1.0, 0.0])))


def test_normalise_output_min_max_and_infinities():
    # Undefined values (inf / inf, 0 / 0, all missing) are NaN, without numpy warnings.
    out = torch.tensor([[2.0, 4.0], [float("inf"), 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dropped = activation.normalise_output(out, drop_inf=True)
        assert np.allclose(dropped, [0.0, 1.0, np.nan, 0.5], equal_nan=True)
        kept = activation.normalise_output(out)
        assert kept[0] == 0.0 and np.isnan(kept[2]) and kept[1] == 0.0
        infinite = torch.full((3,), float("inf"))
        assert np.all(np.isnan(activation.normalise_output(infinite, drop_inf=True)))
        assert np.all(np.isnan(activation.normalise_output(torch.full((3,), 1.5))))


def test_constant_fill_sets_weights_zeroes_biases_and_keeps_the_rest():
    p = torch.randn(2, 3)
    assert torch.equal(
        activation.constant_fill("block.0.weight", p, 0.25), torch.full((2, 3), 0.25)
    )
    assert torch.equal(
        activation.constant_fill("attn.in_proj_weight", p, 2.0), torch.full_like(p, 2)
    )
    assert torch.equal(activation.constant_fill("attn.in_proj_bias", p, 2.0), torch.zeros(2, 3))
    assert torch.equal(activation.constant_fill("bias", p, 2.0), torch.zeros(2, 3))
    assert activation.constant_fill("pos_embedding", p, 2.0) is None
    # Only the last name component counts.
    assert activation.constant_fill("weight_net.scale", p, 2.0) is None


def test_epsinas_fills_tied_weights_under_every_name():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(1, 1)
            self.b = nn.Linear(1, 1)
            self.b.weight = self.a.weight
            self.offset = nn.Parameter(torch.tensor([0.7]))

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.b(torch.tanh(self.a(h)))) + self.offset

    x = torch.tensor([[0.0], [1.0], [2.0]])
    # y = tanh(w tanh(w x)) + 0.7: the offset is no weight (kept), and cancels in min-max.
    w1, w2 = 0.5, 2.0

    def middle(w: float) -> float:
        y = [math.tanh(w * math.tanh(w * v)) for v in (0.0, 1.0, 2.0)]
        return (y[1] - y[0]) / (y[2] - y[0])

    a, b = middle(w1), middle(w2)
    expected = (abs(a - b) / 2) / ((a + b + 2) / 4)
    assert activation.epsinas(Tied(), x, (w1, w2)) == pytest.approx(expected, rel=1e-5)


class _Window(nn.Module):
    """``w * x`` for the constant weight ``w`` in ``[10^lowest, 10^highest]``, a constant output
    (NaN epsinas) outside; ``overflow`` makes the last output infinite."""

    def __init__(self, lowest: float = -99, highest: float = 99, overflow: bool = False) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1, bias=False)
        self.bounds = (10.0 ** (lowest - 0.5), 10.0 ** (highest + 0.5))
        self.overflow = overflow

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w = float(self.layer.weight)
        out = self.layer(h) if self.bounds[0] <= w <= self.bounds[1] else torch.zeros_like(h)
        if self.overflow:
            out = torch.cat([out[:-1], torch.full_like(out[-1:], float("inf"))])
        return out


X = torch.tensor([[1.0], [2.0], [3.0], [4.0]])


def test_search_epsinas_weights_takes_the_widest_then_lowest_defined_pair():
    # Defaults: the reference's 1e-7 .. 1e0.
    assert activation.search_epsinas_weights([_Window()], X) == (1e-7, 1.0)
    assert activation.search_epsinas_weights([_Window()], X, low=-2, high=4) == (1e-2, 1e4)
    # Widest window 3 fails (1e-6 is outside), then (1e-6, 1e-4) fails, (1e-5, 1e-3) holds.
    assert activation.search_epsinas_weights([_Window(-5, 0)], X, -6, -3) == (1e-5, 1e-3)
    # Pairs stay within [10^low, 10^high], down to a window of one decade.
    assert activation.search_epsinas_weights([_Window(-5, 0)], X, -6, -4) == (1e-5, 1e-4)
    assert activation.search_epsinas_weights([_Window(3, 4)], X, 3, 5) == (1e3, 1e4)


def test_search_epsinas_weights_allows_a_fraction_of_nan_scores():
    nets = [_Window(), _Window(0, 2)]
    # Half the scores NaN for the widest pair: accepted only when more than half may be NaN.
    assert activation.search_epsinas_weights(nets, X, 0, 4, max_nan_fraction=0.6) == (1.0, 1e4)
    assert activation.search_epsinas_weights(nets, X, 0, 4, max_nan_fraction=0.5) == (1.0, 1e2)
    assert activation.search_epsinas_weights(nets, X, 0, 4, max_nan_fraction=1.0) == (1.0, 1e4)


def test_an_infinite_output_is_missing_in_the_search_and_nan_for_epsinas():
    # The reference drops infinite outputs while searching the weights: the finite outputs
    # [w, 2w, 3w] give a defined score. epsinas itself is NaN for an overflow.
    overflowing = _Window(overflow=True)
    assert activation.search_epsinas_weights([overflowing], X, 0, 2) == (1.0, 1e2)
    assert math.isnan(activation.epsinas(overflowing, X, (1.0, 1e2)))
    assert activation.epsinas(_Window(), X, (1.0, 1e2)) == 0.0


def test_search_epsinas_weights_rejects_bad_arguments():
    net = _Window()
    with pytest.raises(
        ValueError, match=r"^search_epsinas_weights: need low < high; got low=0, high=0\.$"
    ):
        activation.search_epsinas_weights([net], X, low=0, high=0)
    for bad in (0.0, 1.5):
        with pytest.raises(
            ValueError, match=rf"^max_nan_fraction must be in \(0, 1\]; got {bad}\.$"
        ):
            activation.search_epsinas_weights([net], X, max_nan_fraction=bad)
    with pytest.raises(ValueError, match=r"^search_epsinas_weights: modules is empty\.$"):
        activation.search_epsinas_weights([], X)
    with pytest.raises(
        ValueError,
        match=r"^search_epsinas_weights: every pair in \[1e-2, 1e0\] gives at least 10% NaN "
        r"scores\.$",
    ):
        activation.search_epsinas_weights([_Window(5, 6)], X, low=-2, high=0)


def test_nwot_accumulates_its_kernel_on_the_device_of_the_batch():
    codes = activation._BinaryCodes(3, torch.device("meta"))
    assert codes.kernel.device.type == "meta" and codes.kernel.dtype == torch.float64
    assert codes.kernel.shape == (3, 3) and codes.calls == 0
