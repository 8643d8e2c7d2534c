"""Compiled search spaces: a PyGlove hyper-value flattened once into arrays.

``pg.materialize`` is exact but clones the symbolic tree for every candidate; a search loop
that proposes thousands of candidates spends most of its time there. ``compile(space)`` walks
the space's ``pg.DNASpec`` once and returns a :class:`Codec` that works on *genomes*: one numpy
row per candidate with one slot per decision point of the DNASpec (in its pre-order, the order
of ``DNA.to_numbers()``). Slots of conditional sub-spaces that the parent choice does not
select are inactive and hold a fixed filler (``-1`` for choices, ``nan`` for floats), so every
architecture has exactly one genome.

The codec is the one place that knows how a DNA is laid out: ``decode`` gives the plain JSON
spec (what ``pg.to_json(pg.materialize(space, dna))`` gives, without symbolic cloning),
``to_dna``/``from_dna`` convert exactly to and from ``pg.DNA``, and ``random``/``mutate``/
``crossover`` are vectorised genome operators for the search algorithms.

Custom decision points (``pg.hyper.CustomHyper``, e.g. a grammar derivation from
``spaces.grammar``) get one slot each. Their DNA value is a string; the slot holds a 48-bit
content hash of it (exact in a float64), and the strings are kept in a process-wide table that
``random``, ``mutate``, ``crossover`` and ``from_dna`` fill, so the same value has the same genome
in every process. The space provides the slot's operators: a hyper-value with the methods of
:class:`CustomValueHooks` (``GrammarHyper`` has them) mutates and recombines its values itself;
any other custom decision point, a ``CustomHyper`` or a bare ``pg.geno.custom`` of a DNA spec
that has only a ``random_dna_fn``, is drawn with ``random_dna_fn(random, None)``, mutated as
PyGlove's ``Uniform`` mutator does (``random_dna_fn(random, previous DNA)``, drawn again while
it returns the old value) and crossed over by inheriting one parent's value.
"""

from __future__ import annotations

import hashlib
import math
import random as random_module
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyglove as pg

INACTIVE_CHOICE = -1.0
_CUSTOM_VALUES: dict[float, str] = {}


def custom_id(value: str) -> float:
    """The genome value of a custom decision's DNA string (registered for decoding)."""
    if not isinstance(value, str):
        raise ValueError(f"A custom decision's DNA value must be a string; got {value!r:.80}.")
    key = float(int.from_bytes(hashlib.blake2b(value.encode(), digest_size=6).digest(), "big"))
    known = _CUSTOM_VALUES.setdefault(key, value)
    if known != value:
        raise RuntimeError(f"codec: hash collision between custom values {known!r} and {value!r}.")
    return key


def custom_value(key: float) -> str | None:
    """The DNA string of a custom slot's genome value (None if this process never saw it)."""
    return _CUSTOM_VALUES.get(float(key))


@runtime_checkable
class CustomValueHooks(Protocol):
    """Operators a custom hyper-value provides for its slot (values are DNA strings)."""

    def random_value(self, rng: Any) -> str: ...

    def mutate_value(self, value: str, rng: Any) -> str: ...

    def crossover_value(self, a: str, b: str, rng: Any) -> str: ...

    def check_value(self, value: str) -> str: ...

    def decode_value(self, value: str) -> Any: ...

    def num_values(self) -> int | float: ...


class _PlainCustomHooks:
    """Hooks for a custom decision point that has only PyGlove's ``random_dna_fn`` (and, when
    it comes from a ``CustomHyper``, that hyper-value's ``custom_decode``)."""

    def __init__(self, dp: pg.geno.CustomDecisionPoint) -> None:
        self._random_dna = dp.random_dna_fn
        hyper = getattr(dp.random_dna_fn, "__self__", None)
        self._hyper = hyper if isinstance(hyper, pg.hyper.CustomHyper) else None

    def _draw(self, rng: Any, previous: str | None) -> str:
        seeded = random_module.Random(int(rng.integers(2**63)))
        return self._random_dna(seeded, None if previous is None else pg.DNA(previous)).value

    def random_value(self, rng: Any) -> str:
        return self._draw(rng, None)

    def mutate_value(self, value: str, rng: Any) -> str:
        for _ in range(16):
            new = self._draw(rng, value)
            if new != value:
                return new
        return value

    def crossover_value(self, a: str, b: str, rng: Any) -> str:
        return a

    def check_value(self, value: str) -> str:
        return value

    def decode_value(self, value: str) -> Any:
        # Decoding is there only for codecs of hyper-values, whose custom points are CustomHyper.
        return pg.to_json(self._hyper.custom_decode(pg.DNA(value)))

    def num_values(self) -> float:
        return math.inf


