"""symnas.algorithms: what to try next (sampling algorithms, proxies, selectors)."""

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.nsga2 import NSGA2
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.random_search import RandomSearch
from symnas.algorithms.registry import create, names
from symnas.algorithms.regularized_evolution import RegularizedEvolution

__all__ = [
    "NSGA2",
    "Objectives",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchAlgorithm",
    "create",
    "names",
]
