"""Conformance checks of a space factory: a name of ``spaces.SPACES`` or an ``Entry`` of one's own.

:func:`check_space` raises ``AssertionError`` naming the space when its factory does not give
the same symbolic space at each call, when its description states no size, when its compiled
codec holds no architecture, or when a random genome is not canonical, does not round-trip
through ``pg.DNA``, or decodes to something other than PyGlove's own
``pg.to_json(pg.materialize(space, dna))`` (or to something that is not JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyglove as pg

from symnas import spaces
from symnas.core.registry import Entry
from symnas.spaces.registry import SPACES

#: Words one of which a space's description uses to state its size.
SIZE_WORDS = ("architectures", "configurations", "derivations")


def _entry(space: str | Entry) -> Entry:
    return SPACES.get(space) if isinstance(space, str) else space


def check_space_factory(space: str | Entry) -> None:
    """The factory gives equal symbolic spaces at each call, and the description states a size."""
    entry = _entry(space)
    name = entry.name
    first, second = entry.obj(), entry.obj()
    assert pg.eq(first, second), f"{name}: two calls of the factory give different spaces"
    assert any(word in entry.description for word in SIZE_WORDS), (
        f"{name}: the description {entry.description!r} states no size (one of {SIZE_WORDS})"
    )


def check_space_codec(space: str | Entry, samples: int = 4, seed: int = 0) -> None:
    """The compiled space holds at least one architecture, and ``samples`` random genomes are
    canonical, round-trip through ``pg.DNA`` and decode as PyGlove materialises them."""
    entry = _entry(space)
    name, space = entry.name, entry.obj()
    codec = spaces.compile(space)
    assert codec.size >= 1, f"{name}: the compiled space holds {codec.size} architectures"
    for genome in codec.random(samples, np.random.default_rng(seed)):
        assert np.array_equal(codec.validate(genome), genome, equal_nan=True), (
            f"{name}: random genome {genome.tolist()} is not canonical"
        )
        dna = codec.to_dna(genome)
        assert np.array_equal(codec.from_dna(dna), genome, equal_nan=True), (
            f"{name}: genome {genome.tolist()} does not round-trip through pg.DNA {dna}"
        )
        spec = codec.decode(genome)
        expected = pg.to_json(pg.materialize(space, dna))
        assert spec == expected, (
            f"{name}: decode gives {spec!r:.300}, PyGlove materialises {expected!r:.300}"
        )
        json.dumps(spec)  # a decoded spec is plain JSON


SPACE_CHECKS: dict[str, Callable[..., None]] = {
    "factory": check_space_factory,
    "codec": check_space_codec,
}


def check_space(space: str | Entry, **options: Any) -> None:
    """Runs every check of :data:`SPACE_CHECKS` on a registered space's name or an ``Entry``
    (``Entry(name, factory, description)``; ``options`` go to the codec check: ``samples``,
    ``seed``)."""
    check_space_factory(space)
    check_space_codec(space, **options)
