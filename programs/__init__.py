"""symnas.programs: what a candidate becomes (PyTorch models, supernets) and how it is scored.

Four kinds, each in its sub-package:

- ``families``: one module per architecture family (standalone network and supernet), with the
  layers they share; each registers itself in ``registry.FAMILIES``, whose loader imports every
  module of ``families/`` on the first lookup;
- ``training``: the trainer (``train``), the supernet trainer, the weight-sharing estimator and
  few-shot routing;
- ``cost``: cost models (MACs and parameter counts, systolic-array hardware cost and memory,
  the shape-level trace, costs from specs and their parts hooks, CPU latency and its calibrated
  model);
- ``data``: the datasets and batch augmentation.

This package holds what every kind shares: ``registry`` (``build``, ``supernet``,
``known_types``) and ``supernet_base`` (the supernet contract and its capabilities). The names
below are imported on first access, so ``import symnas.programs`` stays light and the
sub-packages import this one without a circle. The module paths from before the split
(``symnas.programs.vit``, ``symnas.programs.train``...) still work for one release, with a
``DeprecationWarning``, through ``_moved.MOVED``.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from symnas.programs import _moved
from symnas.programs.registry import build, known_types, supernet
from symnas.programs.supernet_base import Supernet

# Names imported on first access: {attribute: module that defines it}. A module name that equals
# the attribute's full name is a sub-package.
_LAZY = {
    "Dataset": "symnas.programs.data",
    "count": "symnas.programs.cost.count",
    "cpu_latency": "symnas.programs.cost.latency",
    "evaluate": "symnas.programs.training.train",
    "train": "symnas.programs.training.train",
    "cost": "symnas.programs.cost",
    "data": "symnas.programs.data",
    "families": "symnas.programs.families",
    "training": "symnas.programs.training",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is not None:
        module = importlib.import_module(module_name)
        value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
        globals()[name] = value
        return value
    if f"{__name__}.{name}" in _moved.MOVED:
        return _moved.resolve(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(ModuleType):
    """This package's module type. Importing an old module path (``symnas.programs.train``)
    binds the module to an attribute of its parent; that binding is skipped, so the function of
    the same name (``programs.train``, ``programs.count``) stays, and an old attribute
    (``programs.vit``) keeps going through ``__getattr__`` and its warning."""

    def __setattr__(self, name: str, value: Any) -> None:
        moved = _moved.MOVED.get(f"{__name__}.{name}")
        if isinstance(value, ModuleType) and value.__name__ == moved:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
_moved.install()

__all__ = [
    "Dataset",
    "Supernet",
    "build",
    "count",
    "cost",
    "cpu_latency",
    "data",
    "evaluate",
    "families",
    "known_types",
    "supernet",
    "train",
    "training",
]
