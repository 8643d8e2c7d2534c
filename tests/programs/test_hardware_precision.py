"""The cost model by operand precision (``programs/cost/hardware_precision.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from symnas import programs
from symnas.programs.cost import hardware
from symnas.programs.cost.hardware import LayerTable, cost_table, layer_bits

ARCH = {
    "_type": "symnas.spaces.pooling.PoolingSpace",
    "channels": [16, 16, 16, 16, 32, 32, 32, 64, 64, 64],
    "pool_at": [3, 8],
    "num_classes": 10,
    "in_chans": 1,
    "image_size": 8,
}
# Totals (cycles, energy, DRAM bytes, SRAM bytes, utilisation) of ARCH on 8 x 16 arrays,
# computed by the cost model as it stood before it took precisions (float.hex, bit for bit).
BEFORE = {
    ("ws", 1, 1): (
        "0x1.8918299088079p+16",
        "0x1.605e7f6ca282ep+6",
        "0x1.07450eac0c9dbp+19",
        "0x1.ba8c000000000p+19",
        "0x1.dcf979454d103p-3",
    ),
    ("ws", 3, 2): (
        "0x1.7f9c76f8b62b6p+18",
        "0x1.f34516a14389ep+8",
        "0x1.7936c225d45c6p+21",
        "0x1.ba8c000000000p+20",
        "0x1.e8c40648d53bap-5",
    ),
    ("os", 1, 1): (
        "0x1.132a3edd2d087p+16",
        "0x1.5e80e0815cda1p+6",
        "0x1.068c3edd2d087p+19",
        "0x1.60c1400000000p+19",
        "0x1.54b28706c1c20p-2",
    ),
    ("os", 3, 2): (
        "0x1.2ad5663fa2427p+17",
        "0x1.b050ed88c5af2p+7",
        "0x1.43228c5d405c8p+20",
        "0x1.60c1400000000p+20",
        "0x1.39b68b031d6e1p-3",
    ),
    ("is", 1, 1): (
        "0x1.318dcf27630d4p+16",
        "0x1.3da70f9466224p+6",
        "0x1.da161e4ec61a8p+18",
        "0x1.9942000000000p+19",
        "0x1.32d031922ba10p-2",
    ),
    ("is", 3, 2): (
        "0x1.08d078e02c5f1p+17",
        "0x1.52521e2b51aa8p+7",
        "0x1.f5f6269087913p+19",
        "0x1.9942000000000p+20",
        "0x1.62039922cd06dp-3",
    ),
    ("rs", 1, 1): (
        "0x1.a1ae800000000p+15",
        "0x1.fd3f3f1d4c412p+5",
        "0x1.6686800000000p+18",
        "0x1.9c7ed00000000p+21",
        "0x1.c0e59c3b8d72ep-2",
    ),
    ("rs", 3, 2): (
        "0x1.3db8000000000p+16",
        "0x1.0106029a0e33ap+7",
        "0x1.6686800000000p+19",
        "0x1.9c7ed00000000p+22",
        "0x1.2710e53bf3d03p-2",
    ),
}
TOTALS = ("cycles", "energy", "dram_bytes", "sram_bytes", "utilization")


def _hw(flow: str, ports: int = 1, word: int = 1, **extra) -> dict:
    return {
        "rows": 8,
        "cols": 16,
        "dataflow": flow,
        "ifmap_sram_kb": 16,
        "filter_sram_kb": 32,
        "ofmap_sram_kb": 16,
        "bandwidth": 8,
        "dram_ports": ports,
        "word_bytes": word,
        **extra,
    }


@pytest.fixture(scope="module")
def table() -> LayerTable:
    return hardware.layers(programs.build(ARCH), (1, 8, 8))


def _gemm(m: int, k: int, n: int, kind: str = "linear") -> LayerTable:
    return LayerTable.from_json(
        {
            "names": ["fc"],
            "kinds": [kind],
            "m": [m],
            "k": [k],
            "n": [n],
            "count": [1],
            "in_words": [m * k],
            "w_words": [k * n],
            "out_words": [m * n],
        }
    )


def test_without_precision_the_results_are_those_of_before_bit_for_bit(table):
    specs = [_hw(flow, ports, word) for flow, ports, word in BEFORE]
    res = cost_table(table, specs)
    for i, key in enumerate(BEFORE):
        got = tuple(float(res[f"total_{name}"][i]).hex() for name in TOTALS)
        assert got == BEFORE[key], key


def test_every_unit_at_the_native_width_prices_as_no_precision(table):
    units = {"layers": (8, 8), "fc": (8, 8)}
    for fused in (False, True):
        specs = [_hw(flow, bit_fusion=fused) for flow in ("ws", "os", "is", "rs")]
        plain, native = cost_table(table, specs), cost_table(table, specs, precision=units)
        for name in ("cycles", "energy", "dram_bytes", "sram_bytes", "latency_ms"):
            np.testing.assert_array_equal(native[name], plain[name])
        np.testing.assert_allclose(native["total_utilization"], plain["total_utilization"])


def test_narrow_operands_move_fewer_bytes_in_proportion():
    # Everything fits on chip: each operand crosses DRAM once, at its own width.
    t = _gemm(64, 32, 16)
    hw = _hw("ws", ifmap_sram_kb=256, filter_sram_kb=256, ofmap_sram_kb=256)
    for w_bits, a_bits in ((8, 8), (4, 8), (2, 4), (8, 2)):
        res = cost_table(t, [hw], precision={"fc": (w_bits, a_bits)})
        expected = (64 * 32 * a_bits + 32 * 16 * w_bits + 64 * 16 * a_bits) / 8
        assert res["total_dram_bytes"][0] == pytest.approx(expected)


def test_narrow_weights_fit_an_sram_their_native_words_overflow():
    # 32 x 64 weights are 2 KB at 8 bits: larger than a 1 KB filter SRAM, which re-reads them;
    # at 2 bits they take 512 bytes and are read once.
    t = _gemm(256, 32, 64)
    hw = _hw("os", filter_sram_kb=1, ifmap_sram_kb=64, ofmap_sram_kb=64)
    wide = cost_table(t, [hw], precision={"fc": (8, 8)})
    narrow = cost_table(t, [hw], precision={"fc": (2, 8)})
    input_and_output = 256 * 32 + 256 * 64
    assert wide["total_dram_bytes"][0] - input_and_output > 32 * 64
    assert narrow["total_dram_bytes"][0] - input_and_output == pytest.approx(32 * 64 * 2 / 8)


def test_mac_energy_scales_with_the_product_of_operand_widths():
    t = _gemm(64, 32, 16)
    hw = _hw("os")
    for w_bits, a_bits in ((8, 8), (4, 8), (2, 2), (3, 6)):
        res = cost_table(t, [hw], precision={"fc": (w_bits, a_bits)})
        e_mac = 0.2 * (w_bits / 8) * (a_bits / 8) + 0.03 * (w_bits + a_bits) / 16
        memory = res["total_sram_bytes"][0] * 1.25 + res["total_dram_bytes"][0] * 160.0
        assert res["total_energy"][0] == pytest.approx((64 * 32 * 16 * e_mac + memory) * 1e-6)


@pytest.mark.parametrize(
    ("bits", "fused", "packed"),
    [
        ((2, 2), True, 16),
        ((4, 4), True, 4),
        ((2, 8), True, 4),
        ((3, 8), True, 2),
        ((8, 8), True, 1),
        ((2, 2), False, 1),
    ],
)
def test_bit_fusion_packs_the_reduction_into_fused_pes(bits, fused, packed):
    # Output stationary: cycles = ceil(M/rows) * ceil(N/cols) * (rows + cols + K' - 2).
    m, k, n = 64, 96, 32
    res = cost_table(_gemm(m, k, n), [_hw("os", bit_fusion=fused)], precision={"fc": bits})
    k_packed = np.ceil(k / packed)
    assert res["total_compute_cycles"][0] == (m / 8) * (n / 16) * (8 + 16 + k_packed - 2)
    assert res["total_utilization"][0] <= 1.0


def test_operands_wider_than_the_native_width_take_several_passes():
    m, k, n = 64, 96, 32
    res = cost_table(_gemm(m, k, n), [_hw("os")], precision={"fc": (16, 16)})
    assert res["total_compute_cycles"][0] == (m / 8) * (n / 16) * (8 + 16 + 4 * k - 2)


def test_convolutions_pack_channels_not_the_kernel_window():
    t = LayerTable.from_json(
        {
            "names": ["conv"],
            "kinds": ["conv"],
            "m": [64],
            "k": [9 * 6],
            "n": [16],
            "count": [1],
            "in_words": [6 * 64],
            "w_words": [9 * 6 * 16],
            "out_words": [64 * 16],
            "kh": [3],
            "kw": [3],
            "oh": [8],
        }
    )
    res = cost_table(t, [_hw("os", bit_fusion=True)], precision={"conv": (2, 2)})
    assert res["total_compute_cycles"][0] == 8 * 1 * (8 + 16 + 9 * np.ceil(6 / 16) - 2)


def test_layers_take_the_longest_whole_component_unit(table):
    bits = layer_bits(table, {"layers.0": (8, 8), "layers.1": (2, 4), "layers.1.conv1": (3, 6)})
    by_name = dict(zip(table.names, zip(bits.weight, bits.act, strict=True), strict=True))
    assert by_name["layers.1.conv1"] == (3, 6)
    assert by_name["layers.1.conv2"] == (2, 4)
    assert by_name["layers.0.conv"] == (8, 8)
    assert by_name["fc"] == (0, 0)  # outside every unit: the native width
    norms = [
        i
        for i, (n, k) in enumerate(zip(table.names, table.kinds, strict=True))
        if n.startswith("layers.1.") and k != "conv" and not n.startswith("layers.1.conv1")
    ]
    assert norms and all(bits.weight[i] == bits.act[i] == 4 for i in norms)


def test_layers_outside_every_unit_keep_the_native_width(table):
    bits = layer_bits(table, {"layers.0": (4, 4)})
    inside = np.array([n == "layers.0" or n.startswith("layers.0.") for n in table.names])
    assert (bits.act[inside] == 4).all() and (bits.act[~inside] == 0).all()


def test_bad_precision_is_refused_naming_the_unit(table):
    with pytest.raises(ValueError, match="'layers.99'.*hold no layer"):
        layer_bits(table, {"layers.99": (4, 4)})
    with pytest.raises(ValueError, match="'layers.1'.*act_bits=0"):
        layer_bits(table, {"layers.1": (4, 0)})
    with pytest.raises(ValueError, match="'layers.1'.*weight_bits, act_bits"):
        layer_bits(table, {"layers.1": 4})
    with pytest.raises(ValueError, match="3 layers for a table of 1"):
        cost_table(
            _gemm(4, 4, 4), [_hw("os")], precision=hardware.LayerBits(np.zeros(3), np.zeros(3))
        )


def test_spec_coster_and_cost_take_the_precision(table):
    from symnas.programs.cost.spec_cost import SpecCoster

    hw = _hw("ws", bit_fusion=True)
    units = {"layers.1": (2, 2), "layers.2": (4, 8)}
    direct = hardware.cost(programs.build(ARCH), (1, 8, 8), hw, precision=units)
    coster = SpecCoster((1, 8, 8))
    via_spec = coster.cost(ARCH, hw, per_layer=False, precision=units)
    for name in ("cycles", "energy", "dram_bytes"):
        assert via_spec[name] == direct[name]
        assert direct[name] < coster.cost(ARCH, hw, per_layer=False)[name]
