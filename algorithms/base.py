"""The contract every sampling algorithm of symnas follows.

An algorithm is a ``pg.DNAGenerator`` (so ``pg.sample(space, algorithm)`` works) whose state
lives in genomes of a compiled codec (``spaces.compile``). Flows use the batch path:
``propose_batch(n)`` and ``feedback_batch(genomes, metrics)``; the PyGlove path
(``propose``/``feedback`` with ``pg.DNA``) converts through the codec. The same seed gives the
same proposals on both paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyglove as pg

from symnas.algorithms.objectives import Objectives
from symnas.spaces.codec import Codec


@pg.members(
    [
        ("seed", pg.typing.Int().noneable(), "Random seed; None takes the search's seed."),
    ]
)
class SearchAlgorithm(pg.DNAGenerator):
    """Base class: genome batch path plus the ``pg.DNAGenerator`` path."""

    def objectives(self) -> Objectives:
        """Which metrics this algorithm optimises."""
        raise NotImplementedError

    # ------------------------------------------------------------------ set-up
    def bind(self, codec: Codec, seed: int | None = None) -> None:
        """Sets the algorithm up on a compiled space (what flows call instead of ``setup``)."""
        self._codec = codec
        self._default_seed = seed
        self.setup(codec.dna_spec)

    def _setup(self) -> None:
        codec = getattr(self, "_codec", None)
        if codec is None or codec.dna_spec is not self.dna_spec:
            self._codec = Codec.from_dna_spec(self.dna_spec)
        seed = self.seed if self.seed is not None else getattr(self, "_default_seed", None)
        self._rng = np.random.default_rng(seed)
        self._objectives = self.objectives()
        self._reset()

    def _reset(self) -> None:
        """Initialises the algorithm's search state."""

    def prepare(self, out: Path | None, resume: bool = False, verbose: bool = True) -> None:
        """Work before the first proposal, which ``flows.search`` runs after ``bind``: one-shot
        searchers train their supernet here (under ``out``, resumable). No-op by default."""

    @property
    def codec(self) -> Codec:
        """The compiled codec the algorithm works on (after ``setup``/``bind``)."""
        return self._codec

    # ------------------------------------------------------------------ batch path
    def propose_batch(self, n: int) -> np.ndarray:
        """Proposes ``n`` genomes (rows)."""
        genomes = self._propose_genomes(n)
        self._num_proposals += len(genomes)
        return genomes

    def feedback_batch(
        self, genomes: np.ndarray, metrics: Sequence[Mapping[str, float] | None]
    ) -> None:
        """Feeds back trial metrics (``None`` for a failed trial) in proposal order."""
        objectives = self._objectives
        rewards = []
        violations = []
        for m in metrics:
            if m is None:
                rewards.append(None)
                violations.append(np.inf)
            else:
                rewards.append(objectives.reward(m))
                violations.append(objectives.violation(m))
        self._update(np.atleast_2d(genomes), rewards, np.array(violations))
        self._num_feedbacks += len(metrics)

    def _propose_genomes(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _update(
        self, genomes: np.ndarray, rewards: list[np.ndarray | None], violations: np.ndarray
    ) -> None:
        """Takes maximisation-form rewards (None: failed) and constraint violations."""

    # ------------------------------------------------------------------ PyGlove path
    def _propose(self) -> pg.DNA:
        return self._codec.to_dna(self._propose_genomes(1)[0])

    def _feedback(self, dna: pg.DNA, reward: float | tuple[float, ...]) -> None:
        genome = self._codec.from_dna(dna)
        vector = np.atleast_1d(np.asarray(reward, dtype=np.float64))
        self._update(genome[None, :], [vector], np.zeros(1))
