"""Drawing a random genome that was not proposed before, within a fixed number of redraws."""

from __future__ import annotations

from collections.abc import Container, Hashable
from typing import Any, Protocol

MAX_REDRAWS = 32


class GenomeSampler(Protocol):
    """What a redraw needs of a compiled space (``spaces.Codec`` is one)."""

    def random(self, n: int, rng: Any) -> Any:
        """``n`` random genomes drawn with ``rng``, one a row."""

    def key(self, genome: Any) -> Hashable:
        """A hashable identity of ``genome``'s architecture."""


def random_unseen(
    codec: GenomeSampler, rng: Any, seen: Container[Hashable], first: Any = None
) -> Any:
    """``first`` (a fresh random genome when None) if its key is not in ``seen``, else the first
    of up to ``MAX_REDRAWS`` redraws that is not; the last redraw when all were seen (a small
    space may be exhausted)."""
    genome = codec.random(1, rng)[0] if first is None else first
    for _ in range(MAX_REDRAWS):
        if codec.key(genome) not in seen:
            return genome
        genome = codec.random(1, rng)[0]
    return genome
