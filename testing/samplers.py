"""Conformance checks of a path sampler (``algorithms.samplers``).

:func:`check_sampler` takes a factory of fresh samplers, a space and a supernet of that space,
and raises ``AssertionError`` naming the sampler and what is wrong: a step samples a non-empty
path, ``config`` and ``state_dict`` are JSON (with epochs ending and, for a sampler that
``observes_data`` or ``observes_valid``, made-up batches observed between steps; each sampler
bound to the supernet its ``prepare`` gives), a state loaded into a fresh sampler gives the same
paths as the sampler it came from, and a sampler that ``requires`` a capability refuses a
supernet without it with an error that names the capability.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from symnas import programs, spaces
from symnas.algorithms.samplers.base import SAMPLERS, PathSampler
from symnas.programs.supernet_base import has_capability
from symnas.spaces.examples import examples
from symnas.testing.families import families_with_supernet

MakeSampler = Callable[[], PathSampler]

#: The family registered samplers are checked on: its supernet is ``sized`` and its specs hold
#: the fields PreNAS groups by. A sampler defined for one ``family`` is checked on that family's
#: example, one requiring a capability this supernet lacks on the first example that has it.
SAMPLER_FAMILY = "vit"
STEPS_PER_EPOCH = 3


def _example_supernet(family: str) -> tuple[Any, Any]:
    """The family's example space and its supernet."""
    space = examples()[family].obj()
    return space, programs.supernet(space)


def registered_sampler(name: str, num_specs: int = 6) -> tuple[MakeSampler, Any, Any]:
    """``(factory, space, supernet)`` to check the registered sampler ``name`` on the example
    of its ``family``, else of :data:`SAMPLER_FAMILY` (or of the first family with the
    capability it requires); a sampler whose constructor requires ``specs`` gets ``num_specs``
    distinct specs of the space."""
    cls = SAMPLERS.get(name).obj
    space, supernet = _example_supernet(cls.family or _family_for(cls.requires))
    specs = inspect.signature(cls).parameters.get("specs")
    options = {}
    if specs is not None and specs.default is specs.empty:
        codec = spaces.compile(space)
        options["specs"] = [
            codec.decode(g) for g in codec.distinct(num_specs, np.random.default_rng(0))
        ]
    return (lambda: cls(**options)), space, supernet


def _family_for(capability: str | None) -> str:
    """:data:`SAMPLER_FAMILY`, or the first example family whose supernet has ``capability``."""
    if capability is None or has_capability(_example_supernet(SAMPLER_FAMILY)[1], capability):
        return SAMPLER_FAMILY
    for family in families_with_supernet():
        if has_capability(_example_supernet(family)[1], capability):
            return family
    raise AssertionError(f"no example family has a supernet with the {capability!r} capability")


def _json(label: str, what: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{label}: {what} is not JSON ({error})") from None


def _run(sampler: PathSampler, rng: np.random.Generator, steps: int) -> list[str]:
    """``steps`` training steps with made-up losses (and made-up batches of 4 of 16 examples for
    a sampler that observes data), an epoch ending every ``STEPS_PER_EPOCH`` steps; each path as
    canonical JSON."""
    paths = []
    epochs = steps // STEPS_PER_EPOCH + 1
    for step in range(steps):
        specs = sampler.sample(rng)
        assert specs, f"{type(sampler).__name__}: sample() returned an empty path"
        sampler.update(specs, [float(step + i) for i in range(len(specs))])
        if sampler.observes_valid:
            logits = [torch.as_tensor(rng.normal(size=(4, 3)), dtype=torch.float32) for _ in specs]
            sampler.observe_valid(specs, logits, torch.as_tensor(rng.integers(3, size=4)))
        if sampler.observes_data:
            for _ in specs:
                indices = rng.integers(16, size=4)
                logits = torch.as_tensor(rng.normal(size=(4, 3)), dtype=torch.float32)
                sampler.observe_data(indices, logits, torch.as_tensor(rng.integers(3, size=4)))
        if (step + 1) % STEPS_PER_EPOCH == 0:
            sampler.end_epoch((step + 1) // STEPS_PER_EPOCH - 1, epochs)
            weights = sampler.data_weights(16)
            if weights is not None:
                paths.append(json.dumps(np.round(weights, 12).tolist()))
        paths.append(json.dumps(specs, sort_keys=True, default=str))
    return paths


def _bound(sampler: PathSampler, space: Any, supernet: Any) -> PathSampler:
    """``sampler`` bound to ``space`` and the supernet it trains (its ``prepare(supernet)``)."""
    return sampler.bind(space, sampler.prepare(supernet))


def check_state_round_trip(
    make_sampler: MakeSampler, space: Any, supernet: Any, steps: int = 6
) -> None:
    """A sampler's state after ``steps`` steps, loaded into a fresh one, gives the paths the
    first one samples next (with equal random generators)."""
    trained = _bound(make_sampler(), space, supernet)
    label = type(trained).__name__
    _json(label, "config()", trained.config())
    _run(trained, np.random.default_rng(0), steps)
    state = _json(label, "state_dict()", trained.state_dict())
    fresh = _bound(make_sampler(), space, supernet)
    fresh.load_state_dict(state)
    assert _json(label, "state_dict()", fresh.state_dict()) == state, (
        f"{label}: state_dict() after load_state_dict(state) is not that state"
    )
    expected = _run(trained, np.random.default_rng(1), steps)
    got = _run(fresh, np.random.default_rng(1), steps)
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b), None)
    assert at is None, (
        f"{label}: loaded from the state of another sampler, it sampled {got[at]} at step {at}, "
        f"that sampler {expected[at]}"
    )


def _lacking(capability: str) -> Any:
    """The supernet of the first example family without ``capability``, or None."""
    for family in families_with_supernet():
        _, supernet = _example_supernet(family)
        if not has_capability(supernet, capability):
            return supernet
    return None


def check_capability_refused(
    make_sampler: MakeSampler, space: Any, supernet: Any, lacking: Any = None
) -> None:
    """A sampler that ``requires`` a capability binds to a supernet that has it and refuses
    ``lacking`` (by default an example supernet without it) with a ``TypeError`` naming it."""
    sampler = make_sampler()
    label = type(sampler).__name__
    if sampler.requires is None:
        return
    assert has_capability(supernet, sampler.requires), (
        f"{label} requires {sampler.requires!r}; check it on a supernet that has it"
    )
    lacking = lacking if lacking is not None else _lacking(sampler.requires)
    if lacking is None:
        return
    try:
        _bound(make_sampler(), space, lacking)
    except TypeError as error:
        assert repr(sampler.requires) in str(error), (
            f"{label}: the error for a supernet without {sampler.requires!r} does not name "
            f"it: {error}"
        )
        return
    raise AssertionError(
        f"{label} requires {sampler.requires!r} but bound to {type(lacking).__name__}, which "
        "lacks it"
    )


def check_sampler(make_sampler: MakeSampler, space: Any, supernet: Any) -> None:
    """Every path-sampler check on the samplers ``make_sampler()`` returns."""
    check_state_round_trip(make_sampler, space, supernet)
    check_capability_refused(make_sampler, space, supernet)
