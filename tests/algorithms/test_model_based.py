"""TPE, local search and BANANAS: the algorithm contract, their parts, and search quality."""

from __future__ import annotations

import csv

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, flows, spaces
from symnas.algorithms import encodings
from symnas.algorithms.local_search import neighbours
from symnas.algorithms.tpe import _float_kernels, gamma, kernel_weights
from symnas.spaces.cells import nb201_arch_str

SPACE = pg.Dict(x=[pg.oneof(list(range(8))) for _ in range(6)])
# Conditional branches, pg.manyof (distinct, sorted, plain) and floats in one space.
MIXED = pg.Dict(
    branch=pg.oneof(
        [
            pg.Dict(kind="conv", width=pg.floatv(0.5, 2.0), kernel=pg.oneof([1, 3, 5])),
            pg.Dict(kind="attn", heads=pg.manyof(2, [1, 2, 4, 8], distinct=True, sorted=True)),
            "identity",
        ]
    ),
    blocks=pg.manyof(3, ["a", "b", "c", "d", "e"], distinct=True),
    repeat=pg.manyof(2, [0, 1, 2]),
    rate=pg.floatv(-1.0, 1.0),
)


def _small(name: str, seed: int = 3):
    """Each algorithm with settings small enough for a fast test."""
    settings = {
        "tpe": {"n_startup_trials": 5},
        "local_search": {"num_init": 3},
        "bananas": {"num_init": 5, "k": 4, "num_ensemble": 2, "num_layers": 2, "epochs": 30},
    }
    return algorithms.create(name, seed=seed, **settings[name])


NAMES = ["tpe", "local_search", "bananas"]


def _mixed_score(spec) -> float:
    branch = spec["branch"]
    score = spec["rate"] + len(set(spec["blocks"]) & {"a", "c"}) + sum(spec["repeat"])
    if isinstance(branch, dict) and branch["kind"] == "conv":
        score += branch["width"] + branch["kernel"]
    elif isinstance(branch, dict):
        score += sum(branch["heads"]) / 4
    return float(score)


@pytest.mark.parametrize("name", NAMES)
def test_valid_distinct_proposals_on_a_conditional_manyof_float_space(name):
    codec = spaces.compile(MIXED)
    algo = _small(name)
    algo.bind(codec)
    keys = set()
    for _ in range(12):
        genomes = algo.propose_batch(3)
        metrics = []
        for g in genomes:
            assert np.array_equal(codec.validate(g), g, equal_nan=True)  # valid and canonical
            keys.add(codec.key(g))
            metrics.append({"score": _mixed_score(codec.decode(g))})
        algo.feedback_batch(genomes, metrics)
    assert len(keys) == 36  # no architecture proposed twice


@pytest.mark.parametrize(
    ("name", "workers"), [(n, 1) for n in NAMES] + [("local_search", 2), ("bananas", 2)]
)
def test_resume_replays_the_log_exactly(tmp_path, name, workers):
    def search(budget, out=None, resume=False):
        return flows.search(
            MIXED,
            _mixed_score,
            _small(name),
            budget=budget,
            out=out,
            resume=resume,
            workers=workers,
            verbose=False,
        )

    straight = search(16)
    search(9, out=tmp_path)
    resumed = search(16, out=tmp_path, resume=True)
    assert [t.spec for t in resumed.trials] == [t.spec for t in straight.trials]


def _separable_best(algo, trials: int) -> float:
    codec = spaces.compile(SPACE)
    algo.bind(codec)
    best = -np.inf
    for _ in range(trials):
        g = algo.propose_batch(1)
        score = -float(np.abs(g - 5).sum())
        algo.feedback_batch(g, [{"objective": score}])
        best = max(best, score)
    return best


def test_each_beats_random_search_on_a_separable_problem():
    random_best = _separable_best(algorithms.RandomSearch(seed=0), 80)
    assert random_best < -3
    assert _separable_best(algorithms.TPE(seed=0), 80) > random_best
    assert _separable_best(algorithms.LocalSearch(seed=0), 120) == 0  # climbs to the optimum
    bananas = algorithms.BANANAS(seed=0, num_ensemble=3, num_layers=2, epochs=50)
    assert _separable_best(bananas, 80) > random_best


def test_independent_tpe_keeps_manyof_rules_and_conditions():
    codec = spaces.compile(MIXED)
    algo = algorithms.TPE(multivariate=False, n_startup_trials=4, seed=1)
    algo.bind(codec)
    for _ in range(20):
        genome = algo.propose_batch(1)
        assert np.array_equal(codec.validate(genome[0]), genome[0], equal_nan=True)
        algo.feedback_batch(genome, [{"score": _mixed_score(codec.decode(genome[0]))}])


