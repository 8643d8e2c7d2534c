"""Algorithms by name, for the command line and for ``flows.search(algorithm="name")``.

Each algorithm class registers itself with :func:`register_algorithm` (name, one-line
description, constructor defaults, aliases). The built-in black-box samplers are imported by
``symnas.algorithms``; any other module of that package (which needs no torch) and the one-shot
searchers (the modules of ``symnas.algorithms.oneshot``, which need torch) register when they are
imported, which the registry does on the first lookup of a name it does not know yet and before
listing every algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from symnas.algorithms.base import SearchAlgorithm
from symnas.core.registry import Registry

A = TypeVar("A", bound=type)

# Multi-trial algorithms are the modules of this package (no torch), one-shot searchers those of
# ``oneshot``: a new module registers on the first lookup of its name with no list to join.
ALGORITHMS = Registry("algorithm", loaders=["symnas.algorithms.*", "symnas.algorithms.oneshot.*"])

#: What an algorithm is: a multi-trial generator proposes specs from the objective's feedback
#: alone; a one-shot searcher trains a supernet first (with the data given to its constructor)
#: and then proposes specs derived from it.
KINDS = ("multi_trial", "one_shot")


def register_algorithm(
    name: str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Iterable[str] = (),
    kind: str | None = None,
    small: Mapping[str, Any] | None = None,
) -> Callable[[A], A]:
    """Class decorator: registers a :class:`SearchAlgorithm` under ``name``.

    ``defaults`` are the constructor arguments that ``create(name)`` passes unless overridden;
    ``kind`` is one of :data:`KINDS`, by default the kind of the package that defines the class
    (``one_shot`` in ``symnas.algorithms.oneshot``, else ``multi_trial``); ``small`` are the
    constructor arguments of a small, fast instance (a population of a few members, short
    training), with which ``symnas.testing`` checks a multi-trial algorithm.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(
            f"register_algorithm({name!r}): kind must be one of {KINDS}; got {kind!r}."
        )

    def decorate(cls: A) -> A:
        if not (isinstance(cls, type) and issubclass(cls, SearchAlgorithm)):
            raise TypeError(
                f"register_algorithm({name!r}) decorates a SearchAlgorithm subclass; got {cls!r}."
            )
        in_oneshot = cls.__module__.startswith("symnas.algorithms.oneshot.")
        ALGORITHMS.register(
            name,
            description,
            cls,
            aliases=aliases,
            defaults=dict(defaults or {}),
            small=dict(small or {}),
            kind=kind or ("one_shot" if in_oneshot else "multi_trial"),
        )
        return cls

    return decorate


def names() -> dict[str, str]:
    """Algorithm names with a one-line description each."""
    return {name: entry.description for name, entry in ALGORITHMS.entries().items()}


def create(name: str, **overrides: Any) -> SearchAlgorithm:
    """A new algorithm by name, with its defaults updated by ``overrides``."""
    entry = ALGORITHMS.get(name)
    return entry.obj(**{**entry.meta["defaults"], **overrides})


def resolve(algorithm: SearchAlgorithm | str, argument: str = "algorithm") -> SearchAlgorithm:
    """An algorithm object from an object or a name; ``argument`` names it in the error."""
    if isinstance(algorithm, str):
        algorithm = create(algorithm)
    if not isinstance(algorithm, SearchAlgorithm):
        raise TypeError(
            f"'{argument}' must be a symnas algorithm (e.g. algorithms.RandomSearch()) or its "
            f"name; got {type(algorithm).__name__}."
        )
    return algorithm
