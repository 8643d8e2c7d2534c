"""Multi-architecture sampling (Liao, Karaman, Sze, "Searching for Efficient Multi-Stage Vision
Transformers" (ViT-ResNAS), 2021; reference ``engine.py`` ``arch_sample='multi'`` and
``nets/channel_drop.py``).

Each step trains ``num_paths`` uniformly drawn sub-networks in one forward/backward pass: the
batch is cut into ``num_paths`` equal shares and each sub-network runs on its own share
(ViT-ResNAS assigns one architecture per ``example_per_arch`` examples), so the step's gradient
is the sum of the sub-networks' share-weighted gradients at the cost of one single-path step.
The trainer does the cutting (``split_batch``); paths are drawn as ``UniformSampler`` draws them
(with its ``per_cell`` and ``accept`` options), so this works for every family the trainer runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from symnas.algorithms.samplers.base import Spec, check_count, register_sampler
from symnas.algorithms.samplers.uniform import UniformSampler


@register_sampler(
    "multi_path",
    "ViT-ResNAS multi-architecture sampling: num_paths uniform paths, each on its share of a batch",
)
class MultiPathSampler(UniformSampler):
    """``num_paths`` uniform paths per step, each trained on its own share of the batch."""

    split_batch = True

    def __init__(
        self,
        num_paths: int = 4,
        specs: Sequence[Spec] | None = None,
        per_cell: bool = False,
        accept: Callable[[Spec], bool] | None = None,
    ) -> None:
        check_count("MultiPathSampler: num_paths", num_paths, 2)
        super().__init__(num_paths=num_paths, specs=specs, per_cell=per_cell, accept=accept)
