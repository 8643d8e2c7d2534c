"""Conformance check of a zero-cost proxy: a finite, repeatable score on every family's example.

:func:`check_proxy` builds one random network of each registered example space (seeded), scores
it twice on one seeded batch and raises ``AssertionError`` naming the proxy and the family when
the score is not finite (NaN is accepted from a proxy registered with ``nan_when_undefined``),
differs between the two calls, or when scoring changed the network's weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from symnas import programs, spaces
from symnas.algorithms import zero_cost
from symnas.algorithms.zero_cost.registry import PROXY_REGISTRY
from symnas.spaces.examples import examples


def example_network(family: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A seeded random network of the family's example space, with a batch of 8 and labels."""
    entry = examples()[family]
    codec = spaces.compile(entry.obj())
    spec = codec.decode(codec.random(1, np.random.default_rng(3))[0])
    torch.manual_seed(0)
    model = programs.build(spec)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, *entry.meta["input_shape"], generator=generator)
    with torch.no_grad():
        num_classes = model.eval()(x).shape[-1]
    y = torch.randint(0, num_classes, (8,), generator=generator)
    return model.train(), x, y


def check_proxy(name: str, families: list[str] | None = None) -> None:
    """The registered proxy ``name`` scores each family's example network (every registered
    example space when ``families`` is None) with a finite value, the same twice, leaving the
    weights untouched."""
    allow_nan = PROXY_REGISTRY.get(name).meta.get("nan_when_undefined", False)
    for family in families if families is not None else sorted(examples()):
        model, x, y = example_network(family)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        value = zero_cost.score(model, (x, y), proxies=[name])[name]
        again = zero_cost.score(model, (x, y), proxies=[name])[name]
        if not (allow_nan and math.isnan(value)):
            assert math.isfinite(value), f"{name} scores the {family} example {value}"
            assert value == again or math.isclose(value, again, rel_tol=1e-6), (
                f"{name} scores the {family} example {value}, then {again}"
            )
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        assert not changed, f"{name} changed the {family} example's weights: {changed[:5]}"
