"""One registration mechanism for every extension kind (spaces, families, algorithms, flows...).

A :class:`Registry` maps names to objects with a one-line description and free metadata.
``registry.register(name, description, **meta)`` decorates a function or class (or, given the
object as ``obj=``, registers it directly); ``get(name)`` finds an entry by name or alias and
otherwise fails with the valid names; ``entries()`` lists everything. A registry may name
*loader* modules: they are imported, in order, on the first lookup miss (until the name turns
up) and before a listing, so that modules with heavy imports register themselves only when
they are needed. A loader whose last part is a pattern (``symnas.flows.*_flow``) stands for the
modules of that package whose names match it, in name order (its sub-packages excluded: a
sub-package has registries and loaders of its own), so that a new module registers without being
added to a list. An import error of a loader is raised, never hidden.

It imports neither torch nor any other part of symnas: every floor can use it.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registered object: its name, the object, a one-line description and metadata."""

    name: str
    obj: Any
    description: str
    aliases: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _modules(loader: str) -> list[str]:
    """``[loader]``, or the modules (not sub-packages) a pattern loader stands for (see the
    module doc)."""
    package, _, pattern = loader.rpartition(".")
    if not any(c in pattern for c in "*?["):
        return [loader]
    found = pkgutil.iter_modules(importlib.import_module(package).__path__)
    return sorted(
        f"{package}.{m.name}" for m in found if not m.ispkg and fnmatch.fnmatchcase(m.name, pattern)
    )


class Registry:
    """Named objects of one kind (``kind`` and ``plural`` name them in error messages)."""

    def __init__(self, kind: str, loaders: Iterable[str] = (), plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._loaders = list(loaders)
        self._loader_modules: dict[str, list[str]] = {}
        self._loaded: set[str] = set()
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    # ------------------------------------------------------------------ registration
    def register(
        self,
        name: str,
        description: str,
        obj: Any = None,
        *,
        aliases: Iterable[str] = (),
        **meta: Any,
    ) -> Any:
        """Registers ``obj`` under ``name``; without ``obj``, a decorator that registers what it
        decorates and returns it unchanged.

        A name (or alias) taken by a different object is an error; registering the same
        function or class again (a module reloaded) replaces its entry.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} registry: 'name' must be a non-empty str; got {name!r}.")
        if not isinstance(description, str):
            raise TypeError(
                f"{self.kind} registry: 'description' of {name!r} must be a str; "
                f"got {type(description).__name__}."
            )
        aliases = tuple(aliases)

        def decorate(target: T) -> T:
            self._add(Entry(name, target, description, aliases, MappingProxyType(dict(meta))))
            return target

        if obj is None:
            return decorate
        return decorate(obj)

    def _add(self, entry: Entry) -> None:
        for key in (entry.name, *entry.aliases):
            owner = self._aliases.get(key, key)
            previous = self._entries.get(owner)
            if previous is not None and _qualified(previous.obj) != _qualified(entry.obj):
                raise ValueError(
                    f"{self.kind} registry: {key!r} is already registered for "
                    f"{_qualified(previous.obj)}; cannot register {_qualified(entry.obj)}."
                )
        old = self._entries.pop(entry.name, None)
        if old is not None:
            for alias in old.aliases:
                self._aliases.pop(alias, None)
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name

    # ------------------------------------------------------------------ loading
    def _load_next(self) -> bool:
        """Imports the next loader module not imported yet; False when none is left. A pattern
        loader's package is imported only once the loaders before it are done. A module that
        fails to import raises here, at every lookup that reaches it."""
        for loader in self._loaders:
            if loader not in self._loader_modules:
                self._loader_modules[loader] = _modules(loader)
            for module in self._loader_modules[loader]:
                if module not in self._loaded:
                    importlib.import_module(module)
                    self._loaded.add(module)
                    return True
        return False

    def _load_all(self) -> None:
        while self._load_next():
            pass

    # ------------------------------------------------------------------ lookup
    def _find(self, name: str) -> Entry | None:
        return self._entries.get(self._aliases.get(name, name))

    def get(self, name: str) -> Entry:
        """The entry called ``name`` (or with that alias); unknown names list the valid ones."""
        entry = self._find(name)
        while entry is None and self._load_next():
            entry = self._find(name)
        if entry is None:
            aliases = f" (aliases: {sorted(self._aliases)})" if self._aliases else ""
            raise ValueError(
                f"Unknown {self.kind} {name!r}; valid {self.plural}: "
                f"{sorted(self._entries)}{aliases}."
            )
        return entry

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except ValueError:
            return False
        return True

    def entries(self) -> dict[str, Entry]:
        """Every entry by name, in registration order (loader modules imported first)."""
        self._load_all()
        return dict(self._entries)

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self.entries())

    def aliases(self) -> dict[str, str]:
        """Every alias with the name it stands for."""
        self._load_all()
        return dict(self._aliases)

    def where(self, predicate: Callable[[Entry], bool]) -> list[Entry]:
        """The entries for which ``predicate(entry)`` holds, in registration order."""
        return [e for e in self.entries().values() if predicate(e)]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"
