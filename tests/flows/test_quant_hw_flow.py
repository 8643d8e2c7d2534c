"""The ``quant-hw-nested`` flow: objective, options, registration (``flows/quant_hw_flow.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from symnas import algorithms, spaces
from symnas.algorithms.cqap import cqap_surrogate
from symnas.algorithms.surrogate import SurrogateFilter
from symnas.flows import quant_hw_flow
from symnas.flows.quant_hw_flow import QuantCoDesignObjective, _inner, quant_hw_nested
from symnas.spaces.quantization import quant_spec, quantized

ARCH = {
    "_type": "symnas.spaces.pooling.PoolingSpace",
    "channels": [16, 16, 16, 16, 32, 32, 32, 64, 64, 64],
    "pool_at": [3, 8],
    "num_classes": 10,
    "in_chans": 1,
    "image_size": 8,
}
UNITS = [f"layers.{i}" for i in range(10)] + ["fc"]
HW = {"rows": 16, "cols": 16, "dataflow": "os", "precisions": [2, 4, 8]}


def mean_bits_accuracy(spec) -> float:
    """A stand-in accuracy that rises with the mean weight width."""
    widths = [u["weight_bits"] for u in spec["quant"]["units"].values()]
    return 0.5 + 0.05 * float(np.mean(widths))


@pytest.fixture(scope="module")
def objective():
    return QuantCoDesignObjective(mean_bits_accuracy, (1, 8, 8), target_latency_ms=0.05)


def test_supported_pairs_are_priced_at_their_widths(objective):
    eight, four = quant_spec(ARCH, 8), quant_spec(ARCH, 4)
    fused = dict(HW, bit_fusion=True)
    m8, m4 = objective(fused, eight), objective(fused, four)
    assert m8["unsupported_units"] == m4["unsupported_units"] == 0.0
    assert m4["latency_ms"] < m8["latency_ms"] and m4["energy"] < m8["energy"]
    assert m8["accuracy"] == mean_bits_accuracy(eight)
    assert m8["reward"] == pytest.approx(m8["accuracy"] * (m8["latency_ms"] / 0.05) ** -0.07)
    # Without fusion the 4-bit network saves traffic and energy, not array cycles.
    plain = objective(HW, four)
    assert plain["latency_ms"] >= m4["latency_ms"] and plain["area_mm2"] < m4["area_mm2"]


def test_unsupported_widths_make_the_pair_infeasible(objective):
    spec = quant_spec(ARCH, 4)
    metrics = objective(dict(HW, precisions=[8]), spec)
    assert metrics["unsupported_units"] == 9.0  # every unit but the first and last (8 bits)
    assert metrics["reward"] == -9.0 and metrics["accuracy"] > 0
    mixed = quant_spec(ARCH, {u: (4, 4) if u == "layers.2" else (8, 8) for u in UNITS})
    assert objective(dict(HW, precisions=[8]), mixed)["reward"] == -1.0
    outer = quant_hw_flow.codesign_objectives(2.0)
    assert outer.violation(metrics) > 0 and outer.violation(objective(HW, spec)) == 0


def test_the_default_inner_search_is_cqap_filtered_evolution_deduped():
    space = quantized(spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8))
    predictor = cqap_surrogate(space)
    inner = _inner(None, space, candidates=4, predictor=predictor)
    assert isinstance(inner, algorithms.Deduped) and isinstance(inner.base, SurrogateFilter)
    assert inner.base.candidates == 4 and inner.base.prefitted
    assert inner.base.surrogate is predictor  # the flow fits it once the supernet is trained
    clone = inner.clone(deep=True)  # every inner search runs a clone
    assert clone.base.surrogate is not inner.base.surrogate
    plain = _inner(None, space, candidates=1, predictor=predictor)
    assert isinstance(plain.base, algorithms.RegularizedEvolution)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"budget": 0}, "'budget' must be an integer >= 1"),
        ({"bits": "2,x"}, "'bits' must list bit-widths"),
        ({"bits": "1,8"}, "bits value 1 is not supported"),
        ({"precisions": ""}, "'precisions' must list sets"),
        ({"precisions": "8;4,16"}, "precisions entry must be"),
        ({"cqap_samples": 1}, "'cqap_samples' must be an integer >= 2"),
        ({"cqap_candidates": 0}, "'cqap_candidates' must be an integer >= 1"),
        ({"sampler": "unifrom"}, "unifrom"),
        ({"max_area_mm2": -1.0}, "'max_area_mm2' must be a number > 0"),
    ],
)
def test_options_are_checked_before_any_training(options, message, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the supernet trained before the options were checked")

    monkeypatch.setattr(quant_hw_flow, "train_quant_supernet", no_training)
    with pytest.raises((ValueError, KeyError), match=message):
        quant_hw_nested(out=str(tmp_path / "q"), verbose=False, **options)


def test_the_flow_is_registered_with_its_options():
    from symnas.flows.registry import get_flow
    from symnas.testing import check_flow

    check_flow("quant-hw-nested")
    entry = get_flow("quant-hw-nested")
    assert entry.options["bits"].default == "2,4,8"
    assert entry.parse_options({"cqap_candidates": "2"}) == {"cqap_candidates": 2}


def test_the_flow_writes_a_front_a_plot_and_why_pairs_were_infeasible(tmp_path, monkeypatch):
    from symnas import programs

    def untrained(space, *args, **kwargs):  # the training itself is the shared trainer's
        return programs.supernet(space)

    monkeypatch.setattr(quant_hw_flow, "train_quant_supernet", untrained)
    out = tmp_path / "q"
    result = quant_hw_nested(
        budget=3, inner_budget=4, out=str(out), verbose=False, device="cpu", bits="4,8",
        precisions="8;4,8", cqap_candidates=1, seed=1,
    )  # fmt: skip
    assert len(result.outer.trials) == 3
    pairs = result.pairs()
    assert all(0 <= p.metrics["accuracy"] <= 1 and p.metrics["latency_ms"] > 0 for p in pairs)
    report = (out / "report.txt").read_text()
    assert "Pareto front of (accelerator, quantized network) pairs" in report
    infeasible = [p for p in pairs if p.metrics["unsupported_units"] > 0]
    assert infeasible and all(p.hw["precisions"] == [8] for p in infeasible)
    assert "not in the accelerator's precisions [8]" in report
    assert all(p.metrics["unsupported_units"] == 0 for p in result.pareto_front())
    assert (out / "pairs_pareto.png").stat().st_size > 1000


def test_the_predictor_is_fitted_on_supernet_accuracies_of_distinct_random_networks():
    space = quantized(spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8))
    predictor = cqap_surrogate(space, model_options={"hidden_size": 16, "epochs": 5})
    asked: list[str] = []

    def accuracy(spec):
        asked.append(repr(spec))
        return mean_bits_accuracy(spec)

    quant_hw_flow.fit_predictor(predictor, space, accuracy, samples=12, seed=0)
    assert len(asked) == len(set(asked)) == 12
    assert predictor.predict([quant_spec(ARCH, 8)]).shape == (1,)