def _hooks_of(dp: pg.geno.CustomDecisionPoint) -> CustomValueHooks:
    hyper = getattr(dp.random_dna_fn, "__self__", None)
    if isinstance(hyper, CustomValueHooks):
        return hyper
    if dp.random_dna_fn is None:
        raise TypeError(
            f"Custom decision point {str(dp.id)!r} has no random_dna_fn; symnas needs one to "
            "draw its values (pg.geno.custom(random_dna_fn=...) or a pg.hyper.CustomHyper with "
            "random_dna)."
        )
    return _PlainCustomHooks(dp)


@dataclass(frozen=True)
class Slot:
    """One decision point of a DNASpec: a categorical choice or a float."""

    index: int
    path: str
    is_float: bool
    num_candidates: int  # 0 for floats
    low: float
    high: float
    parent: int  # slot index of the conditioning choice, -1 at the top level
    parent_value: int  # candidate index of ``parent`` that activates this slot
    group: int  # index into Codec.groups for the sub-choices of a pg.manyof, else -1
    literals: tuple[str, ...]  # candidate texts, for error messages
    is_custom: bool = False  # a custom decision point (value: a registered DNA string)


@dataclass(frozen=True)
class Group:
    """The sub-choices of one ``pg.manyof`` decision."""

    slots: tuple[int, ...]
    distinct: bool
    sorted: bool


def _collect_slots(
    dna_spec: pg.DNASpec,
) -> tuple[list[Slot], list[Group], list[int], dict[int, CustomValueHooks]]:
    """Flattens a DNASpec into slots in DNA pre-order; also returns the top-level unit roots
    and the hooks of the custom slots."""
    slots: list[Slot] = []
    groups: list[Group] = []
    units: list[int] = []
    hooks: dict[int, CustomValueHooks] = {}

    def add_choice(dp: pg.geno.Choices, parent: int, parent_value: int, group: int) -> None:
        index = len(slots)
        if not dp.candidates:
            raise ValueError(f"Decision point {str(dp.id)!r} has no candidates.")
        slots.append(
            Slot(
                index=index,
                path=str(dp.id),
                is_float=False,
                num_candidates=len(dp.candidates),
                low=0.0,
                high=float(len(dp.candidates) - 1),
                parent=parent,
                parent_value=parent_value,
                group=group,
                literals=tuple(str(v) for v in (dp.literal_values or range(len(dp.candidates)))),
            )
        )
        for value, candidate in enumerate(dp.candidates):
            walk_space(candidate, index, value)

    def walk_element(dp: Any, parent: int, parent_value: int) -> None:
        if parent < 0:
            units.append(len(slots))
        if isinstance(dp, pg.geno.Choices):
            if dp.num_choices == 1:
                add_choice(dp, parent, parent_value, -1)
                return
            group_index = len(groups)
            starts = []
            for k in range(dp.num_choices):
                starts.append(len(slots))
                add_choice(dp.subchoice(k), parent, parent_value, group_index)
            groups.append(Group(tuple(starts), bool(dp.distinct), bool(dp.sorted)))
        elif isinstance(dp, pg.geno.Float):
            slots.append(
                Slot(
                    index=len(slots),
                    path=str(dp.id),
                    is_float=True,
                    num_candidates=0,
                    low=float(dp.min_value),
                    high=float(dp.max_value),
                    parent=parent,
                    parent_value=parent_value,
                    group=-1,
                    literals=(),
                )
            )
        elif isinstance(dp, pg.geno.CustomDecisionPoint):
            hooks[len(slots)] = _hooks_of(dp)
            slots.append(
                Slot(
                    index=len(slots),
                    path=str(dp.id),
                    is_float=False,
                    num_candidates=0,
                    low=0.0,
                    high=0.0,
                    parent=parent,
                    parent_value=parent_value,
                    group=-1,
                    literals=(),
                    is_custom=True,
                )
            )
        else:
            raise TypeError(
                f"Decision point {str(dp.id)!r} is a {type(dp).__name__}; symnas spaces support "
                "pg.oneof, pg.manyof, pg.floatv and pg.hyper.CustomHyper."
            )

    def walk_space(space: pg.geno.Space, parent: int, parent_value: int) -> None:
        for element in space.elements:
            walk_element(element, parent, parent_value)

    walk_space(dna_spec, -1, 0)
    return slots, groups, units, hooks


