"""Elastic quantization: per-unit weight and activation bit-widths composed with any family space.

Implements the search space of EQ-Net ("EQ-Net: Elastic Quantization Neural Networks", Xu et al.,
ICCV 2023; reference code xuke225/EQ-Net): every quantized layer (Conv2d or Linear) picks its
weight and activation bit-width, and the network picks the weights' granularity (per-tensor or
per-channel step sizes) and the symmetry of its quantizers, as EQ-Net's
``set_quantization_params`` sets one granularity and symmetry for the whole network. A bit-width
of 32 means float: that operand is not fake-quantized.

``quantized(family_space)`` returns a :class:`QuantizedSpace` whose decoded spec is::

    {"_type": QuantizedSpace.__type_name__,
     "arch": <the family's spec>,
     "quant": {"granularity": "per_tensor" | "per_channel",
               "symmetric": bool,
               "units": {unit: {"weight_bits": int, "act_bits": int}}}}

A **unit** is a module-path prefix in the family's standalone model (``named_modules``); every
quantized Conv2d/Linear belongs to the unit that is its longest prefix (whole path components:
``layers.1`` holds ``layers.1.conv1``, not ``layers.10.conv1``). Units per family (listed here,
without torch, by :func:`quant_units`):

- pooling (``PoolingSpace``): one per layer, ``layers.0`` (the stem) .. ``layers.{L-1}``, and
  ``fc``;
- NAS-Bench-201 (``NB201Cell``): ``stem``, one per entry of the skeleton's ``cells`` list
  (``cells.0`` .. ``cells.{3N+1}``: the ``3N`` searched cells and the two ResNet reduction
  blocks at ``cells.N`` and ``cells.{2N+1}``), and ``classifier``. All edges of a cell share the
  cell's bit-widths, as all layers of a pooling block do.

EQ-Net keeps the first and the last quantized layer at 8 bits (``set_first_last_layer_to_8bit``);
``edge_bits=8`` (the default) fixes the first and the last unit likewise, ``edge_bits=None``
searches them too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyglove as pg

from symnas.core.registry import Registry
from symnas.spaces.cells import NB201Cell
from symnas.spaces.pooling import PoolingSpace

#: Bit-widths a quantizer supports; 32 is float (no fake quantization).
SUPPORTED_BITS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 16, 32)
FLOAT_BITS = 32
GRANULARITIES: tuple[str, ...] = ("per_tensor", "per_channel")
DEFAULT_BITS: tuple[int, ...] = (2, 3, 4, 6, 8, 32)

#: Unit listers by the type name of a family's space root: ``lister(field) -> [unit names]``,
#: where ``field(name)`` reads a fixed field of the space or of a decoded spec.
UNIT_LISTERS = Registry("quantization unit lister")


@pg.members(
    [
        ("arch", pg.typing.Any(), "The family's space (or, decoded, its spec)."),
        ("quant", pg.typing.Any(), "Granularity, symmetry and the bit-widths of every unit."),
    ]
)
class QuantizedSpace(pg.Object):
    """A family's space composed with an elastic quantization configuration."""


def register_units(space_cls: type, description: str) -> Callable[[Callable], Callable]:
    """Decorator registering the unit lister of the family whose space root is ``space_cls``."""
    type_name = getattr(space_cls, "__type_name__", None)
    if type_name is None:
        raise TypeError(f"register_units: {space_cls!r} is not a pg.Object subclass.")
    return UNIT_LISTERS.register(type_name, description, space_class=space_cls)


@register_units(PoolingSpace, "one unit per layer (layers.0 = the stem) and the classifier fc")
def _pooling_units(field: Callable[[str], Any]) -> list[str]:
    return [f"layers.{i}" for i in range(len(field("channels")))] + ["fc"]


@register_units(NB201Cell, "the stem, every cell and reduction block of cells, the classifier")
def _nb201_units(field: Callable[[str], Any]) -> list[str]:
    return ["stem"] + [f"cells.{i}" for i in range(3 * int(field("N")) + 2)] + ["classifier"]


