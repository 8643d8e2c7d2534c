"""Common interface of weight-sharing supernets."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class Supernet(nn.Module):
    """A module holding shared weights for every spec of one space.

    Subclasses implement ``activate`` (select the sub-network of a decoded spec),
    ``forward_active`` (run the active sub-network) and ``extract`` (copy the active weights into
    a standalone module whose outputs equal the supernet's for that spec).
    """

    def __init__(self) -> None:
        super().__init__()
        self.active_spec: dict[str, Any] | None = None

    def activate(self, spec: dict[str, Any]) -> None:
        """Selects the sub-network that ``forward`` runs."""
        raise NotImplementedError

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active sub-network."""
        raise NotImplementedError

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        """A standalone module with the inherited weights of ``spec``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, spec: dict[str, Any] | None = None) -> torch.Tensor:
        """``supernet(x, spec)`` activates ``spec`` and runs it; ``supernet(x)`` runs the active one."""
        if spec is not None:
            self.activate(spec)
        if self.active_spec is None:
            raise RuntimeError("Supernet: call activate(spec) or pass a spec before forward.")
        return self.forward_active(x)


class ParsedSupernet(Supernet):
    """A supernet that parses a spec once (``arch_of``) and re-activates the same spec for free.

    ``activate`` keeps a copy of the spec, so a spec dict changed in place and passed again is
    parsed again.
    """

    def arch_of(self, spec: dict[str, Any]) -> Any:
        """The checked, parsed architecture of ``spec`` (raises ``ValueError`` if it does not fit)."""
        raise NotImplementedError

    def activate(self, spec: dict[str, Any]) -> None:
        """Selects the sub-network of ``spec``."""
        if spec == self.active_spec:
            return
        self.active_arch = self.arch_of(spec)
        self.active_spec = copy.deepcopy(spec)
