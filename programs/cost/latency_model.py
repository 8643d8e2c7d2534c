"""Kernel-level latency predictor calibrated with a few measurements of the target device.

The approach of nn-Meter (Zhang et al., "nn-Meter: Towards Accurate Latency Prediction of
Deep-Learning Model Inference on Diverse Edge Devices", MobiSys 2021): the latency of a model is
the sum of the latencies of the kernels the device runs. HELP (Lee et al., "Hardware-adaptive
Efficient Latency Prediction for NAS via Meta-Learning", NeurIPS 2021) showed that 10-20
measured architectures of a new device suffice when the predictor starts from a good prior.

What is taken from them: the additive kernel decomposition (nn-Meter) and calibration on a
handful of measured cells of the target device, shrunk towards a prior (HELP). What is not:
nn-Meter's per-kernel random forests trained on thousands of profiled kernels and its fusion-rule
detection, and HELP's meta-learned neural predictor and hardware embedding. Here each kernel is
priced by the analytical cost model (``programs.cost.hardware``: SCALE-Sim compute cycles, memory
stall cycles, DRAM bytes) on a configuration that resembles the device, and the kernels are
grouped by kind (``KERNEL_KINDS``). A candidate's features are, per kind, the summed compute
cycles, stall cycles, DRAM bytes and the number of kernels launched, plus one per inference. The
latency is a non-negative combination of them (``scipy.optimize.nnls``): a time per cycle and
per byte for each kind, a dispatch overhead per kernel and a fixed overhead, each a physical
quantity that cannot be negative.

With ``k`` calibration cells and some 30 features the fit is under-determined, so it is a
non-negative ridge regression towards a prior: the analytical model itself, rescaled to the
device (one time per cycle for every kind, the best single factor on the calibration cells).
The ridge strength is chosen by leave-one-out cross-validation on the calibration cells, so a
few cells lean on the prior and many cells learn per-kind rates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import nnls
from torch import nn

from symnas.programs.cost import hardware
from symnas.programs.cost.trace import GEMM_KINDS
from symnas.programs.families.cell_ops import Zero
from symnas.programs.registry import build
from symnas.spaces.hardware import fields

KERNEL_KINDS = ("gemm", "activation", "eltwise", "zero", "pool", "norm", "concat", "other")
QUANTITIES = ("compute_cycles", "stall_cycles", "dram_bytes", "kernels")
GROUPS = KERNEL_KINDS + tuple(f"dead_{kind}" for kind in KERNEL_KINDS)
FEATURE_NAMES = tuple(f"{group}.{q}" for group in GROUPS for q in QUANTITIES) + ("per_inference",)
MIN_CELLS = 5
ALPHAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3)

# Systolic-array configurations that resemble the devices of HW-NAS-Bench (Li et al., ICLR 2021).
# Array size ~ peak multiply-accumulates per cycle; bandwidth ~ DRAM bytes per clock cycle.
DEVICES: dict[str, dict[str, Any]] = {
    # Zynq-class FPGA accelerator: 16-bit fixed point, 200 MHz.
    "fpga": {"rows": 32, "cols": 32, "dataflow": "ws", "word_bytes": 2, "clock_mhz": 200.0,
             "bandwidth": 16, "ifmap_sram_kb": 128, "filter_sram_kb": 128, "ofmap_sram_kb": 128},
    # 4 Cortex-A72 cores, 128-bit NEON (16 fp32 MACs/cycle), 1.5 GHz, LPDDR4 ~4 GB/s.
    "raspi4": {"rows": 4, "cols": 4, "dataflow": "os", "word_bytes": 4, "clock_mhz": 1500.0,
               "bandwidth": 3, "ifmap_sram_kb": 256, "filter_sram_kb": 256, "ofmap_sram_kb": 256},
    # Snapdragon 845, 4 big Kryo cores at 2.8 GHz, LPDDR4X ~15 GB/s.
    "pixel3": {"rows": 8, "cols": 4, "dataflow": "os", "word_bytes": 4, "clock_mhz": 2800.0,
               "bandwidth": 5, "ifmap_sram_kb": 256, "filter_sram_kb": 256, "ofmap_sram_kb": 512},
    # Xeon Gold 6226: AVX-512 (32 fp32 MACs/cycle/core), 2.7 GHz, ~100 GB/s.
    "gold_6226": {"rows": 16, "cols": 16, "dataflow": "os", "word_bytes": 4, "clock_mhz": 2700.0,
                  "bandwidth": 37, "ifmap_sram_kb": 1024, "filter_sram_kb": 1024,
                  "ofmap_sram_kb": 1024},
    # Titan X: 3,584 CUDA cores at 1.5 GHz, ~480 GB/s.
    "titanx_1": {"rows": 64, "cols": 64, "dataflow": "os", "word_bytes": 4, "clock_mhz": 1500.0,
                 "bandwidth": 320, "ifmap_sram_kb": 2048, "filter_sram_kb": 2048,
                 "ofmap_sram_kb": 2048},
    # A device nothing is known about: a mid-size fp32 array at 1 GHz.
    "generic": {"rows": 16, "cols": 16, "dataflow": "os", "word_bytes": 4, "clock_mhz": 1000.0,
                "bandwidth": 16, "ifmap_sram_kb": 512, "filter_sram_kb": 512,
                "ofmap_sram_kb": 512},
}  # fmt: skip


def device_config(device: str | Mapping[str, Any]) -> dict[str, Any]:
    """The checked hardware configuration of a device name in ``DEVICES`` or a config dict."""
    if isinstance(device, str):
        if device not in DEVICES:
            raise ValueError(
                f"device: unknown device {device!r}; known devices: {sorted(DEVICES)}."
            )
        device = DEVICES[device]
    if not isinstance(device, Mapping):
        raise TypeError(f"device must be a name or a dict; got {type(device).__name__}.")
    return fields(device)


def kernel_kinds(module: nn.Module, table: hardware.LayerTable) -> list[str]:
    """The kind (one of ``KERNEL_KINDS``) of every row of ``module``'s layer table.

    GEMM rows (convolutions, linear layers, matmuls, attention) are ``gemm``; element-wise rows
    run by an activation module are ``activation``, by a ``none`` op (``cell_ops.Zero``) ``zero``;
    pooling, norms and concatenation keep their kind; reductions and resampling are ``other``.
    """
    modules = dict(module.named_modules())
    kinds = []
    for name, kind in zip(table.names, table.kinds, strict=True):
        owner = modules.get(name.split("#")[0])
        if kind in GEMM_KINDS:
            kinds.append("gemm")
        elif kind == "eltwise" and isinstance(owner, Zero):
            kinds.append("zero")
        elif kind == "eltwise" and type(owner).__module__ == nn.ReLU.__module__:
            kinds.append("activation")
        elif kind in KERNEL_KINDS:
            kinds.append(kind)
        else:
            kinds.append("other")
    return kinds


def dead_modules(module: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> set[str]:
    """Names of the leaf modules whose output never reaches ``module``'s output.

    A backend's dead-code elimination drops them (for instance the ops feeding a cell node that
    only ``none`` edges read: ``x * 0`` is folded to a constant). Found numerically: the gradient
    of a random projection of the output with respect to every output of the module is zero.
    """
    outputs: dict[str, list[torch.Tensor]] = {}
    hooks = [
        sub.register_forward_hook(
            lambda _m, _i, out, name=name: outputs.setdefault(name, []).append(out)
        )
        for name, sub in module.named_modules()
        if name and not any(True for _ in sub.children())
    ]
    modes = {sub: sub.training for sub in module.modules()}
    generator = torch.Generator().manual_seed(0)
    try:
        module.eval()
        with torch.enable_grad():
            x = torch.randn(batch_size, *input_shape, generator=generator, requires_grad=True)
            y = module(x)
            tensors = [
                (name, t)
                for name, outs in outputs.items()
                for t in outs
                if isinstance(t, torch.Tensor) and t.requires_grad
            ]
            cotangent = torch.randn(y.shape, generator=generator)
            grads = torch.autograd.grad(y, [t for _, t in tensors], cotangent, allow_unused=True)
    finally:
        for hook in hooks:
            hook.remove()
        for sub, mode in modes.items():
            sub.train(mode)
    live = {name for (name, _), g in zip(tensors, grads, strict=True) if g is not None and g.any()}
    return {name for name, _ in tensors} - live


def kernel_features(
    module: nn.Module,
    input_shape: Sequence[int],
    devices: Iterable[str | Mapping[str, Any]],
    batch_size: int = 1,
) -> np.ndarray:
    """Features (``FEATURE_NAMES``) of one module on every device: an array ``(devices, F)``.

    One trace of ``module`` (``programs.cost.hardware.layers``) priced on every configuration at once.
    """
    configs = [device_config(d) for d in devices]
    table = hardware.layers(module, input_shape, batch_size)
    res = hardware.cost_table(table, configs)
    dead = dead_modules(module, input_shape, batch_size)
    groups = np.array(
        [
            f"dead_{kind}" if name.split("#")[0] in dead else kind
            for name, kind in zip(table.names, kernel_kinds(module, table), strict=True)
        ]
    )
    per_row = {
        "compute_cycles": res["compute_cycles"],
        "stall_cycles": res["stall_cycles"],
        "dram_bytes": res["dram_bytes"],
        "kernels": np.ones_like(res["cycles"]),
    }
    out = np.zeros((len(configs), len(FEATURE_NAMES)))
    for i, group in enumerate(GROUPS):
        rows = groups == group
        for j, q in enumerate(QUANTITIES):
            out[:, i * len(QUANTITIES) + j] = per_row[q][:, rows].sum(axis=1)
    out[:, -1] = 1.0
    return out


def analytical_latency_ms(features: np.ndarray, device: str | Mapping[str, Any]) -> np.ndarray:
    """The uncalibrated analytical latency (total cycles over the clock) from features."""
    clock_khz = device_config(device)["clock_mhz"] * 1e3
    return _features(features) @ _analytical_coefficients(clock_khz)


def _analytical_coefficients(clock_khz: float) -> np.ndarray:
    coef = np.zeros(len(FEATURE_NAMES))
    for i, name in enumerate(FEATURE_NAMES):
        if name.endswith(("compute_cycles", "stall_cycles")):
            coef[i] = 1.0 / clock_khz
    return coef


def _features(features: Any) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
        raise ValueError(
            f"features must have shape (cells, {len(FEATURE_NAMES)}) (FEATURE_NAMES); "
            f"got {x.shape}."
        )
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("features must be finite and non-negative.")
    return x


class CalibratedLatencyModel:
    """Latency of a candidate on one device: kernel features priced by calibrated rates.

    ``device`` is a name in ``DEVICES`` or a hardware config dict (``spaces.hardware.fields``);
    ``input_shape`` is one sample's shape; ``alphas`` the ridge strengths tried by leave-one-out
    cross-validation (0 is plain non-negative least squares).
    """

    def __init__(
        self,
        device: str | Mapping[str, Any] = "generic",
        input_shape: Sequence[int] = (3, 32, 32),
        batch_size: int = 1,
        alphas: Sequence[float] = ALPHAS,
    ) -> None:
        self.device = dict(device_config(device))
        self.device_name = device if isinstance(device, str) else None
        self.input_shape = tuple(int(s) for s in input_shape)
        self.batch_size = int(batch_size)
        if not alphas or any(not np.isfinite(a) or a < 0 for a in alphas):
            raise ValueError(f"alphas must be non-empty, finite and >= 0; got {list(alphas)}.")
        self.alphas = tuple(float(a) for a in alphas)
        self.alpha: float | None = None
        self._coef: np.ndarray | None = None

    def features(self, candidates: Iterable[Any]) -> np.ndarray:
        """Features ``(cells, F)`` of candidates: specs (``programs.build``) or ``nn.Module``s."""
        rows = []
        for candidate in candidates:
            module = candidate if isinstance(candidate, nn.Module) else build(candidate)
            rows.append(
                kernel_features(module, self.input_shape, [self.device], self.batch_size)[0]
            )
        return np.array(rows).reshape(len(rows), len(FEATURE_NAMES))

    def fit(
        self, candidates: Iterable[Any], latencies_ms: Sequence[float]
    ) -> CalibratedLatencyModel:
        """Calibrates on measured candidates (at least ``MIN_CELLS``); returns ``self``."""
        return self.fit_features(self.features(list(candidates)), latencies_ms)

    def fit_features(self, features: Any, latencies_ms: Sequence[float]) -> CalibratedLatencyModel:
        """Calibrates on precomputed features (``kernel_features`` rows); returns ``self``."""
        x = _features(features)
        y = np.asarray(latencies_ms, dtype=np.float64).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"latencies_ms: {len(y)} values for {len(x)} calibration candidates.")
        if len(y) < MIN_CELLS:
            raise ValueError(
                f"fit: at least {MIN_CELLS} calibration candidates needed; got {len(y)}."
            )
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            bad = np.flatnonzero(~np.isfinite(y) | (y <= 0))[:5].tolist()
            raise ValueError(f"latencies_ms must be finite and > 0; bad values at positions {bad}.")
        scale = _column_scale(x)
        xs = x / scale
        prior = self._prior(xs, y, scale)
        errors = [_loo_error(xs, y, prior, a) for a in self.alphas]
        self.alpha = self.alphas[int(np.argmin(errors))]
        self._coef = _ridge_nnls(xs, y, prior, self.alpha) / scale
        return self

    def _prior(self, xs: np.ndarray, y: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The analytical model's coefficients (scaled features) times the best single factor."""
        base = _analytical_coefficients(self.device["clock_mhz"] * 1e3) * scale
        guess = xs @ base
        factor = float(guess @ y / (guess @ guess)) if guess @ guess > 0 else 0.0
        return base * max(factor, 0.0)

    def predict(self, candidates: Iterable[Any]) -> np.ndarray:
        """Predicted latencies (ms) of candidates (specs or modules)."""
        return self.predict_features(self.features(list(candidates)))

    def predict_features(self, features: Any) -> np.ndarray:
        """Predicted latencies (ms) from precomputed features."""
        if self._coef is None:
            raise RuntimeError("CalibratedLatencyModel: call fit before predict.")
        return _features(features) @ self._coef

    @property
    def coefficients(self) -> dict[str, float]:
        """The fitted rates by feature name (ms per cycle, per byte, per kernel, per inference)."""
        if self._coef is None:
            raise RuntimeError("CalibratedLatencyModel: call fit before reading coefficients.")
        return dict(zip(FEATURE_NAMES, self._coef.tolist(), strict=True))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the configuration and the fitted coefficients."""
        return {
            "device": self.device,
            "device_name": self.device_name,
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "alphas": list(self.alphas),
            "alpha": self.alpha,
            "coefficients": None if self._coef is None else self.coefficients,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CalibratedLatencyModel:
        """Inverse of ``to_json``."""
        model = cls(data["device"], data["input_shape"], data["batch_size"], data["alphas"])
        model.device_name = data.get("device_name")
        model.alpha = data.get("alpha")
        coefficients = data.get("coefficients")
        if coefficients is not None:
            missing = sorted(set(FEATURE_NAMES) - set(coefficients))
            if missing:
                raise ValueError(f"coefficients: missing features {missing}.")
            model._coef = np.array([float(coefficients[f]) for f in FEATURE_NAMES])
        return model

    def save(self, path: str | Path) -> None:
        """Writes ``to_json`` to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> CalibratedLatencyModel:
        """Reads a model written by ``save``."""
        return cls.from_json(json.loads(Path(path).read_text()))


