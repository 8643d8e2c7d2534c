"""Named flows for ``symnas run NAME``.

A flow is a function ``flow(algorithm=None, budget=None, out=None, resume=False, seed=0,
workers=1, verbose=True) -> SearchResult``; ``algorithm`` is a name or object (None: the flow's
default) and ``budget`` None means the flow's default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlowEntry:
    """A registered flow."""

    name: str
    run: Callable[..., Any]
    description: str


_FLOWS: dict[str, FlowEntry] = {}
DEFAULT_FLOW = "hw-nested"


def register_flow(
    name: str, description: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers a flow function under ``name``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _FLOWS[name] = FlowEntry(name, fn, description)
        return fn

    return decorate


def _load() -> None:
    # Flow modules register themselves on import.
    from symnas.flows import family_flows, hw_flow, prenas_flow  # noqa: F401


def flows() -> dict[str, FlowEntry]:
    """Every registered flow by name."""
    _load()
    return dict(_FLOWS)


def get_flow(name: str) -> FlowEntry:
    """The flow called ``name``; unknown names list the valid ones."""
    known = flows()
    if name not in known:
        raise ValueError(f"Unknown flow {name!r}; valid flows: {sorted(known)}.")
    return known[name]
