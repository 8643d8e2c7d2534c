"""The cost model's cycles, traffic, energy and area on small layers, worked by hand.

The layer is ``nn.Linear(48, 40)`` on a batch of 32: a GEMM with M = 32, K = 48, N = 40, so
the input holds 1,536 words, the weights 1,920 and the output 1,280 (61,440 MACs). The array is
16 x 16 at 500 MHz with 16 bytes per cycle of DRAM bandwidth. Per dataflow (module docstring of
``programs.hardware``), with ``Sr``/``Sc`` spread over rows/columns and ``T`` streamed:

- os: Sr = M (2 folds), Sc = N (3 folds), T = K = 48: 6 * (0 + 16 + 16 + 48 - 2) = 468 cycles;
  the input is re-read per column fold (x3), the weights per row fold (x2).
- ws: Sr = K (3 folds), Sc = N (3 folds), T = M = 32: 9 * (16 + 16 + 16 + 32 - 2) = 702; the
  input is re-read per column fold (x3), two extra reduction folds spill partial sums.
- is: Sr = K (3 folds), Sc = M (2 folds), T = N = 40: 6 * (16 + 16 + 16 + 40 - 2) = 516; the
  weights are re-read per column fold (x2), two extra reduction folds spill.

An operand that fits its SRAM (half of it: ``kb * 512`` words) is read from DRAM once; one that
does not is read once per refetch; each spilled partial-sum fold costs two more output
transfers. SRAM traffic counts every refetch and spill whatever the SRAM size.
"""

from __future__ import annotations

import pytest
from torch import nn

from symnas import programs
from symnas.spaces.hardware import area_mm2

M, K, N = 32, 48, 40
IN, W, OUT = M * K, K * N, M * N
MACS = M * K * N
SMALL, LARGE = 1, 64  # KB: 512 words (nothing fits) and 32,768 words (everything fits)

# (dataflow, (ifmap, filter, ofmap) KB, word bytes) -> (compute cycles, DRAM words, SRAM words)
CASES = {
    # Nothing fits: every refetch and spill goes to DRAM.
    ("os", (SMALL, SMALL, SMALL), 1): (468, IN * 3 + W * 2 + OUT, IN * 3 + W * 2 + OUT),
    ("ws", (SMALL, SMALL, SMALL), 1): (702, IN * 3 + W + OUT * 5, IN * 3 + W + OUT * 3),
    ("is", (SMALL, SMALL, SMALL), 1): (516, IN + W * 2 + OUT * 5, IN + W * 2 + OUT * 3),
    # Everything fits: each operand crosses the DRAM interface once.
    ("os", (LARGE, LARGE, LARGE), 1): (468, IN + W + OUT, IN * 3 + W * 2 + OUT),
    ("ws", (LARGE, LARGE, LARGE), 1): (702, IN + W + OUT, IN * 3 + W + OUT * 3),
    ("is", (LARGE, LARGE, LARGE), 1): (516, IN + W + OUT, IN + W * 2 + OUT * 3),
    # One SRAM too small at a time: only that operand's term grows.
    ("ws", (SMALL, LARGE, LARGE), 1): (702, IN * 3 + W + OUT, IN * 3 + W + OUT * 3),
    ("os", (LARGE, SMALL, LARGE), 1): (468, IN + W * 2 + OUT, IN * 3 + W * 2 + OUT),
    ("is", (LARGE, LARGE, SMALL), 1): (516, IN + W + OUT * 5, IN + W * 2 + OUT * 3),
    ("ws", (LARGE, LARGE, SMALL), 1): (702, IN + W + OUT * 5, IN * 3 + W + OUT * 3),
    # Two-byte words: the 64 KB SRAMs still hold everything (16,384 words each).
    ("os", (LARGE, LARGE, LARGE), 2): (468, IN + W + OUT, IN * 3 + W * 2 + OUT),
}