def test_tpe_schedule_and_kernels():
    assert [gamma(n) for n in (1, 10, 11, 100, 1000)] == [1, 1, 2, 10, 25]
    w = kernel_weights(30)
    assert w[0] == pytest.approx(1 / 30) and np.all(w[5:] == 1.0) and np.all(np.diff(w) >= 0)
    assert np.all(kernel_weights(10) == 1.0)
    # Bandwidth: the larger gap to a neighbour, interior gap at the ends, magic clip from below.
    mus, sigmas, _, _ = _float_kernels(np.array([0.5, 0.1, 0.9, 0.52]), 0.0, 1.0)
    assert mus.tolist() == [0.5, 0.1, 0.9, 0.52, 0.5]
    assert sigmas == pytest.approx([0.4, 0.4, 0.38, 0.38, 1.0])
    _, sigmas, _, _ = _float_kernels(np.array([0.5, 0.5005]), 0.0, 1.0)
    assert sigmas[:2] == pytest.approx([1 / 4, 1 / 4])  # (high - low) / (1 + n_kernels)


def test_neighbours_change_one_decision_and_keep_manyof_rules():
    codec = spaces.compile(SPACE)
    genome = np.zeros(6)
    rows = neighbours(codec, genome, np.random.default_rng(0))
    assert len(rows) == 6 * 7
    assert np.all((rows != genome).sum(axis=1) == 1)
    mixed = spaces.compile(MIXED)
    rng = np.random.default_rng(1)
    for g in mixed.random(5, rng):
        for row in neighbours(mixed, g, rng):
            mixed.validate(row)
            assert mixed.key(row) != mixed.key(g)


def test_path_encodings():
    nb201 = spaces.compile(spaces.nb201_cell())
    encode = encodings.encoder(nb201)
    # The all-"none" cell: the four paths are none, none-none (twice) and none-none-none.
    features = encode(np.zeros((1, 6)))
    assert features.shape == (1, 155) and np.flatnonzero(features[0]).tolist() == [0, 5, 30]
    # A codec from the DNASpec alone (what pg.sample gives) encodes the same way.
    from_dna = encodings.encoder(spaces.compile(pg.dna_spec(spaces.nb201_cell())))
    g = nb201.random(4, np.random.default_rng(0))
    assert np.array_equal(from_dna(g), encode(g))
    darts = spaces.compile(spaces.darts_cell())
    genome = darts.random(1, np.random.default_rng(0))[0]
    for s in darts.slots:  # every node reads the two cell inputs: 2 paths per node and cell
        if ".inputs[" in s.path:
            genome[s.index] = float(s.path.endswith("[1]"))
    features = encodings.encoder(darts)(genome[None])
    assert features.shape == (1, 18720) and features.sum() == 16
    onehot = encodings.encoder(spaces.compile(MIXED))
    assert onehot(spaces.compile(MIXED).random(3, np.random.default_rng(0))).shape[0] == 3


def test_argument_errors_name_the_allowed_values():
    with pytest.raises(ValueError, match="first"):
        algorithms.LocalSearch(strategy="steepest")
    with pytest.raises(ValueError, match="its"):
        algorithms.BANANAS(acquisition="ei")
    with pytest.raises(ValueError, match="n_ei_candidates"):
        algorithms.TPE(n_ei_candidates=0)
    with pytest.raises(ValueError, match="NAS-Bench-201 or DARTS"):
        encodings.encoder(spaces.compile(SPACE), "path")
    with pytest.raises(ValueError, match=r"\['auto', 'path', 'onehot'\]"):
        encodings.encoder(spaces.compile(SPACE), "graph")


def test_on_the_nb201_table_tpe_and_local_search_beat_random(shared_data):
    with open(shared_data / "nb201" / "nb201_cifar10.csv") as f:
        table = {row["arch_str"]: float(row["test_acc"]) for row in csv.DictReader(f)}

    def mean_best(name: str) -> float:
        bests = []
        for seed in range(3):
            result = flows.search(
                spaces.nb201_cell(),
                lambda spec: table[nb201_arch_str(spec)],
                algorithms.create(name, seed=seed),
                budget=100,
                verbose=False,
            )
            bests.append(result.best.metrics["objective"])
        return float(np.mean(bests))

    random_best = mean_best("random")
    assert mean_best("tpe") > random_best + 0.1
    assert mean_best("local_search") > random_best + 0.1


@pytest.mark.parametrize("name", NAMES)
def test_no_architecture_is_proposed_twice_until_the_space_is_exhausted(name):
    """27 architectures, 27 proposals one at a time with feedback: every one is new."""
    codec = spaces.compile(pg.Dict(x=[pg.oneof([0, 1, 2]) for _ in range(3)]))
    algo = _small(name)
    algo.bind(codec, 0)
    seen = set()
    for _ in range(27):
        genome = algo.propose_batch(1)
        seen.add(codec.key(genome[0]))
        algo.feedback_batch(genome, [{"f": float(genome[0] @ [1.0, -2.0, 0.5])}])
    assert len(seen) == 27
