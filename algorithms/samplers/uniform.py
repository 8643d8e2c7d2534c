"""Uniform single-path sampling (SPOS: Guo et al., "Single Path One-Shot Neural Architecture
Search with Uniform Sampling", ECCV 2020).

Every step trains ``num_paths`` architectures drawn uniformly: each decision of the space takes
each of its candidates with equal probability (``codec.random``), conditional decisions only
when active. ``specs=`` restricts the draw to a fixed set, uniformly over its members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler


@register_sampler(
    "uniform", "SPOS: num_paths uniformly random architectures per step (of the space or of specs)"
)
class UniformSampler(PathSampler):
    """``num_paths`` uniformly random architectures per step (of the space, or of ``specs``)."""

    def __init__(self, num_paths: int = 1, specs: Sequence[Spec] | None = None) -> None:
        self.num_paths = check_count("UniformSampler: num_paths", num_paths, 1)
        self.specs = None if specs is None else [dict(s) for s in specs]
        if self.specs is not None and not self.specs:
            raise ValueError("UniformSampler: specs must be None or a non-empty list of specs.")

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        if self.specs is not None:
            picks = rng.integers(len(self.specs), size=self.num_paths)
            return [self.specs[int(i)] for i in picks]
        return [self._random_spec(rng) for _ in range(self.num_paths)]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "num_paths": self.num_paths,
            "specs": None if self.specs is None else len(self.specs),
        }
