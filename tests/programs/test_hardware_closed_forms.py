"""The cost model's cycles, traffic, energy and area on small layers, worked by hand.

The layer is ``nn.Linear(48, 40)`` on a batch of 32: a GEMM with M = 32, K = 48, N = 40, so
the input holds 1,536 words, the weights 1,920 and the output 1,280 (61,440 MACs). The array is
16 x 16 at 500 MHz with 16 bytes per cycle of DRAM bandwidth, one shared port. Per dataflow
(module docstring of ``programs.cost.hardware``), with ``Sr``/``Sc`` spread over rows/columns and
``T`` streamed:

- os: Sr = M (rf = 2 folds), Sc = N (cf = 3), T = K = 48: 6 * (0 + 16 + 16 + 48 - 2) = 468.
- ws: Sr = K (rf = 3), Sc = N (cf = 3), T = M = 32: 9 * (16 + 16 + 16 + 32 - 2) = 702.
- is: Sr = K (rf = 3), Sc = M (cf = 2), T = N = 40: 6 * (16 + 16 + 16 + 40 - 2) = 516.

DRAM traffic follows SCALE-Sim's prefetching double buffers (``programs.cost.hardware_memory``).
Prefetch streams (tiles padded to the array width of 16): os ifmap K * 16 * rf = 1,536 slots,
os/ws filter K * 16 * cf = 2,304, ws ifmap M * 16 * rf = 1,536, is ifmap K * 16 * cf = 1,536,
is filter N * 16 * rf = 1,920. With 16 words per cycle a stream that fits its window is read
once, rounded up to 16-word lines.

A 1 KB SRAM (SMALL) holds 1,024 words: sets of ceil(1024 / 100) = 11 words, a window of
ceil(512 / 11) = 47 sets, and every advance reads half the SRAM, 512 words (32 lines of 16),
after a first load of 512. The ifmap (1,536 words) has floor(1536 / 11) + 1 = 140 sets, the
filter (1,920) 175; neither fits 47, so the window advances by 47 sets:

- diagonal streams: ceil((passes * sets - 47) / 47) advances per sweep, plus, per fold change,
  a revolution of sets / 47 advances with probability (step back in sets) / 47. The step back
  of a diagonal order of a (h x 16) matrix is 14 * h * 16 / (h + 15) words.
  os ifmap: h = K * rf = 96, step 21504 / 111 words; 3 passes, 3 fold changes:
  8 + 3 * (21504 / 111 / 11 / 47) * 140 / 47 advances.
  ws ifmap: h = M * rf = 96 (same step); 3 passes, 6 fold changes:
  8 + 6 * (21504 / 111 / 11 / 47) * 140 / 47.
  os filter: 1 pass (ceil(128 / 47) = 3) and 5 steps back (2 fold changes, 3 repeats of a
  column fold) averaging (2 * 14 * 144 * 16 / 159 + 3 * 63 * 40 / 3) / 5 = 585 words = 53 sets,
  more than the window, so each is a revolution: 3 + 5 * 175 / 47.
  is filter: h = N * rf = 120, step 14 * 120 * 16 / 135 words; 2 passes (ceil(303 / 47) = 7),
  4 fold changes: 7 + 4 * (14 * 120 * 16 / 135 / 11 / 47) * 175 / 47.
- reversed folds (ws filter, is ifmap): a fold of f sets read bottom row first straddles every
  window end its top row crosses; the window then goes round (floor(sets / 47) advances) and
  stops R = -sets mod 47 sets further on, inside the same fold with probability 1 - R / f (one
  more advance, R + 47 gained) or not (R gained), over sets - 47 sets.
  ws filter: f = 1920 / 9 / 11, R = 188 - 175 = 13: 128 / (13 + p * 47) * (1 + 3 + p) with
  p = 1 - 13 / f.
  is ifmap: f = 1536 / 6 / 11, R = 141 - 140 = 1: 93 / (1 + p * 47) * (1 + 2 + p), p = 1 - 1 / f.

Outputs: os writes M * N = 1,280; ws/is write partial sums once per reduction fold, 3 * 1,280
= 3,840, unless the output fits half the ofmap SRAM (LARGE, 64 KB: 1,280 words once).
SRAM traffic counts every refetch and reduction fold whatever the SRAM size.
"""

