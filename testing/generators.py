"""Conformance checks of a multi-trial search algorithm (a ``pg.DNAGenerator``).

Each check takes a factory of fresh, identically seeded algorithms and a space, and raises
``AssertionError`` naming the algorithm and what differs:

- :func:`check_pyglove_contract`: ``pg.sample`` runs it, counting proposals and feedbacks, and
  it works on a bare decision point as PyGlove's generators do;
- :func:`check_valid_proposals`: its genomes are valid and canonical, failed trials included;
- :func:`check_batch_equals_one_at_a_time`: the batch path (``propose_batch``/
  ``feedback_batch``, what flows call) proposes what the PyGlove path (``propose``/``feedback``,
  one at a time) proposes, and a seed fixes the proposals;
- :func:`check_state_round_trip`: ``state_dict`` survives JSON and, loaded into a fresh
  algorithm, gives the proposals of the uninterrupted run (skipped when it returns None: such an
  algorithm resumes by replaying its history), also when taken with proposals pending
  (:func:`check_state_with_pending_proposals`);
- :func:`check_exact_resume`: an algorithm recovered from a replayed history proposes what the
  uninterrupted one proposes next;
- :func:`check_budgets`: a budgeted algorithm gives each proposal a budget in its range, the same
  for a seed.

:func:`check_generator` runs them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.registry import ALGORITHMS, create
from symnas.spaces.codec import compile as compile_space

MakeAlgorithm = Callable[[], SearchAlgorithm]

#: The space the checks use unless given one: choices, a float, a conditional sub-space (so
#: some genomes hold inactive slots) and a multi-choice of distinct, sorted candidates.
CHECK_SPACE = pg.Dict(
    x=[pg.oneof(list(range(5))) for _ in range(4)],
    lr=pg.floatv(0.0, 1.0),
    block=pg.oneof([pg.Dict(kind="a", width=pg.oneof([8, 16, 32])), pg.Dict(kind="b")]),
    tags=pg.manyof(2, ["p", "q", "r", "s"], distinct=True, sorted=True),
)
#: Bare decision points, on which ``setup`` must work as it does for PyGlove's generators.
BARE_DECISION_POINTS = {
    "oneof": lambda: pg.geno.oneof([pg.geno.constant()] * 3),
    "floatv": lambda: pg.geno.floatv(0.0, 1.0),
    "manyof": lambda: pg.geno.manyof(2, [pg.geno.constant()] * 3),
}


def multi_trial_names() -> list[str]:
    """The names of every registered multi-trial algorithm."""
    return [n for n, e in ALGORITHMS.entries().items() if e.meta["kind"] == "multi_trial"]


def registered_generator(name: str, seed: int = 3) -> MakeAlgorithm:
    """A factory of the registered algorithm ``name`` with its ``small`` settings and ``seed``."""
    small = ALGORITHMS.get(name).meta["small"]
    return lambda: create(name, seed=seed, **small)


# ---------------------------------------------------------------- a deterministic objective
def _objective_names(algo: SearchAlgorithm) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The metric names the algorithm optimises (``objective`` when it takes the only one) and
    their directions."""
    objectives = algo.objectives()
    if objectives.names is None:
        return ("objective",), objectives.modes[:1]
    return objectives.names, objectives.modes


def _rewards(numbers: Sequence[Any], count: int) -> list[float]:
    """``count`` maximisation rewards computed from a candidate's DNA numbers (a custom
    decision point's string counts by its length)."""
    values = [float(len(n)) if isinstance(n, str) else float(n) for n in numbers]
    return [float(sum(((i + j) % 5 + 1) * v for i, v in enumerate(values))) for j in range(count)]


def _metrics(algo: SearchAlgorithm, numbers: Sequence[Any]) -> dict[str, float]:
    """The rewards as the named metrics the algorithm reads on the batch path."""
    names, modes = _objective_names(algo)
    rewards = _rewards(numbers, len(names))
    return {n: r if m == "max" else -r for n, m, r in zip(names, modes, rewards, strict=True)}


def _pyglove_reward(algo: SearchAlgorithm, numbers: Sequence[Any]) -> float | tuple[float, ...]:
    """The rewards as the PyGlove path takes them (a tuple for a multi-objective algorithm)."""
    rewards = _rewards(numbers, len(_objective_names(algo)[0]))
    return tuple(rewards) if algo.multi_objective else rewards[0]


def _dna_spec(space: Any) -> pg.DNASpec:
    """A fresh DNA spec of a symbolic space or of a DNA spec."""
    return space.clone(deep=True) if isinstance(space, pg.DNASpec) else pg.dna_spec(space)


def _label(algo: SearchAlgorithm) -> str:
    return type(algo).__name__


