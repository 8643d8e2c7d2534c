"""Contracts over the registries: algorithms, flows and their options, and flow results."""

from __future__ import annotations

from pathlib import Path

import pyglove as pg
import pytest

from symnas import algorithms
from symnas.algorithms.registry import ALGORITHMS, KINDS, create, register_algorithm
from symnas.flows.nested import nested as flows_nested
from symnas.flows.registry import (
    FLOWS,
    FlowOption,
    get_flow,
    options_of,
    register_flow,
)
from symnas.flows.result import FlowResult
from symnas.flows.search import search as flows_search
from symnas.spaces.registry import SPACES
from symnas.testing import check_flow

SMALL_SPACE = pg.Dict(x=pg.oneof([0, 1, 2, 3]), y=pg.oneof(["a", "b"]), z=pg.floatv(0.0, 1.0))
MULTI_TRIAL = [n for n, e in ALGORITHMS.entries().items() if e.meta["kind"] == "multi_trial"]
ONE_SHOT = [n for n, e in ALGORITHMS.entries().items() if e.meta["kind"] == "one_shot"]


def test_every_algorithm_declares_a_known_kind_and_a_description():
    for name, entry in ALGORITHMS.entries().items():
        assert entry.meta["kind"] in KINDS, name
        assert entry.description, name
        assert issubclass(entry.obj, algorithms.SearchAlgorithm), name


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_every_multi_trial_algorithm_is_created_by_name_and_runs_in_pg_sample(name):
    # A budgeted algorithm (brackets, ASHA) outside flows.search needs its budget range.
    small = ALGORITHMS.get(name).meta["small"]
    budgets = {k: v for k, v in small.items() if k in ("min_budget", "max_budget")}
    algo = create(name, seed=1, **budgets)
    assert isinstance(algo, ALGORITHMS.get(name).obj)
    metrics = ["score", "y_is_a"] if algo.multi_objective else None
    seen = []
    for value, feedback in pg.sample(
        SMALL_SPACE, algo, num_examples=3, metrics_to_optimize=metrics
    ):
        score = value.x + value.z
        feedback((score, float(value.y == "a")) if algo.multi_objective else score)
        seen.append((value.x, value.y, value.z))
    assert len(seen) == 3 and algo.num_feedbacks == 3
    assert all(x in range(4) and y in ("a", "b") and 0.0 <= z <= 1.0 for x, y, z in seen)


@pytest.mark.parametrize("name", ONE_SHOT)
def test_every_one_shot_searcher_is_created_by_name_without_training(name):
    entry = ALGORITHMS.get(name)
    algo = create(name, seed=0)
    assert isinstance(algo, entry.obj)
    assert all(getattr(algo, k) == v for k, v in entry.meta["defaults"].items())


def test_defaults_are_overridden_by_create_arguments():
    algo = create("re", population_size=6, tournament_size=2)
    assert (algo.population_size, algo.tournament_size) == (6, 2)
    assert create("regularized_evolution").population_size == 20


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"Unknown algorithm 'annealing'; valid algorithms: .*'random'"
    ):
        create("annealing")
    with pytest.raises(ValueError, match=r"valid flows: .*'hw-nested'"):
        get_flow("no-such-flow")
    with pytest.raises(ValueError, match=r"valid spaces: .*'nb201_cell'"):
        SPACES.get("nb201")


def test_register_algorithm_checks_its_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        register_algorithm("x", "y", kind="surrogate")
    with pytest.raises(TypeError, match="decorates a SearchAlgorithm subclass"):
        register_algorithm("x", "y")(dict)


@pytest.mark.parametrize("name", FLOWS.names())
def test_registered_flow_conforms(name):
    check_flow(name)


def test_parse_options_converts_text_and_refuses_unknown_keys():
    entry = get_flow("hw-nested")
    parsed = entry.parse_options(
        {"inner_budget": "3", "max_area_mm2": 4, "inner_algorithm": "random"}
    )
    assert parsed == {"inner_budget": 3, "max_area_mm2": 4.0, "inner_algorithm": "random"}
    assert isinstance(parsed["max_area_mm2"], float)
    assert entry.parse_options({"inner_algorithm": "None"}) == {"inner_algorithm": None}
    with pytest.raises(ValueError, match=r"option 'inner_budget' expects int; got 'many'"):
        entry.parse_options({"inner_budget": "many"})
    with pytest.raises(
        ValueError, match=r"no option 'inner_budgt'; valid options: \[.*'inner_budget'"
    ):
        entry.parse_options({"inner_budgt": 3})
    with pytest.raises(ValueError, match="'budget' is a common option"):
        entry.parse_options({"budget": 3})


def test_flow_option_conversions():
    flag = FlowOption("baseline", bool, True)
    assert [flag.convert(t) for t in ("false", "Yes", "0", True)] == [False, True, False, True]
    with pytest.raises(ValueError, match="expects bool"):
        flag.convert("maybe")
    root = FlowOption("root", str | None, None)
    assert root.convert("none") is None and root.convert(123) == "123"
    algo = algorithms.RandomSearch()
    assert FlowOption("a", algorithms.SearchAlgorithm | str, None).convert(algo) is algo
    with pytest.raises(ValueError, match="expects SearchAlgorithm or str"):
        FlowOption("a", algorithms.SearchAlgorithm | str, None).convert([1])


def test_flow_options_come_from_flows_search_when_a_flow_passes_options_on():
    options = get_flow("nb201-digits").options
    assert options["epochs"].default == 4 and options["epochs"].type is int
    assert "max_consecutive_failures" in options and "options" not in options


def test_search_and_nested_results_are_flow_results(tmp_path):
    space = pg.Dict(x=pg.oneof([0, 1, 2]))
    plain = flows_search(space, lambda s: s["x"], "random", budget=2, out=tmp_path / "s")
    nested = flows_nested(
        space,
        space,
        "random",
        "random",
        lambda hw, arch: {"objective": hw["x"] + arch["x"]},
        outer_budget=2,
        inner_budget=2,
        out=tmp_path / "n",
        verbose=False,
    )
    for result, folder in ((plain, "s"), (nested, "n")):
        assert isinstance(result, FlowResult)
        assert len(result.trials) == 2 and Path(result.out) == tmp_path / folder
        assert result.best.metrics["objective"] == max(
            t.metrics["objective"] for t in result.trials
        )
        assert set(result.best.spec) == {"x"}


def test_a_flow_without_the_common_options_is_refused():
    def partial_flow(budget=None, epochs: int = 2):
        """A flow that forgot most common options."""

    with pytest.raises(TypeError, match=r"lacks \['algorithm', 'out', 'resume'"):
        register_flow("partial", "no common options")(partial_flow)
    assert "partial" not in FLOWS


def test_options_read_types_and_help_from_the_signature_and_args_section():
    def flow(
        algorithm=None,
        budget=None,
        out=None,
        resume=False,
        seed=0,
        workers=1,
        verbose=True,
        rounds: int = 2,
        tag=None,
        size: Undefined = 3.0,  # noqa: F821 - an annotation that cannot be resolved
    ):
        """A flow.

        Args:
          rounds: how many rounds,
            continued here.
          size: a size.
        """

    options = options_of(flow)
    assert list(options) == ["rounds", "tag", "size"]
    assert options["rounds"].help == "how many rounds, continued here."
    assert options["size"].type is float and options["size"].convert("2") == 2.0
    assert options["tag"].convert(["any", "value"]) == ["any", "value"]