from __future__ import annotations

import pytest
from torch import nn

from symnas.programs.cost import hardware
from symnas.spaces.hardware import area_mm2

M, K, N = 32, 48, 40
IN, W, OUT = M * K, K * N, M * N
MACS = M * K * N
SMALL, LARGE = 1, 64  # KB: 1,024 words (nothing fits) and 65,536 words (everything fits)


def _small(advances: float) -> float:
    """Words read through a 1 KB SRAM: a first half of 512 words, then 512 per advance."""
    return 512 + 512 * advances


DIAGONAL_STEP = 21504 / 111 / 11 / 47  # os/ws ifmap step back, as a share of the window
WS_FOLD, IS_FOLD = 1920 / 9 / 11, 1536 / 6 / 11
OS_IFMAP = _small(8 + 3 * DIAGONAL_STEP * 140 / 47)
WS_IFMAP = _small(8 + 6 * DIAGONAL_STEP * 140 / 47)
OS_FILTER = _small(3 + 5 * 175 / 47)
IS_FILTER = _small(7 + 4 * (14 * 120 * 16 / 135 / 11 / 47) * 175 / 47)
WS_FILTER = _small(128 / (13 + (1 - 13 / WS_FOLD) * 47) * (4 + (1 - 13 / WS_FOLD)))
IS_IFMAP = _small(93 / (1 + (1 - 1 / IS_FOLD) * 47) * (3 + (1 - 1 / IS_FOLD)))
OS_SRAM, WS_SRAM, IS_SRAM = IN * 3 + W * 2 + OUT, IN * 3 + W + OUT * 3, IN + W * 2 + OUT * 3

# (dataflow, (ifmap, filter, ofmap) KB, word bytes) -> (compute cycles, DRAM words, SRAM words)
CASES = {
    # Nothing fits.
    ("os", (SMALL, SMALL, SMALL), 1): (468, OS_IFMAP + OS_FILTER + OUT, OS_SRAM),
    ("ws", (SMALL, SMALL, SMALL), 1): (702, WS_IFMAP + WS_FILTER + OUT * 3, WS_SRAM),
    ("is", (SMALL, SMALL, SMALL), 1): (516, IS_IFMAP + IS_FILTER + OUT * 3, IS_SRAM),
    # Everything fits: each stream crosses the DRAM interface once, padding included.
    ("os", (LARGE, LARGE, LARGE), 1): (468, 1536 + 2304 + OUT, OS_SRAM),
    ("ws", (LARGE, LARGE, LARGE), 1): (702, 1536 + 2304 + OUT, WS_SRAM),
    ("is", (LARGE, LARGE, LARGE), 1): (516, 1536 + 1920 + OUT, IS_SRAM),
    # One SRAM too small at a time: only that operand's term grows.
    ("ws", (SMALL, LARGE, LARGE), 1): (702, WS_IFMAP + 2304 + OUT, WS_SRAM),
    ("os", (LARGE, SMALL, LARGE), 1): (468, 1536 + OS_FILTER + OUT, OS_SRAM),
    ("is", (LARGE, LARGE, SMALL), 1): (516, 1536 + 1920 + OUT * 3, IS_SRAM),
    ("ws", (LARGE, LARGE, SMALL), 1): (702, 1536 + 2304 + OUT * 3, WS_SRAM),
    # Two-byte words: the 64 KB SRAMs still hold everything (32,768 words each).
    ("os", (LARGE, LARGE, LARGE), 2): (468, 1536 + 2304 + OUT, OS_SRAM),
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
    out = hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw(dataflow, sram_kb, word), batch_size=M
    )
    [layer] = out["layers"]
    assert (layer["m"], layer["k"], layer["n"], layer["count"]) == (M, K, N, 1)
    assert out["macs"] == MACS
    assert out["compute_cycles"] == compute
    assert out["dram_bytes"] == pytest.approx(dram_words * word)
    assert out["sram_bytes"] == sram_words * word
    # One shared port: the transfers add up and the array waits for what exceeds compute.
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
    # Small SRAMs make the weight-stationary layer wait for DRAM (about 22,347 words / 16 =
    # 1,397 cycles against 702 of compute); large ones leave it compute bound.
    small = hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw("ws", (SMALL,) * 3, 1), batch_size=M
    )
    words = WS_IFMAP + WS_FILTER + OUT * 3
    assert small["compute_cycles"] == 702
    assert small["cycles"] == pytest.approx(words / 16) and small["cycles"] > 1390
    large = hardware.cost(
        nn.Linear(K, N, bias=False), (K,), _hw("ws", (LARGE,) * 3, 1), batch_size=M
    )
    assert large["cycles"] == 702 and large["mem_cycles"] == pytest.approx(5120 / 16)


