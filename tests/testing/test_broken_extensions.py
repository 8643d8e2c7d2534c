"""The conformance kit fails extensions that break a contract, with a message naming it."""

from __future__ import annotations

import itertools

import numpy as np
import pyglove as pg
import pytest

from symnas.algorithms import RandomSearch
from symnas.algorithms.samplers.base import PathSampler
from symnas.core.registry import Entry
from symnas.programs.data import Dataset, synthetic
from symnas.programs.supernet_base import has_capability
from symnas.testing import (
    check_dataset,
    check_generator,
    check_sampler,
    check_space,
    registered_sampler,
)
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


def test_a_space_factory_that_is_not_repeatable_or_states_no_size_fails():
    widths = itertools.count(1)
    drifting = Entry("drifting", lambda: pg.Dict(w=pg.oneof([next(widths), 99])), "2 architectures")
    with pytest.raises(AssertionError, match="drifting: two calls of the factory give different"):
        check_space(drifting)
    unsized = Entry("unsized", lambda: pg.Dict(w=pg.oneof([1, 2])), "a small space")
    with pytest.raises(AssertionError, match="unsized: the description 'a small space' states no"):
        check_space(unsized)
    check_space(Entry("fine", lambda: pg.Dict(w=pg.oneof([1, 2])), "2 architectures"))


def _short_of_a_class() -> Dataset:
    data = synthetic(40, (2,), 3, seed=0)
    keep = data.y_train != 2
    data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
    return data


def test_a_dataset_that_is_not_repeatable_or_misses_a_class_fails():
    seeds = itertools.count()
    changing = Entry("changing", lambda: synthetic(40, (2,), 2, seed=next(seeds)), "")
    with pytest.raises(AssertionError, match=r"changing: two loads differ \(train\)"):
        check_dataset(changing)
    with pytest.raises(AssertionError, match=r"missing: classes \[2\] have no training sample"):
        check_dataset(Entry("missing", _short_of_a_class, ""))
    check_dataset(Entry("fine", lambda: synthetic(40, (2,), 2, seed=0), ""))
