"""The registry of space factories (``symnas list`` shows them; contract tests read them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from symnas.core.registry import Registry

T = TypeVar("T")

# Any module of this package may register factories; they are imported on a lookup miss.
SPACES = Registry("space", loaders=["symnas.spaces.*"])


def register_space(name: str, description: str, **meta: Any) -> Callable[[T], T]:
    """Decorator that registers a space factory (a function returning a pg hyper-value).

    ``description`` is one line that states the size of the space.
    """
    return SPACES.register(name, description, **meta)
