"""Tests of the spec-level layer tables and costs (programs.cost.spec_cost, parts, cell_parts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from symnas import programs, spaces
from symnas.core.registry import Registry
from symnas.programs.cost import hardware, spec_cost
from symnas.programs.cost.parts import Part, register_parts
from symnas.programs.cost.spec_cost import SpecCoster
from symnas.programs.cost.trace import trace
from symnas.programs.families import nb201

HW = {"rows": 8, "cols": 8, "dataflow": "ws"}
HWS = [HW, {"rows": 4, "cols": 16, "dataflow": "os"}, {"rows": 8, "cols": 4, "dataflow": "rs"}]


def _specs(space, count: int, seed: int) -> list:
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.random(count, np.random.default_rng(seed))]


def _assert_same_as_built(coster: SpecCoster, spec, shape, **task) -> None:
    model = programs.build(spec, **task)
    assert coster.rows(spec, **task) == trace(model, shape)
    assert coster.count(spec, **task) == programs.count(model, shape)
    built, assembled = hardware.layers(model, shape), coster.layers(spec, **task)
    assert assembled.names == built.names and assembled.kinds == built.kinds
    for field in ("m", "k", "n", "count", "in_words", "w_words", "out_words", "kh", "kw", "oh"):
        assert np.array_equal(getattr(assembled, field), getattr(built, field)), field
    for hw in HWS:
        assert coster.cost(spec, hw, **task) == hardware.cost(model, shape, hw)


def test_nb201_specs_cost_exactly_what_their_built_networks_cost():
    shape = (3, 12, 12)
    coster = SpecCoster(shape)
    for spec in _specs(spaces.nb201_cell(C=4, N=2, num_classes=10), 6, seed=1):
        _assert_same_as_built(coster, spec, shape)
    _assert_same_as_built(coster, spec, shape, num_classes=7, C=8)  # task overrides the macro


def test_darts_specs_cost_exactly_what_their_built_networks_cost():
    shape = (3, 8, 8)
    coster = SpecCoster(shape)
    for spec in _specs(spaces.darts_cell(C=4, layers=4, num_classes=10), 4, seed=2):
        _assert_same_as_built(coster, spec, shape)


def test_every_family_costs_the_same_through_the_spec(tiny_family):
    family, make_space, shape = tiny_family
    coster = SpecCoster(shape)
    for spec in _specs(make_space(), 2, seed=3):
        torch.manual_seed(0)
        _assert_same_as_built(coster, spec, shape)


def test_a_new_nb201_candidate_of_seen_edge_ops_is_assembled_without_tracing(monkeypatch):
    shape = (3, 8, 8)
    coster = SpecCoster(shape)
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none"]
    seen = dict(_specs(spaces.nb201_cell(C=4, N=1, num_classes=10), 1, seed=0)[0], edges=ops)
    coster.cost(seen, HW)
    entries = len(coster)
    new = dict(seen, edges=list(reversed(ops)))  # a new cell: same ops, other edges

    def no_trace(*args, **kwargs):
        raise AssertionError("a part was traced")

    monkeypatch.setattr(spec_cost, "trace_call", no_trace)
    monkeypatch.setattr(nb201.NB201Network, "__init__", no_trace)
    assembled = coster.cost(new, HW)
    assert len(coster) > entries  # the new cells and network were kept
    monkeypatch.undo()
    assert assembled == hardware.cost(programs.build(new), shape, HW)


def test_batched_totals_equal_one_candidate_at_a_time():
    shape = (3, 8, 8)
    coster = SpecCoster(shape)
    specs = _specs(spaces.nb201_cell(C=4, N=1, num_classes=10), 5, seed=4)
    for hw in HWS:
        batched = coster.costs(specs, hw)
        for spec, totals in zip(specs, batched, strict=True):
            single = hardware.cost(programs.build(spec), shape, hw)
            assert totals == {k: v for k, v in single.items() if k != "layers"}
            assert coster.cost(spec, hw, per_layer=False) == totals
    assert coster.costs([], HW) == []


class _Net(nn.Module):
    """A frame with one slot, ``body``, between two fixed layers."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.inp, self.body, self.out = nn.Linear(4, 4), body, nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.body(self.inp(x))))


