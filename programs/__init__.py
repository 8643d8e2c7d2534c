"""symnas.programs: what a candidate becomes (PyTorch models, supernets) and how it is scored."""

from symnas.programs.registry import build, known_types, supernet
from symnas.programs.supernet_base import Supernet

__all__ = ["Supernet", "build", "known_types", "supernet"]
