"""One-shot searchers: algorithms that train a supernet, then propose derived architectures.

Each module registers its searchers with ``algorithms.registry``, which imports every module of
this package when it needs them; this package exports the searcher classes.
"""

from symnas.algorithms.oneshot.base import OneShotSearcher
from symnas.algorithms.oneshot.darts import DARTS
from symnas.algorithms.oneshot.fewshot import FewShotSearcher, FewShotTrainer
from symnas.algorithms.oneshot.perturbation import DARTSPT
from symnas.algorithms.oneshot.prenas import PreNAS
from symnas.algorithms.oneshot.prenas_selector import PreNASSelector
from symnas.algorithms.oneshot.tanglenas import TangleNAS

__all__ = [
    "DARTS",
    "DARTSPT",
    "FewShotSearcher",
    "FewShotTrainer",
    "OneShotSearcher",
    "PreNAS",
    "PreNASSelector",
    "TangleNAS",
]
