"""Algorithm checkpoints: what a state holds, which algorithms have none, and the errors of a bad
state. That a loaded state gives the uninterrupted run's proposals is checked for every
registered algorithm by ``symnas.testing`` (``test_generator_conformance.py``)."""

from __future__ import annotations

import json

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.algorithms.base import pack_array, pack_genomes, unpack_array
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


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([[0, 1, -1], [5, 127, -128]], "int8"),
        ([300, -2, 7], "int16"),
        ([70000, 1], "int32"),
        ([2.0**40, 1], "float64"),
        ([0.5, 1.0], "float64"),
        ([1.0, np.nan, np.inf, -np.inf], "float64"),
        ([0.0, -0.0], "float64"),
        (np.zeros((0, 4)), "float64"),
    ],
)
def test_packed_arrays_use_the_narrowest_exact_type(values, dtype):
    packed = pack_array(values)
    assert dtype in packed and len(packed) == 2
    array = np.asarray(values, dtype=np.float64)
    unpacked = unpack_array(json.loads(json.dumps(packed)))
    assert unpacked.dtype == np.float64 and unpacked.flags.writeable
    assert unpacked.shape == array.shape
    assert unpacked.tobytes() == array.tobytes()  # bit for bit: NaN and -0.0 included


def test_categorical_genomes_pack_to_one_byte_per_value():
    genomes = np.random.default_rng(0).integers(-1, 10, size=(1000, 30)).astype(np.float64)
    assert len(json.dumps(pack_genomes(list(genomes), 30))) < genomes.size * 1.5
    with pytest.raises(ValueError, match=r"data of a type in \['int8', 'int16'"):
        unpack_array({"shape": [1], "float32": ""})
