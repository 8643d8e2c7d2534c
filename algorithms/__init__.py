"""symnas.algorithms: what to try next.

Four kinds, each in its place:

- multi-trial generators (this package: ``RandomSearch``, ``RegularizedEvolution``, ``NSGA2``,
  ``TPE``, ``LocalSearch``, ``BANANAS``, and the budgeted ``SuccessiveHalving``, ``Hyperband``,
  ``ASHA``, ``BOHB``, with the pruners of ``algorithms.pruners``), imported eagerly; they need numpy and pyglove only, so a black-box search never imports torch;
- path samplers (``algorithms.samplers``): which sub-networks a supernet training step runs;
- one-shot searchers (``algorithms.oneshot``): train a supernet, then propose derived specs;
- zero-cost proxies (``algorithms.zero_cost``): score untrained networks.

The last three need torch and are imported on first use (``algorithms.zero_cost``,
``algorithms.PreNAS``...).
"""

from __future__ import annotations

import importlib
from typing import Any

from symnas.algorithms.asha import ASHA
from symnas.algorithms.bananas import BANANAS
from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.bohb import BOHB
from symnas.algorithms.brackets import Hyperband, SuccessiveHalving
from symnas.algorithms.dedup import Deduped
from symnas.algorithms.local_search import LocalSearch
from symnas.algorithms.nsga2 import NSGA2
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.random_search import RandomSearch
from symnas.algorithms.registry import create, names, register_algorithm, resolve
from symnas.algorithms.regularized_evolution import RegularizedEvolution
from symnas.algorithms.tpe import TPE

# Names imported on first access: {attribute: module that defines it}. A module name that equals
# the attribute's full name is a sub-module or sub-package.
_LAZY = {
    "oneshot": "symnas.algorithms.oneshot",
    "DARTS": "symnas.algorithms.oneshot.darts",
    "DARTSPT": "symnas.algorithms.oneshot.perturbation",
    "FewShotSearcher": "symnas.algorithms.oneshot.fewshot",
    "FewShotTrainer": "symnas.algorithms.oneshot.fewshot",
    "samplers": "symnas.algorithms.samplers",
    "zero_cost": "symnas.algorithms.zero_cost",
    "PreNASSelector": "symnas.algorithms.oneshot.prenas_selector",
    "PreNAS": "symnas.algorithms.oneshot.prenas",
    "OneShotSearcher": "symnas.algorithms.oneshot.base",
    "TangleNAS": "symnas.algorithms.oneshot.tanglenas",
    "graf": "symnas.algorithms.graf",
    "Surrogate": "symnas.algorithms.surrogate",
    "SurrogateFilter": "symnas.algorithms.surrogate",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'symnas.algorithms' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ASHA",
    "BANANAS",
    "BOHB",
    "DARTS",
    "DARTSPT",
    "Deduped",
    "FewShotSearcher",
    "FewShotTrainer",
    "Hyperband",
    "NSGA2",
    "LocalSearch",
    "Objectives",
    "OneShotSearcher",
    "PreNAS",
    "PreNASSelector",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchAlgorithm",
    "SuccessiveHalving",
    "Surrogate",
    "SurrogateFilter",
    "TangleNAS",
    "TPE",
    "create",
    "graf",
    "names",
    "oneshot",
    "register_algorithm",
    "resolve",
    "samplers",
    "zero_cost",
]
