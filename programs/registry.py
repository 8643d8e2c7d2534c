"""One entry point that turns any decoded spec (or space) into a PyTorch program.

Every architecture family registers itself in :data:`FAMILIES` (the project's one
:class:`~symnas.core.registry.Registry` mechanism) under its family name (``"nb201"``,
``"vit"``...), with the root class of its space (dispatch is on its PyGlove type name
``Class.__type_name__``, the ``"_type"`` field of a decoded spec), a ``build`` function that makes
a standalone ``nn.Module`` from a spec, a ``supernet`` factory that makes a weight-sharing module
for a whole space, and that supernet's class, whose capabilities (``supernet_base``) can be
listed without building one. The family modules live in ``programs/families/``, which
:data:`FAMILIES` imports on its first lookup.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable
from typing import Any

import pyglove as pg
from torch import nn

from symnas.core.registry import Entry, Registry
from symnas.programs.supernet_base import CAPABILITIES, capabilities_of

# Every module of ``programs/families/`` is imported on the first lookup miss and before a
# listing; the family modules among them register themselves.
FAMILIES = Registry("family", loaders=["symnas.programs.families.*"], plural="families")


def _supernet_class(supernet: Callable[..., nn.Module]) -> type | None:
    """The class a supernet factory returns: the factory itself, or its return annotation."""
    if isinstance(supernet, type):
        return supernet
    returned = typing.get_type_hints(supernet).get("return")
    return returned if isinstance(returned, type) else None


def register(
    space_cls: type,
    build: Callable[..., nn.Module],
    supernet: Callable[..., nn.Module] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    supernet_class: type | None = None,
) -> None:
    """Registers one family: its space class, standalone builder and supernet factory.

    ``name`` defaults to the module that defines ``build`` (``programs/families/nb201.py`` ->
    ``"nb201"``), ``description`` to the first line of that module's docstring, and
    ``supernet_class`` to the supernet factory when it is a class, else to the class its return
    annotation names.
    """
    type_name = getattr(space_cls, "__type_name__", None)
    if type_name is None:
        raise TypeError(
            f"programs.registry.register: 'space_cls' must be a pg.Object subclass (a family's "
            f"space root); got {space_cls!r}."
        )
    module = build.__module__
    if name is None:
        name = module.rsplit(".", 1)[-1]
    if description is None:
        doc = (sys.modules[module].__doc__ or "").strip().splitlines()
        description = doc[0] if doc else ""
    if supernet is not None and supernet_class is None:
        supernet_class = _supernet_class(supernet)
    FAMILIES.register(
        name,
        description,
        space_cls,
        type_name=type_name,
        build=build,
        supernet=supernet,
        supernet_class=supernet_class,
    )


def _family_of_type(type_name: str) -> Entry | None:
    for entry in FAMILIES.entries().values():
        if entry.meta["type_name"] == type_name:
            return entry
    return None


def family_of(type_name: str) -> str | None:
    """The name of the family whose space root has the PyGlove type name ``type_name``."""
    entry = _family_of_type(type_name)
    return None if entry is None else entry.name


def known_types() -> list[str]:
    """Names of the spec types that ``build`` can turn into a module."""
    return sorted(e.meta["type_name"] for e in FAMILIES.entries().values())


def _type_of_spec(spec: Any) -> str:
    if isinstance(spec, pg.Object):
        return type(spec).__type_name__
    if isinstance(spec, dict) and "_type" in spec:
        return spec["_type"]
    raise TypeError(
        "programs.build expects a decoded spec: a dict with a '_type' field naming its family "
        f"(one of {known_types()}) or a symbolic pg.Object; got {type(spec).__name__}."
    )


def build(spec: Any, **task: Any) -> nn.Module:
    """Builds the standalone ``nn.Module`` of a decoded spec (or a concrete ``pg.Object``).

    ``task`` carries the task arguments of the family (``num_classes``, input sizes...).
    """
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    name = _type_of_spec(spec)
    family = _family_of_type(name)
    if family is None:
        raise ValueError(
            f"programs.build: no program for spec type {name!r}; known types: {known_types()}."
        )
    return family.meta["build"](spec, **task)


def supernet(space: Any, **task: Any) -> nn.Module:
    """Builds one weight-sharing module that holds every spec of ``space`` (a pg hyper-value)."""
    return _supernet_family(space).meta["supernet"](space, **task)


def supernet_class(space: Any) -> type | None:
    """The class of the supernet ``supernet(space)`` builds, without building it (None when the
    family's factory declares no class)."""
    return _supernet_family(space).meta["supernet_class"]


def _supernet_family(space: Any) -> Entry:
    if not isinstance(space, pg.Object):
        raise TypeError(
            "programs.supernet expects a family space (a pg.Object hyper-value such as "
            f"spaces.vit_tiny()); got {type(space).__name__}."
        )
    name = type(space).__type_name__
    family = _family_of_type(name)
    if family is None or family.meta["supernet"] is None:
        with_supernet = sorted(
            e.meta["type_name"] for e in FAMILIES.where(lambda e: e.meta["supernet"] is not None)
        )
        raise ValueError(
            f"programs.supernet: no supernet for space type {name!r}; known types: {with_supernet}."
        )
    return family


def capabilities(family: str) -> list[str]:
    """The supernet capabilities (``supernet_base.CAPABILITIES``) a family declares."""
    cls = FAMILIES.get(family).meta["supernet_class"]
    return [] if cls is None else capabilities_of(cls)


def families_with(capability: str) -> list[str]:
    """Names of the families whose supernet declares ``capability``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"capability must be one of {list(CAPABILITIES)}; got {capability!r}.")
    return [name for name in FAMILIES.names() if capability in capabilities(name)]
