"""Redrawing until an unseen genome, within MAX_REDRAWS redraws."""

from __future__ import annotations

import numpy as np

from symnas.core.redraw import MAX_REDRAWS, random_unseen


class Counter:
    """A sampler whose n-th drawn genome is [n]."""

    def __init__(self) -> None:
        self.drawn = 0

    def random(self, n: int, rng: object) -> np.ndarray:
        start, self.drawn = self.drawn, self.drawn + n
        return np.arange(start, self.drawn, dtype=float)[:, None]

    def key(self, genome: np.ndarray) -> int:
        return int(genome[0])


def test_the_first_unseen_draw_is_returned():
    codec = Counter()
    assert random_unseen(codec, None, {0, 1, 2})[0] == 3
    assert random_unseen(codec, None, set(), first=np.array([7.0]))[0] == 7
    assert codec.drawn == 4


def test_an_exhausted_space_gives_the_last_redraw():
    codec = Counter()
    genome = random_unseen(codec, None, set(range(1000)))
    assert genome[0] == MAX_REDRAWS and codec.drawn == MAX_REDRAWS + 1
