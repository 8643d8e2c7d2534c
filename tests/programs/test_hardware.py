"""Tests of the layer tracer and the analytical systolic-array cost model."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symnas import spaces
from symnas.programs.cost.hardware import LayerTable, cost, cost_table, layers


def gemm(m: int, k: int, n: int, count: int = 1) -> LayerTable:
    """A one-layer table of a plain GEMM."""
    arrays = {"m": [m], "k": [k], "n": [n], "count": [count]}
    arrays.update(in_words=[m * k * count], w_words=[k * n * count], out_words=[m * n * count])
    return LayerTable.from_json({"names": ["g"], "kinds": ["linear"], **arrays})


def hw(rows: int, cols: int, dataflow: str, **extra) -> dict:
    return {"rows": rows, "cols": cols, "dataflow": dataflow, **extra}


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 16)
        scores = q @ k.transpose(-1, -2)
        return self.mha(y, y, y, need_weights=False)[0] + scores.sum()


def test_conv_and_linear_shapes_come_from_the_module():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    model[1].eval()
    table = layers(model, (3, 8, 8), batch_size=2)
    assert table.names == ("0", "1", "3")
    assert table.kinds == ("conv", "conv", "linear")
    assert table.m.tolist() == [2 * 8 * 8, 2 * 4 * 4, 2]
    assert table.k.tolist() == [27, 2 * 9, 128]
    assert table.n.tolist() == [8, 2, 10]
    assert table.count.tolist() == [1, 4, 1]
    assert table.in_words.tolist() == [2 * 3 * 64, 2 * 8 * 64, 2 * 128]
    assert table.w_words.tolist() == [8 * 27, 8 * 2 * 9, 1280]
    assert table.macs.sum() == 2 * 64 * 27 * 8 + 2 * 16 * 18 * 8 + 2 * 128 * 10
    assert model[0].training and not model[1].training


def test_attention_matmuls_are_found_including_the_fused_paths():
    model = Attention().eval()
    table = layers(model, (5, 16), batch_size=2, vector_ops=False)
    assert table.kinds.count("attention") == 4  # sdpa twice (qk, av) in forward and in mha
    assert table.kinds.count("matmul") == 1  # q @ k^T
    qk = table.names.index("Attention")
    assert (table.m[qk], table.k[qk], table.n[qk], table.count[qk]) == (5, 4, 5, 8)
    assert table.names[-1] == "mha#4"  # in-projection, qk, av, out-projection
    linear_macs = 10 * 16 * 48 + 10 * 16 * 48 + 10 * 16 * 16
    attention_macs = 3 * (8 * 5 * 4 * 5) + 2 * (8 * 5 * 5 * 4)
    assert table.macs.sum() == linear_macs + attention_macs
    assert not model.training


def test_layer_table_json_round_trip():
    table = layers(nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU()), (4, 10))
    again = LayerTable.from_json(table.to_json())
    assert again.names == table.names and again.kinds == table.kinds
    assert np.array_equal(again.macs, table.macs)


@pytest.mark.parametrize(
    ("shape", "rows", "cols", "dataflow", "scalesim_cycles"),
    [
        # Compute cycles reported by SCALE-Sim 3.0.0 (GEMM mode, large SRAMs, no stalls).
        ((64, 27, 16), 8, 8, "ws", 687),
        ((64, 27, 16), 8, 8, "os", 655),
        ((64, 27, 16), 8, 8, "is", 1215),
        ((100, 9, 33), 16, 4, "os", 1700),
        ((100, 9, 33), 4, 32, "is", 851),
        ((17, 64, 64), 4, 32, "ws", 1759),
        ((17, 64, 64), 4, 32, "os", 979),
        ((17, 64, 64), 16, 4, "is", 1959),
    ],
)
def test_compute_cycles_match_scalesim(shape, rows, cols, dataflow, scalesim_cycles):
    res = cost_table(gemm(*shape), [hw(rows, cols, dataflow)])
    assert res["total_compute_cycles"][0] == scalesim_cycles + 1  # SCALE-Sim reports last index


def test_one_weight_stationary_fold_and_utilisation_limit():
    rows, cols = 8, 4
    short, long = gemm(50, rows, cols), gemm(10**7, rows, cols)
    cycles = cost_table(short, [hw(rows, cols, "ws")])["total_compute_cycles"][0]
    assert cycles == 2 * rows + cols + 50 - 2
    util = cost_table(long, [hw(rows, cols, "ws", bandwidth=10**9)])["total_utilization"][0]
    assert util == pytest.approx(1.0, abs=1e-5)


def test_dataflows_agree_on_macs_and_repeat_count_scales_cycles():
    configs = [hw(8, 8, d) for d in ("ws", "os", "is")]
    once, four = cost_table(gemm(40, 30, 20), configs), cost_table(gemm(40, 30, 20, 4), configs)
    assert np.all(once["total_macs"] == 40 * 30 * 20)
    assert np.allclose(four["total_compute_cycles"], 4 * once["total_compute_cycles"])


def test_bigger_arrays_are_faster_at_fold_granularity():
    table = gemm(256, 256, 256)
    configs = [hw(s, s, d, bandwidth=4096) for d in ("ws", "os", "is") for s in (4, 8, 16, 32)]
    cycles = cost_table(table, configs)["total_cycles"].reshape(3, 4)
    assert np.all(np.diff(cycles, axis=1) < 0)


def test_small_srams_raise_traffic_energy_and_memory_bound_latency():
    table = gemm(4096, 512, 512)
    roomy = hw(16, 16, "ws", ifmap_sram_kb=4096, filter_sram_kb=4096, ofmap_sram_kb=4096)
    tight = hw(16, 16, "ws", ifmap_sram_kb=16, filter_sram_kb=16, ofmap_sram_kb=16)
    res = cost_table(table, [roomy, tight, dict(tight, bandwidth=1)])
    dram, energy, cycles = res["total_dram_bytes"], res["total_energy"], res["total_cycles"]
    assert dram[0] == 4096 * 512 + 512 * 512 + 4096 * 512  # every operand moved once
    assert dram[1] > dram[0] and energy[1] > energy[0]
    mem, compute = res["total_mem_cycles"][2], res["total_compute_cycles"][2]
    assert cycles[2] == mem > compute
    assert res["total_stall_cycles"][2] == mem - compute


def test_separate_dram_ports_overlap_the_three_operands():
    table = gemm(1024, 8, 8)
    shared, split = hw(8, 8, "os", bandwidth=1), hw(8, 8, "os", bandwidth=1, dram_ports=3)
    res = cost_table(table, [shared, split])
    assert res["total_dram_bytes"][0] == res["total_dram_bytes"][1] == 1024 * 8 * 2 + 64
    assert res["total_mem_cycles"][0] == 1024 * 8 * 2 + 64  # one shared word per cycle
    assert res["total_mem_cycles"][1] == 1024 * 8  # the busiest port: ifmap or ofmap


def test_cost_is_the_one_row_case_of_cost_table():
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 36, 10))
    spec = {"rows": 16, "cols": 8, "dataflow": "os", "clock_mhz": 200.0}
    res = cost(model, (3, 8, 8), spec)
    table = cost_table(layers(model, (3, 8, 8)), [spec])
    assert res["cycles"] == table["total_cycles"][0]
    assert res["latency_ms"] == pytest.approx(res["cycles"] / 200e3)
    assert sum(layer["energy"] for layer in res["layers"]) == pytest.approx(res["energy"])
    assert [layer["kind"] for layer in res["layers"]] == ["conv", "eltwise", "linear"]
    assert 0 < res["utilization"] <= 1
    assert res["area_mm2"] == pytest.approx(spaces.hardware.area_mm2(spec))


def test_cost_table_is_vectorised_over_decoded_specs():
    space = spaces.systolic_accelerator()
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.random(64, np.random.default_rng(0))]
    table = layers(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3)), (3, 12, 12))
    res = cost_table(table, specs)
    assert res["cycles"].shape == (64, 2) and res["total_latency_ms"].shape == (64,)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))
    one = cost(model, (3, 12, 12), specs[5])
    assert one["latency_ms"] == pytest.approx(res["total_latency_ms"][5])


def test_bad_input_is_rejected_with_the_field_name():
    table = gemm(4, 4, 4)
    with pytest.raises(ValueError, match="dataflow"):
        cost_table(table, [hw(4, 4, "xs")])
    with pytest.raises(ValueError, match="at least one"):
        cost_table(table, [])
    with pytest.raises(TypeError, match="LayerTable"):
        cost_table([(4, 4, 4)], [hw(4, 4, "ws")])
    with pytest.raises(ValueError, match="input_shape"):
        layers(nn.Linear(4, 4), (0,))
    with pytest.raises(ValueError, match="batch_size"):
        layers(nn.Linear(4, 4), (4,), batch_size=0)
    with pytest.raises(TypeError, match="Module"):
        layers("model", (4,))


def test_row_stationary_maps_filter_rows_by_output_rows():
    # 3x3 conv, 4 -> 8 channels, 8x8 output: PE sets of 3 x 8 on a 12 x 16 array (4 x 2 sets).
    conv = nn.Conv2d(4, 8, 3, padding=1)
    table = layers(conv, (4, 8, 8))
    res = cost_table(table, [hw(12, 16, "rs", bandwidth=10**6)])
    pairs, sets = 4 * 8, 4 * 2
    assert res["compute_cycles"][0, 0] == (pairs // sets) * 3 * 8 + 12 + 16 - 2
    # A GEMM is a 1 x 1 convolution with one output row: one weight per PE.
    rs = cost_table(gemm(50, 8, 4), [hw(8, 4, "rs")])["total_compute_cycles"][0]
    assert rs == 50 + 8 + 4 - 2


def test_memory_bound_operators_cost_traffic_and_vector_cycles():
    model = nn.Sequential(nn.MaxPool2d(2), nn.ReLU())
    spec = hw(8, 8, "ws", bandwidth=4)
    res = cost(model, (4, 8, 8), spec)
    pool, relu = res["layers"]
    assert pool["dram_bytes"] == 4 * 64 + 4 * 16 and relu["dram_bytes"] == 2 * 4 * 16
    assert pool["compute_cycles"] == 4 * 64 / 8 and res["macs"] == 0
    assert res["cycles"] == pytest.approx((4 * 64 + 4 * 16 + 2 * 4 * 16) / 4)
    gemm_only = cost_table(layers(model, (4, 8, 8), vector_ops=False), [spec])
    assert gemm_only["total_cycles"][0] == 0
