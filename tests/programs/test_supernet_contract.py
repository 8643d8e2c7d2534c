"""The supernet contract, once for every registered family: extract equals the supernet,
``activate`` parses once, foreign specs are refused, and every declared capability works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.programs.registry import FAMILIES, capabilities, families_with
from symnas.programs.supernet_base import (
    CAPABILITIES,
    capabilities_of,
    has_capability,
    require,
)
from symnas.spaces.examples import examples
from symnas.spaces.relaxation import op_decisions

EXAMPLES = examples()
WITH_SUPERNET = sorted(name for name in EXAMPLES if FAMILIES.get(name).meta["supernet"] is not None)


def _setup(family: str, seed: int = 0):
    entry = EXAMPLES[family]
    space = entry.obj()
    torch.manual_seed(seed)
    supernet = programs.supernet(space).eval()
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(2, np.random.default_rng(seed))]
    x = torch.randn(3, *entry.meta["input_shape"])
    return space, supernet, specs, x


@pytest.fixture(params=WITH_SUPERNET)
def family(request) -> str:
    return request.param


def test_every_family_with_a_supernet_has_an_example_and_declares_capabilities():
    for name, entry in FAMILIES.entries().items():
        if entry.meta["supernet"] is None or name not in EXAMPLES:
            continue
        declared = capabilities(name)
        assert declared and set(declared) <= set(CAPABILITIES)
        assert "parsed" in declared and "sliced" in declared  # every family parses and slices
    assert set(WITH_SUPERNET) >= {"nb201", "darts", "vit", "vit_resnas", "pooling", "tdnn"}


def test_extract_equals_the_supernet(family):
    _, supernet, specs, x = _setup(family)
    with torch.no_grad():
        for spec in specs:
            model = supernet.extract(spec).eval()
            assert torch.allclose(model(x), supernet(x, spec), atol=1e-5)


def test_declared_capabilities_match_the_registry(family):
    _, supernet, _, _ = _setup(family)
    assert capabilities_of(supernet) == capabilities(family)
    for capability in CAPABILITIES:
        assert (family in families_with(capability)) == has_capability(supernet, capability)


def test_activate_parses_a_spec_once(family, monkeypatch):
    _, supernet, specs, x = _setup(family)
    supernet.activate(specs[0])
    arch = supernet.active_arch

    def refuse(spec):
        raise AssertionError("activate parsed the active spec again")

    monkeypatch.setattr(supernet, "arch_of", refuse)
    supernet.activate(dict(specs[0]))  # an equal spec: no new parse
    assert supernet.active_arch is arch
    with pytest.raises(AssertionError, match="parsed the active spec again"):
        supernet.activate(specs[1])  # another spec is parsed


def test_a_foreign_spec_is_refused(family):
    _, supernet, _, _ = _setup(family)
    other = "pooling" if family != "pooling" else "nb201"
    space = EXAMPLES[other].obj()
    foreign = spaces.compile(space).decode(
        spaces.compile(space).random(1, np.random.default_rng(0))[0]
    )
    with pytest.raises((ValueError, TypeError, KeyError)):
        supernet.activate(foreign)


def test_sliced_state_is_keyed_like_the_standalone_module(family):
    _, supernet, specs, _ = _setup(family)
    for spec in specs:
        state = supernet.sliced_state(spec)
        reference = supernet.standalone(supernet.arch_of(spec)).state_dict()
        assert set(state) == set(reference)
        for key, tensor in reference.items():
            assert tuple(state[key].shape) == tuple(tensor.shape), key


def test_sized_families_order_their_extremes(family):
    _, supernet, _, x = _setup(family)
    if not has_capability(supernet, "sized"):
        pytest.skip(f"{family} does not declare 'sized'")
    largest, smallest = supernet.max_spec(), supernet.min_spec()
    supernet.arch_of(largest)
    supernet.arch_of(smallest)
    size = {
        name: sum(p.numel() for p in supernet.extract(spec).parameters())
        for name, spec in (("max", largest), ("min", smallest))
    }
    assert size["max"] > size["min"]


def test_differentiable_families_mix_ops_by_decision(family):
    space, supernet, specs, x = _setup(family)
    if not has_capability(supernet, "differentiable"):
        pytest.skip(f"{family} does not declare 'differentiable'")
    relaxation = op_decisions(space)
    assert supernet.arch_decisions() == relaxation.decisions
    for spec in specs:
        one_hot = {
            k: torch.tensor(v, dtype=torch.float32) for k, v in relaxation.one_hot(spec).items()
        }
        with torch.no_grad():
            assert torch.allclose(
                supernet.forward_weighted(x, one_hot), supernet(x, spec), atol=1e-5
            )
        assert supernet.discretize(one_hot) == relaxation.discretize(relaxation.one_hot(spec))
    logits = {
        k: torch.zeros(len(v), requires_grad=True) for k, v in supernet.arch_decisions().items()
    }
    weights = {k: torch.softmax(v, dim=0) for k, v in logits.items()}
    supernet.forward_weighted(x, weights).square().mean().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in logits.values())


def test_a_missing_capability_is_named_with_the_families_that_have_it():
    space = EXAMPLES["pooling"].obj()
    supernet = programs.supernet(space)
    with pytest.raises(
        TypeError, match=r"needs a supernet with the 'differentiable' capability"
    ) as e:
        require(supernet, "differentiable", "DARTS")
    assert "nb201" in str(e.value) and "darts" in str(e.value)
    with pytest.raises(ValueError, match="capability must be one of"):
        has_capability(supernet, "elastic")