def _hw(dataflow: str, sram_kb: tuple[int, int, int], word: int) -> dict:
    return {
        "rows": 16,
        "cols": 16,
        "dataflow": dataflow,
        "ifmap_sram_kb": sram_kb[0],
        "filter_sram_kb": sram_kb[1],
        "ofmap_sram_kb": sram_kb[2],
        "bandwidth": 16,
        "clock_mhz": 500.0,
        "word_bytes": word,
    }


@pytest.mark.parametrize(("case", "expected"), list(CASES.items()), ids=str)
def test_linear_layer_costs_worked_by_hand(case, expected):
    dataflow, sram_kb, word = case
    compute, dram_words, sram_words = expected
    out = programs.hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw(dataflow, sram_kb, word), batch_size=M
    )
    [layer] = out["layers"]
    assert (layer["m"], layer["k"], layer["n"], layer["count"]) == (M, K, N, 1)
    assert out["macs"] == MACS
    assert out["compute_cycles"] == compute
    assert out["dram_bytes"] == dram_words * word
    assert out["sram_bytes"] == sram_words * word
    mem = dram_words * word / 16
    assert out["mem_cycles"] == pytest.approx(mem)
    cycles = max(compute, mem)
    assert out["cycles"] == pytest.approx(cycles)
    assert out["latency_ms"] == pytest.approx(cycles / 500e3)
    assert out["utilization"] == pytest.approx(MACS / (256 * cycles))
    # Horowitz 45 nm: MAC 0.2 w^2 + 0.03 w pJ, SRAM 1.25 pJ/B, DRAM 160 pJ/B; in uJ.
    mac_pj = 0.2 * word**2 + 0.03 * word
    energy = (MACS * mac_pj + sram_words * word * 1.25 + dram_words * word * 160.0) * 1e-6
    assert out["energy"] == pytest.approx(energy)


def test_memory_bound_and_compute_bound_examples():
    # Small SRAMs make the weight-stationary layer wait for DRAM: 12,928 B / 16 = 808 cycles
    # against 702 of compute; large ones leave it compute bound.
    small = programs.hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw("ws", (SMALL,) * 3, 1), batch_size=M
    )
    assert small["cycles"] == 808 and small["compute_cycles"] == 702
    large = programs.hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw("ws", (LARGE,) * 3, 1), batch_size=M
    )
    assert large["cycles"] == 702 and large["mem_cycles"] == pytest.approx(4736 / 16)


def test_convolution_traffic_reads_the_feature_map_not_its_unfolded_copy():
    # Conv 3 -> 8, 3x3, padding 1, on 3x6x6: GEMM M = 36 positions, K = 27, N = 8. On a 4x4 ws
    # array: ceil(27/4) * ceil(8/4) = 14 folds of 4 + 4 + 4 + 36 - 2 = 46 cycles = 644. With
    # everything in SRAM, DRAM carries the input (108 words), weights (216) and output (288).
    # SRAM: unfolded input 36 * 27 read per column fold (x2), weights once, output per
    # reduction fold: 972 * 2 + 216 + 288 * 7 = 4,176.
    out = programs.hardware.cost(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        (3, 6, 6),
        {"rows": 4, "cols": 4, "dataflow": "ws"},
    )
    assert out["compute_cycles"] == 644
    assert out["dram_bytes"] == 108 + 216 + 288
    assert out["sram_bytes"] == 972 * 2 + 216 + 288 * 7


def test_area_worked_by_hand():
    # PEs: rows * cols * 0.0012 mm2 * word^2; SRAM: 0.004 mm2 per KB.
    assert area_mm2(_hw("ws", (64, 64, 64), 1)) == pytest.approx(256 * 0.0012 + 192 * 0.004)
    assert area_mm2(_hw("os", (16, 32, 256), 2)) == pytest.approx(256 * 0.0012 * 4 + 304 * 0.004)
    assert area_mm2({"rows": 4, "cols": 64, "dataflow": "is"}) == pytest.approx(
        256 * 0.0012 + 192 * 0.004
    )
    out = programs.hardware.cost(nn.Linear(K, N), (K,), _hw("os", (16, 32, 256), 2))
    assert out["area_mm2"] == pytest.approx(1.2288 + 1.216)
