"""AutoFormer ViT programs: standalone models, parameter counts and the entangled supernet."""

import copy

import pyglove as pg
import pytest
import torch

from symnas import programs
from symnas.programs.families.vit import VisionTransformer, ViTSupernet, param_count
from symnas.spaces.vit import vit_space, vit_tiny

TASK = {"image_size": 8, "patch_size": 2, "in_chans": 1, "num_classes": 10}


def _space(**overrides):
    fields = {"head_dim": 8, **TASK, **overrides}
    return vit_space([16, 24, 32], [2, 3, 4], [1.0, 2.0], [1, 2], **fields)


def _specs(space, n, seed=0):
    return [pg.to_json(x) for x in pg.random_sample(space, seed=seed, num_examples=n)]


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


# PreNAS's published Tiny candidates (interval_cands/tiny.json): ImageNet, patch 16, relative
# positions, 1000 classes; ``num_params`` in millions, as PreNAS buckets them.
PRENAS_TINY = [
    (192, "4 4 4 4 4 3.5 3.5 4 4 3.5 4 4", "4 4 4 4 3 3 3 3 3 4 3 4", 5.99476),
    (216, "4 3.5 4 3.5 3.5 3.5 3.5 3.5 3.5 3.5 3.5 3.5", "4 4 4 4 4 3 3 3 4 4 3 4", 6.997192),
    (240, "4 3.5 4 4 3.5 3.5 3.5 4 4 3.5 4 3.5", "3 3 3 3 3 3 3 3 3 3 3 3", 7.996552),
    (240, "4 4 4 4 4 3.5 4 4 4 3.5 4 4", "4 4 4 4 4 4 4 4 4 4 4 4", 8.967016),
    (240, "4 4 4 4 4 3.5 3.5 4 4 3.5 4 3.5 4 4", "4 4 4 4 4 3 3 3 4 4 3 4 3 4", 9.978232),
    (240, " ".join(["4"] * 14), " ".join(["4"] * 14), 10.517272),
]


@pytest.mark.parametrize(("embed", "ratios", "heads", "millions"), PRENAS_TINY)
def test_param_count_matches_prenas_published_candidates(embed, ratios, heads, millions):
    ratios = [float(r) for r in ratios.split()]
    heads = [int(h) for h in heads.split()]
    spec = {"embed_dim": embed, "depth": len(ratios), "mlp_ratio": ratios, "num_heads": heads}
    assert param_count(spec) == round(millions * 1e6)


def test_build_has_the_counted_parameters_and_runs():
    space = _space()
    for spec in _specs(space, 4):
        model = programs.build(spec)
        assert isinstance(model, VisionTransformer)
        assert _n_params(model) == param_count(spec)
        assert len(model.blocks) == spec["depth"]
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_build_follows_autoformer_layout():
    spec = _specs(_space(global_pool=False, relative_position=False), 1)[0]
    model = programs.build(spec)
    e, heads0 = spec["embed_dim"], spec["num_heads"][0]
    assert model.patch_embed.kernel_size == (2, 2) and model.patch_embed.out_channels == e
    assert model.pos_embed.shape == (1, 17, e) and model.cls_token.shape == (1, 1, e)
    assert model.blocks[0].attn.qkv.weight.shape == (3 * heads0 * 8, e)
    assert model.blocks[0].attn.qkv.bias is not None
    assert model.blocks[0].fc1.out_features == int(e * spec["mlp_ratio"][0])
    assert model.blocks[0].attn.rel_k is None
    assert _n_params(model) == param_count(spec)


