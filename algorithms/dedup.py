"""Deduplication of any symnas algorithm's proposals: no architecture is evaluated twice.

This is PyGlove's ``pg.geno.Deduping`` (a generator wrapper that asks its inner generator again
when a proposal repeats one already made, at most ``max_proposal_attempts`` times, raises
``StopIteration`` when the inner generator insists, and with ``auto_reward_fn`` answers a
repeated DNA with a reward computed from the earlier identical ones instead of having the client
evaluate it) on symnas's batch path. ``pg.geno.Deduping`` itself cannot serve ``flows.search``:
it feeds back one ``pg.DNA`` and a bare reward per call (no failed trials, no constraint
violations), and it has no ``state_dict``, so a search using it could only resume by replaying
its whole log.

:class:`Deduped` wraps any :class:`SearchAlgorithm`. Proposals are compared by their genome
(``codec.key``, which identifies a decoded architecture). Every repeated proposal of the wrapped
algorithm is answered inside the wrapper with the recorded result of the earlier identical trial
(its reward and constraint violation, or failure), as PyGlove's ``auto_reward_fn`` does with the
earlier reward: the wrapped algorithm sees its proposal fed back, the search loop never receives
it, so it is neither evaluated nor logged as a trial. A repeat of a trial still being evaluated
is answered once that trial's result comes back. After ``max_proposal_attempts`` repeats in a
row the wrapper stops the search (``StopIteration``, which ``flows.search`` takes as "nothing
more to propose"): the wrapped algorithm has nothing new left, e.g. on an exhausted space.
Answered repeats are logged (``logging``, debug level) and counted in :attr:`Deduped.duplicates`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm, pack_array, pack_genomes, unpack_array
from symnas.algorithms.objectives import Objectives

logger = logging.getLogger(__name__)


@pg.members(
    [
        ("base", pg.typing.Object(SearchAlgorithm), "The algorithm whose proposals are deduped."),
        (
            "max_proposal_attempts",
            pg.typing.Int(min_value=1, default=100),
            "Repeated proposals in a row before the search stops (pg.geno.Deduping's default).",
        ),
    ]
)
class Deduped(SearchAlgorithm):
    """Wraps an algorithm so that each architecture is proposed to the search loop at most once;
    repeats are fed back the earlier identical trial's result without being evaluated.

    ``seed`` (or the search's seed) seeds the wrapped algorithm unless it has its own. The state
    checkpoints when the wrapped algorithm's does.
    """

    def objectives(self) -> Objectives:
        return self.base.objectives()

    @property
    def multi_objective(self) -> bool:
        return self.base.multi_objective

    @property
    def duplicates(self) -> int:
        """Repeated proposals answered with a recorded result so far."""
        return self._duplicates

    def _reset(self) -> None:
        seed = self.seed if self.seed is not None else getattr(self, "_default_seed", None)
        self.base.bind(self._codec, seed)
        # key -> (genome, reward vector or None, violation) of each trial fed back.
        self._results: dict[bytes, tuple[np.ndarray, np.ndarray | None, float]] = {}
        self._pending: dict[bytes, np.ndarray] = {}  # proposed, not yet fed back
        self._waiting: list[np.ndarray] = []  # repeats of pending trials, answered later
        self._duplicates = 0

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        kept: list[np.ndarray] = []
        queue = list(self.base.propose_batch(n))
        repeats = 0
        while len(kept) < n:
            if not queue:
                if repeats >= self.max_proposal_attempts:
                    break
                queue = list(self.base.propose_batch(1))
            genome = queue.pop(0)
            key = self._codec.key(genome)
            if key in self._results or key in self._pending:
                repeats += 1
                self._answer(genome)
                continue
            repeats = 0
            self._pending[key] = genome
            kept.append(genome)
        if not kept:
            raise StopIteration
        return np.stack(kept)

    def _answer(self, genome: np.ndarray) -> None:
        """Feeds a repeated proposal back with its earlier trial's result (later, when that
        trial is still pending)."""
        key = self._codec.key(genome)
        if key not in self._results:
            self._waiting.append(genome)
            return
        _, reward, violation = self._results[key]
        self._duplicates += 1
        logger.debug(
            "repeated proposal %s fed back the result of its earlier trial without evaluating",
            self._codec.numbers(genome),
        )
        self.base._update(genome[None, :], [reward], np.array([violation]))
        self.base._num_feedbacks += 1

    def _replayed(self, genome: np.ndarray) -> None:
        self.base._replayed(genome)

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        self.base._update(genomes, rewards, violations)
        self.base._num_feedbacks += len(genomes)
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            key = self._codec.key(genome)
            self._pending.pop(key, None)
            vector = None if reward is None else np.asarray(reward, dtype=np.float64)
            self._results[key] = (np.array(genome, dtype=np.float64), vector, float(violation))
        waiting, self._waiting = self._waiting, []
        for genome in waiting:
            self._answer(genome)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any] | None:
        base = self.base.state_dict()
        if base is None:
            return None
        slots = self._codec.num_slots
        results = list(self._results.values())
        return {
            "base": base,
            "evaluated": pack_genomes([g for g, _, _ in results], slots),
            "rewards": [None if r is None else pack_array(r) for _, r, _ in results],
            "violations": pack_array([v for _, _, v in results]),
            "pending": pack_genomes(self._pending.values(), slots),
            "waiting": pack_genomes(self._waiting, slots),
            "duplicates": self._duplicates,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        evaluated = unpack_array(state["evaluated"])
        violations = unpack_array(state["violations"])
        rewards = state["rewards"]
        if not len(evaluated) == len(violations) == len(rewards):
            raise KeyError("'evaluated', 'rewards' and 'violations' differ in length")
        self.base.load_state_dict(state["base"])
        self._results = {
            self._codec.key(g): (g, None if r is None else unpack_array(r), float(v))
            for g, r, v in zip(evaluated, rewards, violations, strict=True)
        }
        self._pending = {self._codec.key(g): g for g in unpack_array(state["pending"])}
        self._waiting = list(unpack_array(state["waiting"]))
        self._duplicates = int(state["duplicates"])
