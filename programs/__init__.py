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
``DeprecationWarning`` (:data:`MOVED_MODULES`, ``core.moved``).
"""

from __future__ import annotations

import importlib
from typing import Any

from symnas.core import moved
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

#: The modules of ``programs/`` before it was split by kind: {old name: new name}. The old names
#: work until the next release (``core.moved``). The two grammar families were one module
#: (``grammar``), which stands for their ``graph`` dispatcher; their builders are in
#: ``families.hnb201`` and ``families.einspace``.
MOVED_MODULES = {
    **{
        f"{__name__}.{name}": f"{__name__}.families.{name}"
        for name in ("nb201", "darts", "pooling", "tdnn", "vit", "vit_resnas")
    },
    **{f"{__name__}.{name}": f"{__name__}.families.{name}" for name in ("cell_ops", "vit_layers")},
    f"{__name__}.grammar": f"{__name__}.families.grammar_graph",
    **{
        f"{__name__}.{name}": f"{__name__}.training.{name}"
        for name in ("train", "supernet_train", "estimator", "fewshot")
    },
    **{
        f"{__name__}.{name}": f"{__name__}.cost.{name}"
        for name in ("hardware", "hardware_layers", "hardware_memory", "trace", "spec_cost")
    },
    **{
        f"{__name__}.{name}": f"{__name__}.cost.{name}"
        for name in ("parts", "cell_parts", "latency", "latency_model", "count", "threads")
    },
    f"{__name__}.augment": f"{__name__}.data.augment",
}
moved.keep_old_paths(__name__, MOVED_MODULES)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        return moved.old_attribute(__name__, name)
    module = importlib.import_module(module_name)
    value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
