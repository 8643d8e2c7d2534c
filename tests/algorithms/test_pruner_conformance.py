"""Every registered pruner passes ``symnas.testing.check_pruner``; a broken one fails it."""

from __future__ import annotations

import pytest

from symnas.algorithms.pruners import PRUNERS, Pruner
from symnas.testing import check_pruner


@pytest.mark.parametrize("name", sorted(PRUNERS.entries()))
def test_registered_pruner_conforms(name):
    check_pruner(name)


class NeverPrunes(Pruner):
    def prune(self, finished, current):
        return False


class PrunesBeforeReports(Pruner):
    def prune(self, finished, current):
        return len(finished) > 3


def test_broken_pruners_fail_with_their_name():
    with pytest.raises(AssertionError, match="NeverPrunes: stopped none"):
        check_pruner(NeverPrunes())
    with pytest.raises(AssertionError, match="PrunesBeforeReports: stopped a trial before"):
        check_pruner(PrunesBeforeReports())
