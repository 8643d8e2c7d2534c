"""Tests of the zero-cost proxies (algorithms/zero_cost*.py)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symnas import programs, spaces
from symnas.algorithms import zero_cost
from symnas.algorithms.zero_cost.cost import flops, macs
from symnas.algorithms.zero_cost.registry import PROXY_REGISTRY, register_proxy

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def conv_bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def tdnn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(5, 6, 3, dilation=2),
        nn.ReLU(),
        nn.BatchNorm1d(6),
        nn.Conv1d(6, 6, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )


class TinyTransformer(nn.Module):
    """Patch embedding, one pre-norm attention + GELU MLP block, mean-pooled head."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Linear(4, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 16), nn.GELU(), nn.Linear(16, dim))
        self.head = nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        q = self.norm1(h)
        h = h + self.attn(q, q, q, need_weights=False)[0]
        h = h + self.mlp(self.norm2(h))
        return self.head(h.mean(1))


def batch(shape: tuple[int, ...], classes: int = 3, n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.randint(0, classes, (n,), generator=g)


def nb201_net(arch: str, C: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return programs.build(spaces.nb201_arch(arch), C=C, N=1, num_classes=3)


ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"

MODULE_KINDS = {
    "conv_bn": (conv_bn_net, (3, 8, 8)),
    "tdnn": (tdnn_net, (5, 12)),
    "transformer": (TinyTransformer, (5, 4)),
    "nb201_cell": (lambda: nb201_net(ARCH), (3, 8, 8)),
}


@pytest.mark.parametrize("kind", sorted(MODULE_KINDS))
def test_every_proxy_is_finite_deterministic_and_leaves_the_module_unchanged(kind):
    make, shape = MODULE_KINDS[kind]
    torch.manual_seed(1)
    module = make()
    module.eval()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    data = batch(shape)
    first = zero_cost.score(module, data, zero_cost.PROXIES)
    second = zero_cost.score(module, data, zero_cost.PROXIES)
    assert list(first) == list(zero_cost.PROXIES)
    assert first == second
    for name in zero_cost.PROXIES:
        assert math.isfinite(first[name]), (kind, name, first[name])
    assert all(not m.training for m in module.modules())
    assert all(p.grad is None for p in module.parameters())
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_unknown_proxy_lists_valid_names():
    with pytest.raises(ValueError, match="valid proxies: .*synflow"):
        zero_cost.score(conv_bn_net(), batch((3, 8, 8)), ["synflw"])


def test_a_registered_proxy_is_scored_with_its_flags(monkeypatch):
    monkeypatch.setattr(PROXY_REGISTRY, "_entries", dict(PROXY_REGISTRY.entries()))

    @register_proxy("label_count", "how many labels", labelled=True, saliency=True)
    def label_count(inputs):
        return {"labels": torch.tensor(float(len(inputs.y)))}

    net = conv_bn_net()
    x, y = batch((3, 8, 8))
    assert zero_cost.PROXIES[-1] == "label_count" and "label_count" in zero_cost.LABELLED
    assert zero_cost.score(net, (x, y), ["label_count", "params"])["label_count"] == len(y)
    assert zero_cost.saliency(net, (x, y), "label_count") == {"labels": len(y)}
    with pytest.raises(ValueError, match=r"proxies \['label_count'\] need labels"):
        zero_cost.score(net, (x, None), ["label_count"])


def test_bad_inputs_raise_clear_errors():
    net = conv_bn_net()
    x, y = batch((3, 8, 8))
    with pytest.raises(TypeError, match="pair"):
        zero_cost.score(net, x, ["synflow"])
    with pytest.raises(ValueError, match="need labels"):
        zero_cost.score(net, (x, None), ["snip"])
    with pytest.raises(ValueError, match="epsinas_weights"):
        zero_cost.score(net, (x, y), ["epsinas"], epsinas_weights=(1.0, 0.1))
    with pytest.raises(ValueError, match="exactly one"):
        zero_cost.score_specs([{}], (x, y), ["synflow"])
    with pytest.raises(ValueError, match="saliency"):
        zero_cost.saliency(net, (x, y), "nwot")


def test_label_free_proxies_accept_no_labels():
    x, _ = batch((3, 8, 8))
    scores = zero_cost.score(conv_bn_net(), (x, None), ["synflow", "jacov", "nwot", "epsinas"])
    assert all(math.isfinite(v) for v in scores.values())


def test_params_counts_every_parameter_in_millions():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert zero_cost.score(net, batch((4,)), ["params"])["params"] == pytest.approx(23e-6)


def test_synflow_of_a_bias_free_linear_chain_equals_the_closed_form():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 3, bias=False))
    w1, w2 = net[0].weight.detach().abs().double(), net[2].weight.detach().abs().double()
    flow = (w2 @ w1 @ torch.ones(5, dtype=torch.float64)).sum()
    # R is linear in each layer's weights, so sum(W * dR/dW) = R for each of the two layers.
    expected = 2 * float(flow)
    x, _ = batch((5,), n=16)
    assert zero_cost.score(net, (x, None), ["synflow"])["synflow"] == pytest.approx(expected)
    assert zero_cost.score(net, (x[:1] * 7, None), ["synflow"])["synflow"] == pytest.approx(
        expected
    )


