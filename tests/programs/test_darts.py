"""DARTS programs: the published DARTS-V2 size, evaluation network, supernet extraction."""

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.programs.families.cell_ops import FactorizedReduce, darts_op
from symnas.programs.families.darts import DARTSNetwork, DARTSSupernet, edge_index

# DARTS (second order) CIFAR-10 genotype, as published with the DARTS code.
DARTS_V2_NORMAL = [
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("skip_connect", 0),
    ("dil_conv_3x3", 2),
]
DARTS_V2_REDUCE = [
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
]


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _random_specs(space, n: int, seed: int) -> list[dict]:
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.random(n, np.random.default_rng(seed))]


def test_darts_v2_has_the_published_parameter_count():
    # The DARTS evaluation script logs "param size = 3.349342MB" for DARTS_V2 at C=36, 20 layers.
    spec = spaces.darts_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=36, layers=20)
    model = programs.build(spec)
    assert isinstance(model, DARTSNetwork)
    assert _n_params(model) == 3_349_342


def test_evaluation_network_skeleton_and_forward():
    spec = spaces.darts_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=4, layers=6, num_classes=7)
    model = programs.build(spec, in_chans=1)
    assert model.reductions == [False, False, True, False, True, False]  # at 1/3 and 2/3
    first_ops = [type(cell.ops[0]).__name__ for cell in model.cells]
    assert first_ops == ["SepConv", "SepConv", "MaxPool2d", "SepConv", "MaxPool2d", "SepConv"]
    after_reduction = [isinstance(cell.preprocess0, FactorizedReduce) for cell in model.cells]
    assert after_reduction == [False, False, False, True, False, True]
    assert model.stem[0].out_channels == 12  # stem multiplier 3
    assert model.classifier.in_features == 4 * 16  # 4 nodes x 4C channels after two reductions
    torch.manual_seed(0)
    for size in (8, 9):  # odd sizes reduce consistently too
        assert model.eval()(torch.randn(2, 1, size, size)).shape == (2, 7)


def test_drop_path_acts_only_in_training():
    spec = spaces.darts_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=4, layers=3)
    model = programs.build(spec)
    x = torch.randn(4, 3, 8, 8)
    model.eval()
    reference = model(x)
    model.drop_path_prob = 0.5
    assert torch.equal(model(x), reference)
    model.train()
    torch.manual_seed(0)
    first = model(x)
    second = model(x)
    assert not torch.allclose(first, second)
    model.drop_path_prob = 0.0
    assert torch.allclose(model(x), model(x))
    with pytest.raises(ValueError, match="drop_path_prob must be in"):
        model.drop_path_prob = 1.0


def _trained_supernet(seed: int, **kwargs):
    torch.manual_seed(seed)
    space = spaces.darts_cell(C=4, layers=4, num_classes=5, **kwargs)
    net = programs.supernet(space)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    x = torch.randn(4, 3, 8, 8)
    net.train()
    for spec in _random_specs(space, 4, seed):  # BN running statistics
        net(x, spec)
    return space, net.eval(), x


def test_supernet_extract_gives_identical_outputs():
    space, net, x = _trained_supernet(seed=1)
    assert isinstance(net, DARTSSupernet)
    assert [len(cell.edges) for cell in net.cells] == [14] * 4
    assert net.reductions == [False, True, True, False]  # layers // 3, 2 * layers // 3
    for spec in _random_specs(space, 4, seed=2):
        with torch.no_grad():
            expected = net(x, spec)
            child = net.extract(spec).eval()
            got = child(x)
        assert isinstance(child, DARTSNetwork)
        assert (got - expected).abs().max().item() < 1e-5
        assert _n_params(child) < _n_params(net)


def test_supernet_edges_hold_every_op_with_the_right_stride():
    net = programs.supernet(spaces.darts_cell(C=4, layers=3))
    reduce_cell = net.cells[1]  # layers=3: reductions at cells 1 and 2, 2C = 8 channels
    x = torch.randn(2, 8, 8, 8)
    for j in range(5):
        edge = reduce_cell.edges[edge_index(3, j)]
        assert list(edge.ops) == list(spaces.DARTS_OPS)
        out = edge(x, "skip_connect")
        assert out.shape[-1] == (4 if j < 2 else 8)
        assert torch.equal(edge(x, "none"), torch.zeros_like(out))


def test_one_hot_weighted_forward_equals_the_single_path():
    space, net, x = _trained_supernet(seed=3)
    spec = _random_specs(space, 1, seed=4)[0]
    weights = {
        f"{cell}[{i}]<-{j}": torch.zeros(len(spaces.DARTS_OPS))
        for cell in ("normal", "reduce")
        for i in range(4)
        for j in range(2 + i)
    }
    for cell in ("normal", "reduce"):
        for i, (inputs, ops) in enumerate(spaces.darts_nodes(spec, cell)):
            for j, op in zip(inputs, ops, strict=True):
                weights[f"{cell}[{i}]<-{j}"][spaces.DARTS_OPS.index(op)] = 1.0
    with torch.no_grad():
        mixed = net.forward_weighted(x, weights)
        assert torch.allclose(mixed, net(x, spec), atol=1e-5)


def test_supernet_over_a_reduced_op_set():
    ops = ["skip_connect", "sep_conv_3x3", "max_pool_3x3"]
    space, net, x = _trained_supernet(seed=5, ops=ops)
    assert net.op_names == ops
    assert list(net.cells[0].edges[0].ops) == ops
    spec = _random_specs(space, 1, seed=6)[0]
    with torch.no_grad():
        assert (net.extract(spec).eval()(x) - net(x, spec)).abs().max().item() < 1e-5
    bad = spaces.darts_genotype([("none", 0), ("none", 1)] * 4, [("none", 0), ("none", 1)] * 4)
    bad.update(C=4, layers=4, num_classes=5)
    with pytest.raises(ValueError, match=r"normal\[0\] uses ops \['none', 'none'\]"):
        net.activate(bad)


def test_errors():
    net = programs.supernet(spaces.darts_cell(C=4, layers=3))
    spec = spaces.darts_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=4, layers=5)
    with pytest.raises(ValueError, match="spec field layers=5 differs"):
        net.activate(spec)
    weights = {name: torch.zeros(8) for name in net.arch_decisions()}
    with pytest.raises(ValueError, match=r"weights\['reduce\[3\]<-4'\] must have shape \(8,\)"):
        net.forward_weighted(torch.zeros(1, 3, 8, 8), {**weights, "reduce[3]<-4": torch.zeros(7)})
    with pytest.raises(ValueError, match="layers must be >= 3"):
        programs.build(spec, layers=2)
    with pytest.raises(TypeError, match=r"unknown task argument\(s\) \['N'\]"):
        programs.build(spec, N=2)
    with pytest.raises(ValueError, match="source in 0..node\\+1"):
        edge_index(1, 3)
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        darts_op("sep_conv_3x3", 4, 3)
    with pytest.raises(ValueError, match="unknown op 'conv_7x1_1x7'"):
        darts_op("conv_7x1_1x7", 4, 1)
