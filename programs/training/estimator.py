"""Supernet estimators: a trained supernet scores any spec of its space with inherited weights.

``SupernetEstimator(supernet, data)`` is an objective like any other, so every search
algorithm searches a trained supernet: ``flows.search(space, estimator,
algorithm=RegularizedEvolution(...))``. ``estimator(spec)`` returns the inherited ``accuracy``
and ``loss`` on a split (optionally after re-estimating BatchNorm statistics for that spec, as
Once-for-All and EfficientTDNN do). ``evaluate_batch(specs)`` scores several candidates in one
call: the evaluation batches are gathered and moved to the device once for all of them, and
repeated specs are scored once; ``flows.search`` calls it when an algorithm proposes several
candidates at a time. A supernet whose stem is shared by every path (``stem_features`` and
``forward_active_from_stem``, as the NB201 supernet) has the stem run once per batch for all the
candidates of a call.

``batch_statistics=True`` normalises with each evaluation batch's own BatchNorm statistics, as
the NAS-Bench-201 weight-sharing references score their paths, rather than with running
averages shared by every path; the running averages are left as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from symnas.programs.data import SPLITS, Dataset
from symnas.programs.supernet_base import Supernet
from symnas.programs.training.supernet_train import resolve_device


@torch.no_grad()
def recalibrate_bn(
    supernet: Supernet,
    spec: dict[str, Any],
    loader: Iterable[Any],
    max_batches: int | None = None,
) -> nn.Module:
    """Extracts ``spec`` and re-estimates its BN statistics on ``loader`` (OFA / EfficientTDNN).

    The statistics are reset and then averaged over the batches (cumulative average); batches
    are tensors or ``(inputs, labels)`` pairs. The supernet's shared statistics are untouched.
    Returns the extracted module in eval mode.
    """
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be None or a positive int; got {max_batches!r}.")
    model = supernet.extract(spec)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    device = next(model.parameters()).device
    seen = 0
    for batch in loader:
        if max_batches is not None and seen >= max_batches:
            break
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        model(x.to(device))
        seen += 1
    if seen == 0:
        raise ValueError("recalibrate_bn: the loader gave no batches.")
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    return model.eval()


class SupernetEstimator:
    """Inherited-weight accuracy and loss of specs on one split of ``data``.

    Args:
      supernet: a trained ``programs.Supernet``.
      data: the data; ``split`` (``"test"`` by default; a ``programs.data.validation_split``
        dataset puts held-out training samples there) is what candidates are scored on.
      batch_size: evaluation batch size.
      max_batches: score on the first ``max_batches`` batches only (None: the whole split).
      recalibrate_batches: re-estimate BN statistics of each candidate on this many training
        batches before scoring (0: use the supernet's shared statistics).
      candidates_per_call: how many candidates ``flows.search`` proposes at a time for
        ``evaluate_batch``.
      batch_statistics: normalise with each evaluation batch's own BatchNorm statistics (the
        running averages stay unchanged); ignored with ``recalibrate_batches``.
      device: ``"auto"``, ``"cpu"``, ``"cuda"``...
    """

    def __init__(
        self,
        supernet: Supernet,
        data: Dataset,
        split: str = "test",
        batch_size: int = 256,
        max_batches: int | None = None,
        recalibrate_batches: int = 0,
        candidates_per_call: int = 16,
        batch_statistics: bool = False,
        device: str | torch.device = "auto",
    ) -> None:
        if not isinstance(supernet, Supernet):
            raise TypeError(
                f"SupernetEstimator: supernet must be a programs.Supernet; got "
                f"{type(supernet).__name__}."
            )
        if split not in SPLITS:
            raise ValueError(f"SupernetEstimator: split must be one of {SPLITS}; got {split!r}.")
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("recalibrate_batches", recalibrate_batches, 0),
            ("candidates_per_call", candidates_per_call, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"SupernetEstimator: {name} must be an int >= {low}; got {value!r}."
                )
        if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
            raise ValueError(
                f"SupernetEstimator: max_batches must be None or a positive int; got {max_batches!r}."
            )
        self.device = resolve_device(device)
        self.supernet = supernet.to(self.device).eval()
        self.data, self.split = data, split
        self.batch_size, self.max_batches = batch_size, max_batches
        self.recalibrate_batches = recalibrate_batches
        self.candidates_per_call = candidates_per_call
        self.batch_statistics = bool(batch_statistics)

    def __call__(self, spec: dict[str, Any]) -> dict[str, float]:
        """``{"accuracy", "loss"}`` of ``spec`` with inherited weights."""
        return self.evaluate_batch([spec])[0]

    def _batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        batches = []
        for i, (x, y) in enumerate(self.data.loader(self.split, self.batch_size)):
            if self.max_batches is not None and i >= self.max_batches:
                break
            batches.append((x.to(self.device), y.to(self.device)))
        if not batches:
            raise ValueError(
                f"SupernetEstimator: the {self.split!r} split of {self.data.name!r} is empty."
            )
        return batches

    def _runner(self, spec: dict[str, Any]) -> Any:
        if not self.recalibrate_batches:
            self.supernet.activate(spec)
            return self.supernet
        loader = self.data.loader("train", self.batch_size)
        return recalibrate_bn(self.supernet, spec, loader, self.recalibrate_batches)

    def _uses_batch_statistics(self) -> bool:
        return self.batch_statistics and not self.recalibrate_batches

    def _shares_stem(self) -> bool:
        return not self.recalibrate_batches and hasattr(self.supernet, "stem_features")

    @torch.no_grad()
    def evaluate_batch(self, specs: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
        """Scores every spec on batches moved to the device once; repeated specs run once."""
        keys = [json.dumps(spec, sort_keys=True) for spec in specs]
        first = {key: specs[keys.index(key)] for key in dict.fromkeys(keys)}
        batches = self._batches()
        seen = sum(len(y) for _, y in batches)
        was_training = self.supernet.training
        norms = _batch_norms(self.supernet) if self._uses_batch_statistics() else []
        saved = [(bn.momentum, _tracked(bn)) for bn in norms]
        self.supernet.eval()
        for bn in norms:  # batch statistics, and a momentum of 0 keeps the running averages
            bn.train()
            bn.momentum = 0.0
        scores = {}
        try:
            stems = (
                [self.supernet.stem_features(x) for x, _ in batches]
                if self._shares_stem()
                else None
            )
            for key, spec in first.items():
                run = self._runner(spec)
                loss, correct = 0.0, 0
                for i, (x, y) in enumerate(batches):
                    logits = run(x) if stems is None else run.forward_active_from_stem(stems[i])
                    loss += float(F.cross_entropy(logits, y, reduction="sum"))
                    correct += int((logits.argmax(dim=-1) == y).sum())
                scores[key] = {"accuracy": correct / seen, "loss": loss / seen}
        finally:
            for bn, (momentum, tracked) in zip(norms, saved, strict=True):
                bn.momentum = momentum
                if tracked is not None:
                    bn.num_batches_tracked.copy_(tracked)
            self.supernet.train(was_training)
        return [dict(scores[key]) for key in keys]


def _batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _tracked(bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor | None:
    return bn.num_batches_tracked.clone() if bn.track_running_stats else None
