"""PreNAS's preferred-set sampler (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning
Towards Efficient Neural Architecture Search", ICML 2023; tinyvision/PreNAS
``supernet_engine.py`` ``sample_candidates``).

Training runs only the preferred architectures. With ``--group-by-dim --group-by-depth`` (the
released scripts) the candidates are grouped by ``(embed_dim, depth)``: each step draws a group
uniformly, then a member uniformly. Options the released scripts leave off, off here too:
``sandwich = k`` (the first and last candidate plus ``k`` sampled ones per step) and ``shuffle``
(permute the sampled candidate's per-layer choices, an isomer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler

GROUP_KEYS = ("embed_dim", "depth")


def group_candidates(
    specs: Sequence[Spec], group_by: Sequence[str] = GROUP_KEYS
) -> list[list[int]]:
    """Indices of ``specs`` grouped by the values of ``group_by`` (first-seen order)."""
    unknown = sorted(set(group_by) - set(GROUP_KEYS))
    if unknown:
        raise ValueError(f"group_by keys must be among {list(GROUP_KEYS)}; got {unknown}.")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(tuple(spec[k] for k in group_by), []).append(i)
    return list(groups.values())


def shuffled(spec: Spec, rng: np.random.Generator) -> Spec:
    """The spec with its first ``depth`` MLP ratios and head counts permuted (an isomer)."""
    depth = spec["depth"]
    out = dict(spec)
    for name in ("mlp_ratio", "num_heads"):
        active = list(spec[name][:depth])
        order = rng.permutation(depth)
        out[name] = [active[i] for i in order] + list(spec[name][depth:])
    return out


@register_sampler(
    "preferred",
    "PreNAS: one preferred candidate per step (group, then member), or a sandwich of them",
)
class PreferredSampler(PathSampler):
    """One preferred candidate per step (group, then member), or a sandwich of them.

    ``specs`` are ordered smallest to largest, as the PreNAS selector returns them.
    """

    def __init__(
        self,
        specs: Sequence[Spec],
        group_by: Sequence[str] = GROUP_KEYS,
        sandwich: int = 0,
        shuffle: bool = False,
    ) -> None:
        self.specs = [dict(s) for s in specs]
        if not self.specs:
            raise ValueError("PreferredSampler needs at least one spec.")
        self.sandwich = check_count("PreferredSampler: sandwich", sandwich, 0)
        if self.sandwich and len(self.specs) < 3:
            raise ValueError("PreferredSampler: sandwich needs a candidate besides the ends.")
        self.group_by = tuple(group_by)
        self.shuffle = bool(shuffle)
        self.groups = (
            group_candidates(self.specs, self.group_by)
            if self.group_by
            else [list(range(len(self.specs)))]
        )

    def bind(self, space: Any, supernet: Any = None) -> PreferredSampler:
        super().bind(space, supernet)
        if supernet is not None and hasattr(supernet, "arch_of"):
            for spec in self.specs:
                supernet.arch_of(spec)  # every preferred spec must belong to the supernet
        return self

    def _one(self, rng: np.random.Generator) -> Spec:
        ends = {0, len(self.specs) - 1} if self.sandwich else set()
        while True:
            group = self.groups[int(rng.integers(len(self.groups)))]
            index = group[int(rng.integers(len(group)))]
            if index not in ends:
                break
        spec = self.specs[index]
        return shuffled(spec, rng) if self.shuffle else spec

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        if not self.sandwich:
            return [self._one(rng)]
        middle = [self._one(rng) for _ in range(self.sandwich)]
        return [self.specs[0], *middle, self.specs[-1]]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "specs": len(self.specs),
            "group_by": list(self.group_by),
            "sandwich": self.sandwich,
            "shuffle": self.shuffle,
        }