def test_synflow_disables_batch_norm():
    torch.manual_seed(0)
    with_bn = conv_bn_net()
    without_bn = nn.Sequential(
        *[nn.Identity() if isinstance(m, nn.BatchNorm2d) else m for m in with_bn]
    )
    data = batch((3, 8, 8))
    a = zero_cost.score(with_bn, data, ["synflow"])["synflow"]
    b = zero_cost.score(without_bn, data, ["synflow"])["synflow"]
    assert a == pytest.approx(b, rel=1e-12)


def test_snip_grasp_fisher_match_the_reference_procedures_on_a_linear_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = batch((6,), n=10)
    scores = zero_cost.score(net, (x, y), ["snip", "grasp", "fisher", "grad_norm", "plain"])

    # snip: gradient of the loss with respect to a ones mask multiplied into each weight.
    masks = [torch.ones_like(net[i].weight, requires_grad=True) for i in (0, 2)]
    h = torch.tanh(F.linear(x, net[0].weight * masks[0], net[0].bias))
    loss = F.cross_entropy(F.linear(h, net[2].weight * masks[1], net[2].bias), y)
    snip = sum(g.abs().sum() for g in torch.autograd.grad(loss, masks))
    assert scores["snip"] == pytest.approx(float(snip), rel=1e-5)

    # grasp: two passes, z = sum(g1 * g2) with g1 detached, then -W * dz/dW.
    weights = [net[0].weight, net[2].weight]
    g1 = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    g2 = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    hg = torch.autograd.grad(
        sum((a.detach() * b).sum() for a, b in zip(g1, g2, strict=True)), weights
    )
    grasp = sum((-w.detach() * h_).sum() for w, h_ in zip(weights, hg, strict=True))
    assert scores["grasp"] == pytest.approx(float(grasp), rel=1e-4)

    # grad_norm and plain from the same gradients.
    assert scores["grad_norm"] == pytest.approx(float(sum(g.norm() for g in g1)), rel=1e-5)
    plain = sum((g * w.detach()).sum() for g, w in zip(g1, weights, strict=True))
    assert scores["plain"] == pytest.approx(float(plain), rel=1e-4, abs=1e-7)

    # fisher: per output channel 0.5 * mean_n (a * dL/da)^2, weighted by the channel's fan-in.
    a1 = F.linear(x, net[0].weight, net[0].bias)
    a2 = F.linear(torch.tanh(a1), net[2].weight, net[2].bias)
    d1, d2 = torch.autograd.grad(F.cross_entropy(a2, y), [a1, a2])
    a1, a2 = a1.detach(), a2.detach()
    fisher = sum(
        0.5 * (a * d).pow(2).mean(0).sum() * fan_in for a, d, fan_in in ((a1, d1, 6), (a2, d2, 5))
    )
    assert scores["fisher"] == pytest.approx(float(fisher), rel=1e-4)


def test_snip_is_invariant_to_rescaling_a_layer_followed_by_batch_norm():
    torch.manual_seed(0)
    net = conv_bn_net()
    data = batch((3, 8, 8))
    before = zero_cost.score(net, data, ["snip"])["snip"]
    with torch.no_grad():
        net[3].weight.mul_(5.0)  # bias-free conv followed by BN: W*dL/dW is scale invariant
    after = zero_cost.score(net, data, ["snip"])["snip"]
    assert after == pytest.approx(before, rel=1e-3)


def test_nwot_of_known_binary_codes():
    x = torch.tensor([[1.0, -1.0, 2.0], [3.0, 1.0, -1.0], [-2.0, -1.0, 1.0]])
    codes = (x > 0).double()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T  # agreements: [[3,1,1],[1,3,0]...]
    expected = np.linalg.slogdet(kernel.numpy())[1]
    got = zero_cost.score(nn.Sequential(nn.ReLU()), (x, None), ["nwot"])["nwot"]
    assert got == pytest.approx(expected)
    assert kernel[0, 1] == 1 and kernel[1, 2] == 0


