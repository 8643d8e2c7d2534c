"""Analytical systolic-array cost model: cycles, latency, energy, utilisation, DRAM traffic.

Implements the compute model of SCALE-Sim v2 (Samajdar et al., "A Systematic Methodology for
Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020;
``scalesim/compute/systolic_compute_{os,ws,is}.py``) in closed form, vectorised with numpy over
layers x hardware configurations. A layer is a GEMM (``M x K`` times ``K x N``, ``count`` times;
see ``hardware_layers``). The dataflow decides which GEMM dimensions are spread over the array
rows (``Sr``) and columns (``Sc``) and which one streams in time (``T``):

====  ===  ===  ===
flow  Sr   Sc   T
====  ===  ===  ===
os    M    N    K
ws    K    N    M
is    K    M    N
====  ===  ===  ===

``compute_cycles = ceil(Sr/rows) * ceil(Sc/cols) * (fill + rows + cols + T - 2)`` per GEMM: each
fold streams ``T`` vectors through the skewed array and drains it (``rows + cols - 2``); ``ws`` and
``is`` first load the stationary operand (``fill = rows``), ``os`` accumulates in place
(``fill = 0``). These are the lengths of SCALE-Sim's per-fold demand matrices (its report counts
one cycle less per layer: the index of the last cycle).

Off-chip traffic and stalls of ws/os/is follow SCALE-Sim's double-buffered memory system in
closed form (``hardware_memory``): each operand is prefetched as a stream of its fold tiles
padded to the array width, half an SRAM at a time, and re-read whenever the array's demands
leave the active half (once per sweep, and again when a fold steps back behind it); outputs
are written once, partial sums of ws/is once per reduction fold unless the output fits half
the ofmap SRAM. ``mem_cycles`` is the busiest port's transfer time with one port per SRAM
(``dram_ports=3``, SCALE-Sim's memory system), where the stalls are SCALE-Sim's (prefetches
run back to back from cycle 0 and the array waits when it needs one not yet done); with one
shared interface (``dram_ports=1``) the transfer times add up and the array stalls for what
exceeds the compute. ``cycles = compute_cycles + stall_cycles``, ``latency = cycles / clock``.

Row stationary (``rs``, Eyeriss: Chen et al., ISCA 2016) maps a convolution's filter rows onto
the array rows and its output rows onto the columns; each PE runs a 1-D convolution and partial
sums accumulate up the columns (``_row_stationary``; a GEMM is a 1 x 1 convolution). SCALE-Sim
has no such dataflow, so its traffic keeps the textbook double-buffer rule: an operand larger
than half its SRAM is re-read once per refetch, partial sums that do not fit spill to DRAM and
come back (two transfers per extra reduction fold), and ``cycles = max(compute, mem)``.

Memory-bound operators (element-wise operators, activations, pooling, norms, concatenation,
resampling; rows of ``hardware_layers`` that are not GEMMs) run on a vector unit of ``cols``
lanes below the array (``ceil(reads / cols)`` cycles) and move every operand between DRAM and
the SRAMs once, so parameter-free work costs its activation traffic.

Energy (Horowitz, "Computing's Energy Problem", ISSCC 2014, 45 nm): a MAC of ``w``-byte words
costs ``0.2 * w**2 + 0.03 * w`` pJ (8-bit multiply 0.2 pJ, 8-bit add 0.03 pJ; multiplier energy
grows with the square of the width), an SRAM access 1.25 pJ per byte (5 pJ per 32-bit read of an
8 KB SRAM) and DRAM 160 pJ per byte (640 pJ per 32-bit access). ``energy`` is in microjoules.

Precision (``precision=``, ``hardware_precision``): per-layer weight and activation widths of a
quantized network set each operand's words per SRAM and per port, its DRAM and SRAM bytes, the
MAC energy (multiplier energy by the product of the operand widths) and, on an accelerator with
``bit_fusion``, how many MACs a PE completes per cycle. Without it every operand has the native
width ``8 * word_bytes`` and the results are those of the model above, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from torch import nn

from symnas.programs.cost.hardware_layers import LayerTable, layers
from symnas.programs.cost.hardware_memory import systolic_traffic
from symnas.programs.cost.hardware_precision import (
    LayerBits,
    UnitBits,
    layer_bits,
    native_scales,
    packed_reduction,
    precision_scales,
)
from symnas.spaces.hardware import DATAFLOWS, area_mm2, fields

MUL_PJ_PER_BYTE2 = 0.2
ADD_PJ_PER_BYTE = 0.03
SRAM_PJ_PER_BYTE = 1.25
DRAM_PJ_PER_BYTE = 160.0

_HW_KEYS = (
    "rows",
    "cols",
    "ifmap_sram_kb",
    "filter_sram_kb",
    "ofmap_sram_kb",
    "bandwidth",
    "clock_mhz",
    "word_bytes",
    "dram_ports",
    "bit_fusion",
)

__all__ = [
    "LayerBits",
    "LayerTable",
    "cost",
    "cost_table",
    "hardware_arrays",
    "layer_bits",
    "layers",
    "table_cost",
]


def hardware_arrays(hw_specs: Iterable[Any]) -> dict[str, np.ndarray]:
    """Checked configurations as column arrays (``dataflow`` as an index into ``DATAFLOWS``)."""
    checked = [fields(spec) for spec in hw_specs]
    if not checked:
        raise ValueError("hw_specs must hold at least one hardware configuration.")
    out = {key: np.array([f[key] for f in checked], dtype=np.float64) for key in _HW_KEYS}
    out["dataflow"] = np.array([DATAFLOWS.index(f["dataflow"]) for f in checked])
    return out


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.ceil(a / b)


def cost_table(
    table: LayerTable,
    hw_specs: Iterable[Any] | dict[str, np.ndarray],
    precision: UnitBits | LayerBits | None = None,
) -> dict:
    """Costs of every layer of ``table`` on every configuration, vectorised.

    ``hw_specs`` is an iterable of decoded specs or the output of ``hardware_arrays``.
    ``precision`` gives the operand widths: ``{unit: (weight_bits, act_bits)}`` (module-path
    prefixes, as ``spaces.quantization.unit_bits`` returns them) or a ``LayerBits`` of the
    table; None: every operand at the native width ``8 * word_bytes``. Returns arrays of shape
    ``(H, L)`` (``cycles``, ``compute_cycles``, ``mem_cycles``, ``latency_ms``, ``energy``,
    ``dram_bytes``, ``sram_bytes``, ``utilization``) and totals of shape ``(H,)`` under
    ``total_<name>``. Utilisation is relative to the peak of ``rows * cols`` PEs completing as
    many MACs per cycle as the layer's widths allow.
    """
    if not isinstance(table, LayerTable):
        raise TypeError(
            f"table must be a LayerTable (programs.cost.hardware.layers); got {type(table).__name__}."
        )
    hw = hw_specs if isinstance(hw_specs, dict) else hardware_arrays(hw_specs)
    col = {key: value[:, None] for key, value in hw.items()}
    m, k, n, count = (
        getattr(table, f)[None, :].astype(np.float64) for f in ("m", "k", "n", "count")
    )
    word = col["word_bytes"]
    scale = _scales(table, hw, precision)
    # Operand words: an operand of ``b`` bits takes ``b / B`` native words.
    width = {"ifmap": scale.act, "filter": scale.weight, "ofmap": scale.act}
    cap = {
        key: col[f"{key}_sram_kb"] * 512.0 / word / width[key]
        for key in ("ifmap", "filter", "ofmap")
    }
    a_words, w_words, o_words = (
        getattr(table, f)[None, :] / table.count[None, :]
        for f in ("in_words", "w_words", "out_words")
    )
    flow = col["dataflow"]
    kernel = table.kh[None, :].astype(np.float64) * table.kw[None, :]
    reduction = packed_reduction(k, kernel, scale.macs_per_pe)
    systolic = _systolic(m, reduction, n, col["rows"], col["cols"], flow)
    rs = _row_stationary(table, m, reduction, n, count, col["rows"], col["cols"])
    is_rs = flow == DATAFLOWS.index("rs")
    compute = count * np.where(is_rs, rs["cycles"], systolic["cycles"])
    refetch_in, refetch_w, spills = (
        np.where(is_rs, rs[key], systolic[key]) for key in ("refetch_in", "refetch_w", "spills")
    )
    sram_words = (
        m * k * refetch_in * scale.act
        + k * n * refetch_w * scale.weight
        + m * n * (1 + spills) * scale.act
    )
    # Row stationary: an operand that does not fit half its SRAM is re-read per refetch and
    # partial sums that do not fit spill and come back.
    rs_moved = (
        a_words * np.where(a_words > cap["ifmap"], refetch_in, 1.0),
        w_words * np.where(w_words > cap["filter"], refetch_w, 1.0),
        o_words * (1 + 2 * np.where(o_words > cap["ofmap"], spills, 0.0)),
    )
    # ws/os/is: SCALE-Sim's prefetching double buffers (``hardware_memory``).
    port_bw = col["bandwidth"] / word
    memory = systolic_traffic(
        m,
        k,
        n,
        col["rows"],
        col["cols"],
        {name: flow == DATAFLOWS.index(name) for name in ("os", "ws", "is")},
        {key: 2.0 * value for key, value in cap.items()},
        {key: port_bw / value for key, value in width.items()},
        compute / count,
        np.minimum(a_words, m * k),
    )
    ops = ("ifmap", "filter", "ofmap")
    in_moved, w_moved, out_moved = (
        np.where(is_rs, moved, memory[f"{op}_words"])
        for op, moved in zip(ops, rs_moved, strict=True)
    )
    waits = [np.where(is_rs, 0.0, memory[f"{op}_stalls"]) for op in ops]

    # Memory-bound operators run on a vector unit of ``cols`` lanes below the array; every
    # operand moves between DRAM and the SRAMs once.
    gemm = table.is_gemm[None, :]
    vector_words = (a_words * scale.act + w_words * scale.weight + o_words * scale.act) * count
    compute = np.where(gemm, compute, np.ceil(m * k / col["cols"]))
    native_moved = (in_moved * scale.act, w_moved * scale.weight, out_moved * scale.act)
    gemm_moved = native_moved[0] + native_moved[1] + native_moved[2]
    dram_bytes = np.where(gemm, count * gemm_moved, vector_words) * word
    sram_bytes = np.where(gemm, count * sram_words, vector_words) * word
    # With one port per SRAM the busiest port sets the transfer time and the array stalls as
    # in SCALE-Sim (ws/os/is); with one shared interface the transfer times add up.
    split = col["dram_ports"] > 1
    moved = [
        np.where(gemm, count * on_chip, off_chip * op_width)
        for on_chip, off_chip, op_width in zip(
            native_moved,
            (a_words, w_words, o_words),
            (scale.act, scale.weight, scale.act),
            strict=True,
        )
    ]
    busiest = np.maximum(np.maximum(moved[0], moved[1]), moved[2])
    mem = np.where(split, busiest, moved[0] + moved[1] + moved[2]) / port_bw
    scalesim_stall = count * np.maximum(np.maximum(*waits[:2]), waits[2])
    bound_stall = np.maximum(mem - compute, 0.0)
    stall = np.where(gemm & split & ~is_rs, scalesim_stall, bound_stall)
    cycles = compute + stall
    macs = np.broadcast_to(table.macs[None, :].astype(np.float64), cycles.shape)
    vector_ops = np.where(gemm, 0.0, m * k).repeat(len(col["rows"]), axis=0)
    e_mac = MUL_PJ_PER_BYTE2 * scale.mul_width + ADD_PJ_PER_BYTE * scale.add_width
    arithmetic = macs * e_mac + vector_ops * ADD_PJ_PER_BYTE * word * scale.act
    energy = (arithmetic + sram_bytes * SRAM_PJ_PER_BYTE + dram_bytes * DRAM_PJ_PER_BYTE) * 1e-6
    out = {
        "macs": macs,
        "cycles": cycles,
        "compute_cycles": compute,
        "mem_cycles": mem,
        "stall_cycles": stall,
        "latency_ms": cycles / (col["clock_mhz"] * 1e3),
        "energy": energy,
        "dram_bytes": dram_bytes,
        "sram_bytes": sram_bytes,
    }
    if scale.macs_per_pe is None:
        peak = col["rows"] * col["cols"] * cycles
    else:
        peak = col["rows"] * col["cols"] * np.where(gemm, scale.macs_per_pe, 1.0) * cycles
    out["utilization"] = _safe_div(macs, peak)
    for key in list(out):
        out[f"total_{key}"] = out[key].sum(axis=1)
    total_peak = (
        hw["rows"] * hw["cols"] * out["total_cycles"]
        if scale.macs_per_pe is None
        else peak.sum(axis=1)
    )
    out["total_utilization"] = _safe_div(out["total_macs"], total_peak)
    return out


def _scales(table: LayerTable, hw: dict[str, np.ndarray], precision: Any):
    """The operand-width factors of ``precision`` (``hardware_precision``) on ``hw``."""
    if precision is None:
        return native_scales(hw["word_bytes"], len(table))
    bits = precision if isinstance(precision, LayerBits) else layer_bits(table, precision)
    if len(bits.weight) != len(table):
        raise ValueError(
            f"precision: LayerBits of {len(bits.weight)} layers for a table of {len(table)}."
        )
    return precision_scales(bits, hw["word_bytes"], hw["bit_fusion"])


def _systolic(m, k, n, rows, cols, flow) -> dict[str, np.ndarray]:
    """SCALE-Sim's ws/os/is: cycles of one GEMM and how often each operand is re-read."""
    is_os, is_ws = flow == DATAFLOWS.index("os"), flow == DATAFLOWS.index("ws")
    sr = np.where(is_os, m, k)
    sc = np.where(is_os | is_ws, n, m)
    t = np.where(is_os, k, np.where(is_ws, m, n))
    row_folds, col_folds = _ceil_div(sr, rows), _ceil_div(sc, cols)
    fill = np.where(is_os, 0.0, rows)
    return {
        "cycles": row_folds * col_folds * (fill + rows + cols + t - 2),
        "refetch_in": np.where(is_os | is_ws, col_folds, 1.0),
        "refetch_w": np.where(is_os, row_folds, np.where(is_ws, 1.0, col_folds)),
        "spills": np.where(is_os, 0.0, row_folds - 1),
    }


