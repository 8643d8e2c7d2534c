"""Local search with random restarts.

White, Nolen, Ray and Savani, "Local Search is State of the Art for Neural Architecture Search
Benchmarks", ICML 2021 AutoML workshop (reference code: naszilla ``local_search``). Each run
draws ``num_init`` (10) random architectures and starts from the best; it then evaluates the
neighbours of the current architecture (every architecture that differs in one decision) in a
random order. ``strategy="first"`` (the reference default) moves to the first neighbour better
than the current architecture; ``strategy="best"`` evaluates the whole neighbourhood and moves to
its best if that improves. A neighbourhood without improvement is a local optimum: the search
restarts from ``num_init`` fresh random architectures. No architecture is evaluated twice.

Neighbours on a compiled space: each active choice takes each of its other candidates (newly
activated sub-spaces are drawn at random; a ``pg.manyof`` keeps its ``distinct``/``sorted``
rules, so a sub-choice cannot take a value another sub-choice holds); a float takes
``float_neighbours`` values drawn uniformly from its range. When a batch asks for more proposals
than the current step has (parallel workers waiting on results), the rest are random.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyglove as pg

from symnas.algorithms.base import (
    SearchAlgorithm,
    pack_array,
    pack_genomes,
    pack_keys,
    unpack_array,
    unpack_keys,
)
from symnas.algorithms.encodings import reject_custom
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.registry import register_algorithm
from symnas.core.redraw import random_unseen
from symnas.spaces.codec import INACTIVE_CHOICE, Codec

STRATEGIES = ("first", "best")


def neighbours(
    codec: Codec, genome: np.ndarray, rng: np.random.Generator, float_neighbours: int = 4
) -> np.ndarray:
    """Every genome one decision away from ``genome`` (rows, distinct, in slot order)."""
    genome = np.asarray(genome, dtype=np.float64)
    active = codec.active_mask(genome)[0]
    group_of = {s: g for g in codec.groups for s in g.slots}
    out: dict[bytes, np.ndarray] = {}
    for slot in codec.slots:
        if not active[slot.index]:
            continue
        if slot.is_float:
            values = slot.low + rng.random(float_neighbours) * (slot.high - slot.low)
        else:
            values = [v for v in range(slot.num_candidates) if v != genome[slot.index]]
        group = group_of.get(slot.index)
        for value in values:
            child = genome.copy()
            child[slot.index] = value
            if group is not None:
                cols = list(group.slots)
                if group.distinct and len(set(child[cols].tolist())) < len(cols):
                    continue
                if group.sorted:
                    child[cols] = np.sort(child[cols])
            child = _activate(codec, child, rng)
            key = codec.key(child)
            if key != codec.key(genome):
                out.setdefault(key, child)
    if not out:
        return np.empty((0, codec.num_slots))
    return np.stack(list(out.values()))


def _activate(codec: Codec, genome: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws the decisions a change activated and clears those it deactivated."""
    fresh = _fresh_values(codec, rng)
    for _ in range(codec.num_slots):
        missing = codec.active_mask(genome)[0] & ((genome == INACTIVE_CHOICE) | np.isnan(genome))
        if not missing.any():
            break
        genome = np.where(missing, fresh, genome)
    filler = np.array([np.nan if s.is_float else INACTIVE_CHOICE for s in codec.slots])
    return np.where(codec.active_mask(genome)[0], genome, filler)