# ---------------------------------------------------------------- the checks
def _pyglove_run(make_algorithm: MakeAlgorithm, space: Any, count: int) -> list[Any]:
    """The specs ``pg.sample`` yields for ``count`` trials (as JSON), checking the counters."""
    algo = make_algorithm()
    metrics = list(_objective_names(algo)[0]) if algo.multi_objective else None
    specs = []
    for value, feedback in pg.sample(space, algo, num_examples=count, metrics_to_optimize=metrics):
        specs.append(pg.to_json(value))
        feedback(_pyglove_reward(algo, feedback.dna.to_numbers()))
    assert len(specs) == count, f"{_label(algo)}: pg.sample gave {len(specs)} of {count} examples"
    assert algo.num_proposals == algo.num_feedbacks == count, (
        f"{_label(algo)}: after {count} pg.sample trials it counts {algo.num_proposals} "
        f"proposals and {algo.num_feedbacks} feedbacks"
    )
    return specs


def check_pyglove_contract(make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE) -> None:
    """``pg.sample`` runs the algorithm with feedback, and ``setup`` takes a bare decision
    point (proposing DNA of that point, not of a wrapper)."""
    _pyglove_run(make_algorithm, space, 12)
    for kind, make_point in BARE_DECISION_POINTS.items():
        point = make_point()
        algo = make_algorithm()
        algo.setup(point)
        for _ in range(8):
            dna = algo.propose()
            try:
                dna.use_spec(point)
            except Exception as error:
                raise AssertionError(
                    f"{_label(algo)}: on a bare {kind} decision point it proposed {dna!r}, "
                    f"which is not a DNA of that point ({error})"
                ) from None
            algo.feedback(dna, _pyglove_reward(algo, dna.to_numbers()))


def _batch_run(make_algorithm: MakeAlgorithm, space: Any, count: int) -> list[Any]:
    """The specs the batch path proposes, one per round, for ``count`` trials."""
    codec = compile_space(space)
    algo = make_algorithm()
    algo.bind(codec)
    specs = []
    for _ in range(count):
        genomes = algo.propose_batch(1)
        specs.append(codec.decode(genomes[0]))
        algo.feedback_batch(genomes, [_metrics(algo, codec.numbers(genomes[0]))])
    return specs


def check_valid_proposals(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, rounds: int = 12, per_round: int = 3
) -> None:
    """Every genome the batch path proposes is valid and canonical (``codec.validate`` returns
    it unchanged), with failed trials (fed back as None) among the feedback and counted."""
    codec = compile_space(space)
    algo = make_algorithm()
    algo.bind(codec, 0)
    label = _label(algo)
    for r in range(rounds):
        genomes = _step(algo, r * per_round, per_round)
        for genome in genomes:
            try:
                valid = codec.validate(genome)
            except ValueError as error:
                raise AssertionError(f"{label}: proposed an invalid genome ({error})") from None
            assert np.array_equal(valid, genome, equal_nan=True), (
                f"{label}: proposed {genome.tolist()}, not in canonical form "
                f"{valid.tolist()} (inactive slots must hold the filler)"
            )
    assert algo.num_feedbacks == rounds * per_round, (
        f"{label}: counts {algo.num_feedbacks} feedbacks of {rounds * per_round}, failed "
        "trials included"
    )


def _first_mismatch(expected: list[Any], got: list[Any]) -> int | None:
    return next((i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b), None)


def check_batch_equals_one_at_a_time(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, count: int = 24
) -> None:
    """The batch path proposes what the PyGlove path proposes one at a time, and two runs with
    the same seed propose the same candidates."""
    label = _label(make_algorithm())
    batch = _batch_run(make_algorithm, space, count)
    again = _first_mismatch(batch, _batch_run(make_algorithm, space, count))
    assert again is None, (
        f"{label}: two runs with the same seed differ at trial {again}: the proposals must "
        "depend on the seed and the feedback only"
    )
    pyglove = _pyglove_run(make_algorithm, space, count)
    at = _first_mismatch(pyglove, batch)
    assert at is None, (
        f"{label}: the batch path (propose_batch/feedback_batch) proposed {batch[at]} at trial "
        f"{at}, the one-at-a-time path (propose/feedback) {pyglove[at]}"
    )


def _step(algo: SearchAlgorithm, trial: int, per_round: int) -> np.ndarray:
    """One round of the batch path; every seventh trial fails (fed back as None)."""
    genomes = algo.propose_batch(per_round)
    metrics = [
        None if (trial + i) % 7 == 5 else _metrics(algo, algo.codec.numbers(g))
        for i, g in enumerate(genomes)
    ]
    algo.feedback_batch(genomes, metrics)
    return genomes


