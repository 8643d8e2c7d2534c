"""The first difference of two JSON values, which a refused resume names.

A saved configuration (a search's ``config.json``, a supernet checkpoint's fingerprint, a
few-shot plan) is compared with the current one field by field, descending into objects and into
lists of equal length, so that the error names the field (``space.C``, ``config.seed``,
``edges[3]``) rather than saying only that something differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def first_difference(saved: Any, current: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first ``(field path, saved value, current value)`` where two JSON values differ, or
    None when they are equal.

    Keys are visited in ``saved``'s order, then the keys only ``current`` has; a key missing on
    one side counts as None. Lists of equal length are compared item by item (``path[i]``);
    anything else is compared whole. ``path`` prefixes the reported field path.
    """
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        for key in [*saved, *(k for k in current if k not in saved)]:
            found = first_difference(saved.get(key), current.get(key), _join(path, key))
            if found:
                return found
        return None
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        for i, (a, b) in enumerate(zip(saved, current, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if saved == current else (path, saved, current)


def short_repr(value: Any, width: int = 120) -> str:
    """``repr(value)``, cut to ``width`` characters with an ellipsis (for error messages)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
