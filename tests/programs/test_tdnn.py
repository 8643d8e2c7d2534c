"""Tests of the EfficientTDNN speaker models and their weight-entangled supernet."""

import pyglove as pg
import pytest
import torch

from symnas import programs, spaces
from symnas.programs.families.tdnn import TDNN, TDNNSupernet
from symnas.programs.training.estimator import recalibrate_bn


def _space(**overrides):
    args = dict(
        widths=[8, 16, 24],
        kernels=[1, 3, 5],
        depths=[1, 2, 3],
        cat_channels=[16, 32],
        in_feats=10,
        num_classes=4,
        embed_dim=12,
        scale=4,
        se_reduction=4,
        attention_dim=8,
    )
    return spaces.tdnn_space(**{**args, **overrides})


def _specs(space, n, seed):
    return [pg.to_json(s) for s in pg.random_sample(space, num_examples=n, seed=seed)]


def _layer(width, kernel, dilation):
    return {"width": width, "kernel": kernel, "dilation": dilation}


def _published(depth, width, kernel, cat):
    blocks = [_layer(width, kernel, i + 2) for i in range(depth)]
    return {
        "_type": "symnas.spaces.tdnn.TDNNSpace",
        "stem": _layer(width, kernel, 1),
        "blocks": blocks,
        "cat_channels": cat,
        "in_feats": 80,
        "num_classes": 5994,
        "embed_dim": 192,
        "scale": 8,
        "se_reduction": 4,
        "attention_dim": 128,
    }


def test_build_shapes_for_random_specs():
    torch.manual_seed(0)
    for spec in _specs(_space(), 4, seed=1):
        model = programs.build(spec)
        assert isinstance(model, TDNN)
        x = torch.randn(3, 10, 20)
        assert model(x).shape == (3, 4)
        assert model.embed(x).shape == (3, 12)
        assert model(x.unsqueeze(1)).shape == (3, 4)  # (B, 1, F, T) reads as (B, F, T)
        assert len(model.encoder.blocks) == len(spec["blocks"])


def test_published_space_params_and_macs_range():
    # EfficientTDNN coarse space: params 0.44 - 7.55 M and MACs 83.47 M - 1.93 G at (1, 80, 300).
    largest, smallest = _published(4, 512, 5, 1536), _published(2, 128, 1, 384)
    counts = [
        sum(p.numel() for p in programs.build(s).encoder.parameters()) for s in (largest, smallest)
    ]
    assert counts[0] == pytest.approx(7.55e6, rel=1e-3)
    assert counts[1] == pytest.approx(0.44e6, rel=1e-2)
    thop = pytest.importorskip("thop")
    macs, _ = thop.profile(
        programs.build(smallest).encoder, inputs=(torch.randn(1, 80, 300),), verbose=False
    )
    assert macs == pytest.approx(83.47e6, rel=1e-2)


def test_extract_equals_supernet_in_eval_mode():
    torch.manual_seed(0)
    space = _space()
    supernet = programs.supernet(space)
    assert isinstance(supernet, TDNNSupernet)
    with torch.no_grad():  # move away from the identity kernel transforms and fresh BN stats
        for p in supernet.kernel_transforms.values():
            p.add_(0.3 * torch.randn_like(p))
    supernet.train()
    x = torch.randn(6, 10, 20)
    for spec in _specs(space, 3, seed=2):
        supernet(x, spec)
    supernet.eval()
    outputs = []
    for spec in _specs(space, 8, seed=3):
        model = supernet.extract(spec).eval()
        out = supernet(x, spec)
        assert (model(x) - out).abs().max().item() < 1e-5
        assert (model.embed(x) - supernet.embed(x, spec)).abs().max().item() < 1e-5
        outputs.append(out)
    assert any((outputs[0] - o).abs().max() > 1e-4 for o in outputs[1:])


def test_elastic_kernel_width_and_depth_take_the_shared_weights():
    torch.manual_seed(0)
    space = _space()
    supernet = programs.supernet(space)
    with torch.no_grad():
        for p in supernet.kernel_transforms.values():
            p.add_(0.1 * torch.randn_like(p))
    spec = _specs(space, 1, seed=4)[0]
    spec["stem"] = _layer(16, 1, 1)
    spec["blocks"] = [_layer(8, 3, 2), _layer(16, 1, 3)]
    model = supernet.extract(spec)
    big = supernet.net.encoder
    # Stem: first 16 channels, kernel 5 -> 3 -> 1 through the centre and both transforms.
    t53 = supernet.kernel_transforms["encoder_stem_conv_5to3"]
    t31 = supernet.kernel_transforms["encoder_stem_conv_3to1"]
    expected = (big.stem.conv.weight[:16, :, 1:-1] @ t53)[..., 1:-1] @ t31
    assert torch.allclose(model.encoder.stem.conv.weight, expected)
    # Block 0 mid width 8 of max 24 with 4 Res2 groups: the first 2 channels of every group of 6.
    first = big.blocks[0].first.conv.weight
    mids = [0, 1, 6, 7, 12, 13, 18, 19]
    assert torch.equal(model.encoder.blocks[0].first.conv.weight, first[mids, :16])
    assert torch.equal(
        model.encoder.blocks[0].last.conv.weight, big.blocks[0].last.conv.weight[:16][:, mids]
    )
    # Depth 2 of 3: the concatenation conv reads the first 16 channels of the first 2 blocks.
    cat = big.cat.weight
    kept = list(range(16)) + list(range(24, 40))
    assert torch.equal(model.encoder.cat.weight, cat[: spec["cat_channels"]][:, kept])


