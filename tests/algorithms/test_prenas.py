"""PreNAS: Taylor scores, enumeration and reallocation, selector, preferred training and
instant specialisation, on a tiny AutoFormer space."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms import PreNAS, PreNASSelector
from symnas.algorithms.oneshot import prenas_scores as scores
from symnas.algorithms.oneshot.prenas import train_preferred, train_uniform
from symnas.algorithms.oneshot.prenas_selector import (
    bucket_edges,
    compositions,
    enumerate_candidates,
    reallocate,
)
from symnas.algorithms.samplers import PreferredSampler, UniformSampler
from symnas.algorithms.samplers.preferred import group_candidates
from symnas.programs.data import validation_split
from symnas.programs.families.vit import param_count
from symnas.spaces.vit import vit_space


def tiny_space(relative_position: bool = False, depths=(1, 2)):
    """2 embed dims x depths {1, 2} x ratio {1, 2} x heads {1, 2}: 40 architectures."""
    return vit_space(
        [8, 16],
        list(depths),
        [1.0, 2.0],
        [1, 2],
        head_dim=4,
        image_size=8,
        patch_size=4,
        in_chans=1,
        num_classes=3,
        relative_position=relative_position,
        max_relative_position=2,
    )


def tiny_supernet(space=None, seed: int = 0):
    torch.manual_seed(seed)
    return programs.supernet(space or tiny_space())


@pytest.fixture(scope="module")
def data():
    return programs.data.synthetic(96, (1, 8, 8), 3, seed=0, noise=0.5)


# ----------------------------------------------------------------------------- scores


def test_taylor_gradients_match_autograd_and_leave_the_supernet_untouched():
    supernet = tiny_supernet()
    x = scores.data_free_batch(1, 8, batch_size=5, seed=1)
    supernet.eval()
    grads = scores.taylor_gradients(supernet, x)
    assert all(p.grad is None for p in supernet.parameters())
    assert not supernet.training and supernet.active_spec is None
    reference = torch.autograd.grad(
        supernet(x, supernet.max_spec()).sum(), [supernet.head.weight, supernet.patch_embed.weight]
    )
    torch.testing.assert_close(grads["head.weight"], reference[0])
    torch.testing.assert_close(grads["patch_embed.weight"], reference[1])


def test_data_free_batch_statistics_and_errors():
    x = scores.data_free_batch(3, 16, batch_size=64, seed=0)
    means = x.mean(dim=(0, 2, 3))
    stds = x.std(dim=(0, 2, 3))
    torch.testing.assert_close(means, torch.tensor(scores.IMAGENET_MEAN), atol=0.01, rtol=0)
    torch.testing.assert_close(stds, torch.tensor(scores.IMAGENET_STD), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="one value per input channel"):
        scores.data_free_batch(1, 8, mean=(0.0, 0.0))


@pytest.mark.parametrize("relative_position", [False, True])
def test_param_tables_equal_param_count_on_every_candidate(relative_position):
    supernet = tiny_supernet(tiny_space(relative_position))
    heads = np.ones((2, 1))
    cands = enumerate_candidates(supernet, heads, heads, None)
    template = supernet.max_spec()
    assert len(cands) == 2 * (2 * 2 + 3 * 3)  # per embed dim: depth 1 (2 x 2) and depth 2 (3 x 3)
    for i in range(len(cands)):
        spec = cands.spec(i, template)
        assert cands.params[i] == param_count(spec) == supernet.sampled_param_count(spec)


def test_taylor_score_is_the_sum_of_theta_times_grad_over_the_used_slices():
    supernet = tiny_supernet()
    grads = scores.taylor_gradients(supernet, scores.data_free_batch(1, 8, batch_size=8))
    head_inc, mlp_inc = scores.block_increment_scores(supernet, grads)
    cands = enumerate_candidates(supernet, head_inc, mlp_inc, scores.taylor_tables(supernet, grads))
    saliency = tiny_supernet()
    with torch.no_grad():
        for name, p in saliency.named_parameters():
            p.copy_((dict(supernet.named_parameters())[name] * grads[name]).abs())
    skipped = ("cls_token", "pos_embed")
    template = supernet.max_spec()
    for i in range(len(cands)):
        state = saliency.sliced_state(cands.spec(i, template))
        expected = sum(
            float(t.detach().double().sum()) for k, t in state.items() if k not in skipped
        )
        assert math.isclose(cands.score[i], expected, rel_tol=1e-9)


def test_block_increment_scores_follow_the_balanced_taylor_formula():
    supernet = tiny_supernet()
    grads = scores.taylor_gradients(supernet, scores.data_free_batch(1, 8, batch_size=8))
    head_inc, mlp_inc = scores.block_increment_scores(supernet, grads)
    assert head_inc.shape == (2, 1) and mlp_inc.shape == (2, 1)
    block, g = supernet.blocks[1], grads
    w = block.attn.qkv.weight.detach().reshape(-1, 16)  # (3 * 8 rows, 16): q, k, v blocks
    gw = g["blocks.1.attn.qkv.weight"].reshape(-1, 16)
    element = (w * gw).abs() / (w.abs().sum() * gw.abs().sum())
    added_rows = [r for part in range(3) for r in range(part * 8 + 4, part * 8 + 8)]
    assert math.isclose(head_inc[1, 0], float(element[added_rows].sum()), rel_tol=1e-5)
    w1, g1 = block.fc1.weight.detach(), g["blocks.1.fc1.weight"]
    w2, g2 = block.fc2.weight.detach(), g["blocks.1.fc2.weight"]
    fc1 = ((w1 * g1).abs() / (w1.abs().sum() * g1.abs().sum()))[16:32].sum()
    fc2 = ((w2 * g2).abs() / (w2.abs().sum() * g2.abs().sum()))[:, 16:32].sum()
    assert math.isclose(mlp_inc[1, 0], float(fc1 + fc2), rel_tol=1e-5)


# ----------------------------------------------------------------------------- enumeration


def test_compositions_are_every_weak_composition():
    rows = compositions(4, 3)
    assert len(rows) == math.comb(4 + 2, 2)
    assert (rows.sum(axis=1) == 4).all() and (rows >= 0).all()
    assert len({tuple(r) for r in rows}) == len(rows)
    assert [0, 4, 0] in rows.tolist()  # a middle choice may take no layer


def test_reallocate_gives_larger_choices_to_higher_increments():
    increments = np.array([[0.1, 5.0], [0.9, 0.2], [0.5, 0.3], [0.7, 0.1]])
    conf = reallocate([1, 2, 1], increments)
    assert conf.tolist() == [2, 1, 0, 1]  # layer 0 takes choice 2, layers 1 and 3 choice 1
    assert Counter(conf.tolist()) == {0: 1, 1: 2, 2: 1}
    with pytest.raises(ValueError, match="summing to the depth 4"):
        reallocate([1, 1, 1], increments)


def test_bucket_edges_paper_intervals_and_equal_widths():
    edges = bucket_edges(np.array([3.0]), None, (5e6, 12e6, 1e6))
    assert edges.tolist() == [5e6 + k * 1e6 for k in range(8)]
    edges = bucket_edges(np.array([10.0, 40.0, 20.0]), 3, None)
    assert edges[0] == 10.0 and edges[-1] > 40.0 and len(edges) == 4
    with pytest.raises(ValueError, match="param_range"):
        bucket_edges(np.array([1.0]), None, (5.0, 1.0, 1.0))


# ----------------------------------------------------------------------------- selector


def test_selector_keeps_the_top_score_of_every_bucket():
    selector = PreNASSelector(buckets=3, per_bucket=2)
    supernet = tiny_supernet()
    preferred = selector.select(tiny_space(), supernet)
    cands = selector.candidates
    edges = bucket_edges(cands.params, 3, None)
    assert len(preferred) == 6
    assert [p.params for p in preferred[::2]] == sorted(p.params for p in preferred[::2])
    for p in preferred:
        lo, hi = p.bucket
        assert lo <= p.params < hi and p.params == param_count(p.spec)
        supernet.arch_of(p.spec)  # a member of the space
        inside = cands.score[(cands.params >= lo) & (cands.params < hi)]
        assert p.score >= np.sort(inside)[-2]
    assert {tuple(e) for e in (p.bucket for p in preferred)} == {
        (float(edges[b]), float(edges[b + 1])) for b in range(3)
    }


def test_selector_param_range_drops_candidates_outside_and_params_score_takes_the_largest():
    selector = PreNASSelector(param_range=(2000, 6000, 2000), score="params")
    preferred = selector.select(tiny_space())
    cands = selector.candidates
    for p in preferred:
        lo, hi = p.bucket
        assert 2000 <= p.params < 6000
        assert p.params == cands.params[(cands.params >= lo) & (cands.params < hi)].max()


def test_selector_is_deterministic_for_a_seed():
    a = PreNASSelector(buckets=2, seed=3).select(tiny_space())
    b = PreNASSelector(buckets=2, seed=3).select(tiny_space())
    assert [p.to_json() for p in a] == [p.to_json() for p in b]


def test_selector_rejects_bad_arguments():
    with pytest.raises(ValueError, match="buckets must be a positive int"):
        PreNASSelector(buckets=0)
    with pytest.raises(ValueError, match="score must be one of"):
        PreNASSelector(score="accuracy")
    with pytest.raises(ValueError, match=r"param_range must be \(lo, hi, step\)"):
        PreNASSelector(param_range=(1, 2))
    with pytest.raises(TypeError, match="expects a ViTSpace"):
        PreNASSelector().select({"embed_dim": 8})
    mixed = tiny_space().clone(override={"num_heads[1]": 4})
    with pytest.raises(ValueError, match="same 'num_heads' choices in every layer"):
        PreNASSelector().select(mixed)


# ----------------------------------------------------------------------------- training


def _specs(*shapes):
    template = tiny_supernet().max_spec()
    return [
        {**template, "embed_dim": e, "depth": d, "mlp_ratio": [1.0, 1.0], "num_heads": [1, 1]}
        for e, d in shapes
    ]


def test_grouped_sampling_draws_a_group_uniformly_then_a_member():
    specs = _specs((8, 1), (16, 2), (16, 2), (16, 2))
    assert group_candidates(specs) == [[0], [1, 2, 3]]
    sampler = PreferredSampler(specs).bind(None)
    rng = np.random.default_rng(0)
    counts = Counter(sampler.specs.index(sampler.sample(rng)[0]) for _ in range(4000))
    assert abs(counts[0] / 4000 - 0.5) < 0.03
    flat = PreferredSampler(specs, group_by=()).bind(None)
    counts = Counter(flat.specs.index(flat.sample(rng)[0]) for _ in range(4000))
    assert abs(counts[0] / 4000 - 0.25) < 0.03
    with pytest.raises(ValueError, match="group_by keys"):
        group_candidates(specs, ("width",))


def test_sandwich_and_shuffle_options():
    specs = _specs((8, 1), (8, 2), (16, 1), (16, 2))
    sampler = PreferredSampler(specs, sandwich=2).bind(None)
    rng = np.random.default_rng(1)
    for _ in range(50):
        drawn = sampler.sample(rng)
        assert len(drawn) == 4 and drawn[0] == specs[0] and drawn[-1] == specs[-1]
        assert all(s in (specs[1], specs[2]) for s in drawn[1:-1])
    spec = {**specs[3], "mlp_ratio": [1.0, 2.0], "num_heads": [2, 1]}
    shuffled = PreferredSampler([spec], shuffle=True).bind(None)
    seen = {tuple(shuffled.sample(rng)[0]["mlp_ratio"]) for _ in range(40)}
    assert seen == {(1.0, 2.0), (2.0, 1.0)}
    with pytest.raises(ValueError, match="sandwich must be an int"):
        PreferredSampler(specs, sandwich=-1)


def test_uniform_sampler_draws_members_of_the_whole_space():
    supernet = tiny_supernet()
    sampler = UniformSampler().bind(tiny_space(), supernet)
    rng = np.random.default_rng(0)
    drawn = [sampler.sample(rng)[0] for _ in range(200)]
    for spec in drawn:
        supernet.arch_of(spec)
    assert {s["embed_dim"] for s in drawn} == {8, 16} and {s["depth"] for s in drawn} == {1, 2}


def test_preferred_training_touches_only_the_preferred_paths(data):
    supernet = tiny_supernet(tiny_space(depths=(1, 2, 3)))
    unused = [p.detach().clone() for p in supernet.blocks[2].parameters()]
    used = supernet.blocks[0].fc1.weight.detach().clone()
    preferred = [
        {**s, "mlp_ratio": [1.0] * 3, "num_heads": [1] * 3} for s in _specs((8, 1), (16, 2))
    ]
    record = train_preferred(supernet, preferred, data, epochs=2, lr=1e-2, seed=0, device="cpu")
    assert record["step"] == 2 * math.ceil(96 / 64) and record["epoch"] == 2
    for before, after in zip(unused, supernet.blocks[2].parameters(), strict=True):
        assert torch.equal(before, after)
    assert not torch.equal(used, supernet.blocks[0].fc1.weight)
    with pytest.raises(ValueError, match="is not one of"):
        train_preferred(supernet, _specs((12, 1)), data, epochs=1)


def test_uniform_training_reaches_every_layer_and_learns(data):
    supernet = tiny_supernet()
    before = supernet.blocks[1].fc1.weight.detach().clone()
    record = train_uniform(
        supernet, tiny_space(), data, epochs=15, lr=1e-2, seed=0, label_smoothing=0.0, device="cpu"
    )
    assert not torch.equal(before, supernet.blocks[1].fc1.weight)
    assert record["accuracy"] > 0.6  # chance is 1/3


# ----------------------------------------------------------------------------- deployment


def trained_prenas(data, buckets: int, epochs: int = 1) -> PreNAS:
    """A PreNAS searcher prepared (selected, trained, ranked) on the tiny space."""
    prenas = PreNAS(
        data=data,
        epochs=epochs,
        buckets=buckets,
        lr=1e-2,
        seed=0,
        device="cpu",
        validation_fraction=0.25,
    )
    prenas.bind(spaces.compile(tiny_space()), 0)
    prenas.prepare(None, verbose=False)
    return prenas


def test_specialize_picks_the_best_feasible_preferred_architecture(data):
    prenas = trained_prenas(data, buckets=3)
    preferred = prenas.preferred
    sizes = [p.params for p in preferred]
    prenas.accuracy = {}
    chosen = prenas.specialize({"params": sizes[1]})
    assert chosen.spec == preferred[1].spec  # no accuracies: the largest that fits
    x = data.x_test[:4]
    prenas.supernet.eval()
    torch.testing.assert_close(chosen.module.eval()(x), prenas.supernet(x, chosen.spec))
    prenas.accuracy = {0: 0.9, 1: 0.5, 2: 0.95}
    assert prenas.specialize({"params": sizes[1]}).spec == preferred[0].spec
    assert prenas.specialize({"params": sizes[2]}).metrics["inherited_accuracy"] == 0.95
    macs = prenas.specialize({"macs": 1e12})
    extracted = prenas.supernet.extract(macs.spec)
    assert macs.metrics["macs"] == programs.count(extracted, (1, 8, 8))["macs"]
    assert prenas.specialize({"latency_ms": 1e6}).metrics["latency_ms"] > 0


def test_specialize_errors_name_the_problem(data):
    with pytest.raises(ValueError, match="nothing trained yet"):
        PreNAS(data=data).specialize({"params": 1e6})
    prenas = trained_prenas(data, buckets=2)
    smallest = prenas.preferred[0].params
    with pytest.raises(ValueError, match=f"smallest values available are {{'params': {smallest}"):
        prenas.specialize({"params": 10})
    with pytest.raises(ValueError, match="constraint keys must be among"):
        prenas.specialize({"flops": 10})
    with pytest.raises(ValueError, match="must be a positive number"):
        prenas.specialize({"params": -1})


def test_prenas_trains_ranks_and_proposes_its_finalists_best_first(data):
    prenas = trained_prenas(data, buckets=2, epochs=10)
    accuracies = [prenas.accuracy[i] for i in range(len(prenas.preferred))]
    assert len(accuracies) == 2 and min(accuracies) > 0.5 and prenas.training["epoch"] == 10
    assert prenas.specialize({"params": 1e9}).metrics["inherited_accuracy"] == max(accuracies)
    first, second = (prenas.codec.decode(g) for g in prenas.propose_batch(2))
    ranked = sorted(range(2), key=lambda i: -accuracies[i])
    assert [first["embed_dim"], second["embed_dim"]] == [
        prenas.preferred[i].spec["embed_dim"] for i in ranked
    ]
    with pytest.raises(StopIteration):
        prenas.propose_batch(1)
    with pytest.raises(TypeError, match="PreNAS searches AutoFormer ViT spaces"):
        bad = PreNAS(data=data, epochs=1)
        bad.bind(spaces.compile(spaces.nb201_cell(C=4, N=1)), 0)
        bad.prepare(None)


def test_validation_split_holds_out_part_of_the_training_set(data):
    train_part, validation = validation_split(data, 0.25, seed=0)
    assert len(validation.y_test) == 18 and len(train_part.y_train) == 54
    assert torch.equal(train_part.x_test, data.x_test)
    rows = {tuple(r.flatten().tolist()) for r in train_part.x_train}
    assert not rows & {tuple(r.flatten().tolist()) for r in validation.x_test}
    with pytest.raises(ValueError, match="fraction must lie strictly between 0 and 1"):
        validation_split(data, 1.0)


def test_selector_accepts_a_zero_cost_proxy_as_the_candidate_score(data):
    from symnas.algorithms import zero_cost

    supernet = tiny_supernet()
    batch = (data.x_train[:16], data.y_train[:16])
    selector = PreNASSelector(buckets=2, score="snip")
    with pytest.raises(ValueError, match="needs a batch"):
        selector.select(tiny_space(), supernet)
    preferred = selector.select(tiny_space(), supernet, batch)
    cands = selector.candidates
    for p in preferred:
        lo, hi = p.bucket
        assert p.score == cands.score[(cands.params >= lo) & (cands.params < hi)].max()
    direct = zero_cost.score_specs(
        [preferred[0].spec], batch, ["snip"], supernet=supernet, progress=False
    )
    assert math.isclose(preferred[0].score, direct[0]["snip"], rel_tol=1e-6)