def _row_stationary(table: LayerTable, m, k, n, count, rows, cols) -> dict[str, np.ndarray]:
    """Eyeriss's row-stationary mapping (Chen et al., ISCA 2016) of one group's convolution.

    A PE set of ``R`` filter rows (vertically) by ``E`` output rows (horizontally) computes one
    (input channel, filter) pair; each PE runs a 1-D convolution of ``S`` taps over the ``F``
    output columns (``S * F`` cycles) while partial sums flow up the set's columns. Sets larger
    than the array are strip-mined; smaller ones are replicated over the array, each working on
    another (channel, filter) pair. A GEMM is a 1 x 1 convolution with one output row.
    """
    kernel_rows, kernel_cols, out_rows = (
        getattr(table, f)[None, :].astype(np.float64) for f in ("kh", "kw", "oh")
    )
    channels = k / (kernel_rows * kernel_cols)
    set_rows, set_cols = np.minimum(kernel_rows, rows), np.minimum(out_rows, cols)
    sets = np.floor(rows / set_rows) * np.floor(cols / set_cols)
    strips = _ceil_div(out_rows, set_cols) * _ceil_div(kernel_rows, set_rows)
    streamed = m / out_rows  # output columns x batch
    pairs = channels * n
    cycles = _ceil_div(pairs, sets) * strips * kernel_cols * streamed + rows + cols - 2
    filters_at_once = np.maximum(1.0, np.floor(sets / channels))
    return {
        "cycles": cycles,
        "refetch_in": _ceil_div(n, filters_at_once),
        "refetch_w": strips,
        "spills": np.maximum(_ceil_div(channels, sets) - 1, 0.0),
    }


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b > 0)


