"""Path samplers: which sub-networks of a supernet each training step runs.

``UniformSampler`` (SPOS), ``SandwichSampler`` (BigNAS/OFA) and ``PreferredSampler`` (PreNAS)
implement ``PathSampler`` (``sample(rng)``, ``update(specs, losses)``, JSON state).
"""

from symnas.algorithms.samplers.base import PathSampler
from symnas.algorithms.samplers.preferred import PreferredSampler
from symnas.algorithms.samplers.sandwich import SandwichSampler
from symnas.algorithms.samplers.uniform import UniformSampler

__all__ = ["PathSampler", "PreferredSampler", "SandwichSampler", "UniformSampler"]
