"""Path samplers: the sandwich rule's ends and PreNAS's grouped schedule.

The sandwich sampler (BigNAS, OFA) runs, every step, the largest sub-network of the supernet it
is bound to first, ``num_random`` random ones, and the smallest last. PreNAS's preferred sampler
groups its candidates by ``(embed_dim, depth)`` and draws a group uniformly, then a member
uniformly; with ``sandwich = k`` the first and last candidates frame ``k`` draws of the others.
The candidates below vary embedding width and depth independently, so grouping by one key only,
or drawing members without groups, gives other frequencies.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms.samplers import PreferredSampler, SandwichSampler
from symnas.algorithms.samplers.preferred import group_candidates, shuffled
from symnas.spaces.vit import vit_space

DRAWS = 6000


def _space():
    """2 embed dims x depths {1, 2} x ratio {1, 2} x heads {1, 2} on 8x8 inputs."""
    return vit_space(
        [8, 16], [1, 2], [1.0, 2.0], [1, 2], head_dim=4, image_size=8, patch_size=4, in_chans=1,
        num_classes=3,
    )  # fmt: skip


def _supernet():
    torch.manual_seed(0)
    return programs.supernet(_space())


def test_sandwich_runs_the_bound_supernets_largest_first_and_smallest_last():
    supernet = _supernet()
    codec = spaces.compile(_space())
    sampler = SandwichSampler(num_random=3).bind(codec, supernet)
    rng = np.random.default_rng(0)
    middles, varied_steps = set(), 0
    for _ in range(20):
        drawn = sampler.sample(rng)
        assert len(drawn) == 5
        assert drawn[0] == supernet.max_spec()
        assert drawn[-1] == supernet.min_spec()
        for spec in drawn[1:-1]:
            middles.add(repr(spec))
            assert supernet.arch_of(spec) is not None  # a member of the bound supernet
        varied_steps += len({repr(spec) for spec in drawn[1:-1]}) > 1
    assert supernet.max_spec() != supernet.min_spec()
    # Each random path is its own draw (three draws from 40 architectures rarely coincide).
    assert len(middles) > 10 and varied_steps >= 15


def _candidates(*shapes):
    """Distinct candidates of the given (embed_dim, depth), told apart by their first ratio."""
    template = _supernet().max_spec()
    return [
        {**template, "embed_dim": e, "depth": d, "mlp_ratio": [1.0 + (i % 2), 1.0]}
        for i, (e, d) in enumerate(shapes)
    ]


def _frequencies(sampler, rng):
    counts = Counter()
    for _ in range(DRAWS):
        drawn = sampler.sample(rng)
        for spec in drawn[1:-1] if sampler.sandwich else drawn:
            counts[sampler.specs.index(spec)] += 1
    total = sum(counts.values())
    return [counts[i] / total for i in range(len(sampler.specs))]


def test_preferred_sampler_draws_a_group_uniformly_then_a_member_uniformly():
    specs = _candidates((8, 1), (8, 2), (8, 2), (16, 1))
    assert group_candidates(specs) == [[0], [1, 2], [3]]
    sampler = PreferredSampler(specs).bind(None)
    # Three groups, each 1/3; the two members of the middle group 1/6 each.
    expected = [1 / 3, 1 / 6, 1 / 6, 1 / 3]
    observed = _frequencies(sampler, np.random.default_rng(1))
    assert np.allclose(observed, expected, atol=0.025), observed


def test_preferred_sandwich_frames_draws_of_the_other_candidates_by_group():
    specs = _candidates((8, 1), (8, 2), (8, 2), (16, 1), (16, 2))
    sampler = PreferredSampler(specs, sandwich=2).bind(None)
    rng = np.random.default_rng(2)
    for _ in range(20):
        drawn = sampler.sample(rng)
        assert len(drawn) == 4 and drawn[0] == specs[0] and drawn[-1] == specs[-1]
    # Groups [0], [1, 2], [3], [4], each 1/4; without the ends: 1/4, 1/4, 1/2 for 1, 2, 3.
    expected = [0.0, 0.25, 0.25, 0.5, 0.0]
    observed = _frequencies(sampler, rng)
    assert np.allclose(observed, expected, atol=0.025), observed


def test_sampler_settings_are_checked_and_recorded():
    specs = _candidates((8, 1), (8, 2), (16, 1))
    with pytest.raises(ValueError, match=r"^PreferredSampler needs at least one spec\.$"):
        PreferredSampler([])
    with pytest.raises(ValueError, match=r"^PreferredSampler: sandwich needs a candidate besides"):
        PreferredSampler(specs[:2], sandwich=1)
    with pytest.raises(ValueError, match=r"^PreferredSampler: sandwich must be an int >= 0; got"):
        PreferredSampler(specs, sandwich=-1)
    with pytest.raises(ValueError, match=r"^group_by keys must be among \['embed_dim', 'depth'\]"):
        PreferredSampler(specs, group_by=("width",))
    with pytest.raises(ValueError, match=r"^SandwichSampler: num_random must be an int >= 0; got"):
        SandwichSampler(num_random=-1)
    assert PreferredSampler(specs, group_by=()).groups == [[0, 1, 2]]
    assert PreferredSampler(specs, group_by=("depth",)).groups == [[0, 2], [1]]
    sampler = PreferredSampler(specs, sandwich=1, shuffle=True)
    assert sampler.config() == {
        "type": "PreferredSampler",
        "specs": 3,
        "group_by": ["embed_dim", "depth"],
        "sandwich": 1,
        "shuffle": True,
    }
    assert SandwichSampler(num_random=3).config() == {"type": "SandwichSampler", "num_random": 3}
    # BigNAS's sandwich: the largest, two random sub-networks, the smallest.
    assert SandwichSampler().config()["num_random"] == 2
    bound = SandwichSampler().bind(spaces.compile(_space()), _supernet())
    assert len(bound.sample(np.random.default_rng(0))) == 4


def test_preferred_sampler_binds_to_a_space_and_checks_its_specs():
    supernet = _supernet()
    specs = _candidates((8, 1), (16, 2))
    sampler = PreferredSampler(specs).bind(_space(), supernet)
    assert sampler.codec is not None and sampler.supernet is supernet
    foreign = {**specs[0], "embed_dim": 12}
    with pytest.raises(ValueError, match=r"'embed_dim' = 12 is not one of \[8, 16\]"):
        PreferredSampler([foreign]).bind(_space(), supernet)
    # A model that cannot map specs (no arch_of) is trusted with the preferred specs.
    plain = torch.nn.Linear(2, 2)
    assert PreferredSampler([foreign]).bind(_space(), plain).supernet is plain


def test_shuffle_permutes_the_active_layers_of_the_drawn_candidate():
    spec = {**_candidates((16, 2))[0], "mlp_ratio": [1.0, 2.0], "num_heads": [2, 1]}
    rng = np.random.default_rng(4)
    drawn = [shuffled(spec, rng) for _ in range(40)]
    orders = {(tuple(d["mlp_ratio"]), tuple(d["num_heads"])) for d in drawn}
    assert {((1.0, 2.0), (2, 1)), ((2.0, 1.0), (1, 2)), ((1.0, 2.0), (1, 2))} <= orders
    assert all(d["embed_dim"] == 16 and d["depth"] == 2 for d in drawn)
    short = {**spec, "depth": 1}
    assert all(shuffled(short, rng)["mlp_ratio"] == [1.0, 2.0] for _ in range(10))
    sampler = PreferredSampler([spec], shuffle=True).bind(None)
    assert {tuple(sampler.sample(rng)[0]["mlp_ratio"]) for _ in range(30)} == {
        (1.0, 2.0),
        (2.0, 1.0),
    }
