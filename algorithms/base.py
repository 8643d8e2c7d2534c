"""The contract every sampling algorithm of symnas follows.

An algorithm is a ``pg.DNAGenerator`` (so ``pg.sample(space, algorithm)`` works) whose state
lives in genomes of a compiled codec (``spaces.compile``). Flows use the batch path:
``propose_batch(n)`` and ``feedback_batch(genomes, metrics)``; the PyGlove path
(``propose``/``feedback`` with ``pg.DNA``) converts through the codec. The same seed gives the
same proposals on both paths.

As a ``pg.DNAGenerator`` an algorithm can be set up on a bare decision point
(``pg.geno.oneof([...])``, ``floatv``, ``manyof``) as well as on a ``pg.geno.Space``, and
``recover(history)`` restores its whole state, random stream included: each history item
re-runs the proposal that produced it and feeds back the logged DNA, so the next proposal equals
the uninterrupted run's (for a history made by sequential ``propose``/``feedback`` calls).
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
            spec = self.dna_spec
            if not isinstance(spec, pg.geno.Space):  # a bare decision point
                spec = pg.geno.Space([spec.clone(deep=True)])
            self._codec = Codec.from_dna_spec(spec)
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
        return self._dna(self._propose_genomes(1)[0])

    def _dna(self, genome: np.ndarray) -> pg.DNA:
        """A genome as a ``pg.DNA`` of this algorithm's ``dna_spec``."""
        if self._codec.dna_spec is self.dna_spec:
            return self._codec.to_dna(genome)
        return pg.DNA.from_numbers(self._codec.numbers(genome), self.dna_spec)

    def _genome(self, dna: pg.DNA) -> np.ndarray:
        """A ``pg.DNA`` of this algorithm's ``dna_spec`` as a genome."""
        return self._codec.from_numbers(dna.to_numbers())

    def _feedback(self, dna: pg.DNA, reward: float | tuple[float, ...]) -> None:
        genome = self._genome(dna)
        self._update(genome[None, :], [self._reward_vector(reward)], np.zeros(1))

    def _reward_vector(self, reward: float | Sequence[float]) -> np.ndarray:
        """A PyGlove reward as a maximisation vector; a single-objective algorithm refuses
        several values instead of keeping the first."""
        values = reward if isinstance(reward, (list, tuple, np.ndarray)) else [reward]
        try:
            vector = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError(
                f"{type(self).__name__}: a reward must be a number or a sequence of numbers; "
                f"got {reward!r}."
            ) from None
        if vector.size == 0:
            raise ValueError(f"{type(self).__name__}: the reward {reward!r} holds no value.")
        if not self.multi_objective and vector.size != 1:
            raise ValueError(
                f"{type(self).__name__} is single-objective, but the reward {reward!r} holds "
                f"{vector.size} values; feed back one number (NSGA2 takes several)."
            )
        return vector

    def _replay(self, trial_id: int, dna: pg.DNA, reward: float | Sequence[float] | None) -> None:
        """Re-runs the proposal of history item ``trial_id`` (restoring the random stream and
        the proposal state), then takes the logged DNA and its reward (None: pending)."""
        self._propose_genomes(1)
        genome = self._genome(dna)
        self._replayed(genome)
        if reward is not None:
            self._update(genome[None, :], [self._reward_vector(reward)], np.zeros(1))

    def _replayed(self, genome: np.ndarray) -> None:
        """Records a replayed history genome as proposed (algorithms that remember proposals)."""