def test_nwot_codes_functional_and_in_place_rectifiers_like_modules():
    x, _ = batch((6,), n=5)

    class Functional(nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return torch.relu_(F.gelu(h).clone())

    as_modules = nn.Sequential(nn.GELU(), nn.ReLU(inplace=True))
    a = zero_cost.score(Functional(), (x, None), ["nwot"])["nwot"]
    b = zero_cost.score(as_modules, (x, None), ["nwot"])["nwot"]
    assert a == pytest.approx(b) and math.isfinite(a)
    assert math.isnan(zero_cost.score(nn.Linear(6, 2), (x, None), ["nwot"])["nwot"])


def test_jacov_of_a_linear_model_has_the_closed_form():
    torch.manual_seed(0)
    x, _ = batch((7,), n=6)
    # Every sample has the same input Jacobian, so C is all ones: eigenvalues B, 0, ..., 0.
    k, b = 1e-5, 6
    expected = -((math.log(b + k) + 1 / (b + k)) + (b - 1) * (math.log(k) + 1 / k))
    got = zero_cost.score(nn.Linear(7, 3), (x, None), ["jacov"])["jacov"]
    assert got == pytest.approx(expected, rel=1e-6)


def test_epsinas_ignores_the_random_initialisation_and_is_zero_for_homogeneous_nets():
    x, _ = batch((3, 8, 8))
    scores = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        scores.append(zero_cost.score(conv_bn_net(), (x, None), ["epsinas"])["epsinas"])
    assert scores[0] == scores[1] and scores[0] > 0
    homogeneous = nn.Sequential(
        nn.Flatten(), nn.Linear(192, 5, bias=False), nn.ReLU(), nn.Linear(5, 2, bias=False)
    )
    assert zero_cost.score(homogeneous, (x, None), ["epsinas"])["epsinas"] == pytest.approx(
        0.0, abs=1e-6
    )


def test_epsinas_is_nan_for_a_constant_output():
    nb201_none = nb201_net("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    x, _ = batch((3, 8, 8))
    assert math.isnan(zero_cost.score(nb201_none, (x, None), ["epsinas"])["epsinas"])


def test_flops_follow_the_torchstat_rules_and_macs_count_matmuls():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )  # fmt: skip
    x = torch.randn(5, 3, 8, 8)
    conv = 9 * 3 * 4 * 64 + 4 * 64
    expected = conv + 2 * 4 * 64 + 4 * 64 + 4 * 81 + 4 * 2
    assert flops(net, x) == pytest.approx(expected / 1e6)
    assert macs(net, x) == pytest.approx((9 * 3 * 4 * 64 + 4 * 2) / 1e6)


def test_saliency_returns_per_weight_arrays_that_sum_to_the_score():
    torch.manual_seed(0)
    net = conv_bn_net()
    data = batch((3, 8, 8))
    arrays = zero_cost.saliency(net, data, "snip")
    assert list(arrays) == ["0", "3", "8"]
    assert arrays["3"].shape == net[3].weight.shape
    total = sum(float(a.double().sum()) for a in arrays.values())
    assert total == pytest.approx(zero_cost.score(net, data, ["snip"])["snip"])


def test_score_specs_with_build_fn_matches_score_and_is_reproducible():
    specs = [spaces.nb201_arch(ARCH), spaces.nb201_arch(ARCH.replace("nor_conv_3x3~2", "none~2"))]

    def build(spec):
        return programs.build(spec, C=4, N=1, num_classes=3)

    data = batch((3, 8, 8))
    rows = zero_cost.score_specs(specs, data, ["synflow", "snip"], build_fn=build, progress=False)
    torch.manual_seed(0)
    assert rows[0] == zero_cost.score(build(specs[0]), data, ["synflow", "snip"])
    assert rows == zero_cost.score_specs(
        specs, data, ["synflow", "snip"], build_fn=build, progress=False
    )
    assert rows[0] != rows[1]


def test_score_specs_on_a_supernet_matches_the_extracted_networks():
    space = spaces.nb201_cell(C=4, N=1, num_classes=3)
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    specs = [spaces.nb201_arch(ARCH, C=4, N=1, num_classes=3)]
    data = batch((3, 8, 8))
    names = ["synflow", "snip", "grasp", "jacov", "nwot", "epsinas", "params", "fisher"]
    rows = zero_cost.score_specs(specs, data, names, supernet=supernet, progress=False)
    direct = zero_cost.score(supernet.extract(specs[0]), data, names)
    for name in names:
        assert rows[0][name] == pytest.approx(direct[name], rel=1e-4), name


@pytest.mark.skipif(
    not (DATA / "nb201" / "naslib_zero_cost.csv").exists(), reason="needs ../shared/data/nb201"
)
def test_params_and_flops_equal_naslib_published_values():
    with open(DATA / "nb201" / "naslib_zero_cost.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["dataset"] == "cifar10"][:4]
    x = torch.zeros(1, 3, 32, 32)
    for row in rows:
        net = programs.build(spaces.nb201_arch(row["arch_str"]), num_classes=10)
        assert zero_cost.score(net, (x, None), ["params"])["params"] == pytest.approx(
            float(row["params"]), abs=1e-6
        )
        assert flops(net, x) == pytest.approx(float(row["flops"]), abs=1e-5)
