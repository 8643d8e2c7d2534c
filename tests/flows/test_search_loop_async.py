"""The asynchronous search loop: trials kept in flight, feedback in arrival order, its log and
exact resume, and the refusals of logs it cannot replay.

The scripted executor and counting algorithm of ``conftest.py`` run everything in this process,
so each test takes milliseconds and sees exactly what the loop asked of the executor.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from symnas import algorithms, flows
from symnas.flows.seeding import trial_seed


class Objective:
    """``score = (37 x) mod 11`` of spec ``{"x": x}``; raises for the ``x`` in ``fail``; records
    every evaluated ``x``."""

    def __init__(self, fail: tuple[int, ...] = ()) -> None:
        self.fail = set(fail)
        self.calls: list[int] = []

    def __call__(self, spec) -> dict[str, float]:
        x = spec["x"]
        self.calls.append(x)
        if x in self.fail:
            raise RuntimeError(f"boom {x}")
        return {"score": float((37 * x) % 11)}


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]


def _cut(full, cut, lines: int) -> None:
    """``cut`` as the folder of a search stopped after ``lines`` trials were logged."""
    cut.mkdir()
    shutil.copy(full / "config.json", cut / "config.json")
    logged = (full / "trials.jsonl").read_text().splitlines(keepends=True)
    (cut / "trials.jsonl").write_text("".join(logged[:lines]))


def test_trials_stay_in_flight_and_are_fed_back_as_they_finish(tmp_path, fakes):
    executor = fakes.ScriptedExecutor(3)  # the newest trial in flight finishes first
    algo = fakes.CountingAlgorithm()
    result = flows.search(
        fakes.CODEC, Objective(), algo, budget=7, out=tmp_path, seed=11, executor=executor
    )

    def submit(i):
        return ("submit", i, trial_seed(11, i))

    assert executor.events == [
        ("start", None),
        *(submit(i) for i in range(3)),
        ("wait", [2]),
        submit(3),
        ("wait", [3]),
        submit(4),
        ("wait", [4]),
        submit(5),
        ("wait", [5]),
        submit(6),
        ("wait", [6]),
        ("wait", [1]),
        ("wait", [0]),
        ("close", False),
    ]
    arrival = [2, 3, 4, 5, 6, 1, 0]
    assert algo._asked == [1] * 7, "one proposal per freed slot"
    assert algo._fed == [(i, float((37 * i) % 11)) for i in arrival]
    records = _records(tmp_path)
    assert [r["id"] for r in records] == arrival
    assert [r["fed"] for r in records] == list(range(7))
    for r in records:
        i = r["id"]
        assert r["spec"] == {"x": i} and r["dna"] == [i] and r["genome"] == [i]
        assert r["metrics"] == {"score": float((37 * i) % 11)}
        assert (r["status"], r["error"], r["wall_s"]) == ("ok", None, fakes.WALL_S)
        assert r["seed"] == trial_seed(11, i)
    assert [t.id for t in result.trials] == list(range(7)), "the result lists trials by id"
    assert [t.extra["fed"] for t in result.trials] == [arrival.index(i) for i in range(7)]
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["scheduling"], config["workers"]) == ("asynchronous", 3)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"total": 7, "ok": 7, "failed": 0, "pruned": 0}
    assert summary["best"]["id"] == result.best.id == 5
    assert result.best.metrics == {"score": 9.0}


def test_results_arriving_together_get_consecutive_places(tmp_path, fakes):
    executor = fakes.ScriptedExecutor(3, per_wait=2)
    algo = fakes.CountingAlgorithm()
    flows.search(fakes.CODEC, Objective(), algo, budget=7, out=tmp_path, executor=executor)
    assert executor.submitted() == list(range(7))
    assert [e[1] for e in executor.events if e[0] == "wait"] == [[2, 1], [4, 3], [6, 5], [0]]
    records = _records(tmp_path)
    assert [(r["id"], r["fed"]) for r in records] == list(
        zip([2, 1, 4, 3, 6, 5, 0], range(7), strict=True)
    )
    assert [x for x, _ in algo._fed] == [2, 1, 4, 3, 6, 5, 0]


def test_a_budget_below_the_concurrency_submits_only_the_budget(fakes):
    executor = fakes.ScriptedExecutor(5)
    algo = fakes.CountingAlgorithm()
    result = flows.search(
        fakes.CODEC, Objective(), algo, budget=2, executor=executor, verbose=False
    )
    assert executor.submitted() == [0, 1]
    assert algo._asked == [1, 1]
    assert [t.id for t in result.trials] == [0, 1]


def test_an_exhausted_algorithm_ends_the_asynchronous_search(tmp_path, fakes):
    executor = fakes.ScriptedExecutor(3)
    algo = fakes.CountingAlgorithm(limit=4)
    result = flows.search(
        fakes.CODEC, Objective(), algo, budget=10, out=tmp_path, executor=executor
    )
    assert executor.submitted() == [0, 1, 2, 3]
    assert algo._stops == 1, "an exhausted algorithm is not asked again"
    assert [t.id for t in result.trials] == [0, 1, 2, 3]
    assert len(_records(tmp_path)) == 4
    assert executor.events[-1] == ("close", False)


def _evolution():
    return algorithms.RegularizedEvolution(population_size=4, tournament_size=2, metric="score")


@pytest.mark.parametrize("logged", [0, 5, 12])
def test_resume_replays_the_logged_order_and_evaluates_only_the_rest(tmp_path, fakes, logged):
    """Evolution's proposals depend on the feedback order, so a resume that replayed the log
    in another order would go on differently from the uninterrupted run."""
    full = tmp_path / "full"
    flows.search(
        fakes.CODEC,
        Objective(),
        _evolution(),
        12,
        out=full,
        seed=3,
        executor=fakes.ScriptedExecutor(3),
    )
    records = _records(full)
    assert [r["id"] for r in records] != sorted(r["id"] for r in records)
    cut = tmp_path / "cut"
    _cut(full, cut, logged)
    objective = Objective()
    executor = fakes.ScriptedExecutor(3)
    result = flows.search(
        fakes.CODEC, objective, _evolution(), 12, out=cut, seed=3, resume=True, executor=executor
    )
    assert _records(cut) == records
    missing = records[logged:]
    assert sorted(executor.submitted()) == sorted(r["id"] for r in missing)
    assert sorted(objective.calls) == sorted(r["spec"]["x"] for r in missing)
    assert [t.id for t in result.trials] == list(range(12))
    assert [t.extra["fed"] for t in result.trials] == [
        r["fed"] for r in sorted(records, key=lambda r: r["id"])
    ]


def test_resume_with_a_larger_budget_keeps_the_log_and_goes_on(tmp_path, fakes):
    flows.search(
        fakes.CODEC, Objective(), _evolution(), 6, out=tmp_path, executor=fakes.ScriptedExecutor(2)
    )
    first = _records(tmp_path)
    objective, executor = Objective(), fakes.ScriptedExecutor(2)
    flows.search(
        fakes.CODEC, objective, _evolution(), 10, out=tmp_path, resume=True, executor=executor
    )
    records = _records(tmp_path)
    assert records[:6] == first
    assert executor.submitted() == [6, 7, 8, 9]
    assert objective.calls == [r["spec"]["x"] for r in records[6:]]
    assert [r["fed"] for r in records] == list(range(10))


def _fed_changed(out, trial_id: int, fed: float) -> None:
    records = _records(out)
    for r in records:
        if r["id"] == trial_id:
            r["fed"] = fed
    (out / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize("fed, place", [(-1, "0th"), (0.5, "1th")])
def test_resume_refuses_a_feedback_order_this_concurrency_cannot_produce(
    tmp_path, fakes, fed, place
):
    flows.search(
        fakes.CODEC,
        Objective(),
        fakes.CountingAlgorithm(),
        6,
        out=tmp_path,
        executor=fakes.ScriptedExecutor(3),
    )
    assert [r["id"] for r in _records(tmp_path)] == [2, 3, 4, 5, 1, 0]
    # Trial 5 is proposed once three trials were fed back; claim it was fed back before that.
    _fed_changed(tmp_path, 5, fed)
    objective, executor = Objective(), fakes.ScriptedExecutor(3)
    message = (
        f"Cannot resume from {tmp_path}: trial 5 was fed back {place}, before this search "
        "proposes it with 3 trials in flight. Resume with the same executor concurrency."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        flows.search(
            fakes.CODEC,
            objective,
            fakes.CountingAlgorithm(),
            8,
            out=tmp_path,
            resume=True,
            executor=executor,
        )
    assert objective.calls == [] and executor.submitted() == []
    assert executor.events[-1] == ("close", True)


def test_resume_refuses_a_logged_trial_the_algorithm_does_not_propose(tmp_path, fakes):
    flows.search(
        fakes.CODEC,
        Objective(),
        fakes.CountingAlgorithm(),
        5,
        out=tmp_path,
        executor=fakes.ScriptedExecutor(2),
    )
    records = _records(tmp_path)
    for r in records:
        if r["id"] == 1:
            r.update(spec={"x": 9}, dna=[9], genome=[9])
    (tmp_path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    objective = Objective()
    message = (
        f"Cannot resume from {tmp_path}: trial 1 in the log is {{'x': 9}}, but the algorithm "
        "now proposes {'x': 1}. Resume with the same space, algorithm, seed and workers."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        flows.search(
            fakes.CODEC,
            objective,
            fakes.CountingAlgorithm(),
            6,
            out=tmp_path,
            resume=True,
            executor=fakes.ScriptedExecutor(2),
        )
    assert objective.calls == []


def test_a_log_is_resumed_only_in_its_scheduling_mode(tmp_path, fakes):
    def run(out, executor, budget=4, resume=False):
        objective = Objective()
        flows.search(
            fakes.CODEC,
            objective,
            fakes.CountingAlgorithm(),
            budget,
            out=out,
            resume=resume,
            executor=executor,
        )
        return objective.calls

    def refusal(out, saved, now):
        return re.escape(
            f"Cannot resume from {out}: its trials were scheduled in {saved} mode, this search "
            f"runs in {now} mode; resume with the same executor and workers."
        )

    run(tmp_path / "a", fakes.ScriptedExecutor(2))
    with pytest.raises(ValueError, match=refusal(tmp_path / "a", "asynchronous", "batch")):
        run(tmp_path / "a", fakes.ScriptedExecutor(2, asynchronous=False), 6, resume=True)
    run(tmp_path / "b", fakes.ScriptedExecutor(2, asynchronous=False))
    with pytest.raises(ValueError, match=refusal(tmp_path / "b", "batch", "asynchronous")):
        run(tmp_path / "b", fakes.ScriptedExecutor(2), 6, resume=True)
    # A log written before the mode was recorded holds batches.
    config_path = tmp_path / "b" / "config.json"
    config = json.loads(config_path.read_text())
    assert config.pop("scheduling") == "batch"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=refusal(tmp_path / "b", "batch", "asynchronous")):
        run(tmp_path / "b", fakes.ScriptedExecutor(2), 6, resume=True)
    assert sorted(run(tmp_path / "b", fakes.ScriptedExecutor(2, asynchronous=False), 6, True)) == [
        4,
        5,
    ]
    # One trial in flight is scheduled as a batch of one, whatever the executor's kind.
    run(tmp_path / "c", fakes.ScriptedExecutor(1))
    assert json.loads((tmp_path / "c" / "config.json").read_text())["scheduling"] == "batch"
    # Without config.json there is nothing to check the log against.
    (tmp_path / "c" / "config.json").unlink()
    assert run(tmp_path / "c", fakes.ScriptedExecutor(1), 5, resume=True) == [4]


def test_failed_trials_are_fed_back_and_a_run_of_them_stops_the_search(tmp_path, fakes):
    algo = fakes.CountingAlgorithm()
    executor = fakes.ScriptedExecutor(2, pick=fakes.oldest_first)
    result = flows.search(
        fakes.CODEC,
        Objective(fail=(1, 4, 5)),
        algo,
        8,
        out=tmp_path / "goes_on",
        executor=executor,
        max_consecutive_failures=3,
    )
    assert [t.id for t in result.failed] == [1, 4, 5]
    assert "RuntimeError: boom 4" in result.trials[4].error
    assert [score for _, score in algo._fed] == [
        None if i in (1, 4, 5) else float((37 * i) % 11) for i in range(8)
    ]

    executor = fakes.ScriptedExecutor(2, pick=fakes.oldest_first)
    with pytest.raises(flows.SearchFailed) as info:
        flows.search(
            fakes.CODEC,
            Objective(fail=(1, 4, 5)),
            fakes.CountingAlgorithm(),
            8,
            out=tmp_path / "stops",
            executor=executor,
            max_consecutive_failures=2,
        )
    message = str(info.value)
    assert message.startswith(
        "2 consecutive trials failed (trials 4 to 5); stopping the search. The first failure, "
        "trial 4 on {'x': 4}:\nTraceback (most recent call last):"
    )
    assert message.endswith("RuntimeError: boom 4")
    assert executor.events[-1] == ("close", True)
    assert [r["id"] for r in _records(tmp_path / "stops")] == list(range(6))
    summary = json.loads((tmp_path / "stops" / "summary.json").read_text())
    assert summary["counts"] == {"total": 6, "ok": 3, "failed": 3, "pruned": 0}


def test_resume_with_a_smaller_budget_feeds_back_only_the_budget(tmp_path, fakes):
    def search(budget, resume=False):
        executor = fakes.ScriptedExecutor(3, pick=fakes.oldest_first)
        result = flows.search(
            fakes.CODEC,
            Objective(),
            fakes.CountingAlgorithm(),
            budget,
            out=tmp_path,
            resume=resume,
            executor=executor,
        )
        return result, executor

    search(8)
    result, executor = search(6, resume=True)
    assert [t.id for t in result.trials] == list(range(6))
    assert executor.submitted() == []
    assert json.loads((tmp_path / "summary.json").read_text())["counts"]["total"] == 6


def test_a_failure_the_executor_gives_no_reason_for_ends_the_message_plainly(tmp_path, fakes):
    class Silent(fakes.ScriptedExecutor):
        """Reports every trial failed without an error text."""

        def wait(self):
            return [(i, (None, None, fakes.WALL_S)) for i, _ in super().wait()]

    with pytest.raises(flows.SearchFailed) as info:
        flows.search(
            fakes.CODEC,
            Objective(),
            fakes.CountingAlgorithm(),
            5,
            executor=Silent(2),
            max_consecutive_failures=2,
            verbose=False,
        )
    assert str(info.value).endswith("The first failure, trial 1 on {'x': 1}:\n")
