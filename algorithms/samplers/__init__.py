"""Path samplers: which sub-networks of a supernet each training step runs.

``UniformSampler`` (SPOS), ``SandwichSampler`` (BigNAS/OFA) and ``PreferredSampler`` (PreNAS)
implement ``PathSampler`` (``sample(rng)``, ``update(specs, losses)``, JSON state); each is
registered by name (``SAMPLERS``), and ``create_sampler(name, **options)`` makes one.
"""

from symnas.algorithms.samplers.base import SAMPLERS, PathSampler, create_sampler, register_sampler
from symnas.algorithms.samplers.preferred import PreferredSampler
from symnas.algorithms.samplers.sandwich import SandwichSampler
from symnas.algorithms.samplers.uniform import UniformSampler

__all__ = [
    "SAMPLERS",
    "PathSampler",
    "PreferredSampler",
    "SandwichSampler",
    "UniformSampler",
    "create_sampler",
    "register_sampler",
]
