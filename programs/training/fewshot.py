"""Few-shot supernets: several sub-supernets, each owning one part of a space.

Few-shot NAS (Zhao, Wang, Tian, Fonseca, Guo, "Few-shot Neural Architecture Search", ICML 2021)
and GM-NAS (Hu, Wang et al., "Generalizing Few-Shot NAS with Gradient Matching", ICLR 2022)
split a supernet on op decisions; each sub-supernet keeps a subset of the choices of the split
decisions (its *restrictions*, ``{decision path: allowed ops}``) and holds its own weights. The
sub-spaces partition the space, so every spec belongs to exactly one sub-supernet.

:class:`FewShotSupernet` is itself a ``programs.Supernet``: ``activate(spec)`` routes the spec
to its sub-supernet, so a ``SupernetEstimator`` (or :class:`FewShotEstimator`) scores any spec of
the space with the weights of the sub-supernet that trained it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyglove as pg
import torch
from torch import nn

from symnas.programs.data import Dataset
from symnas.programs.supernet_base import Supernet
from symnas.programs.training.estimator import SupernetEstimator

Restrictions = Mapping[str, Sequence[str]]


def spec_value(spec: Any, path: str) -> Any:
    """The value of a decoded spec (or symbolic object) at a decision ``path`` (``edges[2]``)."""
    if isinstance(spec, pg.Symbolic):
        spec = pg.to_json(spec)
    value = spec
    for key in pg.KeyPath.parse(path).keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"spec has no value at decision {path!r}.") from None
    return value


def restrict_space(space: Any, restrictions: Restrictions) -> Any:
    """``space`` with every decision of ``restrictions`` limited to its allowed choices.

    A decision left with one choice becomes that fixed value, so the restricted space's codec
    only draws the open decisions; its decoded specs are specs of ``space``.
    """
    override = {}
    for path, allowed in restrictions.items():
        allowed = list(allowed)
        current = pg.KeyPath.parse(path).query(space)
        if not isinstance(current, pg.hyper.OneOf):
            raise ValueError(f"restrict_space: {path!r} is not a pg.oneof decision of the space.")
        unknown = [c for c in allowed if c not in current.candidates]
        if not allowed or unknown:
            raise ValueError(
                f"restrict_space: choices for {path!r} must be a non-empty subset of "
                f"{list(current.candidates)}; got {allowed}."
            )
        override[path] = allowed[0] if len(allowed) == 1 else pg.oneof(allowed)
    return space.clone(deep=True, override=override) if override else space.clone(deep=True)


def contains(restrictions: Restrictions, spec: Any) -> bool:
    """Whether ``spec`` lies in the part of the space that ``restrictions`` keep."""
    return all(spec_value(spec, path) in allowed for path, allowed in restrictions.items())


class FewShotSupernet(Supernet):
    """Sub-supernets whose restrictions partition a space; specs are routed to their owner.

    Args:
      parts: ``(restrictions, supernet)`` pairs, one per sub-supernet. Every spec of the space
        must satisfy the restrictions of exactly one part (checked per spec when routed).
    """

    def __init__(self, parts: Sequence[tuple[Restrictions, Supernet]]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("FewShotSupernet: parts must hold at least one sub-supernet.")
        for i, (_, supernet) in enumerate(parts):
            if not isinstance(supernet, Supernet):
                raise TypeError(
                    f"FewShotSupernet: part {i} must hold a programs.Supernet; got "
                    f"{type(supernet).__name__}."
                )
        self.restrictions = [{k: tuple(v) for k, v in r.items()} for r, _ in parts]
        self.parts = nn.ModuleList(supernet for _, supernet in parts)
        self.active_index: int | None = None

    def route(self, spec: dict[str, Any]) -> int:
        """The index of the sub-supernet that owns ``spec``."""
        owners = [i for i, r in enumerate(self.restrictions) if contains(r, spec)]
        if len(owners) != 1:
            paths = sorted({p for r in self.restrictions for p in r})
            values = {p: spec_value(spec, p) for p in paths}
            raise ValueError(
                f"FewShotSupernet: spec with {values} fits {len(owners)} sub-supernets (must be "
                f"exactly one); their restrictions: {self.restrictions}."
            )
        return owners[0]

    def activate(self, spec: dict[str, Any]) -> None:
        """Routes ``spec`` to its sub-supernet and activates it there."""
        index = self.route(spec)
        self.parts[index].activate(spec)
        self.active_index = index
        self.active_spec = spec

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active spec in its sub-supernet."""
        return self.parts[self.active_index].forward_active(x)

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        """The standalone module of ``spec`` with its sub-supernet's inherited weights."""
        return self.parts[self.route(spec)].extract(spec)


class FewShotEstimator(SupernetEstimator):
    """A ``SupernetEstimator`` over a :class:`FewShotSupernet`: each spec is scored by the
    sub-supernet that owns it; metrics also name that sub-supernet (``sub_supernet``).

    Args:
      supernet: the trained few-shot supernet.
      data: the data whose ``split`` scores candidates.
      batch_statistics: normalise with each evaluation batch's own BatchNorm statistics, as the
        NB201 weight-sharing references do (``track_running_stats=False``), instead of running
        averages that every path of a sub-supernet shares; the running averages stay unchanged.
      **kwargs: the other arguments of ``SupernetEstimator`` (``split``, ``batch_size``...).
    """

    def __init__(
        self,
        supernet: FewShotSupernet,
        data: Dataset,
        batch_statistics: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(supernet, FewShotSupernet):
            raise TypeError(
                f"FewShotEstimator: supernet must be a FewShotSupernet; got "
                f"{type(supernet).__name__}."
            )
        super().__init__(supernet, data, batch_statistics=batch_statistics, **kwargs)

    def evaluate_batch(self, specs: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
        """Scores every spec with its sub-supernet (see ``SupernetEstimator.evaluate_batch``)."""
        scores = super().evaluate_batch(specs)
        for spec, score in zip(specs, scores, strict=True):
            score["sub_supernet"] = float(self.supernet.route(spec))
        return scores
