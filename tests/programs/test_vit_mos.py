"""Mixture-of-Supernets on the ViT: one expert is the plain supernet exactly, the router gives
each spec its own expert mixture, gradients reach every expert, and training resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms.samplers import create_sampler
from symnas.programs.data import synthetic
from symnas.programs.families.vit_mos import MoSViTSupernet
from symnas.programs.registry import FAMILIES
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.examples import examples


def _plain():
    return examples()["vit"].obj()


def _mos(experts: int = 2, router_hidden: int = 16):
    return spaces.mixture_of_supernets(_plain(), experts=experts, router_hidden=router_hidden)


def _specs(space, count: int = 4):
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.distinct(count, np.random.default_rng(0))]


def _trainer(space, out=None, resume=False, epochs=3):
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = synthetic(48, (1, 8, 8), 10, seed=0)
    config = TrainConfig(
        epochs=epochs, optimizer="sgd", lr=0.05, batch_size=12, seed=1, grad_clip=5.0
    )
    return SupernetTrainer(
        supernet, data, config, sampler=create_sampler("sandwich", num_random=1), space=space,
        out=out, resume=resume, device="cpu", progress=False,
    )  # fmt: skip


def test_the_variant_is_a_registered_family():
    assert FAMILIES.get("vit_mos").meta["supernet_class"] is MoSViTSupernet
    assert isinstance(programs.supernet(_mos()), MoSViTSupernet)
    with pytest.raises(ValueError, match="experts must be an int >= 1"):
        spaces.mixture_of_supernets(_plain(), experts=0)
    with pytest.raises(TypeError, match="expects a ViTSpace"):
        spaces.mixture_of_supernets(_mos())


def test_one_expert_equals_the_plain_supernet_exactly():
    torch.manual_seed(0)
    plain = programs.supernet(_plain())
    torch.manual_seed(0)
    mixture = programs.supernet(_mos(experts=1))
    x = torch.randn(5, 1, 8, 8)
    for spec in _specs(_plain()) + [plain.max_spec(), plain.min_spec()]:
        assert torch.equal(plain(x, spec), mixture(x, spec))
    straight, mos = _trainer(_plain(), epochs=2), _trainer(_mos(experts=1), epochs=2)
    straight.fit()
    mos.fit()
    assert [r["loss"] for r in mos.history] == [r["loss"] for r in straight.history]
    trained = dict(mos.supernet.named_parameters())
    for name, param in straight.supernet.named_parameters():
        assert torch.equal(param, trained[name]), name


def test_the_router_gives_each_spec_its_own_expert_mixture():
    torch.manual_seed(0)
    supernet = programs.supernet(_mos(experts=2))
    specs = _specs(_mos(experts=2))
    mixings = [torch.stack(supernet.mixing(spec)) for spec in specs]
    for m in mixings:
        torch.testing.assert_close(m.sum(dim=-1), torch.ones(len(m)))
    for i in range(len(specs)):
        for j in range(i + 1, len(specs)):
            assert not torch.allclose(mixings[i], mixings[j])
    big, small = supernet.max_spec(), supernet.min_spec()
    key = "blocks.0.fc1.weight"
    w_big = supernet.sliced_state(big)[key]
    w_small = supernet.sliced_state(small)[key]
    rows, cols = w_small.shape
    assert not torch.allclose(w_big[:rows, :cols], w_small)  # same slice, other mixture

    with torch.no_grad():
        for expert in (0, 1):
            for mixture in supernet.mixtures:
                last = mixture.router[-1]
                last.weight.zero_()
                last.bias.copy_(torch.tensor([1e4, 0.0] if expert == 0 else [0.0, 1e4]))
            state = supernet.sliced_state(small)
            shared = supernet.blocks[0].fc1.weight
            weight = shared if expert == 0 else supernet.mixtures[0].fc1_weight[0]
            assert torch.equal(state[key], weight[:rows, :cols])
            bias = supernet.blocks[1].fc2.bias if expert == 0 else supernet.mixtures[1].fc2_bias[0]
            assert torch.equal(
                state["blocks.1.fc2.bias"], bias[: state["blocks.1.fc2.bias"].numel()]
            )


def test_gradients_reach_every_expert_and_router():
    torch.manual_seed(0)
    supernet = programs.supernet(_mos(experts=3))
    x = torch.randn(4, 1, 8, 8)
    supernet(x, supernet.max_spec()).square().mean().backward()
    for layer, mixture in enumerate(supernet.mixtures):
        for name, param in mixture.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, (layer, name)
    with pytest.raises(ValueError, match="'experts' is 2; this supernet has 3"):
        supernet.activate({**supernet.max_spec(), "experts": 2})


def test_a_resumed_mixture_training_equals_an_uninterrupted_one(tmp_path, interrupt_fit):
    straight = _trainer(_mos())
    straight.fit()

    interrupt_fit(_trainer(_mos(), out=tmp_path), 2)
    resumed = _trainer(_mos(), out=tmp_path, resume=True)
    resumed.fit()
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for a, b in zip(
        straight.supernet.state_dict().values(), resumed.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
