"""The path-sampler contract: which sub-networks a supernet training step runs.

A sampler is bound to a space (``bind``), then each step asks it for the specs to run
(``sample(rng)``: one spec for single-path training, several for multi-path) and tells it the
losses they had (``update``), so adaptive samplers (importance sampling, few-shot routing) learn
from training. Its state is JSON (``state_dict``/``load_state_dict``), saved in supernet
checkpoints. The random generator belongs to the trainer, which checkpoints it too.

Samplers register by name (:func:`register_sampler`), so that :func:`create_sampler` makes one
from a name such as ``"uniform"``, ``"sandwich"`` or ``"preferred"``.

Optional hooks serve samplers that learn over epochs, over the data or from validation: ``end_epoch`` runs
after each epoch's last step; a sampler with ``observes_data`` receives the dataset indices,
logits and targets of every sub-network's batch (``observe_data``) and gives the probabilities
the trainer draws the next epoch's training indices with (``data_weights``; the draw itself is
the trainer's); a sampler with ``observes_valid`` receives, after every step, the eval-mode logits
of the step's specs on the next batch of the trainer's validation stream (``observe_valid``). A
sampler with ``split_batch`` has each spec of a step trained on its own equal share of the batch
(multi-architecture sampling) instead of on the whole batch. ``prepare(supernet)`` gives the
supernet that training with the sampler trains: the given one, or for a mixture sampler several
copies of it (the trainer trains and checkpoints what ``prepare`` returns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from symnas.core.registry import Registry
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

Spec = dict[str, Any]
S = TypeVar("S", bound=type)

# Every module of this package may register samplers; they are imported on a lookup miss.
SAMPLERS = Registry("path sampler", loaders=["symnas.algorithms.samplers.*"])


class PathSampler:
    """Base class of path samplers; subclasses implement ``sample``."""

    #: Capability the sampler needs from the supernet (``programs.supernet_base``), if any.
    requires: str | None = None
    #: The family (``programs`` registry name) the sampler is defined for, if only one.
    family: str | None = None
    #: Each spec of a step trains on its own share of the batch, not on the whole batch.
    split_batch: bool = False
    #: The trainer reports every batch (``observe_data``) and draws by ``data_weights``.
    observes_data: bool = False
    #: The trainer reports the step's specs scored on a validation batch (``observe_valid``).
    observes_valid: bool = False

    def prepare(self, supernet: Any) -> Any:
        """The supernet that training with this sampler trains (``supernet`` itself by default);
        the trainer calls it before ``bind``."""
        return supernet

    def bind(self, space: Any, supernet: Any = None) -> PathSampler:
        """Sets the sampler up on a space (or compiled codec; None for samplers of a fixed set of
        specs) and its supernet; returns self."""
        if space is None or isinstance(space, Codec):
            self.codec = space
        else:
            self.codec = compile_space(space)
        if self.requires is not None:
            from symnas.programs.supernet_base import require

            require(supernet, self.requires, type(self).__name__)
        self.supernet = supernet
        return self

    def sample(self, rng: np.random.Generator) -> list[Spec]:
        """The specs one training step runs (their losses are averaged)."""
        raise NotImplementedError

    def update(self, specs: Sequence[Spec], losses: Sequence[float]) -> None:
        """Receives the training loss of every spec of the last step (no-op by default)."""

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Called after the last step of epoch ``epoch`` (0-based) of ``epochs`` (no-op by
        default)."""

    def observe_data(self, indices: np.ndarray, logits: Any, targets: Any) -> None:
        """Receives the dataset indices, logits and targets of the examples one spec of the last
        step trained on (called only when ``observes_data``)."""

    def observe_valid(self, specs: Sequence[Spec], logits: Sequence[Any], targets: Any) -> None:
        """Receives the eval-mode logits of each spec of the last step on one validation batch
        and its targets (called only when ``observes_valid``)."""

    def data_weights(self, size: int) -> np.ndarray | None:
        """Probabilities over the ``size`` training examples for drawing the next epoch's
        indices (with replacement), or None for the trainer's plain shuffle."""
        return None

    def config(self) -> dict[str, Any]:
        """The sampler's settings, recorded in a checkpoint's fingerprint."""
        return {"type": type(self).__name__}

    def state_dict(self) -> dict[str, Any]:
        """The sampler's learned state as JSON (empty for stateless samplers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``."""
        if state:
            raise ValueError(f"{type(self).__name__} is stateless; got state {sorted(state)}.")

    def _random_spec(self, rng: np.random.Generator) -> Spec:
        if self.codec is None:
            raise ValueError(f"{type(self).__name__} draws from a space: bind it with space=...")
        return self.codec.decode(self.codec.random(1, rng)[0])


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return value


def register_sampler(name: str, description: str) -> Callable[[S], S]:
    """Class decorator: registers a :class:`PathSampler` subclass under ``name`` (with the
    capability it ``requires`` of the supernet and the ``family`` it is defined for as
    metadata)."""

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, PathSampler)):
            raise TypeError(
                f"register_sampler({name!r}) decorates a PathSampler subclass; got {cls!r}."
            )
        SAMPLERS.register(name, description, cls, requires=cls.requires, family=cls.family)
        return cls

    return decorate


def create_sampler(name: str, **options: Any) -> PathSampler:
    """A new path sampler by name, made with ``options``; an unknown name lists the valid ones."""
    return SAMPLERS.get(name).obj(**options)
