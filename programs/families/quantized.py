"""Quantized networks and the elastic quantization supernet of ``spaces.quantized`` specs.

Implements EQ-Net's weight-sharing quantization supernet ("EQ-Net: Elastic Quantization Neural
Networks", Xu et al., ICCV 2023; xuke225/EQ-Net): one set of float weights serves every
bit-width configuration, and every quantized layer keeps a learned step size (LSQ,
``programs.families.fake_quant``) per bit-width, granularity and symmetry of its weight and of
its input, as EQ-Net's ``LSQQuantizer`` keeps ``scale_set_*[:, bit - 2]``. BatchNorm statistics
per configuration are what EQ-Net's ``Adaptive_BN`` re-estimates before scoring a sub-network:
``programs.training.estimator.recalibrate_bn`` (or the estimator's ``recalibrate_batches``) on
the extracted network; families whose supernet normalises with batch statistics (pooling) need
none.

- ``build(spec)``: the family's standalone network (``programs.build(spec["arch"])``) with every
  Conv2d/Linear replaced by a :class:`~fake_quant.QuantConv2d` / ``QuantLinear`` that quantizes
  its input and weight as its unit's bit-widths say (32: float).
- ``programs.supernet(spaces.quantized(space))``: :class:`QuantizedSupernet` around the family's
  supernet, whose class must declare the ``quantized`` capability (its sub-networks run the
  supernet's own Conv2d/Linear layers, and ``sliced_state`` returns their own tensors), so each
  layer becomes an elastic quantized layer in place and ``extract`` gives ``build``'s network
  with the inherited weights and step sizes.

A unit of ``spec["quant"]["units"]`` that names no module of the network, or a quantized layer in
no unit, is refused naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyglove as pg
import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.families.fake_quant import (
    ElasticQuantConv2d,
    ElasticQuantLinear,
    QuantConv2d,
    QuantLinear,
    QuantSetting,
    replace_layers,
)
from symnas.programs.supernet_base import SlicedSupernet, has_capability
from symnas.spaces.quantization import (
    FLOAT_BITS,
    QuantizedSpace,
    check_quant,
    quant_units,
    unit_of,
)

_TYPE = QuantizedSpace.__type_name__


def _split(spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The family spec and the validated quantization of a decoded quantized spec."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    if not isinstance(spec, Mapping) or spec.get("_type") != _TYPE:
        raise TypeError(
            f"Expected a decoded quantized spec (a dict with '_type' {_TYPE!r}, 'arch' and "
            f"'quant'); got {spec!r:.200}."
        )
    if not isinstance(spec.get("arch"), Mapping):
        raise ValueError(f"quantized spec: 'arch' must be a family spec; got {spec.get('arch')!r}.")
    return dict(spec["arch"]), check_quant(spec.get("quant"))


def layer_settings(
    quant: Mapping[str, Any], unit: str
) -> tuple[QuantSetting, QuantSetting]:
    """The weight and input settings of a layer in ``unit``."""
    widths = quant["units"][unit]
    symmetric = quant["symmetric"]
    per_channel = quant["granularity"] == "per_channel"
    return (
        QuantSetting(widths["weight_bits"], per_channel, symmetric),
        QuantSetting(widths["act_bits"], False, symmetric),
    )


def layer_units(
    names: list[str], modules: set[str] | None, units: list[str], where: str
) -> dict[str, str]:
    """``{layer name: unit}``; refuses a unit that names no module (``modules``: every module
    name of the network; None skips this check) and a layer that lies in no unit."""
    for unit in units if modules is not None else ():
        if unit not in modules:
            raise ValueError(
                f"{where}: quantization unit {unit!r} names no module of the network; its units "
                f"are prefixes of module names such as {sorted(modules)[:6]}."
            )
    assigned = {}
    for name in names:
        unit = unit_of(name, units)
        if unit is None:
            raise ValueError(
                f"{where}: layer {name!r} lies in no quantization unit of {units}."
            )
        assigned[name] = unit
    return assigned


def quantize_model(model: nn.Module, quant: Mapping[str, Any], where: str) -> nn.Module:
    """``model`` with every Conv2d/Linear replaced in place by its fake-quantized version."""
    quant = check_quant(quant)
    modules = {name for name, _ in model.named_modules() if name}
    layers = [n for n, m in model.named_modules() if type(m) in (nn.Conv2d, nn.Linear)]
    units = layer_units(layers, modules, list(quant["units"]), where)

    def make(name: str, layer: nn.Module) -> nn.Module:
        weight, act = layer_settings(quant, units[name])
        cls = QuantConv2d if isinstance(layer, nn.Conv2d) else QuantLinear
        return cls(layer, weight, act)

    replace_layers(model, make)
    return model


def build(spec: Any, **task: Any) -> nn.Module:
    """The standalone fake-quantized network of a decoded quantized spec."""
    arch, quant = _split(spec)
    return quantize_model(registry.build(arch, **task), quant, "programs.build(quantized)")


def _space_settings(space: QuantizedSpace) -> tuple[list[QuantSetting], list[QuantSetting]]:
    """Every weight and input setting a spec of ``space`` can select."""
    quant = space.sym_init_args.quant

    def values(value: Any) -> list[Any]:
        return list(value.candidates) if isinstance(value, pg.hyper.OneOf) else [value]

    bits = sorted(
        {b for widths in quant["units"].values() for key in ("weight_bits", "act_bits")
         for b in values(widths[key]) if b != FLOAT_BITS}
    )
    grains = values(quant["granularity"])
    symmetries = values(quant["symmetric"])
    weights = [
        QuantSetting(b, g == "per_channel", s) for b in bits for g in grains for s in symmetries
    ]
    acts = [QuantSetting(b, False, s) for b in bits for s in symmetries]
    return weights, acts


class QuantizedSupernet(SlicedSupernet):
    """EQ-Net's quantization supernet around a family supernet with the ``quantized``
    capability: shared float weights, a step size per layer and setting."""

    def __init__(self, space: QuantizedSpace, **task: Any) -> None:
        super().__init__()
        if not isinstance(space, QuantizedSpace):
            raise TypeError(
                f"QuantizedSupernet expects spaces.quantized(...); got {type(space).__name__}."
            )
        family_space = space.sym_init_args.arch
        family_class = registry.supernet_class(family_space)
        if family_class is None or not has_capability(family_class, "quantized"):
            family = registry.family_of(type(family_space).__type_name__)
            raise TypeError(
                f"programs.supernet(quantized): the {family!r} family's supernet lacks the "
                f"'quantized' capability; families with it: {registry.families_with('quantized')}."
            )
        self.inner = registry.supernet(family_space, **task)
        self.units = quant_units(family_space)
        weights, acts = _space_settings(space)

        def make(name: str, layer: nn.Module) -> nn.Module:
            cls = ElasticQuantConv2d if isinstance(layer, nn.Conv2d) else ElasticQuantLinear
            return cls(layer, weights, acts)

        self.layers = replace_layers(self.inner, make)
        self._bank_tensors = {
            id(t)
            for layer in self.layers.values()
            for bank in (layer.weight_quantizers, layer.act_quantizers)
            for t in bank.state_dict(keep_vars=True).values()
        }

    def arch_of(self, spec: Any) -> dict[str, Any]:
        """The family architecture, the quantization and every active layer's standalone name,
        unit and settings."""
        arch_spec, quant = _split(spec)
        if sorted(quant["units"]) != sorted(quant_units(arch_spec)):
            unknown = sorted(set(quant["units"]) - set(quant_units(arch_spec)))
            missing = sorted(set(quant_units(arch_spec)) - set(quant["units"]))
            raise ValueError(
                f"QuantizedSupernet: spec['quant']['units'] must be the network's units; "
                f"unknown {unknown}, missing {missing}."
            )
        arch = self.inner.arch_of(arch_spec)
        state = self._family_state(arch_spec)
        by_tensor = {id(t): key for key, t in state.items()}
        standalone = {}
        for name, layer in self.layers.items():
            key = by_tensor.get(id(layer.weight))
            if key is not None:
                standalone[name] = key[: -len(".weight")]
        units = layer_units(
            list(standalone.values()), None, list(quant["units"]), "QuantizedSupernet"
        )
        active = {
            name: (std, layer_settings(quant, units[std])) for name, std in standalone.items()
        }
        return {"spec": arch_spec, "arch": arch, "quant": quant, "active": active}

    def _family_state(self, arch_spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The family supernet's ``sliced_state`` without the quantizer banks (a family that
        returns its whole ``state_dict`` would pass them on)."""
        state = self.inner.sliced_state(arch_spec)
        return {k: v for k, v in state.items() if id(v) not in self._bank_tensors}

    def _select(self) -> None:
        active = self.active_arch["active"]
        for name, layer in self.layers.items():
            settings = active[name][1] if name in active else (None, None)
            layer.select(*settings)

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """The family supernet's active path with the active quantizers."""
        self.inner.activate(self.active_arch["spec"])
        self._select()
        return self.inner.forward_active(x)

    def sliced_state(self, spec: Any) -> dict[str, torch.Tensor]:
        """The family sub-network's tensors and its layers' selected quantizers' tensors."""
        parsed = self.arch_of(spec)
        state = self._family_state(parsed["spec"])
        for name, (std, settings) in parsed["active"].items():
            state.update(self.layers[name].settings_state(std, *settings))
        return state

    def standalone(self, arch: dict[str, Any]) -> nn.Module:
        """The family's standalone network (with the supernet's norms) made fake-quantized."""
        model = self.inner.standalone(arch["arch"])
        return quantize_model(model, arch["quant"], "QuantizedSupernet")


def supernet(space: QuantizedSpace, **task: Any) -> QuantizedSupernet:
    """The elastic quantization supernet of ``spaces.quantized(family_space, ...)``; ``task``
    goes to the family's supernet factory (e.g. NB201's ``affine=False``)."""
    return QuantizedSupernet(space, **task)


registry.register(QuantizedSpace, build=build, supernet=supernet)
