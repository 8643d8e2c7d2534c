"""A mixture of supernets: M independently initialised copies of one supernet, each spec
routed to one of them.

"Balanced Mixture of SuperNets for Learning the CNN Pooling Architecture" (Javan, Toews,
Pedersoli; AutoML-Conf 2023, arXiv 2306.11982) trains M copies of the same supernet and assigns
every architecture to one copy; an architecture is estimated with the weights of the copy it is
assigned to. :class:`SupernetMixture` holds the copies (``members``) and the assignment
(``assign``); the assignment is learned by the ``balanced_mixture`` path sampler
(``algorithms.samplers.balanced_mixture``). During a training step the sampler *pins* the spec
it drew to the member it drew for it (``pin``), so that the step's forward passes run that member;
every other spec, and the pinned one after ``unpin``, follows the assignment. The assignment is
part of the module's ``state_dict`` (its extra state), so a saved mixture routes as it did.

With one member the mixture is the wrapped supernet itself: same weights, same outputs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from symnas.programs.supernet_base import Supernet


def spec_key(spec: Any) -> str:
    """The key a spec is assigned under: its canonical JSON."""
    return json.dumps(spec, sort_keys=True)


def reinitialised(supernet: Supernet, seed: int) -> Supernet:
    """A copy of ``supernet`` whose every submodule with ``reset_parameters`` is freshly
    initialised from torch's generator seeded with ``seed`` (the caller's generator is kept)."""
    clone = copy.deepcopy(supernet)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in clone.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    return clone


class SupernetMixture(Supernet):
    """``M`` supernets of one space; each spec runs in the member it is routed to.

    Args:
      members: the supernets (at least one, all of one class).
    """

    def __init__(self, members: list[Supernet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("SupernetMixture: members must hold at least one supernet.")
        kinds = {type(m) for m in members}
        if any(not isinstance(m, Supernet) for m in members) or len(kinds) != 1:
            raise TypeError(
                "SupernetMixture: members must be programs.Supernet instances of one class; got "
                f"{sorted(k.__name__ for k in kinds)}."
            )
        self.members = nn.ModuleList(members)
        self.assignment: dict[str, int] = {}
        self.pinned: tuple[str, int] | None = None
        self.active_index: int | None = None

    @classmethod
    def of(cls, supernet: Supernet, members: int, seed: int = 0) -> SupernetMixture:
        """``supernet`` as member 0 and ``members - 1`` copies initialised anew (copy ``k`` from
        seed ``seed * 1000 + k``)."""
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValueError(f"SupernetMixture: members must be an int >= 1; got {members!r}.")
        copies = [reinitialised(supernet, seed * 1000 + k) for k in range(1, members)]
        return cls([supernet, *copies])

    @property
    def size(self) -> int:
        """The number of members, ``M``."""
        return len(self.members)

    def _member(self, index: int, what: str) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise ValueError(
                f"SupernetMixture: {what} must be an int in 0..{self.size - 1}; got {index!r}."
            )
        return index

    def assign(self, assignment: Mapping[str, int]) -> None:
        """Replaces the assignment ``{spec_key(spec): member}``."""
        self.assignment = {
            str(k): self._member(v, f"assignment[{k!r}]") for k, v in assignment.items()
        }

    def pin(self, spec: Any, member: int) -> None:
        """Routes ``spec`` to ``member`` until ``unpin`` (a training step's drawn member)."""
        self.pinned = (spec_key(spec), self._member(member, "member"))

    def unpin(self) -> None:
        """Routes the pinned spec by the assignment again."""
        self.pinned = None

    def route(self, spec: Any) -> int:
        """The member that runs ``spec``: the pinned member, else the assigned one (member 0 of
        a one-member mixture)."""
        key = spec_key(spec)
        if self.pinned is not None and self.pinned[0] == key:
            return self.pinned[1]
        if self.size == 1:
            return 0
        if key not in self.assignment:
            raise ValueError(
                f"SupernetMixture: spec {key} is assigned to no member; the balanced_mixture "
                "sampler assigns every spec of its space while it trains the mixture."
            )
        return self.assignment[key]

    def activate(self, spec: dict[str, Any]) -> None:
        """Routes ``spec`` to its member and activates it there."""
        index = self.route(spec)
        self.members[index].activate(spec)
        self.active_index = index
        self.active_spec = spec

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active spec in its member."""
        return self.members[self.active_index].forward_active(x)

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        """The standalone module of ``spec`` with its member's inherited weights."""
        return self.members[self.route(spec)].extract(spec)

    def get_extra_state(self) -> dict[str, Any]:
        """The assignment, saved with the weights."""
        return {"assignment": dict(self.assignment)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restores the assignment of ``get_extra_state``."""
        self.assign(state.get("assignment", {}))