def check_state_round_trip(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, rounds: int = 9, more: int = 6
) -> None:
    """``state_dict`` after ``rounds`` rounds is JSON and, loaded into a fresh algorithm, gives
    the next proposals of the uninterrupted run. An algorithm whose ``state_dict`` is None does
    not checkpoint (it resumes by replay) and passes."""
    codec = compile_space(space)
    per_round = 2
    straight = make_algorithm()
    straight.bind(codec, 0)
    for r in range(rounds):
        _step(straight, r * per_round, per_round)
    state = straight.state_dict()
    if state is None:
        return
    label = _label(straight)
    try:
        state = json.loads(json.dumps(state, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{label}: state_dict() is not JSON ({error})") from None
    resumed = make_algorithm()
    resumed.bind(codec, 0)
    resumed.load_state_dict(state)
    counters = ("num_proposals", "num_feedbacks")
    for counter in counters:
        assert getattr(resumed, counter) == getattr(straight, counter), (
            f"{label}: after load_state_dict {counter} is {getattr(resumed, counter)}, "
            f"the saved run's {getattr(straight, counter)}"
        )
    for r in range(rounds, rounds + more):
        expected = _step(straight, r * per_round, per_round)
        got = _step(resumed, r * per_round, per_round)
        assert np.array_equal(got, expected, equal_nan=True), (
            f"{label}: loaded from its state_dict after {rounds * per_round} trials, it proposed "
            f"{got.tolist()} in round {r}, the uninterrupted run {expected.tolist()}: the state "
            "does not hold everything the proposals depend on"
        )


def check_state_with_pending_proposals(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, trials: int = 8
) -> None:
    """A ``state_dict`` taken between proposals and their feedback (asynchronous scheduling),
    loaded into a fresh algorithm, takes the pending feedback as the saved run does and proposes
    the same candidates after it (skipped when ``state_dict`` is None)."""
    codec = compile_space(space)
    straight = make_algorithm()
    straight.bind(codec, 0)
    for trial in range(trials):
        _step(straight, trial, 1)
    pending = straight.propose_batch(2)
    state = straight.state_dict()
    if state is None:
        return
    label = _label(straight)
    resumed = make_algorithm()
    resumed.bind(codec, 0)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    for algo in (straight, resumed):
        algo.feedback_batch(pending[1:], [_metrics(algo, codec.numbers(pending[1]))])
    expected, got = straight.propose_batch(3), resumed.propose_batch(3)
    assert np.array_equal(got, expected, equal_nan=True), (
        f"{label}: loaded from a state_dict taken with 2 proposals pending, it proposed "
        f"{got.tolist()} after their feedback, the saved run {expected.tolist()}"
    )


def check_exact_resume(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, history: int = 12, ahead: int = 10
) -> None:
    """An algorithm recovered from the replayed history of ``history`` trials (``recover``, as
    a resumed search does) proposes what the uninterrupted one proposes next. ``space`` may also
    be a ``pg.DNASpec``."""
    straight = make_algorithm()
    straight.setup(_dna_spec(space))
    logged = []
    for _ in range(history):
        dna = straight.propose()
        reward = _pyglove_reward(straight, dna.to_numbers())
        straight.feedback(dna, reward)
        logged.append((dna, reward))
    label = _label(straight)
    resumed = make_algorithm()
    resumed.setup(_dna_spec(space))
    resumed.recover(logged)
    assert resumed.num_proposals == history, (
        f"{label}: recovered from {history} trials it counts {resumed.num_proposals} proposals"
    )
    expected = [straight.propose() for _ in range(ahead)]
    got = [resumed.propose() for _ in range(ahead)]
    at = _first_mismatch(expected, got)
    assert at is None, (
        f"{label}: recovered from {history} trials, its proposal {at} after them is "
        f"{got[at]}, the uninterrupted run's {expected[at]}"
    )


def check_budgets(
    make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE, rounds: int = 10, per_round: int = 3
) -> None:
    """A budgeted algorithm (one that has ``last_budgets``: brackets, ASHA) gives one budget per
    proposed genome, within its ``budget_range()``, the same for a seed; others pass."""
    codec = compile_space(space)
    runs = []
    for _ in range(2):
        algo = make_algorithm()
        algo.bind(codec, 0)
        if not hasattr(algo, "last_budgets"):
            return
        label = _label(algo)
        low, high, _ = algo.budget_range()
        budgets = []
        for r in range(rounds):
            genomes = _step(algo, r * per_round, per_round)
            got = list(algo.last_budgets)
            assert len(got) == len(genomes), (
                f"{label}: proposed {len(genomes)} genomes with {len(got)} budgets"
            )
            assert all(low <= b <= high for b in got), (
                f"{label}: budgets {got} outside its range [{low:g}, {high:g}]"
            )
            budgets.extend(got)
        runs.append(budgets)
    assert runs[0] == runs[1], f"{label}: two runs with the same seed chose different budgets"


GENERATOR_CHECKS = (
    check_pyglove_contract,
    check_valid_proposals,
    check_batch_equals_one_at_a_time,
    check_state_round_trip,
    check_state_with_pending_proposals,
    check_exact_resume,
    check_budgets,
)


def check_generator(make_algorithm: MakeAlgorithm, space: Any = CHECK_SPACE) -> None:
    """Every generator check on the algorithms ``make_algorithm()`` returns (fresh and seeded
    alike at each call)."""
    for check in GENERATOR_CHECKS:
        check(make_algorithm, space)