def _space_size(dna_spec: pg.DNASpec) -> float | int:
    """Number of distinct DNAs of a DNASpec (``math.inf`` when it holds a float)."""

    def space_size(space: pg.geno.Space) -> float | int:
        size: float | int = 1
        for element in space.elements:
            factor = element_size(element)
            size = math.inf if math.inf in (size, factor) else size * factor
        return size

    def element_size(dp: Any) -> float | int:
        if isinstance(dp, pg.geno.Float):
            return math.inf
        if isinstance(dp, pg.geno.CustomDecisionPoint):
            return _hooks_of(dp).num_values()
        sizes = [space_size(c) for c in dp.candidates]
        k = dp.num_choices
        if k == 1:
            return math.inf if math.inf in sizes else sum(sizes)
        if math.inf in sizes:
            return math.inf
        if dp.distinct:
            elementary = _elementary_symmetric(sizes, k)
            return elementary if dp.sorted else elementary * math.factorial(k)
        if dp.sorted:
            return _complete_symmetric(sizes, k)
        return sum(sizes) ** k

    return space_size(dna_spec)


def _elementary_symmetric(values: list[int], k: int) -> int:
    e = [1] + [0] * k
    for v in values:
        for j in range(k, 0, -1):
            e[j] += e[j - 1] * v
    return e[k]


def _complete_symmetric(values: list[int], k: int) -> int:
    h = [1] + [0] * k
    for v in values:
        for j in range(1, k + 1):
            h[j] += h[j - 1] * v
    return h[k]


Decoder = Callable[[list], Any]


class _TemplateBuilder:
    """Builds a decoder closure from a hyper-value, consuming slots in DNA pre-order."""

    def __init__(self, slots: list[Slot], hooks: dict[int, CustomValueHooks]) -> None:
        self._slots = slots
        self._hooks = hooks
        self._next = 0

    def done(self) -> None:
        if self._next != len(self._slots):
            raise AssertionError("codec: the hyper-value and its DNASpec disagree on layout.")

    def build(self, value: Any) -> Decoder:
        if isinstance(value, pg.hyper.ManyOf):
            return self._many(value)
        if isinstance(value, pg.hyper.CustomHyper):
            index = self._take()
            hooks, slot = self._hooks[index], self._slots[index]
            return lambda g: hooks.decode_value(_custom_string(slot, g[index]))
        if isinstance(value, pg.hyper.OneOf):
            index = self._take()
            slot = self._slots[index]
            if all(_is_scalar(c) for c in value.candidates):
                literals = [pg.to_json(c) for c in value.candidates]
                return lambda g: literals[_candidate(slot, g[index])]
            options = [self.build(c) for c in value.candidates]
            return lambda g: options[_candidate(slot, g[index])](g)
        if isinstance(value, pg.hyper.Float):
            index = self._take()
            return lambda g: g[index]
        if isinstance(value, pg.hyper.HyperValue):
            raise TypeError(
                f"Unsupported hyper value {type(value).__name__} at {value.sym_path!s}; "
                "symnas spaces support pg.oneof, pg.manyof and pg.floatv."
            )
        if isinstance(value, pg.Object):
            type_name = type(value).__type_name__
            fields = [(str(k), self.build(v)) for k, v in value.sym_items()]

            def decode_object(g: list) -> dict:
                out = {"_type": type_name}
                for k, f in fields:
                    out[k] = f(g)
                return out

            return decode_object
        if isinstance(value, dict):
            items = value.sym_items() if isinstance(value, pg.Symbolic) else value.items()
            fields = [(str(k), self.build(v)) for k, v in items]
            return lambda g: {k: f(g) for k, f in fields}
        if isinstance(value, list):
            parts = [self.build(v) for v in value]
            return lambda g: [f(g) for f in parts]
        literal = pg.to_json(value)
        if isinstance(literal, (dict, list)):
            return lambda g: _json_copy(literal)
        return lambda g: literal

    def _take(self) -> int:
        index = self._next
        self._next += 1
        return index

    def _many(self, value: pg.hyper.ManyOf) -> Decoder:
        parts = []
        for _ in range(value.num_choices):
            index = self._take()
            options = [self.build(c) for c in value.candidates]
            parts.append((self._slots[index], index, options))
        return lambda g: [options[_candidate(slot, g[index])](g) for slot, index, options in parts]


