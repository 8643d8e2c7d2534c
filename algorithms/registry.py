"""Algorithms by name, for the command line and for ``flows.search(algorithm="name")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.nsga2 import NSGA2
from symnas.algorithms.random_search import RandomSearch
from symnas.algorithms.regularized_evolution import RegularizedEvolution

_FACTORIES: dict[str, tuple[Callable[..., SearchAlgorithm], dict[str, Any], str]] = {
    "random": (RandomSearch, {}, "uniform random search without repeats"),
    "regularized_evolution": (
        RegularizedEvolution,
        {"population_size": 20, "tournament_size": 5},
        "aging evolution with tournament selection (Real et al. 2019)",
    ),
    "nsga2": (NSGA2, {"population_size": 16}, "multi-objective NSGA-II (Deb et al. 2002)"),
}
_ALIASES = {"re": "regularized_evolution", "evolution": "regularized_evolution"}


def names() -> dict[str, str]:
    """Algorithm names with a one-line description each."""
    return {name: entry[2] for name, entry in _FACTORIES.items()}


def create(name: str, **overrides: Any) -> SearchAlgorithm:
    """A new algorithm by name, with its defaults updated by ``overrides``."""
    key = _ALIASES.get(name, name)
    if key not in _FACTORIES:
        raise ValueError(
            f"Unknown algorithm {name!r}; valid names: {sorted(_FACTORIES)} "
            f"(aliases: {sorted(_ALIASES)})."
        )
    factory, defaults, _ = _FACTORIES[key]
    return factory(**{**defaults, **overrides})


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