def _type_name(space_or_spec: Any) -> str | None:
    if isinstance(space_or_spec, pg.Object):
        return type(space_or_spec).__type_name__
    if isinstance(space_or_spec, Mapping):
        return space_or_spec.get("_type")
    return None


def _field_reader(space_or_spec: Any) -> Callable[[str], Any]:
    if isinstance(space_or_spec, pg.Object):
        return space_or_spec.sym_getattr
    return space_or_spec.__getitem__


def quant_units(space_or_spec: Any) -> list[str]:
    """The unit names of a family's space or decoded spec, in network order.

    Raises ``ValueError`` naming the type and the supported ones when no lister is registered.
    """
    type_name = _type_name(space_or_spec)
    if type_name is None or type_name not in UNIT_LISTERS:
        raise ValueError(
            f"quantization: no quantization units for space type {type_name!r}; supported: "
            f"{UNIT_LISTERS.names()}."
        )
    return list(UNIT_LISTERS.get(type_name).obj(_field_reader(space_or_spec)))


def _check_choices(name: str, values: Any, allowed: Sequence[Any], kind: type) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(
            f"quantized: {name} must be a sequence of values from {list(allowed)}; got {values!r}."
        )
    values = list(values)
    if not values:
        raise ValueError(f"quantized: {name} must not be empty; allowed: {list(allowed)}.")
    for value in values:
        bad_type = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if bad_type or value not in allowed:
            raise ValueError(
                f"quantized: {name} value {value!r} is not supported; allowed: {list(allowed)}."
            )
    if len(set(values)) != len(values):
        raise ValueError(f"quantized: {name} has repeated values: {values}.")
    return values