def calibration_split(n_cells: int, k: int, seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` random calibration cells out of ``n_cells`` and of the held-out rest."""
    if not MIN_CELLS <= k < n_cells:
        raise ValueError(
            f"calibration_split: k must be in [{MIN_CELLS}, n_cells - 1 = {n_cells - 1}]; got {k}."
        )
    calibration = np.sort(np.random.default_rng(seed).choice(n_cells, size=k, replace=False))
    return calibration, np.setdiff1d(np.arange(n_cells), calibration)


def _column_scale(x: np.ndarray) -> np.ndarray:
    """Per-feature scale (mean over the calibration cells; 1 for features that are all zero)."""
    mean = x.mean(axis=0)
    return np.where(mean > 0, mean, 1.0)


def _ridge_nnls(xs: np.ndarray, y: np.ndarray, prior: np.ndarray, alpha: float) -> np.ndarray:
    """``argmin_{c >= 0} |xs c - y|^2 + alpha * n * |c - prior|^2`` on scaled features."""
    if alpha == 0.0:
        return nnls(xs, y)[0]
    weight = np.sqrt(alpha * len(y))
    a = np.vstack([xs, weight * np.eye(xs.shape[1])])
    b = np.concatenate([y, weight * prior])
    return nnls(a, b)[0]


def _loo_error(xs: np.ndarray, y: np.ndarray, prior: np.ndarray, alpha: float) -> float:
    """Mean squared relative leave-one-out error of ``_ridge_nnls`` at ``alpha``."""
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coef = _ridge_nnls(xs[keep], y[keep], prior, alpha)
        errors.append(((xs[i] @ coef - y[i]) / y[i]) ** 2)
    return float(np.mean(errors))
