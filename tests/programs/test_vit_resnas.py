"""ViT-ResNAS programs: multi-stage models, residual spatial reduction and the supernet."""

import copy

import pyglove as pg
import pytest
import torch
import torch.nn.functional as F

from symnas import programs
from symnas.programs.families.vit_resnas import SpatialReduction, ViTResNAS, ViTResNASSupernet
from symnas.spaces.vit_resnas import vit_resnas_space

TASK = {"image_size": 16, "patch_size": 2, "in_chans": 1, "num_classes": 10}


def _space(**overrides):
    fields = {**TASK, "stem_channels": 4, **overrides}
    return vit_resnas_space(
        [[8, 16], [16, 24], [32, 48]],
        [4, 4, 8],
        [[1, 2], [1, 2, 3], [1, 2]],
        [[8, 16], [16, 32], [32, 64]],
        [2, 3, 2],
        **fields,
    )


def _specs(space, n, seed=0):
    return [pg.to_json(x) for x in pg.random_sample(space, seed=seed, num_examples=n)]


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_build_runs_and_reduces_the_grid_per_stage():
    spec = _specs(_space(), 1)[0]
    model = programs.build(spec)
    assert isinstance(model, ViTResNAS)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    # 8x8 tokens, then 4x4, then 2x2, as the RSR position embeddings show.
    assert model.pos_embed.shape[1] == 65
    assert [r.pos_embed.shape[1] for r in model.reductions] == [16, 4]
    assert [len(blocks) for blocks in model.stages] == [
        sum(stage["keep"]) for stage in spec["stages"]
    ]
    block = model.stages[0][0]
    heads = spec["stages"][0]["num_heads"][0]
    assert block.attn.qkv.weight.shape == (3 * heads * 4, spec["stages"][0]["embed_dim"])
    assert block.norm1.eps == 1e-6


def test_spatial_reduction_is_residual():
    torch.manual_seed(0)
    rsr = SpatialReduction(4, 6, grid=4)
    x = torch.randn(2, 17, 4)
    for tensor in (rsr.conv.weight, rsr.conv.bias, rsr.token.weight, rsr.token.bias, rsr.pos_embed):
        torch.nn.init.zeros_(tensor)
    out = rsr(x, 6, 4)
    pooled = (
        F.avg_pool2d(x[:, 1:].transpose(1, 2).reshape(2, 4, 4, 4), 2).flatten(2).transpose(1, 2)
    )
    assert out.shape == (2, 5, 6)
    assert torch.allclose(out[:, 0, :4], x[:, 0]) and torch.allclose(out[:, 1:, :4], pooled)
    assert torch.equal(out[..., 4:], torch.zeros(2, 5, 2))
    # The main path sees the normalised tokens: it is invariant to a per-token scale.
    torch.manual_seed(1)
    rsr = SpatialReduction(4, 4, grid=4)
    main = rsr(x, 4, 4) - torch.cat((x[:, :1], pooled), dim=1)
    main_scaled = rsr(3 * x, 4, 4) - 3 * torch.cat((x[:, :1], pooled), dim=1)
    assert torch.allclose(main, main_scaled, atol=1e-4)


@pytest.mark.parametrize("conv_stem", [True, False])
def test_supernet_matches_extracted_models(conv_stem):
    torch.manual_seed(0)
    space = _space(conv_stem=conv_stem)
    net = programs.supernet(space)
    assert isinstance(net, ViTResNASSupernet)
    net.eval()
    x = torch.randn(3, 1, 16, 16)
    for spec in _specs(space, 5, seed=2) + [net.max_spec()]:
        model = net.extract(spec).eval()
        with torch.no_grad():
            assert torch.allclose(net(x, spec), model(x), atol=1e-5, rtol=0)
        assert net.sampled_param_count(spec) == _n_params(model)
        assert _n_params(model) == _n_params(programs.build(spec))


def test_dropped_blocks_and_narrow_widths_get_no_gradient():
    torch.manual_seed(0)
    space = _space()
    net = programs.supernet(space)
    spec = net.max_spec()
    spec["stages"][1]["keep"] = [True, False, True]
    spec["stages"][1]["embed_dim"] = 16
    net(torch.randn(2, 1, 16, 16), spec).sum().backward()
    assert all(p.grad is None for p in net.stages[1][1].parameters())
    assert net.stages[1][0].fc1.weight.grad[:, 16:].abs().sum() == 0
    assert net.stages[1][0].fc1.weight.grad[:, :16].abs().sum() > 0
    assert net.reductions[1].conv.weight.grad[:, 16:].abs().sum() == 0


def test_supernet_rejects_specs_outside_its_space():
    net = programs.supernet(_space())
    spec = net.max_spec()
    bad = copy.deepcopy(spec)
    bad["stages"][0]["embed_dim"] = 12
    with pytest.raises(ValueError, match=r"stages\[0\].embed_dim"):
        net.activate(bad)
    bad = copy.deepcopy(spec)
    bad["stages"][1]["keep"] = [False, True, True]
    with pytest.raises(ValueError, match=r"stages\[1\].keep\[0\]"):
        net.activate(bad)
    bad = copy.deepcopy(spec)
    bad["stages"][2]["embed_dim"] = 8
    with pytest.raises(ValueError, match="RSR"):
        programs.build(bad)
    with pytest.raises(ValueError, match="stages"):
        programs.build({**spec, "stages": []})
