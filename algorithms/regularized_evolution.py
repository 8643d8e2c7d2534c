"""Regularized (aging) evolution, Real, Aggarwal, Huang and Le, AAAI 2019.

The population starts with ``population_size`` random architectures. Each cycle draws
``tournament_size`` members uniformly without replacement, mutates the best one (one decision
changed, PyGlove's uniform mutator) and adds the child as the youngest member; the oldest
member dies. Failed trials never join the population.

As in ``pg.evolution.regularized_evolution``, the operators are pluggable: ``mutator=`` takes a
``pg.evolution.Mutator`` and ``population_init=`` a ``pg.DNAGenerator`` (e.g.
``pg.geno.Random(seed=1)``) that proposes the first ``population_size`` members; the defaults
are the codec's uniform mutation and uniform random members.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm, pack_array, pack_genomes, unpack_array
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.operators import initial_with, mutate_with
from symnas.algorithms.registry import register_algorithm


@register_algorithm(
    "regularized_evolution",
    "aging evolution with tournament selection (Real et al. 2019)",
    defaults={"population_size": 20, "tournament_size": 5},
    aliases=("re", "evolution"),
    small={"population_size": 5, "tournament_size": 2},
)
@pg.members(
    [
        ("population_size", pg.typing.Int(min_value=2), "Number of living members."),
        ("tournament_size", pg.typing.Int(min_value=2), "Members drawn per tournament."),
        ("metric", pg.typing.Str().noneable(), "Metric to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        (
            "mutation_rate",
            pg.typing.Float(min_value=0.0, max_value=1.0).noneable(),
            "Per-decision mutation probability; None mutates exactly one decision.",
        ),
        (
            "mutator",
            pg.typing.Object(pg.evolution.Mutator).noneable(),
            "A PyGlove mutator; None: the codec's uniform mutation (with mutation_rate).",
        ),
        (
            "population_init",
            pg.typing.Object(pg.DNAGenerator).noneable(),
            "A DNAGenerator proposing the initial members; None: uniform random ones.",
        ),
    ]
)
class RegularizedEvolution(SearchAlgorithm):
    """Aging evolution with tournament selection."""

    def _on_bound(self) -> None:
        super()._on_bound()
        if self.population_size < self.tournament_size:
            raise ValueError(
                f"RegularizedEvolution: population_size ({self.population_size}) must be no "
                f"less than tournament_size ({self.tournament_size})."
            )

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        # Plain copies of the symbolic fields: attribute access on pg.Object is slow.
        self._size = self.population_size
        self._tournament = self.tournament_size
        self._rate = self.mutation_rate
        self._population: deque[tuple[np.ndarray, float]] = deque(maxlen=self._size)
        self._initializer = None
        if self.population_init is not None:
            self._initializer = self.population_init.clone(deep=True)
            self._initializer.setup(self.dna_spec)

    def _propose_genomes(self, n: int) -> np.ndarray:
        codec = self._codec
        out = np.empty((n, codec.num_slots))
        for i in range(n):
            step = self._num_proposals + i
            if step < self._size or len(self._population) < 2:
                out[i] = self._new_member()
                continue
            size = min(self._tournament, len(self._population))
            picks = self._rng.choice(len(self._population), size=size, replace=False)
            parent = max(picks, key=lambda j: self._population[j][1])
            out[i] = self._mutate(self._population[parent][0], step)
        return out

    def _new_member(self) -> np.ndarray:
        if self._initializer is None:
            return self._codec.random(1, self._rng)[0]
        return initial_with(self._initializer, self._codec, 1)[0]

    def _mutate(self, parent: np.ndarray, step: int) -> np.ndarray:
        if self.mutator is None:
            return self._codec.mutate(parent, self._rng, self._rate)[0]
        return mutate_with(self.mutator, self._codec, self.dna_spec, parent, step)[0]

    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward in zip(genomes, rewards, strict=True):
            if reward is not None:
                self._population.append((genome.copy(), float(reward[0])))

    def _state(self) -> dict | None:
        if self.population_init is not None or self.mutator is not None:
            return None  # PyGlove operators draw from random streams of their own
        return {
            "genomes": pack_genomes((g for g, _ in self._population), self._codec.num_slots),
            "rewards": pack_array([r for _, r in self._population]),
        }

    def _load_state(self, state: dict) -> None:
        genomes, rewards = unpack_array(state["genomes"]), unpack_array(state["rewards"])
        self._population.clear()
        self._population.extend(zip(genomes, rewards.tolist(), strict=True))
