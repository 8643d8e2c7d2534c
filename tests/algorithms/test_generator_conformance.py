"""Every registered multi-trial algorithm passes the generator checks of ``symnas.testing``."""

from __future__ import annotations

import pytest

from symnas.testing import GENERATOR_CHECKS, multi_trial_names, registered_generator


@pytest.mark.parametrize("check", GENERATOR_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("name", multi_trial_names())
def test_registered_generator_conforms(name, check):
    check(registered_generator(name))
