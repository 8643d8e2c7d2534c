"""NSGA-II, Deb, Pratap, Agarwal and Meyarivan, IEEE Trans. Evol. Comput. 2002.

Generational multi-objective evolution: from a parent population of ``population_size``,
offspring are bred by binary tournaments on (non-domination rank, crowding distance),
crossover with probability ``crossover_prob`` and mutation; parents and offspring are merged and
the next parents are filled front by front, the last front cut by crowding distance.
Constraints use Deb's constrained domination (feasible first, then smaller violation).

As in ``pg.evolution.nsga2``, the operators are pluggable: ``mutator=`` (a
``pg.evolution.Mutator``), ``crossover=`` (a ``pg.evolution.Recombinator``; its first child is
taken) and ``population_init=`` (a ``pg.DNAGenerator`` proposing the first generation); the
defaults are the codec's uniform mutation, sub-tree crossover and uniform random members.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm, pack_array, pack_genomes, unpack_array
from symnas.algorithms.objectives import CONSTRAINT_OPS, MODES, Objectives
from symnas.algorithms.operators import initial_with, mutate_with, recombine_with
from symnas.algorithms.pareto import crowding_distance, non_dominated_sort
from symnas.algorithms.registry import register_algorithm


@register_algorithm(
    "nsga2",
    "multi-objective NSGA-II (Deb et al. 2002)",
    defaults={"population_size": 16},
    small={"population_size": 4, "objectives": {"f": "max", "g": "min"}},
)
@pg.members(
    [
        (
            "population_size",
            pg.typing.Int(min_value=2, default=100),
            "Parents per generation (100 in the paper's experiments).",
        ),
        (
            "objectives",
            pg.typing.Dict([(pg.typing.StrKey(), pg.typing.Enum("max", list(MODES)))]).noneable(),
            "{metric: 'max'|'min'}; None optimises (maximises) the objective's only metric.",
        ),
        (
            "constraints",
            pg.typing.Dict(
                [
                    (
                        pg.typing.StrKey(),
                        pg.typing.Tuple(
                            [pg.typing.Enum("<=", list(CONSTRAINT_OPS)), pg.typing.Float()]
                        ),
                    )
                ]
            ).noneable(),
            "{metric: (op, bound)} constraints, e.g. {'area_mm2': ('<=', 4.0)}.",
        ),
        ("crossover_prob", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.9), ""),
        (
            "mutation_rate",
            pg.typing.Float(min_value=0.0, max_value=1.0).noneable(),
            "Per-decision mutation probability; None changes one decision per child.",
        ),
        (
            "mutator",
            pg.typing.Object(pg.evolution.Mutator).noneable(),
            "A PyGlove mutator; None: the codec's uniform mutation (with mutation_rate).",
        ),
        (
            "crossover",
            pg.typing.Object(pg.evolution.Recombinator).noneable(),
            "A PyGlove recombinator; None: the codec's sub-tree crossover.",
        ),
        (
            "population_init",
            pg.typing.Object(pg.DNAGenerator).noneable(),
            "A DNAGenerator proposing the first generation; None: uniform random members.",
        ),
    ],
    init_arg_list=["population_size", "objectives", "constraints"],
)
class NSGA2(SearchAlgorithm):
    """Non-dominated sorting genetic algorithm II."""

    @property
    def multi_objective(self) -> bool:
        return True

    def objectives(self) -> Objectives:  # type: ignore[override]
        return Objectives.create(
            dict(self.sym_init_args.objectives) if self.sym_init_args.objectives else None,
            "max",
            dict(self.sym_init_args.constraints or {}),
        )

    def _reset(self) -> None:
        self._parents: list[tuple[np.ndarray, np.ndarray, float]] = []
        self._offspring: list[tuple[np.ndarray, np.ndarray, float]] = []
        self._queue: deque[np.ndarray] = deque()
        self._rank = np.zeros(0)
        self._initializer = None
        if self.population_init is not None:
            self._initializer = self.population_init.clone(deep=True)
            self._initializer.setup(self.dna_spec)
        self._crowding = np.zeros(0)

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        out = np.empty((n, self._codec.num_slots))
        for i in range(n):
            if not self._queue:
                self._queue.extend(self._breed())
            out[i] = self._queue.popleft()
        return out

    def _breed(self) -> np.ndarray:
        """The next generation's offspring (random ones while no parents exist)."""
        codec = self._codec
        size = self.population_size
        if not self._parents:
            if self._initializer is not None:
                return initial_with(self._initializer, codec, size)
            return codec.random(size, self._rng)
        genomes = np.stack([p[0] for p in self._parents])
        first = self._tournament(size)
        second = self._tournament(size)
        children = genomes[first].copy()
        cross = self._rng.random(size) < self.crossover_prob
        step = self._num_proposals
        if cross.any():
            a, b = genomes[first[cross]], genomes[second[cross]]
            if self.crossover is None:
                children[cross] = codec.crossover(a, b, self._rng)
            else:
                children[cross] = recombine_with(self.crossover, codec, self.dna_spec, a, b, step)
        if self.mutator is None:
            return codec.mutate(children, self._rng, self.mutation_rate)
        return mutate_with(self.mutator, codec, self.dna_spec, children, step)

    def _tournament(self, n: int) -> np.ndarray:
        """Binary tournaments by the crowded-comparison operator."""
        a = self._rng.integers(0, len(self._parents), n)
        b = self._rng.integers(0, len(self._parents), n)
        a_wins = (self._rank[a] < self._rank[b]) | (
            (self._rank[a] == self._rank[b]) & (self._crowding[a] >= self._crowding[b])
        )
        return np.where(a_wins, a, b)

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            if reward is not None:
                self._offspring.append((genome.copy(), reward, float(violation)))
        if len(self._offspring) >= self.population_size and not self._queue:
            self._select()

    def _select(self) -> None:
        """Environmental selection over parents and offspring."""
        pool = self._parents + self._offspring
        self._offspring = []
        rewards = np.stack([p[1] for p in pool])
        violations = np.array([p[2] for p in pool])
        chosen: list[int] = []
        ranks: list[int] = []
        crowd: list[float] = []
        for rank, front in enumerate(non_dominated_sort(rewards, violations)):
            distance = crowding_distance(rewards[front])
            if len(chosen) + len(front) > self.population_size:
                order = np.argsort(-distance, kind="stable")[: self.population_size - len(chosen)]
                front, distance = front[order], distance[order]
            chosen.extend(front.tolist())
            ranks.extend([rank] * len(front))
            crowd.extend(distance.tolist())
            if len(chosen) >= self.population_size:
                break
        self._parents = [pool[i] for i in chosen]
        self._rank = np.array(ranks, dtype=np.float64)
        self._crowding = np.array(crowd, dtype=np.float64)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict | None:
        if (
            self.population_init is not None
            or self.mutator is not None
            or self.crossover is not None
        ):
            return None  # PyGlove operators draw from random streams of their own
        slots = self._codec.num_slots
        return {
            "parents": _pack_members(self._parents, slots),
            "offspring": _pack_members(self._offspring, slots),
            "queue": pack_genomes(self._queue, slots),
            "rank": pack_array(self._rank),
            "crowding": pack_array(self._crowding),
        }

    def _load_state(self, state: dict) -> None:
        self._parents = _unpack_members(state["parents"])
        self._offspring = _unpack_members(state["offspring"])
        self._queue = deque(unpack_array(state["queue"]))
        self._rank = unpack_array(state["rank"])
        self._crowding = unpack_array(state["crowding"])


def _pack_members(members: list[tuple[np.ndarray, np.ndarray, float]], slots: int) -> dict:
    """(genome, reward vector, violation) members as JSON."""
    return {
        "genomes": pack_genomes((m[0] for m in members), slots),
        "rewards": pack_array([m[1] for m in members] if members else np.zeros((0, 0))),
        "violations": pack_array([m[2] for m in members]),
    }


def _unpack_members(packed: dict) -> list[tuple[np.ndarray, np.ndarray, float]]:
    genomes, rewards = unpack_array(packed["genomes"]), unpack_array(packed["rewards"])
    violations = unpack_array(packed["violations"]).tolist()
    return list(zip(genomes, rewards, violations, strict=True))
