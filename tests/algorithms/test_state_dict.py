"""Algorithm checkpoints: what a state holds, which algorithms have none, and the errors of a bad
state. That a loaded state gives the uninterrupted run's proposals is checked for every
registered algorithm by ``symnas.testing`` (``test_generator_conformance.py``)."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.testing import CHECK_SPACE

SPACE = CHECK_SPACE  # choices, a float and a conditional sub-space


def _step(algo, codec, trial: int, per_round: int) -> np.ndarray:
    genomes = algo.propose_batch(per_round)
    algo.feedback_batch(genomes, [_metrics(codec, g, trial + i) for i, g in enumerate(genomes)])
    return genomes


def _metrics(codec, genome: np.ndarray, trial: int) -> dict[str, float] | None:
    """A deterministic objective with a failed trial now and then."""
    if trial % 7 == 5:
        return None
    spec = codec.decode(genome)
    return {"f": sum(spec["x"]) + spec["lr"]}


def test_a_fresh_state_differs_from_a_later_one():
    """The state holds the random stream: two checkpoints of one run differ."""
    codec = spaces.compile(SPACE)
    algo = algorithms.RegularizedEvolution(population_size=6, tournament_size=3, metric="f", seed=3)
    algo.bind(codec, 0)
    first = algo.state_dict()
    _step(algo, codec, 0, 3)
    assert algo.state_dict()["rng"] != first["rng"]
    assert algo.state_dict()["num_feedbacks"] == 3


def test_custom_operators_and_subclasses_have_no_state():
    codec = spaces.compile(SPACE)
    custom = algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, population_init=pg.geno.Random(seed=1)
    )
    custom.bind(codec, 0)
    assert custom.state_dict() is None

    class Tweaked(algorithms.RegularizedEvolution):
        """A user subclass: its extra state is unknown to the checkpoint."""

    sub = Tweaked(population_size=4, tournament_size=2)
    sub.bind(codec, 0)
    assert sub.state_dict() is None


def test_load_state_dict_names_the_bad_field():
    codec = spaces.compile(SPACE)
    algo = algorithms.RandomSearch(metric="f", seed=3)
    algo.bind(codec, 0)
    state = algo.state_dict()
    with pytest.raises(ValueError, match="'algorithm' must be 'RandomSearch'"):
        algo.load_state_dict({**state, "algorithm": "TPE"})
    with pytest.raises(ValueError, match="'num_feedbacks' must be a non-negative integer"):
        algo.load_state_dict({**state, "num_feedbacks": -1})
    with pytest.raises(ValueError, match="fields"):
        algo.load_state_dict({"rng": state["rng"]})
    with pytest.raises(ValueError, match="'rng' is not a state"):
        algo.load_state_dict({**state, "rng": {"bit_generator": "MT19937"}})
    with pytest.raises(ValueError, match="'state' does not hold"):
        algo.load_state_dict({**state, "state": {}})
