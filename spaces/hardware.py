"""Systolic-array DNN accelerator configurations, with an area model to bound them.

The knobs follow the SCALE-Sim accelerator description (Samajdar et al., "A Systematic Methodology
for Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020): a ``rows`` x
``cols`` array of multiply-accumulate PEs, three double-buffered on-chip SRAMs (ifmap, filter,
ofmap), an off-chip interface of ``bandwidth`` bytes per cycle, a dataflow (weight, output or input
stationary, or Eyeriss's row stationary, Chen et al., ISCA 2016) and a clock. The default
choices are the hardware space of a nested architecture x accelerator search as in PyGlove
(Peng et al., NeurIPS 2020) and NAHAS (Zhou et al., 2021): rows and cols in {4, 8, 16, 32,
64}, each SRAM in {16, ..., 256} KB, bandwidth in {4, 8, 16} B/cycle, the three systolic
dataflows.

Area model (``area_mm2``): ``rows * cols * PE_AREA_MM2 * word_bytes**2 + total_sram_kb *
SRAM_AREA_MM2_PER_KB``. Both constants come from the TPU v1 floorplan (Jouppi et al., ISCA 2017,
28 nm): the 256 x 256 8-bit MAC array takes about 24% of a die of at most 331 mm2 (about
0.0012 mm2 per PE) and the 24 MiB unified buffer about 29% (about 0.004 mm2 per KB). A
multiplier's area grows with the square of its operand width, hence ``word_bytes**2``.

Precisions. ``precisions`` lists the operand bit-widths the array supports (None: only its
native width ``8 * word_bytes``); narrower operands are stored packed and fed to the native
multipliers. With ``bit_fusion`` the PEs are bit-level composable (Bit Fusion: Sharma et al.,
ISCA 2018): a native-width PE splits into ``floor(B / b_w) * floor(B / b_a)`` narrower
multipliers (``programs.cost.hardware_precision``). Bit Fusion builds its PEs from 2-bit
bit-bricks joined by shift-add trees; the extra area of that composition is modelled as a factor
``FUSION_AREA_FACTOR`` on the PE area, a modelling assumption of this project (the paper gives
no per-PE area ratio against a fixed-width MAC that this model could take over), so that the
outer search weighs fusion's throughput against silicon. A network whose units use a width the
configuration does not list cannot run on it (``unsupported`` says why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyglove as pg

from symnas.spaces.registry import register_space

DATAFLOWS = ("ws", "os", "is", "rs")
SYSTOLIC_DATAFLOWS = ("ws", "os", "is")
PE_AREA_MM2 = 0.0012
SRAM_AREA_MM2_PER_KB = 0.004
FUSION_AREA_FACTOR = 1.5

DEFAULTS: dict[str, Any] = {
    "ifmap_sram_kb": 64,
    "filter_sram_kb": 64,
    "ofmap_sram_kb": 64,
    "bandwidth": 16,
    "clock_mhz": 500,
    "word_bytes": 1,
    "max_area_mm2": None,
    "dram_ports": 1,
    "precisions": None,
    "bit_fusion": False,
}
DRAM_PORTS = (1, 3)  # one interface shared by the three SRAMs, or one each (as SCALE-Sim)
_INT_FIELDS = (
    "rows",
    "cols",
    "ifmap_sram_kb",
    "filter_sram_kb",
    "ofmap_sram_kb",
    "bandwidth",
    "word_bytes",
)


@pg.members(
    [
        ("rows", pg.typing.Int(min_value=1), "PE array rows."),
        ("cols", pg.typing.Int(min_value=1), "PE array columns."),
        ("ifmap_sram_kb", pg.typing.Int(min_value=1, default=64), "Input SRAM (KB)."),
        ("filter_sram_kb", pg.typing.Int(min_value=1, default=64), "Weight SRAM (KB)."),
        ("ofmap_sram_kb", pg.typing.Int(min_value=1, default=64), "Output SRAM (KB)."),
        ("bandwidth", pg.typing.Int(min_value=1, default=16), "Off-chip bytes per cycle."),
        ("dataflow", pg.typing.Enum("ws", list(DATAFLOWS)), "ws, os, is or rs stationary."),
        ("clock_mhz", pg.typing.Float(min_value=1.0, default=500.0), "Clock (MHz)."),
        ("word_bytes", pg.typing.Int(min_value=1, default=1), "Bytes per operand word."),
        (
            "max_area_mm2",
            pg.typing.Float(min_value=0.0).noneable(),
            "Area cap the configuration must meet (None: no cap).",
        ),
        (
            "precisions",
            pg.typing.List(pg.typing.Int(min_value=1)).noneable(),
            "Supported operand bit-widths (None: only the native 8 * word_bytes).",
        ),
        (
            "bit_fusion",
            pg.typing.Bool(default=False),
            "Bit-level composable PEs: narrower operands run several MACs per PE and cycle.",
        ),
    ]
)
class SystolicAccelerator(pg.Object):
    """A systolic-array accelerator configuration (concrete, or a space when fields are oneofs)."""


def _choice(name: str, values: Sequence[Any]) -> Any:
    """A fixed value for one candidate, a ``pg.oneof`` for several."""
    values = list(values)
    if not values:
        raise ValueError(f"systolic_accelerator: {name} needs at least one value; got {values}.")
    return values[0] if len(values) == 1 else pg.oneof(values)


@register_space(
    "systolic_accelerator",
    "systolic-array accelerators (rows, cols, 3 SRAMs, bandwidth, dataflow): 28,125 configurations",
    architectures=5 * 5 * 5**3 * 3 * 3,
)
def systolic_accelerator(
    max_area_mm2: float | None = None,
    rows: Sequence[int] = (4, 8, 16, 32, 64),
    cols: Sequence[int] = (4, 8, 16, 32, 64),
    sram_kb: Sequence[int] = (16, 32, 64, 128, 256),
    bandwidth: Sequence[int] = (4, 8, 16),
    dataflow: Sequence[str] = SYSTOLIC_DATAFLOWS,
    clock_mhz: Sequence[float] = (500.0,),
    word_bytes: int = 1,
    precisions: Sequence[Sequence[int]] | None = None,
    bit_fusion: Sequence[bool] = (False,),
) -> SystolicAccelerator:
    """The accelerator space: 5 x 5 x 5**3 x 3 x 3 = 28,125 configurations with the defaults.

    Each of the three SRAMs chooses its size from ``sram_kb``; ``dataflow=DATAFLOWS`` adds
    Eyeriss's row-stationary mapping (``"rs"``) to the three systolic ones. With
    ``max_area_mm2`` the space keeps only array sizes whose smallest configuration meets the
    cap and records the cap in every spec, so that ``feasible(spec)`` tells whether a configuration meets it.
    ``precisions`` are the candidate sets of supported operand widths (e.g. ``((8,), (4, 8),
    (2, 4, 8))``; None: the native width only) and ``bit_fusion`` the candidate PE kinds
    (``(False, True)`` searches both); several candidates make each a searched decision.
    """
    bad = [d for d in dataflow if d not in DATAFLOWS]
    if bad:
        raise ValueError(f"systolic_accelerator: dataflow must be in {DATAFLOWS}; got {bad}.")
    precision_sets = (
        None if precisions is None else [_precision_set(p, word_bytes) for p in precisions]
    )
    fusion = list(bit_fusion)
    if not fusion or any(not isinstance(f, bool) for f in fusion):
        raise ValueError(
            f"systolic_accelerator: bit_fusion must be a non-empty sequence of bools; got "
            f"{bit_fusion!r}."
        )
    if max_area_mm2 is not None and max_area_mm2 <= 0:
        raise ValueError(f"systolic_accelerator: max_area_mm2 must be > 0; got {max_area_mm2}.")
    if max_area_mm2 is not None:
        smallest_sram = 3 * min(sram_kb) * SRAM_AREA_MM2_PER_KB
        pe_area = PE_AREA_MM2 * word_bytes**2 * min(_fusion_factor(f) for f in fusion)

        def fits(r: int, c: int) -> bool:
            return r * c * pe_area + smallest_sram <= max_area_mm2

        rows = [r for r in rows if any(fits(r, c) for c in cols)]
        cols = [c for c in cols if any(fits(r, c) for r in rows)]
        if not rows or not cols:
            raise ValueError(
                f"systolic_accelerator: no array size meets max_area_mm2={max_area_mm2}."
            )
    return SystolicAccelerator(
        rows=_choice("rows", rows),
        cols=_choice("cols", cols),
        ifmap_sram_kb=_choice("sram_kb", sram_kb),
        filter_sram_kb=_choice("sram_kb", sram_kb),
        ofmap_sram_kb=_choice("sram_kb", sram_kb),
        bandwidth=_choice("bandwidth", bandwidth),
        dataflow=_choice("dataflow", dataflow),
        clock_mhz=_choice("clock_mhz", [float(c) for c in clock_mhz]),
        word_bytes=word_bytes,
        max_area_mm2=max_area_mm2,
        precisions=None if precision_sets is None else _choice("precisions", precision_sets),
        bit_fusion=_choice("bit_fusion", fusion),
    )


def _precision_set(widths: Sequence[int], word_bytes: int) -> list[int]:
    """A checked, sorted set of supported widths (each from 1 to the native width)."""
    native = 8 * word_bytes
    values = list(widths) if isinstance(widths, (list, tuple)) else None
    if not values or any(
        isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= native for b in values
    ):
        raise ValueError(
            f"systolic_accelerator: each precisions entry must be a non-empty sequence of "
            f"bit-widths from 1 to the native {native} (8 * word_bytes); got {widths!r}."
        )
    return sorted(set(values))


def _fusion_factor(bit_fusion: bool) -> float:
    return FUSION_AREA_FACTOR if bit_fusion else 1.0


def fields(spec: Any) -> dict[str, Any]:
    """The checked fields of a configuration, defaults filled in.

    ``spec`` is a decoded spec (a dict, with or without ``"_type"``) or a concrete
    ``SystolicAccelerator``; it needs at least ``rows``, ``cols`` and ``dataflow``. A dict may
    also set ``dram_ports``: 1 (default, the three SRAMs share ``bandwidth``) or 3 (each SRAM
    has its own port of ``bandwidth``, as in SCALE-Sim's memory system).
    """
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"hardware spec must be a dict or a SystolicAccelerator; got {type(spec).__name__}."
        )
    for key in ("rows", "cols", "dataflow"):
        if key not in spec:
            raise ValueError(f"hardware spec: missing field {key!r}.")
    out = {**DEFAULTS, **{k: v for k, v in spec.items() if k != "_type"}}
    unknown = sorted(set(out) - set(DEFAULTS) - {"rows", "cols", "dataflow"})
    if unknown:
        raise ValueError(f"hardware spec: unknown fields {unknown}.")
    if out["dataflow"] not in DATAFLOWS:
        raise ValueError(
            f"hardware spec: dataflow must be one of {DATAFLOWS}; got {out['dataflow']!r}."
        )
    for key in _INT_FIELDS:
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"hardware spec: {key} must be a positive int; got {value!r}.")
    if out["dram_ports"] not in DRAM_PORTS:
        raise ValueError(
            f"hardware spec: dram_ports must be one of {DRAM_PORTS}; got {out['dram_ports']!r}."
        )
    if not isinstance(out["clock_mhz"], (int, float)) or out["clock_mhz"] <= 0:
        raise ValueError(f"hardware spec: clock_mhz must be > 0; got {out['clock_mhz']!r}.")
    if not isinstance(out["bit_fusion"], bool):
        raise ValueError(f"hardware spec: bit_fusion must be a bool; got {out['bit_fusion']!r}.")
    if out["precisions"] is not None:
        native = 8 * out["word_bytes"]
        widths = out["precisions"]
        if (
            not isinstance(widths, (list, tuple))
            or not widths
            or any(
                isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= native
                for b in widths
            )
        ):
            raise ValueError(
                f"hardware spec: precisions must be a non-empty list of bit-widths from 1 to "
                f"the native {native} (8 * word_bytes), or None; got {widths!r}."
            )
    return out


def supported_precisions(spec: Any) -> tuple[int, ...]:
    """The operand bit-widths a configuration supports (its native width when unset)."""
    f = fields(spec)
    widths = f["precisions"] if f["precisions"] is not None else [8 * f["word_bytes"]]
    return tuple(sorted(set(widths)))


def unsupported(spec: Any, unit_bits: Mapping[str, Sequence[int]]) -> list[str]:
    """Why a network of ``{unit: (weight_bits, act_bits)}`` cannot run on ``spec``: one line
    per unit whose weight or activation width the configuration does not support (empty when
    every width is supported)."""
    widths = supported_precisions(spec)
    reasons = []
    for unit, (weight_bits, act_bits) in unit_bits.items():
        bad = [
            f"{role}={bits}"
            for role, bits in (("weight_bits", weight_bits), ("act_bits", act_bits))
            if bits not in widths
        ]
        if bad:
            reasons.append(
                f"unit {unit!r}: {', '.join(bad)} not in the accelerator's precisions "
                f"{list(widths)}"
            )
    return reasons


def area_mm2(spec: Any) -> float:
    """Silicon area (mm2) of a configuration under the module's area model."""
    f = fields(spec)
    sram_kb = f["ifmap_sram_kb"] + f["filter_sram_kb"] + f["ofmap_sram_kb"]
    pe = f["rows"] * f["cols"] * PE_AREA_MM2 * f["word_bytes"] ** 2
    if f["bit_fusion"]:
        pe *= FUSION_AREA_FACTOR
    return pe + sram_kb * SRAM_AREA_MM2_PER_KB


def feasible(spec: Any, max_area_mm2: float | None = None) -> bool:
    """Whether ``spec`` meets ``max_area_mm2`` (default: the cap recorded in the spec, if any)."""
    cap = fields(spec)["max_area_mm2"] if max_area_mm2 is None else max_area_mm2
    return cap is None or area_mm2(spec) <= cap
