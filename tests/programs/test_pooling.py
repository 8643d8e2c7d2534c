"""Tests of the pooling-position ResNet programs and their shared-weight supernet."""

import pyglove as pg
import pytest
import torch
from torch import nn

from symnas import programs, spaces
from symnas.programs.families.pooling import PoolingResNet, PoolingSupernet


def _specs(space, n, seed):
    return [pg.to_json(s) for s in pg.random_sample(space, num_examples=n, seed=seed)]


@pytest.mark.parametrize("in_chans,image_size", [(1, 8), (3, 32)])
def test_build_output_shape_and_pooled_resolution(in_chans, image_size):
    torch.manual_seed(0)
    space = spaces.resnet20_pooling(num_classes=7, in_chans=in_chans, image_size=image_size)
    for spec in _specs(space, 3, seed=1):
        model = programs.build(spec)
        assert isinstance(model, PoolingResNet)
        sizes = []
        for layer in model.layers:
            layer.register_forward_pre_hook(
                lambda _, args, out=sizes: out.append(args[0].shape[-1])
            )
        out = model(torch.randn(2, in_chans, image_size, image_size))
        assert out.shape == (2, 7)
        a, b = spec["pool_at"]
        expected = [image_size] * a + [image_size // 2] * (b - a) + [image_size // 4] * (10 - b)
        assert sizes == expected


def test_default_resnet20_structure_and_parameters_independent_of_pooling():
    space = spaces.resnet20_pooling()
    default = programs.build({**_specs(space, 1, 0)[0], "pool_at": [4, 7]})
    projections = [
        i
        for i, b in enumerate(default.layers)
        if not isinstance(getattr(b, "shortcut", nn.Identity()), nn.Identity)
    ]
    assert projections == [4, 7]  # 1x1 conv + BN where the width changes 16->32->64
    counts = {sum(p.numel() for p in programs.build(s).parameters()) for s in _specs(space, 6, 2)}
    assert len(counts) == 1
    # ResNet20 with projection shortcuts: 0.27 M weights of the standard network + 2 projections.
    assert 0.27e6 < counts.pop() < 0.28e6


def test_build_task_overrides_and_batch_stats_bn():
    spec = _specs(spaces.resnet20_pooling(), 1, 3)[0]
    model = programs.build(spec, num_classes=4, in_chans=1, image_size=8, batch_stats=True)
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 4)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not bn.affine and not bn.track_running_stats for bn in bns)


@pytest.mark.parametrize("batch_stats", [True, False])
def test_extract_equals_supernet(batch_stats):
    torch.manual_seed(0)
    space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    supernet = programs.supernet(space, batch_stats=batch_stats)
    assert isinstance(supernet, PoolingSupernet)
    x = torch.randn(8, 1, 8, 8)
    supernet.train()
    for spec in _specs(space, 4, seed=5):  # a few training steps so BN statistics move
        supernet(x, spec).sum().backward()
    supernet.eval()
    outputs = []
    for spec in _specs(space, 6, seed=7):
        model = supernet.extract(spec).eval()
        expected = supernet(x, spec)
        assert (model(x) - expected).abs().max().item() < 1e-5
        outputs.append(expected)
    assert any((outputs[0] - o).abs().max() > 1e-4 for o in outputs[1:])


def test_supernet_shares_one_set_of_weights():
    torch.manual_seed(0)
    space = spaces.resnet20_pooling(in_chans=1, image_size=8)
    supernet = programs.supernet(space)
    a, b = _specs(space, 2, seed=11)
    x = torch.randn(4, 1, 8, 8)
    before = supernet.extract(b)(x)
    opt = torch.optim.SGD(supernet.parameters(), lr=0.1)
    supernet(x, a).pow(2).mean().backward()
    opt.step()
    assert (supernet.extract(b)(x) - before).abs().max() > 1e-6


def test_invalid_specs_are_rejected():
    space = spaces.resnet20_pooling()
    spec = _specs(space, 1, 0)[0]
    supernet = programs.supernet(space)
    with pytest.raises(ValueError, match="pool_at"):
        programs.build({**spec, "pool_at": [7, 4]})
    with pytest.raises(ValueError, match="pool_at"):
        programs.build({**spec, "pool_at": [0, 4]})
    with pytest.raises(ValueError, match="pool_at"):
        programs.build({**spec, "pool_at": [4, 10]})
    with pytest.raises(ValueError, match="pool_at"):
        supernet.activate({**spec, "pool_at": [2, 4, 6]})
    with pytest.raises(ValueError, match="channels"):
        supernet.extract({**spec, "channels": [16] * 10})
    with pytest.raises(ValueError, match="image_size"):
        programs.build({**spec, "pool_at": [1, 2, 3]}, image_size=4)
    with pytest.raises(TypeError, match="Unknown task"):
        programs.build(spec, depth=3)
    with pytest.raises(TypeError, match="_type"):
        supernet.activate({k: v for k, v in spec.items() if k != "_type"})
    with pytest.raises(ValueError, match="shape"):
        programs.build(spec)(torch.randn(1, 1, 32, 32))
