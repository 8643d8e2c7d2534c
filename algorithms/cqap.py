"""CQAP: the conditional quantization-aware accuracy predictor of EQ-Net, on ``Surrogate``.

Xu et al., "EQ-Net: Elastic Quantization Neural Networks", ICCV 2023 (reference code
xuke225/EQ-Net, ``search/accuracy_predictor/``). EQ-Net predicts the accuracy of a
mixed-precision sub-network of its quantization supernet from

- the quantization *condition*: one-hot granularity (per-channel / per-tensor) and symmetry,
- one-hot weight and activation bit-widths of every quantized layer except the first and the
  last (which EQ-Net fixes at 8 bits, so they carry no information),

with an MLP (``n_layers`` Linear + ReLU layers of ``hidden_size`` units, a bias-free output
layer, plus a constant ``base_acc``: the mean accuracy of the training set), trained with the
Smooth-L1 loss and Adam (lr 4e-4, weight decay 1e-5, batch 256, 100 epochs: its
``search-imagenet.yaml``). The predictor's constructor defaults are ``hidden_size=400,
n_layers=3``.

Here the encoding is :class:`QuantFeatures`: the same condition and per-unit one-hot bits (units
whose widths the space fixes are left out, as EQ-Net leaves out its first and last layer), and,
because the architecture is searched too, the architecture's encoding
(``algorithms.encodings``: BANANAS's path encoding for cells, one-hot decisions otherwise)
concatenated to it. EQ-Net's symmetry has a flag each for weights and activations; the
quantization space here has one ``symmetric`` for both, so it takes two columns.
:class:`CQAPRegressor` is the MLP with EQ-Net's training recipe, a scikit-learn style regressor
that ``Surrogate(model="cqap_mlp")`` builds. :func:`cqap_filter` wraps an evolution in
``SurrogateFilter`` with this predictor: each trial the evolution proposes ``candidates``
children and the one predicted best is evaluated (EQ-Net's genetic search ranks its population
by the predictor, fitted beforehand on supernet accuracies of sampled sub-networks: pass it as
``predictor``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms import encodings
from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.surrogate import Surrogate, SurrogateFilter
from symnas.spaces.codec import compile as compile_space
from symnas.spaces.quantization import GRANULARITIES, QuantizedSpace, check_quant


def _candidates(value: Any) -> list[Any] | None:
    """The candidates of a searched field (a ``pg.oneof``), None for a fixed one."""
    if isinstance(value, pg.hyper.OneOf):
        return list(value.candidates)
    return None


class QuantFeatures:
    """EQ-Net's CQAP encoding of a decoded quantized spec, with the architecture's encoding.

    ``space`` is the ``spaces.quantized(...)`` space whose specs are encoded; ``encoding`` the
    architecture encoding (``algorithms.encodings.ENCODINGS``).
    """

    def __init__(self, space: QuantizedSpace, encoding: str = "auto") -> None:
        if not isinstance(space, QuantizedSpace):
            raise TypeError(
                "QuantFeatures: space must be a spaces.quantized(...) space; got "
                f"{type(space).__name__}."
            )
        self.units: dict[str, dict[str, list[int]]] = {}
        for unit, widths in space.quant.units.items():
            choices = {
                role: _candidates(widths[role])
                for role in ("weight_bits", "act_bits")
                if _candidates(widths[role]) is not None
            }
            if choices:
                self.units[unit] = choices
        self._arch_space = space.arch
        self._arch_template = pg.template(space.arch)
        self._arch_codec = compile_space(space.arch)
        self._encode_arch = encodings.encoder(self._arch_codec, encoding)
        self._arch_cache: dict[str, np.ndarray] = {}
        self.__name__ = "cqap"

    def arch_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """The architecture encoding of a decoded family spec (cached per architecture)."""
        key = json.dumps(arch, sort_keys=True)
        if key not in self._arch_cache:
            dna = self._arch_template.encode(pg.from_json(dict(arch)))
            genome = self._arch_codec.from_dna(dna)
            self._arch_cache[key] = self._encode_arch(genome[None, :])[0]
        return self._arch_cache[key]

    def __call__(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``{feature name: value}`` of a decoded quantized spec."""
        if not isinstance(spec, Mapping) or "quant" not in spec or "arch" not in spec:
            raise ValueError(
                f"QuantFeatures: expected a decoded quantized spec {{'arch', 'quant'}}; got "
                f"{spec!r:.200}."
            )
        quant = check_quant(spec["quant"])
        out: dict[str, float] = {
            f"granularity={g}": float(quant["granularity"] == g) for g in GRANULARITIES
        }
        out["symmetric"] = float(quant["symmetric"])
        out["asymmetric"] = float(not quant["symmetric"])
        for unit, roles in self.units.items():
            if unit not in quant["units"]:
                raise ValueError(f"QuantFeatures: the spec has no unit {unit!r}.")
            for role, choices in roles.items():
                value = quant["units"][unit][role]
                for bits in choices:
                    out[f"{unit}.{role}={bits}"] = float(value == bits)
        for i, value in enumerate(self.arch_features(spec["arch"])):
            out[f"arch[{i:04d}]"] = float(value)
        return out