def _net_part(body_width: int, key_width: int = 4) -> Part:
    def body() -> nn.Module:
        return nn.Sequential(nn.Linear(4, body_width), nn.Linear(body_width, 4))

    slot = Part(("body", body_width), body)
    return Part(("net", key_width), lambda: _Net(body()), (("body", slot),))


def test_custom_hooks_substitute_slots_and_reject_keys_that_miss_output_shapes(monkeypatch):
    monkeypatch.setattr("symnas.programs.cost.parts.PARTS", Registry("parts hook"))
    register_parts(spaces.NB201Cell, lambda spec, **task: _net_part(spec["width"]))
    coster = SpecCoster((4,))
    for width in (2, 8, 5):
        spec = {"_type": spaces.NB201Cell.__type_name__, "width": width}
        expected = trace(_net_part(width).make(), (4,))
        assert coster.rows(spec) == expected
        assert sum(r.macs for r in expected) == 16 + 8 * width + 12

    class Widen(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x], dim=-1)

    bad = Part(("net", 4), lambda: _Net(Widen()), (("body", Part("widen", Widen)),))
    monkeypatch.setattr("symnas.programs.cost.parts.PARTS", Registry("parts hook"))
    register_parts(spaces.NB201Cell, lambda spec, **task: bad)
    with pytest.raises(ValueError, match="must fix the output shapes"):
        coster.rows({"_type": spaces.NB201Cell.__type_name__})


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="input_shape"):
        SpecCoster((3, 0, 8))
    with pytest.raises(ValueError, match="batch_size"):
        SpecCoster((3, 8, 8), batch_size=0)
    with pytest.raises(TypeError, match="_type"):
        SpecCoster((3, 8, 8)).cost({"edges": []}, HW)
    with pytest.raises(TypeError, match="space_cls"):
        register_parts(dict, lambda spec: None)
    with pytest.raises(TypeError, match="unknown task argument"):
        SpecCoster((3, 8, 8)).layers(_specs(spaces.nb201_cell(C=4, N=1), 1, 0)[0], depth=3)


def test_small_caches_evict_and_still_give_the_same_costs(monkeypatch):
    monkeypatch.setattr(spec_cost, "CACHE_SIZE", 4)
    shape = (3, 8, 8)
    coster = SpecCoster(shape)
    specs = _specs(spaces.nb201_cell(C=4, N=1, num_classes=10), 3, seed=5)
    for spec in specs + specs[:1]:
        single = hardware.cost(programs.build(spec), shape, HW)
        assert coster.cost(spec, HW, per_layer=False) == {
            k: v for k, v in single.items() if k != "layers"
        }
        assert len(coster) <= 4
    coster.clear()
    assert len(coster) == 0


def test_part_cache_keys_tell_call_arguments_apart():
    """A traced part is cached under a key of its call's arguments: two calls share a cached
    block only when their arguments are equal, lists and nested tuples included."""
    from symnas.programs.cost.spec_cost import _hashable
    from symnas.programs.cost.trace import TensorSpec

    a, b = TensorSpec((1, 8, 4, 4)), TensorSpec((1, 16, 4, 4))
    calls = [
        (a,),
        (b,),
        ((a, b),),
        ([a, b],),
        ([a, a],),
        ([b, a],),
        (a, 3),
        (a, 4),
        (a, [1, 2]),
        (a, [1, 3]),
        ((a, (b,)),),
        ((a, [b]),),
    ]
    keys = [_hashable(args) for args in calls]
    assert len(set(keys)) == len(calls)  # hashable, and one key per distinct call
    assert _hashable((a, [1, [b, 2]])) == _hashable((a, [1, [b, 2]]))
