"""Module paths that moved, kept working for one release: one mechanism for every package.

A package that renames or moves modules declares ``{old module name: new module name}`` and calls
:func:`keep_old_paths` from its ``__init__``, and its module-level ``__getattr__`` ends with
:func:`old_attribute`. Then, for each old name:

- ``import OLD`` and ``from OLD import x`` import the new module itself (a finder on
  ``sys.meta_path``, consulted only after the real modules are not found);
- ``package.old`` (the attribute) returns the new module;
- both emit a ``DeprecationWarning`` naming the new path, and give the same module object as the
  new path, so there is never a second copy of a module's state or classes;
- importing the old path does not rebind the package's attribute of that name, so a function the
  package exports under the old module's name (``programs.train``, ``spaces.grammar``) stays.

It imports nothing of symnas: every floor can use it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType

#: Every old module name declared by a package, with the module that holds its contents now.
MOVED: dict[str, str] = {}


def _warn(old: str) -> None:
    # Point the warning at the first frame outside the import machinery, this module and the
    # package's ``__getattr__``.
    level, frame = 1, sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_code.co_filename == __file__
        or frame.f_code.co_name == "__getattr__"
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


def old_attribute(package: str, name: str) -> ModuleType:
    """For a package's ``__getattr__``: the new module of the old sub-module ``package.name``
    (with a ``DeprecationWarning``, unless the old path was imported already and warned);
    ``AttributeError`` for any other name."""
    old = f"{package}.{name}"
    if old not in MOVED:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    if old in sys.modules:  # imported by its old path, which warned already
        return sys.modules[old]
    return resolve(old)


class _AliasLoader(importlib.abc.Loader):
    """Loads an old module name as the new module itself."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The new module, imported (``exec_module`` puts its own ``__spec__`` back)."""
        module = resolve(spec.name)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is loaded. The import system set its ``__spec__`` to the
        alias's; the module's own is restored."""
        module.__spec__ = module.__spec__.loader_state


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names of :data:`MOVED`."""

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001 - finder protocol
        """A spec that loads the new module for an old name; None for every other name."""
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader())


class _PackageWithMovedModules(ModuleType):
    """The module type of a package that declared moved modules: the import system's binding of
    an old sub-module to the package's attribute is skipped (see the module docstring)."""

    def __setattr__(self, name: str, value: object) -> None:
        moved = MOVED.get(f"{self.__name__}.{name}")
        if isinstance(value, ModuleType) and value.__name__ == moved:
            return
        super().__setattr__(name, value)


def keep_old_paths(package: str, moved: Mapping[str, str]) -> None:
    """Makes the old module names ``moved`` (keys, each inside ``package``) stand for their new
    modules (values) as the module docstring says."""
    for old, new in moved.items():
        if old.rpartition(".")[0] != package:
            raise ValueError(
                f"keep_old_paths: {old!r} is not a module of package {package!r}; "
                f"declare it in its own package."
            )
        if MOVED.get(old, new) != new:
            raise ValueError(f"keep_old_paths: {old!r} already moved to {MOVED[old]!r}.")
    MOVED.update(moved)
    sys.modules[package].__class__ = _PackageWithMovedModules
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
