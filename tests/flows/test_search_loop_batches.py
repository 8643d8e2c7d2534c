"""The search loop's guarantees in batch mode and around every loop: argument checks, batch
sizes, trial seeds, failed and unusable trials, the failure limit, summary, progress output.

The scripted executor and counting algorithm of ``conftest.py`` run in this process, so each
test takes milliseconds and sees exactly what the loop asked of the executor and algorithm.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import re

import pytest

from symnas import algorithms, flows
from symnas.flows.seeding import current_trial_seed, trial_seed


class Objective:
    """``score = (37 x) mod 11`` of spec ``{"x": x}``; raises for the ``x`` in ``fail``;
    records every evaluated ``x`` and its trial seed."""

    def __init__(self, fail: tuple[int, ...] = ()) -> None:
        self.fail = set(fail)
        self.calls: list[int] = []
        self.seeds: list[int | None] = []

    def __call__(self, spec) -> dict[str, float]:
        x = spec["x"]
        self.calls.append(x)
        self.seeds.append(current_trial_seed())
        if x in self.fail:
            raise RuntimeError(f"boom {x}")
        return {"score": float((37 * x) % 11)}


class BatchObjective(Objective):
    """Scores ``candidates_per_call`` candidates per call in this process."""

    candidates_per_call = 3


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]


def _search(fakes, objective=None, algorithm=None, budget=4, **kwargs):
    kwargs.setdefault("verbose", False)
    return flows.search(
        fakes.CODEC,
        objective or Objective(),
        algorithm or fakes.CountingAlgorithm(),
        budget,
        **kwargs,
    )


@pytest.mark.parametrize(
    "argument, exception, message",
    [
        (dict(objective="score"), TypeError, "'objective' must be callable; got str."),
        (dict(budget=0), ValueError, "'budget' must be a positive integer; got 0."),
        (dict(budget=True), ValueError, "'budget' must be a positive integer; got True."),
        (dict(budget=2.0), ValueError, "'budget' must be a positive integer; got 2.0."),
        (dict(budget=None), ValueError, "'budget' must be a positive integer; got None."),
        (dict(workers=0), ValueError, "'workers' must be a positive integer or None; got 0."),
        (
            dict(max_consecutive_failures=0),
            ValueError,
            "'max_consecutive_failures' must be a positive integer or None; got 0.",
        ),
        (dict(threads=0), ValueError, "'threads' must be a positive integer or None; got 0."),
        (
            dict(max_consecutive_failures=None, threads=0),
            ValueError,
            "'threads' must be a positive integer or None; got 0.",
        ),
        (dict(threads=False), ValueError, "'threads' must be a positive integer or None; got F"),
        (dict(seed=-1), ValueError, "'seed' must be a non-negative integer; got -1."),
        (dict(seed=True), ValueError, "'seed' must be a non-negative integer; got True."),
        (dict(seed=1.0), ValueError, "'seed' must be a non-negative integer; got 1.0."),
    ],
)
def test_a_bad_argument_is_named_before_anything_runs(
    tmp_path, fakes, argument, exception, message
):
    settings = dict(objective=Objective(), budget=3, out=tmp_path / "out")
    settings.update(argument)
    objective = settings.pop("objective")
    with pytest.raises(exception, match=re.escape("search: " + message)):
        _search(fakes, objective, **settings)
    assert not (tmp_path / "out").exists()


def test_the_smallest_allowed_arguments_run(fakes):
    executor = fakes.ScriptedExecutor(1, asynchronous=False)
    objective = Objective()
    result = _search(
        fakes,
        objective,
        budget=1,
        seed=0,
        threads=1,
        max_consecutive_failures=1,
        executor=executor,
    )
    assert [t.id for t in result.trials] == [0] and objective.calls == [0]
    assert executor.events[0] == ("start", 1)
    assert executor.events[-1] == ("close", False)
    assert [e for e in executor.events if e[0] in ("start", "close")] == [
        ("start", 1),
        ("close", False),
    ]


def test_a_batch_executor_gets_its_concurrency_and_feedback_follows_proposals(tmp_path, fakes):
    executor = fakes.ScriptedExecutor(3, asynchronous=False)  # newest first within a batch
    algo = fakes.CountingAlgorithm()
    result = _search(fakes, algorithm=algo, budget=7, out=tmp_path, seed=4, executor=executor)
    assert algo._asked == [3, 3, 1]
    assert executor.handed_back() == [2, 1, 0, 5, 4, 3, 6]
    assert [e[0] for e in executor.events] == [
        "start",
        *["submit"] * 3,
        *["wait"] * 3,
        *["submit"] * 3,
        *["wait"] * 3,
        "submit",
        "wait",
        "close",
    ]
    assert [x for x, _ in algo._fed] == list(range(7)), "fed back in proposal order"
    records = _records(tmp_path)
    assert [r["id"] for r in records] == [2, 1, 0, 5, 4, 3, 6]
    assert all(r["fed"] == r["id"] for r in records)
    assert all(r["seed"] == trial_seed(4, r["id"]) for r in records)
    assert [t.id for t in result.trials] == list(range(7))
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["scheduling"], config["workers"]) == ("batch", 3)


@pytest.mark.parametrize(
    "in_flight, asynchronous, objective, asked",
    [
        (1, False, Objective, [1] * 7),
        (1, False, BatchObjective, [3, 3, 1]),
        (1, True, BatchObjective, [1] * 7),
        (2, False, BatchObjective, [2, 2, 2, 1]),
    ],
    ids=["one", "candidates-per-call", "asynchronous-executor", "concurrency-first"],
)
def test_objectives_scoring_several_candidates_get_them_in_one_round(
    fakes, in_flight, asynchronous, objective, asked
):
    algo = fakes.CountingAlgorithm()
    executor = fakes.ScriptedExecutor(in_flight, asynchronous=asynchronous)
    result = _search(fakes, objective(), algo, budget=7, executor=executor)
    assert algo._asked == asked
    assert [x for x, _ in algo._fed] == list(range(7))
    assert len(result.trials) == 7


def test_an_exhausted_algorithm_ends_the_batched_search(tmp_path, fakes):
    algo = fakes.CountingAlgorithm(limit=5)
    executor = fakes.ScriptedExecutor(2, asynchronous=False)
    result = _search(fakes, algorithm=algo, budget=10, out=tmp_path, executor=executor)
    assert [t.id for t in result.trials] == [0, 1, 2, 3, 4]
    assert algo._asked == [2, 2, 2, 2] and algo._stops == 1
    assert len(_records(tmp_path)) == 5
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["total"] == 5
    local = _search(fakes, algorithm=fakes.CountingAlgorithm(limit=3), budget=6)
    assert [t.id for t in local.trials] == [0, 1, 2]


def test_a_batched_resume_submits_only_the_trials_the_log_lacks(tmp_path, fakes):
    def executor():
        return fakes.ScriptedExecutor(2, asynchronous=False)

    _search(fakes, budget=6, out=tmp_path / "full", executor=executor())
    full = _records(tmp_path / "full")
    assert [r["id"] for r in full] == [1, 0, 3, 2, 5, 4]
    out = tmp_path / "cut"
    out.mkdir()
    (out / "config.json").write_text((tmp_path / "full" / "config.json").read_text())
    lines = (tmp_path / "full" / "trials.jsonl").read_text().splitlines(keepends=True)
    (out / "trials.jsonl").write_text("".join(lines[:3]))  # trials 1, 0 and 3
    objective, resumed, algo = Objective(), executor(), fakes.CountingAlgorithm()
    result = _search(fakes, objective, algo, budget=6, out=out, resume=True, executor=resumed)
    assert resumed.submitted() == [2, 4, 5] and sorted(objective.calls) == [2, 4, 5]
    assert sorted(_records(out), key=lambda r: r["id"]) == sorted(full, key=lambda r: r["id"])
    assert [x for x, _ in algo._fed] == list(range(6))
    assert [t.id for t in result.trials] == list(range(6))


def test_trial_seeds_derive_from_the_search_seed_and_the_trial_id(tmp_path, fakes):
    objective = Objective()
    result = _search(fakes, objective, budget=4, out=tmp_path, seed=7)
    expected = [trial_seed(7, i) for i in range(4)]
    assert objective.seeds == expected
    assert [t.seed for t in result.trials] == expected
    assert [r["seed"] for r in _records(tmp_path)] == expected
    assert len(set(expected) | {trial_seed(8, i) for i in range(4)}) == 8


def test_the_algorithm_takes_the_search_seed_when_it_has_none(fakes):

    def specs(seed, algorithm_seed=None):
        algo = algorithms.RandomSearch(metric="score", seed=algorithm_seed)
        result = flows.search(fakes.CODEC, Objective(), algo, 5, seed=seed, verbose=False)
        return [t.spec["x"] for t in result.trials]

    assert specs(1) == specs(1)
    assert specs(1) != specs(2)
    assert specs(1, algorithm_seed=5) == specs(2, algorithm_seed=5)


def test_a_compiled_codec_is_searched_as_its_space(fakes):
    on_space = flows.search(fakes.SPACE, Objective(), fakes.CountingAlgorithm(), 3, verbose=False)
    on_codec = _search(fakes, budget=3)  # on fakes.CODEC, compiled from fakes.SPACE
    assert [t.spec for t in on_codec.trials] == [t.spec for t in on_space.trials]


def test_prepare_gets_the_folder_and_the_resume_and_verbose_flags(tmp_path, fakes):
    algo = fakes.CountingAlgorithm()
    _search(fakes, algorithm=algo, budget=2, out=tmp_path, verbose=False)
    assert algo._prepared == (tmp_path, False, False)
    algo = fakes.CountingAlgorithm()
    _search(fakes, algorithm=algo, budget=3, out=tmp_path, resume=True, verbose=True)
    assert algo._prepared == (tmp_path, True, True)
    algo = fakes.CountingAlgorithm()
    _search(fakes, algorithm=algo, budget=2)
    assert algo._prepared == (None, False, False)


def test_options_and_the_schedule_are_recorded_in_config_json(tmp_path, fakes):
    _search(fakes, budget=2, out=tmp_path / "a", options={"epochs": 2})
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["options"] == {"epochs": 2}
    assert (config["seed"], config["workers"], config["scheduling"]) == (0, 1, "batch")
    _search(fakes, budget=2, out=tmp_path / "b")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["options"] == {}


def test_a_folder_with_trials_needs_resume_and_an_empty_one_does_not(tmp_path, fakes):
    _search(fakes, budget=3, out=tmp_path)
    objective = Objective()
    message = (
        f"{tmp_path} already holds 3 trials; pass resume=True to continue that search, or "
        "choose another output folder."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        _search(fakes, objective, budget=5, out=tmp_path)
    assert objective.calls == []
    fresh = _search(fakes, objective, budget=2, out=tmp_path / "new", resume=True)
    assert [t.id for t in fresh.trials] == [0, 1] and objective.calls == [0, 1]


def test_without_a_folder_nothing_is_written(tmp_path, fakes, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _search(fakes, budget=3)
    assert result.out is None and len(result.trials) == 3
    assert list(tmp_path.iterdir()) == []


class Metrics:
    """Returns ``table[x]`` (default ``{"score": x, "latency": 1}``) for spec ``{"x": x}``."""

    def __init__(self, table: dict[int, dict[str, float]]) -> None:
        self.table = table

    def __call__(self, spec) -> dict[str, float]:
        return self.table.get(spec["x"], {"score": float(spec["x"]), "latency": 1.0})


def test_metrics_the_algorithm_cannot_use_fail_the_trial(tmp_path, fakes):
    algo = fakes.CountingAlgorithm(constraints={"latency": ("<=", 5.0)})
    objective = Metrics({1: {"acc": 1.0, "latency": 1.0}, 2: {"score": 2.0}})
    result = _search(fakes, objective, algo, budget=4, out=tmp_path)
    records = {r["id"]: r for r in _records(tmp_path)}
    assert [records[i]["status"] for i in range(4)] == ["ok", "failed", "failed", "ok"]
    assert records[1]["error"] == (
        "ValueError: The objective returned metrics ['acc', 'latency'], but the algorithm "
        "optimises ['score']."
    )
    assert records[2]["error"] == (
        "ValueError: Constraint metric 'latency' is missing; the objective returned ['score']."
    )
    assert records[1]["metrics"] is None and records[2]["metrics"] is None
    assert records[3]["metrics"] == {"score": 3.0, "latency": 1.0}
    assert algo._fed == [(0, 0.0), (1, None), (2, None), (3, 3.0)]
    assert [t.id for t in result.failed] == [1, 2]


def test_a_run_of_failures_stops_the_search_with_the_first_traceback(tmp_path, fakes):
    objective = Objective(fail=(1, 2, 5, 6, 7))
    with pytest.raises(flows.SearchFailed) as info:
        _search(fakes, objective, budget=12, out=tmp_path, max_consecutive_failures=3)
    message = str(info.value)
    assert message.startswith(
        "3 consecutive trials failed (trials 5 to 7); stopping the search. The first failure, "
        "trial 5 on {'x': 5}:\nTraceback (most recent call last):"
    )
    assert message.endswith("RuntimeError: boom 5")
    assert objective.calls == list(range(8))
    assert len(_records(tmp_path)) == 8
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"total": 8, "ok": 3, "failed": 5, "pruned": 0}

    with pytest.raises(
        flows.SearchFailed, match=re.escape("1 consecutive trials failed (trials 1 to 1)")
    ):
        _search(fakes, Objective(fail=(1, 2)), budget=6, max_consecutive_failures=1)
    result = _search(
        fakes, Objective(fail=(1, 2, 5, 6, 7)), budget=12, max_consecutive_failures=None
    )
    assert [t.id for t in result.failed] == [1, 2, 5, 6, 7]
    assert "RuntimeError: boom 6" in result.trials[6].error


def test_a_resumed_search_counts_only_the_failures_it_evaluates(tmp_path, fakes):
    every = tuple(range(16))
    _search(fakes, Objective(fail=every), budget=3, out=tmp_path, max_consecutive_failures=None)
    result = _search(
        fakes,
        Objective(fail=every),
        budget=4,
        out=tmp_path,
        resume=True,
        max_consecutive_failures=2,
    )
    assert len(result.failed) == 4, "the three logged failures do not count"
    with pytest.raises(
        flows.SearchFailed, match=re.escape("2 consecutive trials failed (trials 4 to 5)")
    ):
        _search(
            fakes,
            Objective(fail=every),
            budget=8,
            out=tmp_path,
            resume=True,
            max_consecutive_failures=2,
        )


def test_the_summary_is_written_at_the_end_and_every_interval(tmp_path, fakes, monkeypatch):
    seen = []

    class Peeking(Objective):
        def __call__(self, spec):
            path = tmp_path / "a" / "summary.json"
            seen.append(json.loads(path.read_text())["counts"]["total"] if path.exists() else None)
            return super().__call__(spec)

    result = _search(fakes, Peeking(), budget=4, out=tmp_path / "a")
    assert seen == [None] * 4, "a short search writes its summary once, at the end"
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary()))
    assert summary["best"]["metrics"] == {"score": 8.0} and summary["best"]["id"] == 2

    seen.clear()
    monkeypatch.setattr(importlib.import_module("symnas.flows.search"), "SUMMARY_INTERVAL_S", 0.0)
    (tmp_path / "a").rename(tmp_path / "first")
    _search(fakes, Peeking(), budget=4, out=tmp_path / "a")
    assert seen == [None, 1, 2, 3]


def test_verbose_logs_one_line_per_trial_when_not_on_a_terminal(fakes, caplog, capsys):
    class FourMetrics:
        def __call__(self, spec):
            if spec["x"] == 1:
                raise RuntimeError("boom")
            return {"score": 1.23456789, "b": 2, "c": 30000.5, "d": 4}

    with caplog.at_level(logging.INFO, logger="symnas.flows.search"):
        _search(fakes, FourMetrics(), budget=3, verbose=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "symnas.flows.search"]
    assert lines == [
        "trial 0 ok (1/3 done): score=1.235, b=2, c=3e+04",
        "trial 1 failed (2/3 done): RuntimeError: boom",  # ids from 0, the failure's reason
        "trial 2 ok (3/3 done): score=1.235, b=2, c=3e+04",
    ]
    assert "search:" not in capsys.readouterr().err, "no progress bar off a terminal"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="symnas.flows.search"):
        _search(fakes, FourMetrics(), budget=3, verbose=False)
    assert not [r for r in caplog.records if r.name == "symnas.flows.search"]


class Terminal(io.StringIO):
    """A stand-in for a terminal's stderr."""

    def isatty(self) -> bool:
        return True


def test_verbose_on_a_terminal_shows_a_progress_bar_with_the_best_trial(fakes, monkeypatch, caplog):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with caplog.at_level(logging.INFO, logger="symnas.flows.search"):
        _search(fakes, budget=3, verbose=True)
    shown = terminal.getvalue()
    assert "search: 100%" in shown and "3/3" in shown and "trial/s" in shown
    assert "best=score=8" in shown
    assert not [r for r in caplog.records if r.name == "symnas.flows.search"]
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    _search(fakes, budget=3, verbose=False)
    assert quiet.getvalue() == ""


def test_resume_drops_a_record_cut_short_by_a_kill_before_appending(tmp_path, fakes):
    first = _search(fakes, budget=4, out=tmp_path)
    assert first.out == tmp_path
    with (tmp_path / "trials.jsonl").open("a") as f:
        f.write('{"id": 4, "genome": [4], "dna"')  # the write a kill interrupted
    objective = Objective()
    result = _search(fakes, objective, budget=6, out=tmp_path, resume=True)
    assert objective.calls == [4, 5]
    assert [r["id"] for r in _records(tmp_path)] == list(range(6))
    assert [t.id for t in result.trials] == list(range(6)) and result.out == tmp_path
