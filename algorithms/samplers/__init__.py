"""Path samplers: which sub-networks of a supernet each training step runs.

``UniformSampler`` (SPOS), ``SandwichSampler`` (BigNAS/OFA), ``PreferredSampler`` (PreNAS),
the PA&DA samplers (``pada_path``, ``pada_data``, ``pada``) with their gradient-free ``control``,
``MultiPathSampler`` (ViT-ResNAS multi-architecture sampling) and ``QuantScheduler`` (QuantLLM's
non-parametric scheduler of quantization configurations) implement ``PathSampler``
(``sample(rng)``, ``update(specs, losses)``, JSON state); each is registered by name (``SAMPLERS``), and ``create_sampler(name, **options)`` makes one.
"""

from symnas.algorithms.samplers.base import SAMPLERS, PathSampler, create_sampler, register_sampler
from symnas.algorithms.samplers.control import ControlSampler
from symnas.algorithms.samplers.multi_path import MultiPathSampler
from symnas.algorithms.samplers.pada import PADADataSampler, PADAPathSampler, PADASampler
from symnas.algorithms.samplers.preferred import PreferredSampler
from symnas.algorithms.samplers.quant_scheduler import QuantScheduler
from symnas.algorithms.samplers.sandwich import SandwichSampler
from symnas.algorithms.samplers.uniform import UniformSampler

__all__ = [
    "SAMPLERS",
    "ControlSampler",
    "MultiPathSampler",
    "PADADataSampler",
    "PADAPathSampler",
    "PADASampler",
    "PathSampler",
    "PreferredSampler",
    "QuantScheduler",
    "SandwichSampler",
    "UniformSampler",
    "create_sampler",
    "register_sampler",
]
