"""EQ-Net's conditional quantization-aware accuracy predictor (``algorithms/cqap.py``)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.stats import kendalltau

from symnas import algorithms, flows, spaces
from symnas.algorithms.cqap import CQAPRegressor, QuantFeatures, cqap_filter, cqap_surrogate
from symnas.spaces.quantization import quantized


@pytest.fixture(scope="module")
def space():
    arch = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    return quantized(arch, bits=(2, 4, 8), granularity=("per_channel",))


SMALL = {"hidden_size": 64}  # EQ-Net's MLP and recipe, narrower, so that the tests are quick


def _specs(space, n: int, seed: int = 0) -> list[dict]:
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.distinct(n, np.random.default_rng(seed))]


def _record_pools(search) -> list[np.ndarray]:
    """The candidate pools the filter draws from its base algorithm, recorded as drawn."""
    pools: list[np.ndarray] = []
    propose = search.base.propose_batch

    def recording(n):
        pools.append(propose(n))
        return pools[-1]

    object.__setattr__(search.base, "propose_batch", recording)
    return pools


def bits_objective(spec) -> dict[str, float]:
    """A cheap accuracy stand-in that rises with every unit's bit-widths (log scale)."""
    units = spec["quant"]["units"].values()
    score = sum(np.log2(u["weight_bits"]) + 0.5 * np.log2(u["act_bits"]) for u in units)
    return {"accuracy": float(score + 0.3 * len(spec["arch"]["pool_at"]))}


def test_features_follow_the_bits_of_each_searched_unit(space):
    features = QuantFeatures(space)
    assert "layers.0" not in features.units and "fc" not in features.units  # fixed at 8 bits
    assert set(features.units) == {f"layers.{i}" for i in range(1, 10)}
    spec = _specs(space, 1)[0]
    other = copy.deepcopy(spec)
    unit = other["quant"]["units"]["layers.3"]
    unit["weight_bits"] = 2 if unit["weight_bits"] != 2 else 8
    a, b = features(spec), features(other)
    changed = sorted(k for k in a if a[k] != b[k])
    assert changed == sorted(
        f"layers.3.weight_bits={bits}"
        for bits in (spec["quant"]["units"]["layers.3"]["weight_bits"], unit["weight_bits"])
    )
    assert sum(v for k, v in a.items() if k.startswith("layers.5.act_bits=")) == 1.0
    assert a["granularity=per_channel"] == 1.0 and a["granularity=per_tensor"] == 0.0
    flipped = dict(spec, quant=dict(spec["quant"], symmetric=not spec["quant"]["symmetric"]))
    assert features(flipped)["symmetric"] == 1.0 - a["symmetric"]


def test_features_encode_the_architecture(space):
    features = QuantFeatures(space)
    spec = _specs(space, 1)[0]
    moved = copy.deepcopy(spec)
    moved["arch"]["pool_at"] = [1, 2] if spec["arch"]["pool_at"] != [1, 2] else [3, 6]
    a, b = features(spec), features(moved)
    arch_columns = [k for k in a if k.startswith("arch[")]
    assert arch_columns and any(a[k] != b[k] for k in arch_columns)
    assert all(a[k] == b[k] for k in a if not k.startswith("arch["))


def test_bad_specs_are_named(space):
    features = QuantFeatures(space)
    with pytest.raises(ValueError, match="decoded quantized spec"):
        features({"arch": {}})
    spec = _specs(space, 1)[0]
    spec["quant"]["units"]["layers.2"]["act_bits"] = 1
    with pytest.raises(ValueError, match="layers.2"):
        features(spec)
    with pytest.raises(TypeError, match="spaces.quantized"):
        QuantFeatures(spaces.resnet20_pooling())
    with pytest.raises(ValueError, match="hidden_size"):
        CQAPRegressor(hidden_size=0)


def test_the_predictor_ranks_held_out_mixed_precision_networks(space):
    specs = _specs(space, 160, seed=1)
    targets = [bits_objective(s)["accuracy"] for s in specs]
    surrogate = cqap_surrogate(space, seed=0, model_options=SMALL).fit(specs[:120], targets[:120])
    tau = kendalltau(surrogate.predict(specs[120:]), targets[120:]).statistic
    assert tau > 0.6


def test_the_regressor_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=40)
    a = CQAPRegressor(random_state=3, epochs=5).fit(x, y).predict(x)
    b = CQAPRegressor(random_state=3, epochs=5).fit(x, y).predict(x)
    np.testing.assert_array_equal(a, b)
    assert CQAPRegressor(random_state=3, epochs=1).fit(x, y)._base == pytest.approx(y.mean())


def test_the_filter_evaluates_the_predicted_best_of_its_candidates(space):
    base = algorithms.RegularizedEvolution(population_size=8, tournament_size=3, metric="accuracy")
    search = cqap_filter(
        base, space, candidates=5, warmup=12, refit_every=100, seed=0, model_options=SMALL
    )
    search.setup(spaces.compile(space).dna_spec)
    codec = search._decoder
    for _ in range(12):  # the warm-up, unfiltered
        genome = search.propose_batch(1)
        search.feedback_batch(genome, [bits_objective(codec.decode(genome[0]))])
    pools = _record_pools(search)
    for _ in range(5):
        kept = search.propose_batch(1)
        scores = search.surrogate.predict([codec.decode(g) for g in pools[-1]])
        assert len(pools[-1]) == 5
        best = pools[-1][int(np.argmax(scores))]
        assert codec.key(kept[0]) == codec.key(best)
        search.feedback_batch(kept, [bits_objective(codec.decode(kept[0]))])


def test_the_filtered_evolution_finds_better_networks_than_plain_evolution(space):
    plain, kept = [], []
    for seed in range(2):
        base = algorithms.RegularizedEvolution(
            population_size=8, tournament_size=3, metric="accuracy"
        )
        runs = {
            "plain": flows.search(space, bits_objective, base.clone(deep=True), budget=28,
                                  seed=seed, verbose=False),
            "kept": flows.search(space, bits_objective,
                                 cqap_filter(base, space, candidates=4, warmup=12,
                                             refit_every=8, model_options=SMALL),
                                 budget=28, seed=seed, verbose=False),
        }  # fmt: skip
        for name, result in runs.items():
            scores = [t.metrics["accuracy"] for t in result.trials[12:]]
            (plain if name == "plain" else kept).append(np.mean(scores))
    assert np.mean(kept) > np.mean(plain)


def test_a_prefitted_predictor_filters_from_the_first_trial_and_is_never_refitted(space):
    specs = _specs(space, 40, seed=2)
    predictor = cqap_surrogate(space, model_options=SMALL).fit(
        specs, [bits_objective(s)["accuracy"] for s in specs]
    )
    before = predictor.predict(specs[:5])
    base = algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="accuracy")
    search = cqap_filter(base, space, candidates=6, predictor=predictor)
    search.setup(spaces.compile(space).dna_spec)
    pools = _record_pools(search)
    for _ in range(8):
        kept = search.propose_batch(1)
        assert len(pools[-1]) == 6  # filtered from the very first trial
        search.feedback_batch(kept, [bits_objective(search._decoder.decode(kept[0]))])
    np.testing.assert_array_equal(search.surrogate.predict(specs[:5]), before)