class CQAPRegressor:
    """EQ-Net's accuracy-predictor MLP with its training recipe, as a scikit-learn regressor.

    ``n_layers`` blocks of Linear(``hidden_size``) + ReLU, a bias-free Linear to one output, plus
    the training targets' mean (``base_acc``); Smooth-L1 loss, Adam (``lr``, ``weight_decay``),
    ``epochs`` passes over shuffled batches of ``batch_size``. Torch is imported on ``fit``.
    """

    def __init__(
        self,
        hidden_size: int = 400,
        n_layers: int = 3,
        lr: float = 4e-4,
        weight_decay: float = 1e-5,
        epochs: int = 100,
        batch_size: int = 256,
        random_state: int = 0,
    ) -> None:
        for name, value in (
            ("hidden_size", hidden_size),
            ("n_layers", n_layers),
            ("epochs", epochs),
            ("batch_size", batch_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CQAPRegressor: {name} must be a positive int; got {value!r}.")
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self._net: Any = None
        self._base = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> CQAPRegressor:
        """Trains a fresh MLP on features ``x`` (NaN read as 0) and targets ``y``."""
        import torch
        from torch import nn

        x = np.nan_to_num(np.asarray(x, dtype=np.float32))
        y = np.asarray(y, dtype=np.float32)
        generator = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            layers: list[nn.Module] = []
            width = x.shape[1]
            for _ in range(self.n_layers):
                layers += [nn.Linear(width, self.hidden_size), nn.ReLU()]
                width = self.hidden_size
            layers.append(nn.Linear(width, 1, bias=False))
            net = nn.Sequential(*layers)
        self._base = float(y.mean())
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.SmoothL1Loss()
        inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
        for _ in range(self.epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad()
                predicted = net(inputs[batch]).squeeze(1) + self._base
                loss_fn(predicted, targets[batch]).backward()
                optimizer.step()
        self._net = net.eval()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted targets of features ``x``."""
        import torch

        if self._net is None:
            raise ValueError("CQAPRegressor: call fit(x, y) before predict.")
        x = np.nan_to_num(np.asarray(x, dtype=np.float32))
        with torch.no_grad():
            out = self._net(torch.from_numpy(x)).squeeze(1) + self._base
        return out.numpy().astype(np.float64)


def cqap_surrogate(
    space: QuantizedSpace, seed: int = 0, model_options: Mapping[str, Any] | None = None
) -> Surrogate:
    """A ``Surrogate`` of EQ-Net's CQAP on ``space``: :class:`QuantFeatures` and the MLP."""
    return Surrogate(
        [QuantFeatures(space)], model="cqap_mlp", seed=seed, model_options=model_options
    )


def cqap_filter(
    base: SearchAlgorithm,
    space: QuantizedSpace,
    candidates: int = 4,
    warmup: int = 8,
    refit_every: int = 8,
    seed: int | None = None,
    model_options: Mapping[str, Any] | None = None,
    predictor: Surrogate | None = None,
) -> SurrogateFilter:
    """``base`` (an evolution) filtered by the CQAP predictor: ``candidates`` proposals per
    trial, the predicted best evaluated.

    With ``predictor`` (a :func:`cqap_surrogate` fitted before the search, as EQ-Net fits it on
    the supernet accuracies of sampled sub-networks, or to be fitted before the first proposal)
    every trial is filtered and the predictor is never refitted; without, a fresh one is fitted
    on the search's own rewards after ``warmup`` trials and refitted every ``refit_every``.
    """
    return SurrogateFilter(
        base=base,
        surrogate=predictor or cqap_surrogate(space, 0 if seed is None else seed, model_options),
        candidates=candidates,
        warmup=warmup,
        refit_every=refit_every,
        space=space,
        seed=seed,
        prefitted=predictor is not None,
    )
