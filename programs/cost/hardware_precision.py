"""Operand widths of a quantized network on a systolic accelerator: per-layer bits and what
they change in the cost model (``hardware.cost_table``).

A quantized network assigns a weight and an activation bit-width to each *unit*, a module-path
prefix of the network (``spaces.quantization.unit_bits``: ``{unit: (weight_bits, act_bits)}``;
32 bits is float). Every layer of a ``LayerTable`` belongs to the unit with the longest prefix
of its name (whole path components: ``layers.1`` holds ``layers.1.conv`` but not
``layers.10.conv``). A convolution or linear layer reads weights of its unit's weight width and
activations of its activation width; matmuls and attention multiply two activations, and
memory-bound operators move activations, so both their operands take the activation width.
Outputs leave a layer at its unit's activation width (the next quantized layer's input format).
A layer outside every unit runs at the accelerator's native width ``8 * word_bytes``, as every
layer does when no precision is given.

What the widths change, per layer and configuration (``PrecisionScales``), with ``B`` the native
width:

- **Storage and traffic**: an operand of ``b`` bits takes ``b / B`` native words, so an SRAM of
  ``S`` bytes holds ``8 S / b`` of its words, a port of ``bw`` bytes per cycle moves ``8 bw / b``
  of them, and DRAM and SRAM bytes are words times ``b / 8``.
- **MAC energy** (Horowitz, "Computing's Energy Problem", ISSCC 2014, 45 nm): an 8-bit multiply
  costs 0.2 pJ and a multiplier's energy grows with the product of its operand widths (the
  array of partial products), so a ``b_w x b_a`` multiply costs ``0.2 * (b_w / 8) * (b_a / 8)``
  pJ; the accumulating add (0.03 pJ for 8 bits) grows with the width of the product,
  ``0.03 * (b_w + b_a) / 16`` pJ. With ``b_w = b_a = 8 w`` both reduce to the native model's
  ``0.2 w**2 + 0.03 w``.
- **Throughput** of a bit-level composable array (Bit Fusion: Sharma et al., "Bit Fusion:
  Bit-Level Dynamically Composable Architecture for Accelerating Deep Neural Networks", ISCA
  2018), when the accelerator declares ``bit_fusion``: a PE of native width ``B`` fuses its
  bit-bricks into ``floor(B / b_w) * floor(B / b_a)`` narrower multipliers whose products it adds
  each cycle, so the array consumes the reduction dimension that many times faster. Operands
  wider than ``B`` take ``ceil(b / B)`` passes each (Bit Fusion's temporal fusion), fused or not;
  an accelerator without fusion runs narrower operands at one MAC per PE and cycle. The packing
  shortens the reduction the array folds over (the input channels; a convolution's kernel
  window is not packed); the memory model keeps the operand streams of the unpacked GEMM, with
  each operand's own word width, and only sees the shorter compute time.

Whether a configuration *supports* the widths at all is the space's business
(``spaces.hardware.unsupported``); the cost of unsupported widths is still defined by these
rules, so a search can record it beside the reason the candidate is infeasible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from symnas.programs.cost.hardware_layers import LayerTable
from symnas.spaces.quantization import unit_of

WEIGHT_KINDS = ("conv", "linear")  # GEMMs whose second operand is a weight tensor

UnitBits = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class LayerBits:
    """Operand widths of each layer of a table (float arrays of bits; 0: the native width).

    ``weight`` is the width of a layer's second operand (a weight tensor for convolutions and
    linears, an activation otherwise), ``act`` that of its input and output activations.
    """

    weight: np.ndarray
    act: np.ndarray

    def __post_init__(self) -> None:
        if self.weight.shape != self.act.shape or self.weight.ndim != 1:
            raise ValueError(
                f"LayerBits: weight and act must be 1-D arrays of one length; got shapes "
                f"{self.weight.shape} and {self.act.shape}."
            )


def check_unit_bits(unit_bits: UnitBits) -> dict[str, tuple[int, int]]:
    """``unit_bits`` as a plain dict, or a ``ValueError`` naming the bad unit or width."""
    if not isinstance(unit_bits, Mapping):
        raise TypeError(
            "precision must map unit names to (weight_bits, act_bits); got "
            f"{type(unit_bits).__name__}."
        )
    out: dict[str, tuple[int, int]] = {}
    for unit, bits in unit_bits.items():
        if not isinstance(unit, str):
            raise ValueError(f"precision: unit names must be strings; got {unit!r}.")
        if not isinstance(bits, (tuple, list)) or len(bits) != 2:
            raise ValueError(
                f"precision: unit {unit!r} needs (weight_bits, act_bits); got {bits!r}."
            )
        for role, value in zip(("weight_bits", "act_bits"), bits, strict=True):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"precision: unit {unit!r} has {role}={value!r}; bit-widths are positive "
                    "integers (32: float)."
                )
        out[unit] = (int(bits[0]), int(bits[1]))
    return out


def layer_bits(table: LayerTable, unit_bits: UnitBits) -> LayerBits:
    """The operand widths of every layer of ``table`` under ``{unit: (weight_bits, act_bits)}``.

    A unit that holds no layer of the table is an error naming it (the quantization spec does
    not match the network); layers outside every unit keep the native width (0).
    """
    checked = check_unit_bits(unit_bits)
    units = list(checked)
    weight = np.zeros(len(table), dtype=np.float64)
    act = np.zeros(len(table), dtype=np.float64)
    used: set[str] = set()
    for i, (name, kind) in enumerate(zip(table.names, table.kinds, strict=True)):
        unit = unit_of(name.split("#", 1)[0], units)  # repeats are numbered name#2...
        if unit is None:
            continue
        used.add(unit)
        w_bits, a_bits = checked[unit]
        act[i] = a_bits
        weight[i] = w_bits if kind in WEIGHT_KINDS else a_bits
    unused = [unit for unit in units if unit not in used]
    if unused:
        names = sorted({name.split("#", 1)[0] for name in table.names})
        raise ValueError(
            f"precision: unit(s) {unused} hold no layer of the network; its layers are "
            f"{names[:12]}{' ...' if len(names) > 12 else ''}."
        )
    return LayerBits(weight=weight, act=act)


@dataclass(frozen=True)
class PrecisionScales:
    """Per (configuration, layer) factors of the cost model, arrays of shape ``(H, L)``.

    ``act``, ``weight``: native words per operand word (``bits / B``); ``macs_per_pe``: MACs a
    PE completes per cycle (None when every one is 1: no precision given); ``mul_width``,
    ``add_width``: the multiply's and the add's width in bytes for the energy model.
    """

    act: np.ndarray
    weight: np.ndarray
    macs_per_pe: np.ndarray | None
    mul_width: np.ndarray
    add_width: np.ndarray


def native_scales(word_bytes: np.ndarray, layers: int) -> PrecisionScales:
    """The factors when every operand has the native width (the model without precision)."""
    ones = np.ones((len(word_bytes), layers))
    word = word_bytes[:, None]
    return PrecisionScales(
        act=ones, weight=ones, macs_per_pe=None, mul_width=word**2, add_width=word * ones
    )


def _per_operand_rate(bits: np.ndarray, native: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """Products per PE and cycle along one operand: ``floor(B / b)`` fused narrower operands,
    ``1 / ceil(b / B)`` passes for wider ones, 1 otherwise."""
    narrow = np.where(fused, np.floor(native / bits), 1.0)
    return np.where(bits <= native, narrow, 1.0 / np.ceil(bits / native))


def precision_scales(
    bits: LayerBits, word_bytes: np.ndarray, bit_fusion: np.ndarray
) -> PrecisionScales:
    """The factors of ``bits`` on configurations of ``word_bytes`` and ``bit_fusion`` (``(H,)``)."""
    native = 8.0 * word_bytes[:, None]
    weight = np.where(bits.weight[None, :] > 0, bits.weight[None, :], native)
    act = np.where(bits.act[None, :] > 0, bits.act[None, :], native)
    fused = bit_fusion[:, None] > 0
    rate = _per_operand_rate(weight, native, fused) * _per_operand_rate(act, native, fused)
    return PrecisionScales(
        act=act / native,
        weight=weight / native,
        macs_per_pe=rate,
        mul_width=(weight / 8.0) * (act / 8.0),
        add_width=(weight + act) / 16.0,
    )


def packed_reduction(
    k: np.ndarray, kernel: np.ndarray, macs_per_pe: np.ndarray | None
) -> np.ndarray:
    """The reduction length the array sees when each PE adds ``macs_per_pe`` products a cycle:
    ``kernel * ceil(channels / macs_per_pe)`` (the input channels are packed, the kernel window
    is not), or ``k`` itself where a PE does one MAC a cycle."""
    if macs_per_pe is None:
        return k
    channels = k / kernel
    return np.where(macs_per_pe == 1.0, k, kernel * np.ceil(channels / macs_per_pe))