def _fresh_values(codec: Codec, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn value for every slot, active or not, honouring ``pg.manyof`` rules."""
    values = np.array(
        [
            rng.uniform(s.low, s.high) if s.is_float else float(rng.integers(s.num_candidates))
            for s in codec.slots
        ]
    )
    for group in codec.groups:
        cols = list(group.slots)
        if group.distinct:
            values[cols] = rng.permutation(codec.slots[cols[0]].num_candidates)[: len(cols)]
        if group.sorted:
            values[cols] = np.sort(values[cols])
    return values


@register_algorithm(
    "local_search",
    "neighbourhood search with random restarts (White et al. 2021)",
    small={"num_init": 3},
)
@pg.members(
    [
        ("metric", pg.typing.Str().noneable(), "Metric to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        ("num_init", pg.typing.Int(min_value=1, default=10), "Random architectures per run."),
        ("strategy", pg.typing.Enum("first", list(STRATEGIES)), "first or best improvement."),
        ("float_neighbours", pg.typing.Int(min_value=1, default=4), "Values tried per float."),
    ]
)
class LocalSearch(SearchAlgorithm):
    """Neighbourhood search (first or best improvement) with random restarts."""

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        reject_custom(self._codec, "LocalSearch")
        self._first = self.strategy == "first"
        self._seen: set[bytes] = set()
        self._epoch = 0  # changes whenever the search moves or restarts
        self._owner: dict[bytes, int] = {}  # proposal key -> epoch it was proposed in
        self._outstanding = 0  # proposals of the current epoch awaiting feedback
        self._current: tuple[np.ndarray, float] | None = None
        self._best_step: tuple[np.ndarray, float] | None = None
        self._restart()

    def _restart(self) -> None:
        self._epoch += 1
        self._outstanding = 0
        self._phase = "init"
        self._init_left = self.num_init
        self._init_results: list[tuple[np.ndarray, float]] = []
        self._queue: deque[np.ndarray] = deque()

    def _move(self, genome: np.ndarray, reward: float) -> None:
        self._epoch += 1
        self._outstanding = 0
        self._phase = "neighbours"
        self._current = (genome, reward)
        self._best_step = None
        self._queue = self._shuffled_neighbours(genome)
        if not self._queue:
            self._restart()

    def _shuffled_neighbours(self, genome: np.ndarray) -> deque:
        rows = neighbours(self._codec, genome, self._rng, self.float_neighbours)
        rows = rows[self._rng.permutation(len(rows))]
        return deque(g for g in rows if self._codec.key(g) not in self._seen)

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        out = np.empty((n, self._codec.num_slots))
        for i in range(n):
            genome, epoch = self._next()
            key = self._codec.key(genome)
            self._seen.add(key)
            self._owner[key] = epoch
            if epoch == self._epoch:
                self._outstanding += 1
            out[i] = genome
        return out

    def _next(self) -> tuple[np.ndarray, int]:
        """The next proposal and the epoch it belongs to (0: a filler outside any step)."""
        while True:
            if self._phase == "init" and self._init_left > 0:
                self._init_left -= 1
                return random_unseen(self._codec, self._rng, self._seen), self._epoch
            if self._phase == "neighbours":
                while self._queue:
                    genome = self._queue.popleft()
                    if self._codec.key(genome) not in self._seen:
                        return genome, self._epoch
                if self._outstanding == 0:
                    self._conclude()
                    continue
            return random_unseen(self._codec, self._rng, self._seen), 0

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            key = self._codec.key(genome)
            self._seen.add(key)
            if self._owner.pop(key, None) != self._epoch:
                continue  # a filler, a pg.sample trial, or a step already left behind
            self._outstanding -= 1
            value = -np.inf if reward is None or violation > 0 else float(reward[0])
            self._step(np.array(genome, dtype=np.float64), value)

    def _step(self, genome: np.ndarray, value: float) -> None:
        if self._phase == "init":
            self._init_results.append((genome, value))
            if self._init_left == 0 and self._outstanding == 0:
                best = max(self._init_results, key=lambda t: t[1])
                self._move(*best)
            return
        current = self._current[1]
        if self._first and value > current:
            self._move(genome, value)
            return
        if self._best_step is None or value > self._best_step[1]:
            self._best_step = (genome, value)
        if not self._queue and self._outstanding == 0:
            self._conclude()

    def _conclude(self) -> None:
        """Ends a neighbourhood: moves to its best when that improves (best improvement),
        otherwise restarts."""
        best = self._best_step
        if not self._first and best is not None and best[1] > self._current[1]:
            self._move(*best)
        else:
            self._restart()

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        slots = self._codec.num_slots
        owners = list(self._owner.items())
        return {
            "seen": pack_keys(self._seen, self._codec),
            "epoch": self._epoch,
            "owner_genomes": pack_keys([k for k, _ in owners], self._codec, ordered=True),
            "owner_epochs": [e for _, e in owners],
            "outstanding": self._outstanding,
            "current": _pack_point(self._current, slots),
            "best_step": _pack_point(self._best_step, slots),
            "phase": self._phase,
            "init_left": self._init_left,
            "init_results": {
                "genomes": pack_genomes((g for g, _ in self._init_results), slots),
                "values": pack_array([v for _, v in self._init_results]),
            },
            "queue": pack_genomes(self._queue, slots),
        }

    def _load_state(self, state: dict) -> None:
        self._seen = unpack_keys(state["seen"], self._codec)
        self._epoch = int(state["epoch"])
        owners = unpack_array(state["owner_genomes"])
        self._owner = {
            self._codec.key(g): int(e) for g, e in zip(owners, state["owner_epochs"], strict=True)
        }
        self._outstanding = int(state["outstanding"])
        self._current = _unpack_point(state["current"])
        self._best_step = _unpack_point(state["best_step"])
        self._phase = str(state["phase"])
        self._init_left = int(state["init_left"])
        results = state["init_results"]
        self._init_results = list(
            zip(
                unpack_array(results["genomes"]),
                unpack_array(results["values"]).tolist(),
                strict=True,
            )
        )
        self._queue = deque(unpack_array(state["queue"]))


def _pack_point(point: tuple[np.ndarray, float] | None, slots: int) -> dict | None:
    """A (genome, value) pair as JSON (None stays None)."""
    if point is None:
        return None
    return {"genome": pack_genomes([point[0]], slots), "value": pack_array([point[1]])}


def _unpack_point(packed: dict | None) -> tuple[np.ndarray, float] | None:
    if packed is None:
        return None
    return unpack_array(packed["genome"])[0], float(unpack_array(packed["value"])[0])
