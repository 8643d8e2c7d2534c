"""Algorithm checkpoints: ``state_dict`` saved after k trials and loaded into a fresh algorithm
gives the same next proposals as the uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces

# Choices, a float and a conditional sub-space (inactive slots in some genomes).
SPACE = pg.Dict(
    x=[pg.oneof(list(range(5))) for _ in range(4)],
    lr=pg.floatv(0.0, 1.0),
    block=pg.oneof([pg.Dict(kind="a", width=pg.oneof([8, 16, 32])), pg.Dict(kind="b")]),
)

FACTORIES = {
    "regularized_evolution": lambda: algorithms.RegularizedEvolution(
        population_size=6, tournament_size=3, metric="f", seed=3
    ),
    "nsga2": lambda: algorithms.NSGA2(
        population_size=6, objectives={"f": "max", "g": "min"}, seed=3
    ),
    "random": lambda: algorithms.RandomSearch(metric="f", seed=3),
    "tpe": lambda: algorithms.TPE(metric="f", n_startup_trials=4, n_ei_candidates=6, seed=3),
    "local_search": lambda: algorithms.LocalSearch(metric="f", num_init=3, seed=3),
    "bananas": lambda: algorithms.BANANAS(
        metric="f", num_init=4, k=5, num_ensemble=1, num_layers=1, layer_width=4, epochs=3, seed=3
    ),
}


def _metrics(codec, genome: np.ndarray, trial: int) -> dict[str, float] | None:
    """A deterministic objective with a failed trial now and then."""
    if trial % 7 == 5:
        return None
    spec = codec.decode(genome)
    f = sum(spec["x"]) + spec["lr"]
    return {"f": f, "g": float(spec["x"][0] * spec["lr"])}


def _step(algo, codec, trial: int, per_round: int) -> np.ndarray:
    genomes = algo.propose_batch(per_round)
    algo.feedback_batch(genomes, [_metrics(codec, g, trial + i) for i, g in enumerate(genomes)])
    return genomes


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_loaded_state_proposes_what_the_uninterrupted_run_proposes(name):
    codec = spaces.compile(SPACE)
    per_round, rounds, more = 2, 9, 6
    straight = FACTORIES[name]()
    straight.bind(codec, 0)
    for r in range(rounds):
        _step(straight, codec, r * per_round, per_round)
    state = json.loads(json.dumps(straight.state_dict(), allow_nan=False))
    assert state["num_proposals"] == rounds * per_round
    resumed = FACTORIES[name]()
    resumed.bind(codec, 0)
    resumed.load_state_dict(state)
    assert resumed.num_proposals == straight.num_proposals
    assert resumed.num_feedbacks == straight.num_feedbacks
    for r in range(rounds, rounds + more):
        expected = _step(straight, codec, r * per_round, per_round)
        got = _step(resumed, codec, r * per_round, per_round)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["regularized_evolution", "nsga2", "random", "tpe"])
def test_state_taken_with_proposals_pending_resumes_them(name):
    """A checkpoint between a proposal and its feedback (asynchronous scheduling)."""
    codec = spaces.compile(SPACE)
    straight = FACTORIES[name]()
    straight.bind(codec, 0)
    for r in range(8):
        _step(straight, codec, r, 1)
    pending = straight.propose_batch(2)
    state = json.loads(json.dumps(straight.state_dict()))
    resumed = FACTORIES[name]()
    resumed.bind(codec, 0)
    resumed.load_state_dict(state)
    for algo in (straight, resumed):
        algo.feedback_batch(pending[1:], [_metrics(codec, pending[1], 9)])
    np.testing.assert_array_equal(resumed.propose_batch(3), straight.propose_batch(3))


def test_a_fresh_state_differs_from_a_later_one():
    """The state holds the random stream: two checkpoints of one run differ."""
    codec = spaces.compile(SPACE)
    algo = FACTORIES["regularized_evolution"]()
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
    algo = FACTORIES["random"]()
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
