"""Random search: every decision drawn uniformly, without repeating an architecture."""

from __future__ import annotations

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm, pack_keys, unpack_keys
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.registry import register_algorithm
from symnas.core.redraw import random_unseen


@register_algorithm("random", "uniform random search without repeats")
@pg.members(
    [
        ("metric", pg.typing.Str().noneable(), "Metric to rank trials by."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
    ]
)
class RandomSearch(SearchAlgorithm):
    """Uniform random sampling of a space; skips architectures it has already proposed
    (while the space has unseen ones within a few redraws)."""

    @property
    def needs_feedback(self) -> bool:
        """False, as ``pg.geno.Random``: proposals never depend on rewards."""
        return False

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        self._seen: set[bytes] = set()

    def _replayed(self, genome: np.ndarray) -> None:
        self._seen.add(self._codec.key(genome))

    def _propose_genomes(self, n: int) -> np.ndarray:
        genomes = self._codec.random(n, self._rng)
        for i in range(n):
            genomes[i] = random_unseen(self._codec, self._rng, self._seen, first=genomes[i])
            self._seen.add(self._codec.key(genomes[i]))
        return genomes

    def _state(self) -> dict:
        return {"seen": pack_keys(self._seen, self._codec)}

    def _load_state(self, state: dict) -> None:
        self._seen = unpack_keys(state["seen"], self._codec)
