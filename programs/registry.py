"""One entry point that turns any decoded spec (or space) into a PyTorch program.

Every architecture family registers, under the PyGlove type name of its space's root class
(``Class.__type_name__``, the ``"_type"`` field of a decoded spec), a ``build`` function that
makes a standalone ``nn.Module`` from a spec and a ``supernet`` function that makes a
weight-sharing module for a whole space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyglove as pg
from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SUPERNETS: dict[str, Callable[..., nn.Module]] = {}


def register(
    space_cls: type,
    build: Callable[..., nn.Module] | None = None,
    supernet: Callable[..., nn.Module] | None = None,
) -> None:
    """Registers the standalone builder and supernet factory of one family's space class."""
    name = space_cls.__type_name__
    if build is not None:
        _BUILDERS[name] = build
    if supernet is not None:
        _SUPERNETS[name] = supernet


def _type_of_spec(spec: Any) -> str:
    if isinstance(spec, pg.Object):
        return type(spec).__type_name__
    if isinstance(spec, dict) and "_type" in spec:
        return spec["_type"]
    raise TypeError(
        "programs.build expects a decoded spec: a dict with a '_type' field naming its family "
        f"(one of {sorted(_BUILDERS)}) or a symbolic pg.Object; got {type(spec).__name__}."
    )


def build(spec: Any, **task: Any) -> nn.Module:
    """Builds the standalone ``nn.Module`` of a decoded spec (or a concrete ``pg.Object``).

    ``task`` carries the task arguments of the family (``num_classes``, input sizes...).
    """
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    name = _type_of_spec(spec)
    if name not in _BUILDERS:
        raise ValueError(
            f"programs.build: no program for spec type {name!r}; known types: {sorted(_BUILDERS)}."
        )
    return _BUILDERS[name](spec, **task)


def supernet(space: Any, **task: Any) -> nn.Module:
    """Builds one weight-sharing module that holds every spec of ``space`` (a pg hyper-value)."""
    if not isinstance(space, pg.Object):
        raise TypeError(
            "programs.supernet expects a family space (a pg.Object hyper-value such as "
            f"spaces.vit_tiny()); got {type(space).__name__}."
        )
    name = type(space).__type_name__
    if name not in _SUPERNETS:
        raise ValueError(
            f"programs.supernet: no supernet for space type {name!r}; known types: "
            f"{sorted(_SUPERNETS)}."
        )
    return _SUPERNETS[name](space, **task)


def known_types() -> list[str]:
    """Names of the spec types that ``build`` can turn into a module."""
    return sorted(_BUILDERS)
