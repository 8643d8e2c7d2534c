"""GRAF features, surrogates (fit, predict, transfer) and the surrogate filter."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from symnas import algorithms, flows, spaces
from symnas.algorithms.graf import graf
from symnas.algorithms.surrogate import ZC_PROXIES, Surrogate, SurrogateFilter

CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"


def test_graf_features_of_an_nb201_cell():
    f = graf(spaces.nb201_arch(CELL))
    assert f["count_none"] == 3 and f["count_nor_conv_3x3"] == 1 and f["count_skip_connect"] == 1
    # Paths: 0 -skip-> 3 and 0 -none-> 2 -pool-> 3 is cut by the none edge; 0 -conv-> 1 leads
    # nowhere (1 -> 2 and 1 -> 3 are none).
    assert f["min_path_skip_connect"] == f["max_path_skip_connect"] == 1
    assert f["min_path_nor_conv_3x3"] == 0 and f["min_path_avg_pool_3x3"] == 0
    assert f["paths"] == pytest.approx(math.log(2))
    assert f["max_on_path_nor_conv_3x3"] == 0 and f["max_on_path_skip_connect"] == 1
    assert f["out_nor_conv_3x3"] == 1 and f["out_skip_connect"] == 1
    assert f["in_skip_connect"] == 1 and f["in_avg_pool_3x3"] == 1


def test_graf_features_of_grammar_derivations(hnb201_spec):
    cell = ["nor_conv_3x3", "nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1"]
    spec = hnb201_spec(cell)
    f = graf(spec)
    assert f["count_conv3x3o"] == 30 and f["count_conv1x1o"] == 15 and f["count_zero"] == 15
    assert f["count_resBlock"] == 2 and f["count_relu"] == f["count_batch"] == 45
    # Every input-to-output path crosses both resBlocks and the cells in between.
    assert f["min_path_conv+norm+act+pool+id+res"] > 2 and f["max_on_path_resBlock"] == 2
    assert f["min_path_res"] == 0 and f["min_path_conv+norm+act+pool+id"] == 0
    codec = spaces.compile(spaces.einspace(max_depth=6))
    for genome in codec.random(5, np.random.default_rng(0)):
        g = graf(codec.decode(genome))
        assert g["num_ops"] >= 1 and g["paths"] > 0
    with pytest.raises(ValueError, match="no vocabulary for spec type"):
        graf({"_type": "x"})


def test_bad_surrogate_settings_are_named():
    with pytest.raises(ValueError, match="model must be one of"):
        Surrogate(("graf",), model="svm")
    with pytest.raises(ValueError, match="target must be one of"):
        Surrogate(("graf",), target="rank")
    with pytest.raises(ValueError, match="'zc' features need zc_batch"):
        Surrogate(("graf", "zc"))
    with pytest.raises(ValueError, match="features must be 'graf', 'zc' or callables"):
        Surrogate(("paths",))
    with pytest.raises(ValueError, match="call fit"):
        Surrogate(("graf",)).predict([spaces.nb201_arch(CELL)])


def test_zero_cost_features_come_from_the_zero_cost_proxies():
    import torch

    torch.manual_seed(0)
    batch = (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    space = spaces.nb201_cell(C=4, N=1, num_classes=10, in_chans=1)
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(8, np.random.default_rng(0))]
    targets = [float(s["edges"].count("nor_conv_3x3")) for s in specs]
    model = Surrogate(("graf", "zc"), zc_batch=batch, zc_proxies=("synflow", "grad_norm"))
    model.fit(specs, targets)
    assert {"zc_synflow", "zc_grad_norm", "count_nor_conv_3x3"} <= set(model.columns)
    assert model.predict(specs).shape == (8,)


def nb201_rows(shared_data):
    with (shared_data / "nb201" / "nb201_cifar10.csv").open() as f:
        return list(csv.DictReader(f))


def test_graf_random_forest_ranks_held_out_nb201_cells(shared_data):
    rows = nb201_rows(shared_data)
    order = np.random.default_rng(0).permutation(len(rows))[:650]
    specs = [spaces.nb201_arch(rows[i]["arch_str"]) for i in order]
    y = np.array([float(rows[i]["test_acc"]) for i in order])
    model = Surrogate(("graf",), "random_forest", seed=0).fit(specs[:150], y[:150])
    tau = kendalltau(model.predict(specs[150:]), y[150:]).statistic
    assert tau > 0.5  # the paper's CIFAR-10 random forest: 0.648 on its own archive


def test_a_cifar10_surrogate_ranks_cifar100_cells(shared_data):
    with (shared_data / "nb201" / "naslib_zero_cost.csv").open() as f:
        rows = list(csv.DictReader(f))
    tables = {
        ds: {r["arch_str"]: r for r in rows if r["dataset"] == ds} for ds in ("cifar10", "cifar100")
    }
    arch = sorted(set(tables["cifar10"]) & set(tables["cifar100"]))[:300]
    specs = [spaces.nb201_arch(a) for a in arch]

    def lookup(dataset):
        def zc(spec):
            row = tables[dataset][spaces.nb201_arch_str(spec)]
            return {f"zc_{p}": float(row[p]) if row[p] else np.nan for p in ZC_PROXIES}

        return zc

    y10 = [float(tables["cifar10"][a]["val_accuracy"]) for a in arch]
    y100 = [float(tables["cifar100"][a]["val_accuracy"]) for a in arch]
    source = Surrogate(("graf", lookup("cifar10")), target="percentile").fit(specs, y10)
    predicted = source.for_task(("graf", lookup("cifar100"))).predict(specs)
    assert 0.0 <= predicted.min() and predicted.max() <= 1.0
    assert kendalltau(predicted, y100).statistic > 0.5


# ----------------------------------------------------------------------------- filter
def conv_objective(spec):
    """A cheap objective GRAF can learn: convolutions on the cell, minus pooling."""
    edges = spec["edges"]
    return {"score": 2.0 * edges.count("nor_conv_3x3") + edges.count("nor_conv_1x1")
            - edges.count("avg_pool_3x3")}  # fmt: skip


def filtered(seed: int = 0, **options) -> SurrogateFilter:
    base = algorithms.RegularizedEvolution(population_size=10, tournament_size=3, metric="score")
    settings = {"candidates": 4, "warmup": 10, "refit_every": 5, **options}
    surrogate = Surrogate(("graf",), seed=seed, model_options={"n_estimators": 30})
    return SurrogateFilter(base=base, surrogate=surrogate, **settings)


def test_the_filter_keeps_predicted_best_candidates_and_finds_better_cells():
    space = spaces.nb201_cell(C=4, N=1, num_classes=10, in_chans=1)
    plain, kept = [], []
    for seed in range(3):
        base = algorithms.RegularizedEvolution(
            population_size=10, tournament_size=3, metric="score"
        )
        runs = {
            "plain": flows.search(space, conv_objective, base, budget=30, seed=seed, verbose=False),
            "kept": flows.search(space, conv_objective, filtered(), budget=30, seed=seed, verbose=False),
        }  # fmt: skip
        for name, result in runs.items():
            scores = [t.metrics["score"] for t in result.trials[10:]]
            (plain if name == "plain" else kept).append(np.mean(scores))
    assert np.mean(kept) > np.mean(plain)


def test_the_filtered_search_is_deterministic_and_resumes_exactly(tmp_path):
    space = spaces.nb201_cell(C=4, N=1, num_classes=10, in_chans=1)
    whole = flows.search(space, conv_objective, filtered(), budget=24, seed=3, verbose=False)
    flows.search(space, conv_objective, filtered(), budget=14, seed=3, out=tmp_path, verbose=False)
    resumed = flows.search(
        space, conv_objective, filtered(), budget=24, seed=3, out=tmp_path, resume=True,
        verbose=False,
    )  # fmt: skip
    assert [t.spec for t in resumed.trials] == [t.spec for t in whole.trials]


def test_the_filter_needs_a_space_outside_flows():
    import pyglove as pg

    space = spaces.nb201_cell(C=4, N=1, num_classes=10, in_chans=1)
    with pytest.raises(ValueError, match="needs decoded specs"):
        next(pg.sample(space, filtered()))
    values = []
    for value, feedback in pg.sample(space, filtered(space=space, seed=0), num_examples=14):
        values.append(value)
        feedback(conv_objective(pg.to_json(value))["score"])
    assert len(values) == 14


def test_the_surrogate_is_a_cheap_objective():
    space = spaces.nb201_cell(C=4, N=1, num_classes=10, in_chans=1)
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(60, np.random.default_rng(1))]
    model = Surrogate(("graf",)).fit(specs, [conv_objective(s)["score"] for s in specs])
    result = flows.search(
        space, model.objective("score"), "regularized_evolution", budget=40, verbose=False
    )
    assert conv_objective(result.best.spec)["score"] >= 8