def _candidate(slot: Slot, value: Any) -> int:
    """The candidate index a choice slot holds; ``ValueError`` naming the slot otherwise."""
    try:
        index = int(value)
    except (TypeError, ValueError, OverflowError):
        index = -1
    if 0 <= index < slot.num_candidates and index == value:
        return index
    raise ValueError(
        f"Decision point {slot.path!r}: value {value!r} is not a candidate index; allowed "
        f"0..{slot.num_candidates - 1} for candidates {list(slot.literals)}."
    )


def _custom_string(slot: Slot, value: Any) -> str:
    """The registered DNA string of a custom slot's value; ``ValueError`` otherwise."""
    number = isinstance(value, (int, float))
    string = custom_value(value) if number else None
    if string is None:
        raise ValueError(
            f"Decision point {slot.path!r} (custom): genome value "
            f"{float(value) if number else value!r} is no value this "
            "process has drawn or read; read the genome through from_dna/from_numbers first."
        )
    return string


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


class Codec:
    """Vectorised genome operations and exact conversions for one search space.

    Build it with :func:`compile` (from a hyper-value: every operation, including ``decode``)
    or :meth:`Codec.from_dna_spec` (from a ``pg.DNASpec``: genome operations and DNA conversion,
    which is what a ``pg.DNAGenerator`` receives in ``setup``).
    """

    def __init__(self, dna_spec: pg.DNASpec, space: Any = None) -> None:
        self.dna_spec = dna_spec
        self.space = space
        self.slots, self.groups, self._units, self._hooks = _collect_slots(dna_spec)
        n = len(self.slots)
        self.num_slots = n
        self._is_float = np.array([s.is_float for s in self.slots], dtype=bool)
        self._custom = sorted(self._hooks)
        self._num_candidates = np.array([max(s.num_candidates, 1) for s in self.slots])
        self._low = np.array([s.low for s in self.slots])
        self._high = np.array([s.high for s in self.slots])
        self._parent = np.array([s.parent for s in self.slots], dtype=np.int64)
        self._parent_value = np.array([s.parent_value for s in self.slots], dtype=np.float64)
        self._conditional = [i for i in range(n) if self.slots[i].parent >= 0]
        self._mutable = (self._num_candidates > 1) | self._is_float
        self._mutable[self._custom] = True
        self._in_distinct = np.zeros(n, dtype=bool)
        for group in self.groups:
            cols = list(group.slots)
            self._in_distinct[cols] = group.distinct
            if group.distinct and group.sorted and len(cols) == self._num_candidates[cols[0]]:
                self._mutable[cols] = False  # the one sorted selection of every candidate
        self._filler = np.where(self._is_float, np.nan, INACTIVE_CHOICE)
        # Keys of spaces of choices alone hold one byte per decision (exact: every choice is
        # -1 for inactive or a candidate index below 128); floats and custom values need float64.
        small = all(
            not s.is_float and not s.is_custom and s.num_candidates <= 127 for s in self.slots
        )
        self.key_type = np.dtype(np.int8 if small else np.float64)
        # Every slot belongs to the top-level unit (a top-level decision with its sub-tree, or
        # a whole pg.manyof) that crossover exchanges as a whole.
        self._unit_of = np.zeros(n, dtype=np.int64)
        unit_starts = self._units + [n]
        for u in range(len(self._units)):
            self._unit_of[unit_starts[u] : unit_starts[u + 1]] = u
        self.size = _space_size(dna_spec)
        levels: list[int] = []
        for slot in self.slots:
            levels.append(0 if slot.parent < 0 else levels[slot.parent] + 1)
        self._depth = max(levels, default=0) + 1
        self._decoder: Decoder | None = None
        if space is not None:
            builder = _TemplateBuilder(self.slots, self._hooks)
            self._decoder = builder.build(space)
            builder.done()

    @classmethod
    def from_dna_spec(cls, dna_spec: pg.DNASpec) -> Codec:
        """A codec without a hyper-value (no ``decode``/``materialize``)."""
        return cls(dna_spec)

    # ----------------------------------------------------------------- activity and filler
    def active_mask(self, genomes: np.ndarray) -> np.ndarray:
        """Boolean mask of the slots that the genomes' choices activate."""
        genomes = np.atleast_2d(genomes)
        active = np.ones(genomes.shape, dtype=bool)
        for i in self._conditional:
            p = self._parent[i]
            active[:, i] = active[:, p] & (genomes[:, p] == self._parent_value[i])
        return active

    def _canonical(self, genomes: np.ndarray) -> np.ndarray:
        active = self.active_mask(genomes)
        return np.where(active, genomes, self._filler)

    # ----------------------------------------------------------------- genome operators
    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniformly random genomes (each decision point drawn uniformly)."""
        genomes = self._fresh(n, rng)
        return self._canonical(genomes)

    def distinct(self, n: int, rng: np.random.Generator, max_draws: int = 1_000_000) -> np.ndarray:
        """Up to ``n`` distinct random genomes: every architecture when the space has at most
        ``n`` (found by drawing, at most ``max_draws`` draws)."""
        target = min(n, self.size)
        seen: dict[bytes, np.ndarray] = {}
        draws = 0
        while len(seen) < target and draws < max_draws:
            batch = self.random(min(max(64, 2 * (target - len(seen))), max_draws - draws), rng)
            draws += len(batch)
            for genome in batch:
                seen.setdefault(self.key(genome), genome)
                if len(seen) == target:
                    break
        return np.stack(list(seen.values()))

    def _fresh(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Random values for every slot (active or not), honouring pg.manyof constraints."""
        u = rng.random((n, self.num_slots))
        genomes = np.where(
            self._is_float,
            self._low + u * (self._high - self._low),
            np.floor(u * self._num_candidates),
        )
        for group in self.groups:
            cols = list(group.slots)
            if group.distinct:
                keys = rng.random((n, int(self._num_candidates[cols[0]])))
                genomes[:, cols] = np.argsort(keys, axis=1)[:, : len(cols)]
            if group.sorted:
                self._sort_group(genomes, group)
        for c in self._custom:
            hooks = self._hooks[c]
            genomes[:, c] = [custom_id(hooks.random_value(rng)) for _ in range(n)]
        return genomes

    def _group_blocks(self, group: Group) -> np.ndarray:
        """Slot indices of a pg.manyof's sub-choices, one row per sub-choice: its choice slot
        followed by the slots of its candidates' sub-spaces (the same layout in every row)."""
        starts = np.array(group.slots)
        width = int(starts[1] - starts[0])
        return starts[:, None] + np.arange(width)

    def _redraw_distinct(
        self, genomes: np.ndarray, group: Group, pick: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Mutates the picked sub-choices of a distinct pg.manyof as PyGlove's uniform mutator
        does: each takes a candidate that no sub-choice of the group holds, drawn uniformly
        (so it always changes). When the group holds every candidate, the picked sub-choice
        swaps values with another one (unsorted groups only; a sorted one has no other value).
        """
        cols = list(group.slots)
        candidates = np.arange(int(self._num_candidates[cols[0]]), dtype=np.float64)
        for row in np.flatnonzero(pick[:, cols].any(axis=1)):
            values = genomes[row, cols]
            for position in np.flatnonzero(pick[row, cols]):
                free = np.setdiff1d(candidates, values)
                if free.size:
                    values[position] = rng.choice(free)
                else:
                    other = rng.choice(np.delete(np.arange(len(cols)), position))
                    values[[position, other]] = values[[other, position]]
            genomes[row, cols] = values

    def _sort_group(self, genomes: np.ndarray, group: Group) -> None:
        """Orders a sorted pg.manyof's sub-choices by value, each moving with its sub-tree."""
        blocks = self._group_blocks(group)
        order = np.argsort(genomes[:, list(group.slots)], axis=1, kind="stable")
        source = blocks[order].reshape(len(genomes), -1)
        genomes[:, blocks.ravel()] = np.take_along_axis(genomes, source, axis=1)

    def mutate(
        self, genomes: np.ndarray, rng: np.random.Generator, rate: float | None = None
    ) -> np.ndarray:
        """Mutated copies: each active decision changes with probability ``rate``.

        ``rate=None`` changes exactly one active decision per genome, chosen uniformly (the
        uniform mutator of PyGlove's evolution). A changed choice always takes another
        candidate; sub-spaces that a change activates are drawn at random.
        """
        genomes = np.array(np.atleast_2d(genomes), dtype=np.float64)
        n, width = genomes.shape
        mutable = self.active_mask(genomes) & self._mutable
        keys = rng.random((n, width))
        if rate is None:
            pick = np.zeros((n, width), dtype=bool)
            rows = np.flatnonzero(mutable.any(axis=1))
            pick[rows, np.where(mutable[rows], keys[rows], -1.0).argmax(axis=1)] = True
        else:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"mutate: 'rate' must be in [0, 1]; got {rate!r}.")
            pick = mutable & (keys < rate)
            # At least one change per genome that has anything to change.
            for row in np.flatnonzero(~pick.any(axis=1) & mutable.any(axis=1)):
                pick[row, rng.choice(np.flatnonzero(mutable[row]))] = True
        u = rng.random((n, width))
        new = np.where(
            self._is_float,
            self._low + u * (self._high - self._low),
            np.mod(genomes + 1 + np.floor(u * (self._num_candidates - 1)), self._num_candidates),
        )
        for c in self._custom:
            hooks, slot = self._hooks[c], self.slots[c]
            for r in np.flatnonzero(pick[:, c]):
                old = _custom_string(slot, genomes[r, c])
                new[r, c] = custom_id(hooks.mutate_value(old, rng))
        genomes = np.where(pick & ~self._in_distinct, new, genomes)
        for group in self.groups:
            if group.distinct:
                self._redraw_distinct(genomes, group, pick, rng)
            if group.sorted:
                self._sort_group(genomes, group)
        if not self._conditional:
            return genomes
        # Draw what a change activated; reset what it deactivated.
        fresh = self._fresh(n, rng)
        for _ in range(self._depth):
            missing = self.active_mask(genomes) & ((genomes == INACTIVE_CHOICE) | np.isnan(genomes))
            genomes = np.where(missing, fresh, genomes)
        return self._canonical(genomes)

    def crossover(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform crossover over top-level decisions (a sub-tree or a pg.manyof moves whole).

        A top-level custom decision recombines its two values with the space's own crossover
        (for a grammar: a subtree of one parent grafted into the other, which parent receives
        being the unit's coin flip)."""
        a = np.atleast_2d(a)
        b = np.atleast_2d(b)
        if a.shape != b.shape:
            raise ValueError(f"crossover: parents have shapes {a.shape} and {b.shape}.")
        take_b = rng.random((a.shape[0], len(self._units))) < 0.5
        child = np.where(take_b[:, self._unit_of], b, a)
        for c in self._custom:
            slot, hooks = self.slots[c], self._hooks[c]
            if slot.parent >= 0:
                continue
            for r in range(a.shape[0]):
                first, second = (b, a) if take_b[r, self._unit_of[c]] else (a, b)
                value = hooks.crossover_value(
                    _custom_string(slot, first[r, c]), _custom_string(slot, second[r, c]), rng
                )
                child[r, c] = custom_id(value)
        return child

    # ----------------------------------------------------------------- validation
    def validate(self, genome: Any) -> np.ndarray:
        """Checks a genome against the space; returns it as a float array.

        Raises ``ValueError`` naming the decision point and its allowed values.
        """
        g = np.asarray(genome, dtype=np.float64)
        if g.ndim != 1 or g.shape[0] != self.num_slots:
            raise ValueError(
                f"Genome has shape {g.shape}; this space has {self.num_slots} decision points "
                f"({', '.join(s.path for s in self.slots[:8])}{'...' if self.num_slots > 8 else ''})."
            )
        active = self.active_mask(g)[0]
        for s in self.slots:
            v = float(g[s.index])
            if not active[s.index]:
                continue
            if s.is_custom:
                self._hooks[s.index].check_value(_custom_string(s, v))
            elif s.is_float:
                if not (s.low <= v <= s.high):
                    raise ValueError(
                        f"Decision point {s.path!r}: value {v!r} is outside the allowed range "
                        f"[{s.low}, {s.high}]."
                    )
            elif not (np.isfinite(v) and v == int(v) and 0 <= v < s.num_candidates):
                raise ValueError(
                    f"Decision point {s.path!r}: value {v!r} is not a candidate index; allowed "
                    f"0..{s.num_candidates - 1} for candidates {list(s.literals)}."
                )
        for group in self.groups:
            values = g[list(group.slots)]
            path = self.slots[group.slots[0]].path.rsplit("[", 1)[0]
            if not active[group.slots[0]]:
                continue
            if group.distinct and len(set(values.tolist())) != len(values):
                raise ValueError(
                    f"Decision point {path!r} (pg.manyof, distinct=True) repeats a candidate: "
                    f"{values.astype(int).tolist()}."
                )
            if group.sorted and np.any(np.diff(values) < 0):
                raise ValueError(
                    f"Decision point {path!r} (pg.manyof, sorted=True) is not sorted: "
                    f"{values.astype(int).tolist()}."
                )
        return np.where(active, g, self._filler)

    # ----------------------------------------------------------------- conversions
    def decode(self, genome: np.ndarray) -> Any:
        """The plain JSON spec of a genome (equal to ``pg.to_json(materialize(...))``)."""
        if self._decoder is None:
            raise ValueError("This codec was built from a DNASpec only; use spaces.compile(space).")
        return self._decoder(np.asarray(genome).tolist())

    def materialize(self, genome: np.ndarray) -> Any:
        """The full symbolic object of a genome (slow path, via ``pg.materialize``)."""
        if self.space is None:
            raise ValueError("This codec was built from a DNASpec only; use spaces.compile(space).")
        return pg.materialize(self.space, self.to_dna(genome))

    def numbers(self, genome: np.ndarray) -> list[int | float | str]:
        """The active decisions in DNA order (``pg.DNA.to_numbers()`` of the genome)."""
        g = np.asarray(genome, dtype=np.float64)
        active = self.active_mask(g)[0]
        out: list[int | float | str] = []
        for i in np.flatnonzero(active):
            if self._is_float[i]:
                out.append(float(g[i]))
            elif i in self._hooks:
                out.append(_custom_string(self.slots[i], g[i]))
            else:
                out.append(int(g[i]))
        return out

    def from_numbers(self, numbers: list[int | float | str]) -> np.ndarray:
        """Inverse of :meth:`numbers`."""
        g = np.array(self._filler, dtype=np.float64)
        it = iter(numbers)
        for s in self.slots:
            if not self._is_active_chain(g, s.index):
                continue
            try:
                value = next(it)
                if s.is_custom:
                    value = custom_id(self._hooks[s.index].check_value(value))
                g[s.index] = value
            except StopIteration:
                raise ValueError(
                    f"Too few decisions: {len(numbers)} numbers run out at {s.path!r}."
                ) from None
        if next(it, None) is not None:
            raise ValueError(f"Too many decisions: {len(numbers)} numbers for this space.")
        return self.validate(g)

    def _is_active_chain(self, g: np.ndarray, index: int) -> bool:
        while self.slots[index].parent >= 0:
            s = self.slots[index]
            if g[s.parent] != s.parent_value:
                return False
            index = s.parent
        return True

    def to_dna(self, genome: np.ndarray) -> pg.DNA:
        """The exact ``pg.DNA`` of a genome, bound to the DNASpec."""
        return pg.DNA.from_numbers(self.numbers(genome), self.dna_spec)

    def from_dna(self, dna: pg.DNA) -> np.ndarray:
        """The genome of a ``pg.DNA`` (exact inverse of :meth:`to_dna`)."""
        if dna.spec is None:
            dna.use_spec(self.dna_spec)
        return self.from_numbers(dna.to_numbers())

    def key(self, genome: np.ndarray) -> bytes:
        """A hashable identity of the architecture a genome encodes: its values' bytes in
        ``key_type`` (one byte a decision in a space of choices, else float64)."""
        return np.asarray(genome, dtype=np.float64).astype(self.key_type).tobytes()


def compile(space: Any) -> Codec:  # noqa: A001 - the public name the API documents
    """Compiles a PyGlove hyper-value (or a ``pg.DNASpec``) into a :class:`Codec`."""
    if isinstance(space, pg.DNASpec):
        return Codec.from_dna_spec(space)
    if not isinstance(space, pg.Symbolic) or space.is_deterministic:
        raise TypeError(
            "spaces.compile expects a PyGlove hyper-value with at least one pg.oneof, "
            f"pg.manyof or pg.floatv; got {type(space).__name__}."
        )
    return Codec(pg.dna_spec(space), space)