def _choice(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else pg.oneof(values)


def quantized(
    family_space: Any,
    bits: Sequence[int] = DEFAULT_BITS,
    granularity: Sequence[str] = GRANULARITIES,
    symmetric: Sequence[bool] = (True, False),
    edge_bits: int | None = 8,
) -> QuantizedSpace:
    """``family_space`` with elastic per-unit weight and activation bit-widths (EQ-Net's space).

    Each unit (:func:`quant_units`) chooses ``weight_bits`` and ``act_bits`` among ``bits``
    (each in :data:`SUPPORTED_BITS`; 32 is float), the network one ``granularity`` of its weight
    step sizes and whether its quantizers are ``symmetric``. ``edge_bits`` fixes the first and the
    last unit (EQ-Net keeps them at 8 bits); ``None`` searches them too. A space with ``U``
    searched units multiplies the family's size by ``len(bits) ** (2 U) * len(granularity) *
    len(symmetric)``.
    """
    if not isinstance(family_space, pg.Object):
        raise TypeError(
            f"quantized: family_space must be a family's space (a pg.Object such as "
            f"spaces.resnet20_pooling()); got {type(family_space).__name__}."
        )
    bits = _check_choices("bits", bits, SUPPORTED_BITS, int)
    granularity = _check_choices("granularity", granularity, GRANULARITIES, str)
    symmetric = _check_choices("symmetric", symmetric, (True, False), bool)
    if edge_bits is not None and (
        not isinstance(edge_bits, int)
        or isinstance(edge_bits, bool)
        or edge_bits not in SUPPORTED_BITS
    ):
        raise ValueError(
            f"quantized: edge_bits value {edge_bits!r} is not supported; allowed: None or "
            f"{list(SUPPORTED_BITS)}."
        )
    units = quant_units(family_space)
    fixed = {units[0], units[-1]} if edge_bits is not None else set()
    unit_choices = {
        unit: pg.Dict(weight_bits=edge_bits, act_bits=edge_bits)
        if unit in fixed
        else pg.Dict(weight_bits=_choice(bits), act_bits=_choice(bits))
        for unit in units
    }
    quant = pg.Dict(
        granularity=_choice(granularity),
        symmetric=_choice(symmetric),
        units=pg.Dict(unit_choices),
    )
    return QuantizedSpace(arch=family_space, quant=quant)


def _check_bits(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in SUPPORTED_BITS:
        raise ValueError(
            f"quantization: {where} is {value!r}; allowed bit-widths: {list(SUPPORTED_BITS)}."
        )
    return value


def check_quant(quant: Any) -> dict[str, Any]:
    """The validated ``spec["quant"]``: granularity, symmetric and every unit's bit-widths.

    Raises ``ValueError`` naming the field and the allowed values.
    """
    if not isinstance(quant, Mapping):
        raise ValueError(f"quantization: spec['quant'] must be a mapping; got {quant!r:.200}.")
    missing = sorted({"granularity", "symmetric", "units"} - set(quant))
    if missing:
        raise ValueError(f"quantization: spec['quant'] lacks {missing}.")
    if quant["granularity"] not in GRANULARITIES:
        raise ValueError(
            f"quantization: spec['quant']['granularity'] is {quant['granularity']!r}; allowed: "
            f"{list(GRANULARITIES)}."
        )
    if not isinstance(quant["symmetric"], bool):
        raise ValueError(
            f"quantization: spec['quant']['symmetric'] must be True or False; got "
            f"{quant['symmetric']!r}."
        )
    units = quant["units"]
    if not isinstance(units, Mapping) or not units:
        raise ValueError(
            f"quantization: spec['quant']['units'] must map unit names to bit-widths; got "
            f"{units!r:.200}."
        )
    checked = {}
    for unit, widths in units.items():
        if not isinstance(widths, Mapping) or set(widths) != {"weight_bits", "act_bits"}:
            raise ValueError(
                f"quantization: units[{unit!r}] must be {{'weight_bits': int, 'act_bits': int}}; "
                f"got {widths!r}."
            )
        checked[unit] = {
            key: _check_bits(f"units[{unit!r}][{key!r}]", widths[key])
            for key in ("weight_bits", "act_bits")
        }
    return {"granularity": quant["granularity"], "symmetric": quant["symmetric"], "units": checked}


def _quant_of(spec: Any) -> Any:
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    if not isinstance(spec, Mapping) or "quant" not in spec or "arch" not in spec:
        raise ValueError(
            f"quantization: expected a decoded quantized spec {{'arch': ..., 'quant': ...}}; got "
            f"{spec!r:.200}."
        )
    return spec["quant"]


def unit_bits(spec: Any) -> dict[str, tuple[int, int]]:
    """``{unit: (weight_bits, act_bits)}`` of a decoded quantized spec (validated)."""
    units = check_quant(_quant_of(spec))["units"]
    return {unit: (w["weight_bits"], w["act_bits"]) for unit, w in units.items()}


def unit_of(module_name: str, units: Iterable[str]) -> str | None:
    """The unit holding ``module_name``: the longest unit that is a whole-component prefix."""
    best = None
    for unit in units:
        if module_name == unit or module_name.startswith(unit + "."):
            if best is None or len(unit) > len(best):
                best = unit
    return best


def quant_spec(
    arch: Mapping[str, Any],
    bits: int | Mapping[str, tuple[int, int]],
    granularity: str = "per_channel",
    symmetric: bool = True,
    edge_bits: int | None = 8,
) -> dict[str, Any]:
    """A decoded quantized spec of the family spec ``arch``.

    ``bits`` is one width for every unit's weights and activations (a uniform configuration) or
    ``{unit: (weight_bits, act_bits)}`` for every unit; ``edge_bits`` overrides the first and the
    last unit (as :func:`quantized` fixes them), ``None`` leaves them as given.
    """
    units = quant_units(arch)
    if isinstance(bits, Mapping):
        unknown = sorted(set(bits) - set(units))
        missing = [u for u in units if u not in bits]
        if unknown or missing:
            raise ValueError(
                f"quant_spec: bits must give every unit of {units}; unknown {unknown}, "
                f"missing {missing}."
            )
        widths = {unit: tuple(bits[unit]) for unit in units}
    else:
        widths = {unit: (bits, bits) for unit in units}
    if edge_bits is not None:
        widths[units[0]] = widths[units[-1]] = (edge_bits, edge_bits)
    quant = {
        "granularity": granularity,
        "symmetric": symmetric,
        "units": {u: {"weight_bits": w, "act_bits": a} for u, (w, a) in widths.items()},
    }
    check_quant(quant)
    return {"_type": QuantizedSpace.__type_name__, "arch": dict(arch), "quant": quant}
