"""Checks of a flow's options, run before the flow does any work.

A flow calls these on its options (and on values derived from them) first, so that a value that
would fail later (a training with no epoch, a split that cannot happen) is refused at once with
a message naming the flow, the option and what it accepts.
"""

from __future__ import annotations

import math
from typing import Any


def int_option(
    flow: str,
    name: str,
    value: Any,
    minimum: int = 1,
    allow_none: bool = False,
    why: str = "",
) -> None:
    """Raises ``ValueError`` unless ``value`` is an int >= ``minimum`` (or None when
    ``allow_none``); ``why`` says what the bound comes from."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        none = " or None" if allow_none else ""
        reason = f" ({why})" if why else ""
        raise ValueError(
            f"{flow}: option '{name}' must be an integer >= {minimum}{none}{reason}; got {value!r}."
        )


def positive_number(flow: str, name: str, value: Any) -> None:
    """Raises ``ValueError`` unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{flow}: option '{name}' must be a number > 0; got {value!r}.")


def one_of(flow: str, name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raises ``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{flow}: option '{name}' must be one of {list(allowed)}; got {value!r}.")


def device_option(flow: str, value: Any) -> None:
    """Raises ``ValueError`` unless ``value`` names a device torch can use here ('auto',
    'cpu', 'cuda', 'cuda:N')."""
    import torch

    if value == "auto":
        return
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{flow}: option 'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {value!r}."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{flow}: option 'device' is {value!r}, but CUDA is not available here.")
