"""symnas.testing: the conformance kit, one check per extension kind.

Each check takes one registered entry (or a user's own object) and raises ``AssertionError``
with a message that names what is wrong; it needs no test framework, so a user checks an
extension with one import::

    from symnas.testing import check_generator
    check_generator(lambda: MyAlgorithm(seed=1), space)

- :func:`check_generator`: a multi-trial algorithm (PyGlove ``DNAGenerator`` contract, valid
  proposals, ``state_dict`` round trip, exact resume, batch path equal to the one-at-a-time
  path);
- :func:`check_sampler`: a path sampler (state round trip, its capability requirement);
- :func:`check_proxy`: a zero-cost proxy (finite and repeatable on every family's example);
- :func:`check_family`: a program family (the supernet contract and its capabilities);
- :func:`check_flow`: a flow (common options, declared options, result type);
- :func:`check_pruner`: a pruner (JSON settings and records, repeatable decisions, stops bad
  curves);
- :func:`check_space`: a space factory (the same space at each call, its size stated, its codec
  equal to PyGlove's materialisation);
- :func:`check_dataset`: a dataset (repeatable loads, valid splits and labels, batches that cover
  each split, a clear error for a file loader named without its folder).

The project's tests run these checks over every registry entry, so a new entry is checked with
no list to edit.
"""

from symnas.testing.datasets import check_dataset
from symnas.testing.families import FAMILY_CHECKS, check_family, families_with_supernet
from symnas.testing.flows import check_flow
from symnas.testing.generators import (
    CHECK_SPACE,
    GENERATOR_CHECKS,
    check_generator,
    multi_trial_names,
    registered_generator,
)
from symnas.testing.proxies import check_proxy
from symnas.testing.pruners import check_pruner
from symnas.testing.samplers import check_sampler, registered_sampler
from symnas.testing.spaces import SPACE_CHECKS, check_space

__all__ = [
    "CHECK_SPACE",
    "FAMILY_CHECKS",
    "GENERATOR_CHECKS",
    "SPACE_CHECKS",
    "check_dataset",
    "check_family",
    "check_flow",
    "check_generator",
    "check_proxy",
    "check_pruner",
    "check_sampler",
    "check_space",
    "families_with_supernet",
    "multi_trial_names",
    "registered_generator",
    "registered_sampler",
]
