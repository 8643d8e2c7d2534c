"""The module paths of ``symnas.programs`` before it was split by kind, kept for one release.

``programs/`` was one folder of modules; they now live in ``families/``, ``training/``,
``cost/`` and ``data/``. :data:`MOVED` maps each old module name to its new one, and is the one
alias mechanism for them: :class:`MovedModuleFinder` (on ``sys.meta_path``) makes
``import symnas.programs.vit`` and ``from symnas.programs.train import TrainConfig`` import the
new module, and ``symnas.programs.__getattr__`` makes ``programs.vit`` return it. Both give the
same module object as the new path and emit a ``DeprecationWarning`` naming the new path. The
aliases go away in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module name -> the module that holds its contents now.
MOVED: dict[str, str] = {
    **{
        f"symnas.programs.{name}": f"symnas.programs.families.{name}"
        for name in (
            "nb201",
            "darts",
            "pooling",
            "tdnn",
            "vit",
            "vit_resnas",
            "cell_ops",
            "vit_layers",
        )
    },
    # The two grammar families were one module; its ``graph`` dispatcher is here now, their
    # builders in ``families.hnb201`` and ``families.einspace``.
    "symnas.programs.grammar": "symnas.programs.families.grammar_graph",
    **{
        f"symnas.programs.{name}": f"symnas.programs.training.{name}"
        for name in ("train", "supernet_train", "estimator", "fewshot")
    },
    **{
        f"symnas.programs.{name}": f"symnas.programs.cost.{name}"
        for name in (
            "hardware",
            "hardware_layers",
            "hardware_memory",
            "trace",
            "spec_cost",
            "parts",
            "cell_parts",
            "latency",
            "latency_model",
            "count",
            "threads",
        )
    },
    "symnas.programs.augment": "symnas.programs.data.augment",
}


def _warn(old: str) -> None:
    # Point the warning at the first frame outside the import machinery and this module.
    level, frame = 1, sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_code.co_filename == __file__
    ):
        level, frame = level + 1, frame.f_back
    warnings.warn(
        f"{old} moved to {MOVED[old]}; the old path works until the next release.",
        DeprecationWarning,
        stacklevel=level + 1,
    )


def resolve(old: str) -> ModuleType:
    """The module an old module name stands for (imported), with a ``DeprecationWarning``."""
    _warn(old)
    return importlib.import_module(MOVED[old])


class _AliasLoader(importlib.abc.Loader):
    """Loads an old module name as the new module itself (no second copy)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The new module, imported (its own ``__spec__`` is put back by ``exec_module``)."""
        module = resolve(spec.name)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is loaded; the import system set its ``__spec__`` to the
        alias spec, so the module's own is restored."""
        module.__spec__ = module.__spec__.loader_state


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names of :data:`MOVED` (see the module docstring)."""

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001 - finder protocol
        """A spec loading the new module for an old name; None for every other name."""
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader())


def install() -> None:
    """Puts :class:`MovedModuleFinder` on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
