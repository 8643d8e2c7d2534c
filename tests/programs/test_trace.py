"""Tests of the shape-level trace behind programs.count and programs.cost.hardware.layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from symnas import programs, spaces
from symnas.programs.cost import hardware
from symnas.programs.cost import trace as trace_module
from symnas.programs.cost.trace import GEMM_KINDS, trace


def _aten_gemm_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of the matrix products and convolutions ATen runs in a real forward pass."""
    custom = {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *a, **kw: (
            2 * int(np.prod(q[:-2])) * q[-2] * k[-2] * (q[-1] + v[-1])
        )
    }
    counter = FlopCounterMode(display=False, custom_mapping=custom)
    model.eval()
    with torch.no_grad(), counter:
        model(torch.randn(1, *input_shape))
    return counter.get_total_flops() // 2


def test_gemm_rows_match_the_aten_counter_on_every_family(tiny_family):
    family, make_space, input_shape = tiny_family
    codec = spaces.compile(make_space())
    for genome in codec.random(2, np.random.default_rng(3)):
        torch.manual_seed(0)
        model = programs.build(codec.decode(genome))
        table = hardware.layers(model, input_shape, vector_ops=False)
        assert set(table.kinds) <= set(GEMM_KINDS)
        assert int(table.macs.sum()) == _aten_gemm_macs(model, input_shape), family


def test_cached_layers_replay_exactly_what_a_fresh_trace_records():
    trace_module.clear_cache()
    space = spaces.nb201_cell(C=8, N=1, num_classes=10, in_chans=1)
    codec = spaces.compile(space)
    genomes = codec.random(4, np.random.default_rng(0))
    for genome in genomes:
        model = programs.build(codec.decode(genome))
        cached = trace(model, (1, 8, 8))
        assert cached == trace(model, (1, 8, 8), cache=False)
    size = trace_module.cache_size()
    assert size > 0
    again = programs.build(codec.decode(genomes[0]))  # new weights, same layers
    assert trace(again, (1, 8, 8)) == trace(again, (1, 8, 8), cache=False)
    assert trace_module.cache_size() == size  # nothing new to trace


def test_shapes_and_arguments_are_part_of_the_cache_key():
    trace_module.clear_cache()
    conv = nn.Conv2d(2, 4, 3, padding=1)
    small, large = trace(conv, (2, 4, 4)), trace(conv, (2, 8, 8))
    assert small[0].m == 16 and large[0].m == 64

    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.small, self.big = nn.Linear(4, 2), nn.Linear(4, 64)

        def forward(self, x: torch.Tensor, big: bool = False) -> torch.Tensor:
            return self.big(x) if big else self.small(x)

    gate = Gate()
    assert sum(r.macs for r in trace(gate, (4,))) == 8
    assert sum(r.macs for r in trace(gate, (4,), forward=lambda m, x: m(x, big=True))) == 256


def test_modules_that_cannot_be_keyed_are_traced_every_time():
    scale = torch.tensor(2.0)

    class Closure(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.fn = lambda x: x * scale  # a closure: its behaviour is not in the key
            self.linear = nn.Linear(4, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(self.fn(x))

    trace_module.clear_cache()
    assert sum(r.macs for r in trace(Closure(3), (4,))) == 12
    assert sum(r.macs for r in trace(Closure(5), (4,))) == 20


def test_memory_bound_operators_are_recorded():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    rows = trace(model, (1, 8, 8), cache=False)
    assert [r.kind for r in rows] == ["conv", "eltwise", "pool"]
    relu, pool = rows[1], rows[2]
    assert (relu.m, relu.k, relu.in_words, relu.out_words, relu.macs) == (256, 1, 256, 256, 0)
    assert (pool.m, pool.k, pool.in_words, pool.out_words) == (64, 4, 256, 64)
    conv = rows[0]
    assert (conv.kh, conv.kw, conv.oh) == (3, 3, 8)


def test_private_attributes_are_part_of_the_key():
    class Width(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 8)
            self._width = width  # read by forward: must not be shared across widths

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)[..., : self._width] @ torch.ones(self._width, 2)

    trace_module.clear_cache()
    narrow, wide = trace(Width(2), (4,)), trace(Width(8), (4,))
    assert narrow[-1].k == 2 and wide[-1].k == 8


def test_trace_call_logs_each_watched_call_with_its_rows_arguments_and_output():
    trace_module.clear_cache()
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 1))
    call = trace_module.trace_call(
        model, (trace_module.TensorSpec((1, 2, 5, 5)),), watch=["1", "2"]
    )
    assert [r.name for r in call.rows] == ["0", "1", "2"]
    assert call.output == ("T", (1, 6, 5, 5), torch.float32)
    relu, last = call.spans["1"], call.spans["2"]
    assert (relu.start, relu.end, last.start, last.end) == (1, 2, 2, 3)
    assert last.args == (trace_module.TensorSpec((1, 4, 5, 5), torch.float32),)
    assert last.output == ("T", (1, 6, 5, 5), torch.float32)
    again = trace_module.trace_call(model, (trace_module.TensorSpec((1, 2, 5, 5)),), watch=["2"])
    assert again.rows == call.rows  # the first layers replayed from the cache, the same rows


def test_trace_call_rejects_watched_modules_not_called_exactly_once():
    shared = nn.Linear(3, 3)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer, self.unused = shared, nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(self.layer(x))

    spec = (trace_module.TensorSpec((1, 3)),)
    with pytest.raises(ValueError, match="called 2 time"):
        trace_module.trace_call(Twice(), spec, watch=["layer"])
    with pytest.raises(ValueError, match="called 0 time"):
        trace_module.trace_call(Twice(), spec, watch=["unused"])
    with pytest.raises(ValueError, match="no submodule"):
        trace_module.trace_call(Twice(), spec, watch=["missing"])