def test_task_arguments_override_the_spec():
    spec = _specs(_space(), 1)[0]
    model = programs.build(spec, num_classes=3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(TypeError, match="allowed"):
        programs.build(spec, colour="red")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"embed_dim": 0}, "embed_dim"),
        ({"depth": 9}, "mlp_ratio"),
        ({"num_heads": [1, 0, 1, 1]}, "num_heads"),
        ({"mlp_ratio": ["a", 1.0, 1.0, 1.0]}, "mlp_ratio"),
        ({"patch_size": 3}, "image_size"),
    ],
)
def test_bad_specs_name_the_field(change, field):
    spec = {
        **pg.to_json(next(pg.random_sample(_space(), seed=0))),
        "depth": 4,
        "mlp_ratio": [1.0] * 4,
        "num_heads": [1] * 4,
    }
    spec.update(change)
    with pytest.raises(ValueError, match=field):
        programs.build(spec)


@pytest.mark.parametrize("options", [{}, {"global_pool": False, "relative_position": False}])
def test_supernet_matches_extracted_models(options):
    torch.manual_seed(0)
    space = _space(**options)
    net = programs.supernet(space)
    assert isinstance(net, ViTSupernet)
    net.eval()
    x = torch.randn(5, 1, 8, 8)
    for spec in _specs(space, 6, seed=1) + [net.max_spec()]:
        with torch.no_grad():
            expected = net(x, spec)
            got = net.extract(spec).eval()(x)
        assert torch.allclose(expected, got, atol=1e-5, rtol=0)
        assert net.sampled_param_count(spec) == param_count(spec)
        assert net.sampled_param_count(spec) == _n_params(net.extract(spec))


def test_supernet_shares_weights_between_specs():
    torch.manual_seed(0)
    space = _space()
    net = programs.supernet(space)
    small, large = _specs(space, 2, seed=3)
    before = copy.deepcopy(net.state_dict())
    small = {**small, "embed_dim": 16, "depth": 2}
    loss = net(torch.randn(4, 1, 8, 8), small).sum()
    loss.backward()
    # Only the leading slices (and the first two layers) receive gradients.
    assert net.patch_embed.weight.grad[16:].abs().sum() == 0
    assert net.patch_embed.weight.grad[:16].abs().sum() > 0
    assert all(p.grad is None for p in net.blocks[2].parameters())
    qkv_grad = net.blocks[0].attn.qkv.weight.grad
    heads = small["num_heads"][0]
    assert qkv_grad[:, heads * 8 :].abs().sum() == 0
    assert qkv_grad[:, : heads * 8, :16].abs().sum() > 0
    with torch.no_grad():
        net.patch_embed.weight[:16] += 1.0
    assert torch.equal(net.extract(large).patch_embed.weight[:16], net.patch_embed.weight[:16])
    assert not torch.equal(net.state_dict()["patch_embed.weight"], before["patch_embed.weight"])


def test_supernet_training_mode_and_drop_path():
    torch.manual_seed(0)
    space = _space()
    net = programs.supernet(space, drop_path_rate=0.2)
    spec = net.max_spec()
    x = torch.randn(8, 1, 8, 8)
    net.train()
    assert not torch.equal(net(x, spec), net(x, spec))  # drop path samples per call
    net.eval()
    assert torch.equal(net(x, spec), net(x, spec))


def test_supernet_rejects_specs_outside_its_space():
    net = programs.supernet(_space())
    spec = net.max_spec()
    with pytest.raises(ValueError, match="embed_dim"):
        net.activate({**spec, "embed_dim": 20})
    with pytest.raises(ValueError, match=r"num_heads'\[1\]"):
        net.activate({**spec, "num_heads": [2, 3, 2, 2]})
    with pytest.raises(ValueError, match="head_dim"):
        net.activate({**spec, "head_dim": 16})
    with pytest.raises(RuntimeError, match="activate"):
        programs.supernet(_space())(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="drop_path_rate"):
        programs.supernet(_space(), drop_path_rate=1.5)


def test_published_tiny_supernet_runs_on_digit_shaped_input():
    space = vit_tiny(**TASK)
    net = programs.supernet(space).eval()
    spec = pg.to_json(next(pg.random_sample(space, seed=0)))
    with torch.no_grad():
        out = net(torch.randn(2, 1, 8, 8), spec)
    assert out.shape == (2, 10)
    assert net.sampled_param_count(spec) == param_count(spec)