def cost(
    module: nn.Module,
    input_shape: Sequence[int],
    hw: Any,
    batch_size: int = 1,
    precision: UnitBits | None = None,
) -> dict[str, Any]:
    """Cost of one batch through ``module`` on one configuration, with a per-layer breakdown.

    ``input_shape`` is one sample's shape (as in ``programs.count``); ``hw`` a decoded spec of
    ``spaces.systolic_accelerator()`` or a dict with at least ``rows``, ``cols``, ``dataflow``.

    Keys: ``cycles``, ``compute_cycles``, ``mem_cycles``, ``latency_ms``, ``energy`` (uJ),
    ``utilization``, ``dram_bytes``, ``sram_bytes``, ``macs``, ``area_mm2`` and ``layers`` (one
    dict per layer with its name, kind, GEMM shape and the same metrics). ``precision``
    (``{unit: (weight_bits, act_bits)}``, as in ``cost_table``) prices the layers at those
    operand widths.
    """
    return table_cost(layers(module, input_shape, batch_size), hw, precision=precision)


def table_cost(
    table: LayerTable,
    hw: Any,
    per_layer: bool = True,
    costs: dict | None = None,
    precision: UnitBits | LayerBits | None = None,
) -> dict[str, Any]:
    """``cost`` of a layer table (``layers``, or ``spec_cost.SpecCoster.layers`` of a spec).

    ``per_layer=False`` leaves out the ``layers`` breakdown (the totals are the same);
    ``costs`` is ``cost_table(table, [hw], precision)`` when it is already known.
    """
    res = cost_table(table, [hw], precision) if costs is None else costs
    metrics = ("macs", "cycles", "compute_cycles", "mem_cycles", "latency_ms", "energy")
    metrics += ("dram_bytes", "sram_bytes", "utilization")
    out: dict[str, Any] = {key: float(res[f"total_{key}"][0]) for key in metrics}
    out["area_mm2"] = area_mm2(hw)
    if per_layer:
        columns = {f: getattr(table, f).tolist() for f in ("m", "k", "n", "count")}
        columns.update({key: res[key][0].tolist() for key in metrics})
        keys = ("name", "kind", *columns)
        out["layers"] = [
            dict(zip(keys, values, strict=True))
            for values in zip(table.names, table.kinds, *columns.values(), strict=True)
        ]
    return out
