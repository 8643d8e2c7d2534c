"""symnas.algorithms: what to try next (sampling algorithms, proxies, selectors)."""

from symnas.algorithms import prenas, zero_cost
from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.nsga2 import NSGA2
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.prenas import PreNASSelector
from symnas.algorithms.prenas_deploy import PreNAS
from symnas.algorithms.random_search import RandomSearch
from symnas.algorithms.registry import create, names
from symnas.algorithms.regularized_evolution import RegularizedEvolution

__all__ = [
    "NSGA2",
    "Objectives",
    "PreNAS",
    "PreNASSelector",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchAlgorithm",
    "create",
    "names",
    "prenas",
    "zero_cost",
]
