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

``state_dict()`` checkpoints the search state as JSON-able values (random generator, counters
and the algorithm's own fields, arrays packed exactly) and ``load_state_dict(state)`` restores it
into an algorithm bound to the same space, so that its next proposals equal the uninterrupted
run's. An algorithm that does not implement the ``_state``/``_load_state`` pair itself (a
subclass inherits neither), or whose pluggable operators hold random streams of their own,
returns None: ``flows.search`` then resumes by replaying the whole log.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.objectives import Objectives
from symnas.spaces.codec import Codec

#: Types a packed array's values are stored in, narrowest first (see :func:`pack_array`).
PACKED_TYPES = ("int8", "int16", "int32", "float64")
STATE_FIELDS = ("algorithm", "num_proposals", "num_feedbacks", "rng", "state")


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

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any] | None:
        """The search state as JSON-able values, or None when this algorithm cannot checkpoint
        (it then resumes by replaying its history)."""
        if "_state" not in type(self).__dict__ or "_load_state" not in type(self).__dict__:
            return None
        own = self._state()
        if own is None:
            return None
        return {
            "algorithm": type(self).__name__,
            "num_proposals": self._num_proposals,
            "num_feedbacks": self._num_feedbacks,
            "rng": self._rng.bit_generator.state,
            "state": own,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores a ``state_dict()`` into this algorithm, bound to the same space."""
        name = type(self).__name__
        if "_load_state" not in type(self).__dict__:
            raise ValueError(f"{name} cannot load a saved state (it does not checkpoint).")
        if not isinstance(state, Mapping) or any(k not in state for k in STATE_FIELDS):
            raise ValueError(
                f"{name}.load_state_dict: the state must be a mapping with fields "
                f"{list(STATE_FIELDS)}; got {_describe(state)}."
            )
        if state["algorithm"] != name:
            raise ValueError(
                f"{name}.load_state_dict: 'algorithm' must be {name!r}; got {state['algorithm']!r}."
            )
        for field in ("num_proposals", "num_feedbacks"):
            value = state[field]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"{name}.load_state_dict: {field!r} must be a non-negative integer; got "
                    f"{value!r}."
                )
        try:
            self._rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(
                f"{name}.load_state_dict: 'rng' is not a state of "
                f"{type(self._rng.bit_generator).__name__} ({e})."
            ) from None
        try:
            self._load_state(state["state"])
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(
                f"{name}.load_state_dict: 'state' does not hold this algorithm's fields "
                f"({type(e).__name__}: {e})."
            ) from None
        self._num_proposals = state["num_proposals"]
        self._num_feedbacks = state["num_feedbacks"]

    def _state(self) -> dict[str, Any] | None:
        """The algorithm's own search state (JSON-able), or None when it cannot be saved."""
        return None

    def _load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_state`."""
        raise NotImplementedError


def pack_array(values: Any) -> dict[str, Any]:
    """A float64 array as JSON: its shape and the base64 bytes of the narrowest of
    ``PACKED_TYPES`` that holds every value exactly (the genomes of categorical spaces are small
    integers, one byte each); exact for NaN, infinities and negative zero. An integer array
    (such as int8 codec keys) is sized without a float64 copy."""
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        array = np.ascontiguousarray(array, dtype=np.float64)
    dtype = _exact_type(array)
    # Encoded from the (contiguous) array's buffer: no bytes copy, no copy when the type fits.
    data = base64.b64encode(np.ascontiguousarray(array.astype(dtype, copy=False))).decode()
    return {"shape": list(array.shape), dtype: data}


def _exact_type(array: np.ndarray) -> str:
    """The narrowest of ``PACKED_TYPES`` whose values equal ``array``'s (float64 for
    non-integers, NaN, infinities and negative zero)."""
    if array.size == 0:
        return "float64"
    if array.dtype.kind == "f" and (
        not np.all(np.isfinite(array))
        or np.any(array != np.round(array))
        or np.any(np.signbit(array) & (array == 0))
    ):
        return "float64"
    low, high = array.min(), array.max()
    for name in PACKED_TYPES[:-1]:
        limits = np.iinfo(name)
        if limits.min <= low and high <= limits.max:
            return name
    return "float64"


def unpack_array(packed: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`pack_array` (a writable float64 array)."""
    try:
        dtype = next(name for name in PACKED_TYPES if name in packed)
        data = base64.b64decode(packed[dtype], validate=True)
        return np.frombuffer(data, dtype=dtype).astype(np.float64).reshape(packed["shape"])
    except (StopIteration, KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"a packed array must hold 'shape' and data of a type in {list(PACKED_TYPES)} ({e})."
        ) from None


def pack_genomes(genomes: Iterable[np.ndarray], num_slots: int) -> dict[str, Any]:
    """Genomes (rows of ``num_slots`` values) as JSON."""
    rows = list(genomes)
    return pack_array(np.stack(rows) if rows else np.zeros((0, num_slots)))


def pack_keys(keys: Iterable[bytes], codec: Codec, ordered: bool = False) -> dict[str, Any]:
    """``codec.key`` values (the bytes of genomes in ``codec.key_type``) as JSON: a set's in
    sorted order, a sequence's (``ordered``) in its own."""
    joined = b"".join(keys if ordered else sorted(keys))
    return pack_array(np.frombuffer(joined, dtype=codec.key_type).reshape(-1, codec.num_slots))


def unpack_keys(packed: Mapping[str, Any], codec: Codec) -> set[bytes]:
    """Inverse of :func:`pack_keys`."""
    return {codec.key(row) for row in unpack_array(packed)}


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a mapping with fields {sorted(map(str, value))}"
    return f"a {type(value).__name__}"