def test_row_stationary_spills_partial_sums_twice():
    # rs on a 4 x 4 array runs the GEMM as a 1 x 1 convolution: 48 channels x 40 filters =
    # 1,920 (channel, filter) pairs over 16 one-PE sets, 32 streamed columns each:
    # 120 * 32 + 4 + 4 - 2 = 3,846 cycles. One filter at a time (16 sets < 48 channels), so the
    # input is re-read per filter (x40); the weights once; the 48 channels take 3 rounds of 16,
    # so 2 extra reduction folds spill partial sums out and back: 1,280 * (1 + 2 * 2). Every
    # operand exceeds half of its 1 KB SRAM: DRAM = 1536 * 40 + 1920 + 1280 * 5 = 69,760.
    hw = dict(_hw("rs", (SMALL,) * 3, 1), rows=4, cols=4)
    out = hardware.cost(nn.Linear(K, N, bias=False), (K,), hw, batch_size=M)
    assert out["compute_cycles"] == 3846
    assert out["dram_bytes"] == IN * 40 + W + OUT * 5
    assert out["cycles"] == pytest.approx(max(3846, (IN * 40 + W + OUT * 5) / 16))
    # 64 KB SRAMs hold every operand: each crosses the interface once, 4,736 words.
    roomy = dict(hw, ifmap_sram_kb=LARGE, filter_sram_kb=LARGE, ofmap_sram_kb=LARGE)
    out = hardware.cost(nn.Linear(K, N, bias=False), (K,), roomy, batch_size=M)
    assert out["dram_bytes"] == IN + W + OUT


def test_one_prefetch_miss_mid_layer_is_charged_twice_with_one_port_per_sram():
    # SCALE-Sim 3.0.0 job: ws, M = 512, K = 4, N = 1 on 8 x 8, SRAMs 2 / 1 / 2 KB, 2 words per
    # cycle per port; SCALE-Sim reports 2,048 ifmap words, 32 filter words, 490 stall cycles.
    # Compute: 1 fold of 8 + 8 + 8 + 512 - 2 = 534 cycles. ifmap: 2,048 words in sets of
    # ceil(2048 / 100) = 21, floor(2048 / 21) + 1 = 98 sets, a window of ceil(1024 / 21) = 49:
    # one advance (98 - 49 = 49 sets), so 1,024 + 1,024 words; that prefetch takes 512 + 1
    # cycles from cycle 0 and is demanded after half the stream, at 534 * (1 - 49 / 98) = 267:
    # a wait of 513 - 267 = 246 cycles, charged twice (one miss, an odd count) = 492. filter:
    # 4 words padded to 8 columns, 32 words, one set; the 512 outputs fit half the ofmap SRAM.
    spec = {
        "rows": 8,
        "cols": 8,
        "dataflow": "ws",
        "ifmap_sram_kb": 2,
        "filter_sram_kb": 1,
        "ofmap_sram_kb": 2,
        "bandwidth": 2,
        "word_bytes": 1,
        "dram_ports": 3,
    }
    out = hardware.cost(nn.Linear(4, 1, bias=False), (4,), spec, batch_size=512)
    assert out["compute_cycles"] == 534
    assert out["dram_bytes"] == 2048 + 32 + 512
    assert out["cycles"] == pytest.approx(534 + 2 * 246)
    assert out["mem_cycles"] == pytest.approx(2048 / 2)  # the busiest port: ifmap


