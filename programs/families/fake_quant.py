"""Fake quantization with learned step sizes (LSQ) for Conv2d and Linear layers.

LSQ ("Learned Step Size Quantization", Esser et al., ICLR 2020): a tensor ``v`` is quantized to
``v_hat = round(clip((v - beta) / s, -Q_N, Q_P)) * s + beta`` with a learned step size ``s``;
rounding passes the gradient straight through (STE), and the step size's gradient is scaled by
``g = 1 / sqrt(N * Q_P)`` (``N``: the weights per step size, or an activation's features per
sample). Step sizes start at ``2 * mean(|v|) / sqrt(Q_P)`` on the first tensor they see.

The quantizers follow EQ-Net's ``LSQQuantizer`` (Xu et al., ICCV 2023; xuke225/EQ-Net):

- integer range ``[-2^(b-1), 2^(b-1) - 1]``, or ``[0, 2^b - 1]`` for an activation that is
  non-negative when the quantizer first sees it (after a ReLU);
- weights per tensor (one step size) or per output channel; activations per tensor;
- asymmetric quantizers add a learned real offset ``beta`` (EQ-Net's), initialised from the
  tensor's minimum (``beta = min(v) + s * Q_N``, ``s = (max - min) / (Q_P + Q_N)``) as EQ-Net's
  ``asymmetric_init`` starts its search, symmetric ones keep ``beta = 0``;
- the step size used is ``|s| + 1e-6`` (EQ-Net's ``grad_scale`` of ``|s|`` plus its ``1e-6``),
  so a step size driven to zero or below never divides by zero: 2-bit training gives no NaN.

PyTorch's ``torch._fake_quantize_learnable_per_tensor_affine`` computes the same forward, and
the same step-size gradient where ``v / s`` lies inside the integer range, but not LSQ's
gradient at the clipping bounds: it tests the bounds on the *rounded* value, so a ``v / s`` up to
half a step beyond ``Q_P`` gets the inside gradient ``round(v/s) - v/s`` instead of the paper's
``Q_P`` (a test shows both); it also rounds and clamps its zero point into the integer range, so
it cannot carry EQ-Net's real-valued offset. The STE is therefore written here, once for every
case, as the paper's equation. 32 bits is float: no quantizer at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Added to ``|s|`` before dividing (EQ-Net's guard).
STEP_EPS = 1e-6
FLOAT_BITS = 32


@dataclass(frozen=True)
class QuantSetting:
    """How one operand is quantized: bit-width, per-channel step sizes, symmetry."""

    bits: int
    per_channel: bool
    symmetric: bool

    @property
    def key(self) -> str:
        """A module-name-safe key, e.g. ``4b_channel_sym``."""
        grain = "channel" if self.per_channel else "tensor"
        return f"{self.bits}b_{grain}_{'sym' if self.symmetric else 'asym'}"


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` in the forward pass, its gradient multiplied by ``scale`` in the backward pass."""
    scaled = x * scale
    return (x - scaled).detach() + scaled


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding whose gradient is the identity (straight-through estimator)."""
    return (x.round() - x).detach() + x


def lsq_quantize(
    x: torch.Tensor,
    step: torch.Tensor,
    offset: torch.Tensor,
    qmin: int,
    qmax: int,
    grad_scale: float,
) -> torch.Tensor:
    """LSQ fake quantization of ``x`` (step and offset broadcast against ``x``)."""
    s = scale_gradient(step, grad_scale).abs() + STEP_EPS
    beta = scale_gradient(offset, grad_scale)
    q = torch.clamp((x - beta) / s, qmin, qmax)
    return round_ste(q) * s + beta


class Quantizer(nn.Module):
    """One LSQ quantizer: a step size (and offset) per tensor or per output channel.

    ``channels`` is the number of step sizes (1 for per-tensor). The first call initialises them
    from its input (LSQ's initialisation; the minimum and maximum for an asymmetric quantizer)
    and, for activations, whether the integer range is unsigned.
    """

    def __init__(self, setting: QuantSetting, channels: int = 1, weight: bool = True) -> None:
        super().__init__()
        if setting.bits >= FLOAT_BITS or setting.bits < 2:
            raise ValueError(f"Quantizer: bits must lie in 2..31; got {setting.bits}.")
        self.setting = setting
        self.weight = weight
        self.step = nn.Parameter(torch.ones(channels))
        self.offset = nn.Parameter(torch.zeros(channels), requires_grad=not setting.symmetric)
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("unsigned", torch.tensor(False))

    def levels(self) -> tuple[int, int]:
        """The integer range ``(-Q_N, Q_P)``."""
        bits = self.setting.bits
        if bool(self.unsigned):
            return 0, 2**bits - 1
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if self.step.numel() == 1:
            return (1,) * x.ndim
        return (-1,) + (1,) * (x.ndim - 1)

    def _per_step(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` flattened to one row per step size."""
        return x.reshape(self.step.numel(), -1) if self.step.numel() > 1 else x.reshape(1, -1)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """LSQ's data-driven initialisation from the first tensor quantized."""
        if not self.weight:
            self.unsigned.fill_(bool(x.min() >= 0))
        qmin, qmax = self.levels()
        rows = self._per_step(x.detach())
        if self.setting.symmetric:
            step = 2 * rows.abs().mean(dim=1) / math.sqrt(qmax)
            offset = torch.zeros_like(step)
        else:
            low, high = rows.min(dim=1).values, rows.max(dim=1).values
            step = (high - low) / (qmax - qmin)
            offset = low - step * qmin
        self.step.copy_(step.clamp_min(STEP_EPS))
        self.offset.copy_(offset)
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fake-quantized ``x``."""
        if not bool(self.initialized):
            self.initialize(x)
        qmin, qmax = self.levels()
        features = x.numel() / self.step.numel() if self.weight else x[0].numel()
        grad_scale = 1.0 / math.sqrt(features * qmax)
        shape = self._shape(x)
        return lsq_quantize(
            x, self.step.view(shape), self.offset.view(shape), qmin, qmax, grad_scale
        )


def make_quantizer(setting: QuantSetting, out_channels: int, weight: bool) -> Quantizer | None:
    """A quantizer for ``setting`` (None at 32 bits: float)."""
    if setting.bits >= FLOAT_BITS:
        return None
    channels = out_channels if weight and setting.per_channel else 1
    return Quantizer(setting, channels, weight)


def _conv_args(conv: nn.Conv2d) -> dict:
    return {
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
        "bias": conv.bias is not None,
        "padding_mode": conv.padding_mode,
    }


class QuantConv2d(nn.Conv2d):
    """A Conv2d that fake-quantizes its input and its weight (one fixed setting each)."""

    def __init__(self, conv: nn.Conv2d, weight: QuantSetting, act: QuantSetting) -> None:
        super().__init__(**_conv_args(conv))
        self.weight, self.bias = conv.weight, conv.bias
        self.weight_quantizer = make_quantizer(weight, conv.out_channels, weight=True)
        self.act_quantizer = make_quantizer(act, 1, weight=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolution of the quantized input with the quantized weight."""
        return quantized_forward(self, x, self.weight_quantizer, self.act_quantizer)


class QuantLinear(nn.Linear):
    """A Linear layer that fake-quantizes its input and its weight (one fixed setting each)."""

    def __init__(self, linear: nn.Linear, weight: QuantSetting, act: QuantSetting) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        self.weight, self.bias = linear.weight, linear.bias
        self.weight_quantizer = make_quantizer(weight, linear.out_features, weight=True)
        self.act_quantizer = make_quantizer(act, 1, weight=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Affine map of the quantized input with the quantized weight."""
        return quantized_forward(self, x, self.weight_quantizer, self.act_quantizer)


def quantized_forward(
    layer: nn.Conv2d | nn.Linear,
    x: torch.Tensor,
    weight_quantizer: Quantizer | None,
    act_quantizer: Quantizer | None,
) -> torch.Tensor:
    """``layer``'s operation on ``x`` with its input and weight passed through the quantizers
    (None: float)."""
    if act_quantizer is not None:
        x = act_quantizer(x)
    weight = layer.weight if weight_quantizer is None else weight_quantizer(layer.weight)
    if isinstance(layer, nn.Conv2d):
        return layer._conv_forward(x, weight, layer.bias)
    return F.linear(x, weight, layer.bias)


QUANTIZABLE = (nn.Conv2d, nn.Linear)


def quantizer_bank(
    settings: list[QuantSetting], out_channels: int, weight: bool
) -> nn.ModuleDict:
    """One quantizer per setting (float settings have none), keyed by ``setting.key``."""
    bank = nn.ModuleDict()
    for setting in settings:
        quantizer = make_quantizer(setting, out_channels, weight)
        if quantizer is not None and setting.key not in bank:
            bank[setting.key] = quantizer
    return bank


class _ElasticQuant:
    """A layer holding a quantizer per setting of its operands; ``select`` picks the active
    pair (EQ-Net keeps a step size per bit-width, granularity and symmetry of every layer)."""

    weight_quantizers: nn.ModuleDict
    act_quantizers: nn.ModuleDict

    def _banks(self, weights: list[QuantSetting], acts: list[QuantSetting], out: int) -> None:
        self.weight_quantizers = quantizer_bank(weights, out, weight=True)
        self.act_quantizers = quantizer_bank(acts, 1, weight=False)
        self.selected: tuple[Quantizer | None, Quantizer | None] = (None, None)

    def select(self, weight: QuantSetting | None, act: QuantSetting | None) -> None:
        """Quantizes with these settings from now on (None or 32 bits: float)."""
        self.selected = (
            self._pick(self.weight_quantizers, weight),
            self._pick(self.act_quantizers, act),
        )

    def _pick(self, bank: nn.ModuleDict, setting: QuantSetting | None) -> Quantizer | None:
        if setting is None or setting.bits >= FLOAT_BITS:
            return None
        if setting.key not in bank:
            raise ValueError(
                f"{type(self).__name__}: no quantizer for {setting}; the supernet holds "
                f"{sorted(bank)}."
            )
        return bank[setting.key]

    def settings_state(
        self, prefix: str, weight: QuantSetting, act: QuantSetting
    ) -> dict[str, torch.Tensor]:
        """The tensors of the quantizers of ``weight`` and ``act``, keyed as in a
        :class:`QuantConv2d` / :class:`QuantLinear` named ``prefix`` (the layer's own)."""
        state = {}
        pair = (self._pick(self.weight_quantizers, weight), self._pick(self.act_quantizers, act))
        for name, quantizer in zip(("weight_quantizer", "act_quantizer"), pair, strict=True):
            if quantizer is not None:
                for key, tensor in quantizer.state_dict(keep_vars=True).items():
                    state[f"{prefix}.{name}.{key}"] = tensor
        return state


class ElasticQuantConv2d(nn.Conv2d, _ElasticQuant):
    """A supernet Conv2d (sharing the wrapped layer's weight) with a quantizer per setting."""

    def __init__(
        self, conv: nn.Conv2d, weights: list[QuantSetting], acts: list[QuantSetting]
    ) -> None:
        super().__init__(**_conv_args(conv))
        self.weight, self.bias = conv.weight, conv.bias
        self._banks(weights, acts, conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolution with the selected quantizers."""
        return quantized_forward(self, x, *self.selected)


class ElasticQuantLinear(nn.Linear, _ElasticQuant):
    """A supernet Linear layer (sharing the wrapped layer's weight) with a quantizer per
    setting."""

    def __init__(
        self, linear: nn.Linear, weights: list[QuantSetting], acts: list[QuantSetting]
    ) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        self.weight, self.bias = linear.weight, linear.bias
        self._banks(weights, acts, linear.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Affine map with the selected quantizers."""
        return quantized_forward(self, x, *self.selected)


def replace_layers(
    model: nn.Module, make: Callable[[str, nn.Module], nn.Module]
) -> dict[str, nn.Module]:
    """Replaces every Conv2d/Linear of ``model`` by ``make(name, layer)`` (in place, keeping its
    name); returns the new layers by name."""
    replaced = {}
    for name, layer in list(model.named_modules()):
        if type(layer) in QUANTIZABLE:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            new = make(name, layer)
            setattr(parent, child, new)
            replaced[name] = new
    return replaced
