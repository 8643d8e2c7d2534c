"""Uniform single-path sampling (SPOS: Guo et al., "Single Path One-Shot Neural Architecture
Search with Uniform Sampling", ECCV 2020).

Every step trains ``num_paths`` architectures drawn uniformly: each decision of the space takes
each of its candidates with equal probability (``codec.random``), conditional decisions only
when active. ``specs=`` restricts the draw to a fixed set, uniformly over its members.

Two options follow the NAS-Bench-201 weight-sharing references:

- ``per_cell=True`` draws an independent cell for every searched cell of the supernet, as the
  one-shot supernet of Few-Shot NAS (Zhao et al., ICML 2021) does during training; the path is
  then a list of specs, one per cell (the supernet declares ``search_cells``).
- ``accept=`` keeps only draws the predicate accepts (GM-NAS's RSPS sampler redraws cells whose
  output is cut off from the input: ``spaces.cells.nb201_connected``), redrawing up to
  ``MAX_REDRAWS`` times before it gives up with an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symnas.algorithms.samplers.base import PathSampler, Spec, check_count, register_sampler
from symnas.core.redraw import MAX_REDRAWS


@register_sampler(
    "uniform", "SPOS: num_paths uniformly random architectures per step (of the space or of specs)"
)
class UniformSampler(PathSampler):
    """``num_paths`` uniformly random architectures per step (of the space, or of ``specs``).

    Args:
      num_paths: architectures per training step (their losses are averaged).
      specs: draw from this fixed set instead of the space.
      per_cell: one independent draw per searched cell of the supernet (needs a supernet with a
        ``search_cells`` count, such as the NB201 supernet).
      accept: a predicate over specs; rejected draws are redrawn (each cell's, with
        ``per_cell``).
    """

    def __init__(
        self,
        num_paths: int = 1,
        specs: Sequence[Spec] | None = None,
        per_cell: bool = False,
        accept: Callable[[Spec], bool] | None = None,
    ) -> None:
        self.num_paths = check_count("UniformSampler: num_paths", num_paths, 1)
        self.specs = None if specs is None else [dict(s) for s in specs]
        if self.specs is not None and not self.specs:
            raise ValueError("UniformSampler: specs must be None or a non-empty list of specs.")
        if accept is not None and not callable(accept):
            raise TypeError(f"UniformSampler: accept must be a callable or None; got {accept!r}.")
        self.per_cell = bool(per_cell)
        self.accept = accept

    def bind(self, space: Any, supernet: Any = None) -> UniformSampler:
        super().bind(space, supernet)
        if self.per_cell:
            cells = getattr(supernet, "search_cells", None)
            if not isinstance(cells, int) or cells < 1:
                raise ValueError(
                    "UniformSampler(per_cell=True) needs a supernet with searched cells (a "
                    f"'search_cells' count, as NB201Supernet); got {type(supernet).__name__}."
                )
            self.cells = cells
        return self

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        if self.specs is not None and self.accept is None and not self.per_cell:
            picks = rng.integers(len(self.specs), size=self.num_paths)
            return [self.specs[int(i)] for i in picks]
        if self.per_cell:
            return [[self._draw(rng) for _ in range(self.cells)] for _ in range(self.num_paths)]
        return [self._draw(rng) for _ in range(self.num_paths)]

    def _draw(self, rng: np.random.Generator) -> Spec:
        for _ in range(MAX_REDRAWS):
            if self.specs is not None:
                spec = self.specs[int(rng.integers(len(self.specs)))]
            else:
                spec = self._random_spec(rng)
            if self.accept is None or self.accept(spec):
                return spec
        raise RuntimeError(
            f"UniformSampler: {MAX_REDRAWS} draws in a row were rejected by "
            f"{_name(self.accept)}; does the space hold any spec it accepts?"
        )

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "num_paths": self.num_paths,
            "specs": None if self.specs is None else len(self.specs),
            "per_cell": self.per_cell,
            "accept": None if self.accept is None else _name(self.accept),
        }


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
