"""The grammar-digits flow: regularized evolution (optionally surrogate-filtered) on einspace."""

from __future__ import annotations

from symnas import algorithms
from symnas.flows.grammar_flow import grammar_digits, surrogate_filter
from symnas.flows.registry import FLOWS


def test_grammar_digits_runs_logs_and_resumes(tmp_path):
    assert "grammar-digits" in FLOWS
    first = grammar_digits(budget=3, epochs=1, max_depth=4, out=tmp_path, verbose=False)
    assert len(first.trials) == 3
    assert all(t.spec["derivation"][0] == "NET" for t in first.trials)
    assert all(0.0 <= t.metrics["valid_accuracy"] <= 1.0 for t in first.trials)
    assert all(0.0 <= t.metrics["test_accuracy"] <= 1.0 for t in first.trials)
    more = grammar_digits(budget=4, epochs=1, max_depth=4, out=tmp_path, resume=True, verbose=False)
    assert [t.spec for t in more.trials[:3]] == [t.spec for t in first.trials]


def test_the_flow_surrogate_wraps_the_algorithm_in_a_filter():
    base = algorithms.RegularizedEvolution(
        population_size=4, tournament_size=2, metric="valid_accuracy"
    )
    wrapped = surrogate_filter(base, seed=1)
    assert isinstance(wrapped, algorithms.SurrogateFilter)
    assert wrapped.base is base and wrapped.surrogate.feature_names_in == ("graf", "zc")
