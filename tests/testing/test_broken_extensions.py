"""The conformance kit fails extensions that break a contract, with a message naming it."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas.algorithms import RandomSearch
from symnas.algorithms.samplers.base import PathSampler
from symnas.programs.supernet_base import has_capability
from symnas.testing import check_generator, check_sampler, registered_sampler
from symnas.testing.generators import (
    check_batch_equals_one_at_a_time,
    check_exact_resume,
    check_state_round_trip,
    check_valid_proposals,
)


class ForgetfulSearch(RandomSearch):
    """Saves the proposals it has seen but loads nothing: a resumed run may repeat them."""

    def _state(self):  # defined here: state_dict() saves classes that define both methods
        return super()._state()

    def _load_state(self, state):
        del state


class TwoPathSearch(RandomSearch):
    """Proposes differently one at a time (PyGlove path) than in batches."""

    def _propose(self) -> pg.DNA:
        self._rng.random()
        return super()._propose()


class ForgetfulRecovery(RandomSearch):
    """Ignores the history it is asked to recover."""

    def recover(self, history):
        del history


class FillerlessSearch(RandomSearch):
    """Fills inactive choice slots with the first candidate instead of the filler -1."""

    def _propose_genomes(self, n: int) -> np.ndarray:
        genomes = super()._propose_genomes(n)
        genomes[genomes == -1] = 0
        return genomes


def test_a_working_generator_passes():
    check_generator(lambda: RandomSearch(seed=1))


def test_a_state_that_does_not_round_trip_fails_naming_the_state():
    with pytest.raises(AssertionError, match=r"ForgetfulSearch: loaded from its state_dict"):
        check_state_round_trip(lambda: ForgetfulSearch(seed=1), pg.Dict(x=pg.oneof(range(40))))


def test_a_batch_path_that_differs_from_one_at_a_time_fails_naming_both_paths():
    with pytest.raises(AssertionError, match=r"TwoPathSearch: the batch path .* one-at-a-time"):
        check_batch_equals_one_at_a_time(lambda: TwoPathSearch(seed=1))


def test_a_generator_that_ignores_its_history_fails_the_resume_check():
    with pytest.raises(AssertionError, match=r"ForgetfulRecovery: recovered from 12 trials"):
        check_exact_resume(lambda: ForgetfulRecovery(seed=1))


def test_a_non_canonical_genome_fails_naming_the_filler():
    with pytest.raises(
        AssertionError, match=r"FillerlessSearch: proposed .* not in canonical form .*filler"
    ):
        check_valid_proposals(lambda: FillerlessSearch(seed=1))


def test_an_unseeded_generator_fails_naming_the_seed():
    with pytest.raises(AssertionError, match="two runs with the same seed differ"):
        check_generator(lambda: RandomSearch(seed=None))


class SizedOnlyInName(PathSampler):
    """Claims to need ``sized`` supernets but binds to any: the requirement is not checked."""

    requires = "sized"

    def bind(self, space, supernet=None):
        self.codec, self.supernet = None, supernet
        return self

    def sample(self, rng: np.random.Generator):
        return [{"draw": int(rng.integers(10))}]


def test_a_sampler_that_binds_without_its_capability_fails():
    _, space, supernet = registered_sampler("sandwich")
    assert has_capability(supernet, "sized")
    with pytest.raises(AssertionError, match=r"SizedOnlyInName requires 'sized' but bound"):
        check_sampler(SizedOnlyInName, space, supernet)