def test_output_drain_stalls_the_array_with_one_port_per_sram():
    # os, M = 256, K = 1, N = 64 on 16 x 16: 16 x 4 folds of 0 + 16 + 16 + 1 - 2 = 1,984
    # cycles. 1 KB SRAMs, 4 words per cycle per port. The input (256 words, 24 sets of 11) and
    # the weights (64) fit their windows and are read once. The 16,384 outputs drain half the
    # ofmap SRAM at a time; all but the last half (512 words) drain during the layer:
    # (16384 - 512) / 4 = 3,968 cycles against 1,984 of compute, a stall of 1,984.
    spec = {
        "rows": 16,
        "cols": 16,
        "dataflow": "os",
        "ifmap_sram_kb": 1,
        "filter_sram_kb": 1,
        "ofmap_sram_kb": 1,
        "bandwidth": 4,
        "dram_ports": 3,
    }
    out = hardware.cost(nn.Linear(1, 64, bias=False), (1,), spec, batch_size=256)
    assert out["compute_cycles"] == 1984
    assert out["dram_bytes"] == 256 + 64 + 16384
    assert out["cycles"] == pytest.approx(1984 + 1984)
    assert out["mem_cycles"] == pytest.approx(16384 / 4)


def test_convolution_traffic_reads_the_feature_map_not_its_unfolded_copy():
    # Conv 3 -> 8, 3x3, padding 1, on 3x6x6: GEMM M = 36 positions, K = 27, N = 8. On a 4x4 ws
    # array: ceil(27/4) * ceil(8/4) = 14 folds of 4 + 4 + 4 + 36 - 2 = 46 cycles = 644. The
    # unfolded input repeats the feature map's 108 words 9 times, which the SRAM serves, so its
    # stream shrinks by 108 / 972: 36 * 4 * 7 slots / 9 = 112 words (7 lines of 16). The
    # weights' stream pads 8 filters to 2 column folds of 4: 27 * 4 * 2 = 216 words, read as
    # 14 lines = 224; the output (288 words) fits. SRAM: unfolded input 36 * 27 read per column
    # fold (x2), weights once, output per reduction fold: 972 * 2 + 216 + 288 * 7 = 4,176.
    out = hardware.cost(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        (3, 6, 6),
        {"rows": 4, "cols": 4, "dataflow": "ws"},
    )
    assert out["compute_cycles"] == 644
    assert out["dram_bytes"] == 112 + 224 + 288
    assert out["sram_bytes"] == 972 * 2 + 216 + 288 * 7


def test_area_worked_by_hand():
    # PEs: rows * cols * 0.0012 mm2 * word^2; SRAM: 0.004 mm2 per KB.
    assert area_mm2(_hw("ws", (64, 64, 64), 1)) == pytest.approx(256 * 0.0012 + 192 * 0.004)
    assert area_mm2(_hw("os", (16, 32, 256), 2)) == pytest.approx(256 * 0.0012 * 4 + 304 * 0.004)
    assert area_mm2({"rows": 4, "cols": 64, "dataflow": "is"}) == pytest.approx(
        256 * 0.0012 + 192 * 0.004
    )
    out = hardware.cost(nn.Linear(K, N), (K,), _hw("os", (16, 32, 256), 2))
    assert out["area_mm2"] == pytest.approx(1.2288 + 1.216)
