"""symnas.programs: what a candidate becomes (PyTorch models, supernets) and how it is scored.

Importing the package registers every family's ``build`` and ``supernet`` (``registry``).
"""

from symnas.programs import (
    darts,
    data,
    grammar,
    hardware,
    nb201,
    pooling,
    tdnn,
    vit,
    vit_resnas,
)
from symnas.programs.count import count
from symnas.programs.data import Dataset
from symnas.programs.latency import cpu_latency
from symnas.programs.registry import build, known_types, supernet
from symnas.programs.supernet_base import Supernet
from symnas.programs.train import evaluate, train

__all__ = [
    "Dataset",
    "Supernet",
    "build",
    "count",
    "cpu_latency",
    "darts",
    "data",
    "evaluate",
    "grammar",
    "hardware",
    "known_types",
    "nb201",
    "pooling",
    "supernet",
    "tdnn",
    "train",
    "vit",
    "vit_resnas",
]
