"""The sandwich rule (Yu et al., "BigNAS", ECCV 2020; Cai et al., "Once-for-All", ICLR 2020).

Every step trains the largest sub-network, the smallest one and ``num_random`` uniformly random
ones, and averages their losses. It needs a supernet with the ``sized`` capability
(``max_spec``/``min_spec``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler


@register_sampler(
    "sandwich",
    "BigNAS/OFA sandwich rule: the largest, the smallest and num_random random paths per step",
)
class SandwichSampler(PathSampler):
    """Largest, smallest and ``num_random`` random paths per step."""

    requires = "sized"

    def __init__(self, num_random: int = 2) -> None:
        self.num_random = check_count("SandwichSampler: num_random", num_random, 0)

    def bind(self, space: Any, supernet: Any = None) -> SandwichSampler:
        super().bind(space, supernet)
        self.largest, self.smallest = supernet.max_spec(), supernet.min_spec()
        return self

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        randoms = [self._random_spec(rng) for _ in range(self.num_random)]
        return [self.largest, *randoms, self.smallest]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_random": self.num_random}
