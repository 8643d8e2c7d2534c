"""Every registered path sampler passes the sampler check of ``symnas.testing``."""

from __future__ import annotations

import pytest

from symnas.algorithms.samplers.base import SAMPLERS
from symnas.testing import check_sampler, registered_sampler


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_registered_sampler_conforms(name):
    check_sampler(*registered_sampler(name))