def test_training_updates_shared_weights_and_bn_slices():
    torch.manual_seed(0)
    space = _space()
    supernet = programs.supernet(space)
    spec = _specs(space, 1, seed=5)[0]
    spec["stem"] = _layer(16, 3, 1)
    spec["blocks"] = [_layer(8, 5, 2)]
    other = {**spec, "blocks": [_layer(24, 5, 2), _layer(24, 5, 3)]}
    x = torch.randn(4, 10, 20)
    before = supernet.eval()(x, other).detach()
    bn = supernet.net.encoder.blocks[0].first.bn
    stem_bn = supernet.net.encoder.stem.bn
    supernet.train()
    opt = torch.optim.SGD(supernet.parameters(), lr=0.1)
    supernet(x, spec).logsumexp(1).mean().backward()
    opt.step()
    assert supernet.kernel_transforms["encoder_blocks_0_res2_convs_0_conv_5to3"].grad is None
    assert supernet.kernel_transforms["encoder_stem_conv_5to3"].grad is not None
    active = torch.tensor([0, 1, 6, 7, 12, 13, 18, 19])
    inactive = torch.tensor([i for i in range(24) if i not in active.tolist()])
    assert (bn.running_mean[active] != 0).all()  # index-selected BN statistics written back
    assert (bn.running_mean[inactive] == 0).all()
    assert (stem_bn.running_mean[:16] != 0).all() and (stem_bn.running_mean[16:] == 0).all()
    assert int(stem_bn.num_batches_tracked) == 1
    assert (supernet.eval()(x, other) - before).abs().max() > 1e-6


def test_recalibrate_bn_sets_statistics_of_the_extracted_model_only():
    torch.manual_seed(0)
    space = _space()
    supernet = programs.supernet(space)
    spec = _specs(space, 1, seed=6)[0]
    x = torch.randn(16, 10, 20)
    shared = supernet.net.encoder.stem.bn.running_mean.clone()
    model = recalibrate_bn(supernet, spec, [(x, torch.zeros(16))])
    assert not model.training
    stem = model.encoder.stem
    expected = torch.relu(stem.conv(x)).mean(dim=(0, 2))
    assert torch.allclose(stem.bn.running_mean, expected, atol=1e-5)
    assert torch.equal(supernet.net.encoder.stem.bn.running_mean, shared)
    with pytest.raises(ValueError, match="no batches"):
        recalibrate_bn(supernet, spec, [])


def test_invalid_specs_are_rejected():
    space = _space()
    supernet = programs.supernet(space)
    spec = _specs(space, 1, seed=7)[0]
    cases = [
        ({"cat_channels": 24}, "cat_channels"),
        ({"stem": _layer(12, 3, 1)}, "stem.width"),
        ({"stem": _layer(16, 7, 1)}, "stem.kernel"),
        ({"blocks": [_layer(16, 3, 5)]}, "dilation"),
        ({"blocks": [_layer(16, 3, 2)] * 4}, "depth"),
        ({"scale": 2}, "scale"),
    ]
    for change, field in cases:
        with pytest.raises(ValueError, match=field):
            supernet.activate({**spec, **change})
    with pytest.raises(ValueError, match="kernel"):
        programs.build({**spec, "stem": _layer(16, 2, 1)})
    with pytest.raises(ValueError, match="divisible by scale"):
        programs.build({**spec, "blocks": [_layer(10, 3, 2)]})
    with pytest.raises(ValueError, match="blocks"):
        programs.build({**spec, "blocks": []})
    with pytest.raises(TypeError, match="Unknown task"):
        programs.build(spec, widths=3)
    with pytest.raises(ValueError, match="in_feats"):
        programs.build(spec)(torch.randn(2, 11, 20))
    with pytest.raises(RuntimeError, match="activate"):
        programs.supernet(space).embed(torch.randn(2, 10, 20))
