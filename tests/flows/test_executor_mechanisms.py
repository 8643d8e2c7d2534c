"""Mechanisms of the executors, checked in this process.

The code that runs inside pool workers (the parent-death guard) and Ray's bookkeeping (the
concurrency from the cluster's CPUs, the torch threads of a trial, retries of a dead worker,
cancellation) are exercised here with recording doubles of the OS calls and of the ``ray``
module, so each decision is seen directly; ``test_ray.py`` runs the same executor on a real
local cluster.
"""

from __future__ import annotations

import signal
import sys
import time
import types

import pytest

from symnas.flows import executors
from symnas.flows.executors import LocalExecutor, RayExecutor, make_executor, require_ray, using
from symnas.flows.trial_eval import evaluate_spec
from symnas.flows.trial_handle import TrialContext, evaluate_trial


class Exited(Exception):
    """Raised by the stand-in for ``os._exit``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> None:
    raise Exited(code)


def score(spec):
    """A deterministic objective."""
    return {"score": float(spec["x"]) * 2.0}


def budget_score(spec, budget):
    """A budgeted objective."""
    return {"score": float(spec["x"]) + budget}


def slow_score(spec):
    """An objective that takes ``spec['sleep']`` seconds."""
    time.sleep(spec["sleep"])
    return {"score": 1.0}


# --- the pool workers' parent-death guard ------------------------------------------------


class RecordingLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def prctl(self, *args) -> int:
        self.calls.append(args)
        return 0


class RecordingThread:
    started: list[RecordingThread] = []

    def __init__(self, target=None, args=(), daemon=None) -> None:
        self.target, self.args, self.daemon = target, args, daemon

    def start(self) -> None:
        RecordingThread.started.append(self)


@pytest.fixture
def worker_os(monkeypatch):
    """Records prctl and thread starts; ``os._exit`` raises ``Exited``."""
    libc = RecordingLibc()
    libc_opened: list[tuple] = []

    def cdll(name, use_errno=False):
        libc_opened.append((name, use_errno))
        return libc

    RecordingThread.started = []
    monkeypatch.setattr(executors.ctypes, "CDLL", cdll)
    monkeypatch.setattr(executors.threading, "Thread", RecordingThread)
    monkeypatch.setattr(executors.os, "_exit", _exit)
    monkeypatch.setattr(executors.sys, "platform", "linux")
    return types.SimpleNamespace(libc=libc, opened=libc_opened)


def test_a_worker_arms_the_parent_death_signal_and_starts_its_watcher(worker_os, monkeypatch):
    monkeypatch.setattr(executors.os, "getppid", lambda: 4242)
    executors._worker_init(4242)
    assert worker_os.opened == [(None, True)]
    assert worker_os.libc.calls == [(1, signal.SIGKILL, 0, 0, 0)], "PR_SET_PDEATHSIG = 1"
    (watcher,) = RecordingThread.started
    assert watcher.target is executors._watch_parent
    assert watcher.args == (4242,)
    assert watcher.daemon is True, "a watcher must not keep a finished worker alive"


def test_a_worker_whose_parent_already_died_exits_at_once(worker_os, monkeypatch):
    monkeypatch.setattr(executors.os, "getppid", lambda: 1)  # adopted by init
    with pytest.raises(Exited) as exited:
        executors._worker_init(4242)
    assert exited.value.code == 1
    assert RecordingThread.started == []


def test_off_linux_the_worker_relies_on_its_watcher_alone(worker_os, monkeypatch):
    monkeypatch.setattr(executors.sys, "platform", "darwin")
    monkeypatch.setattr(executors.os, "getppid", lambda: 7)
    executors._worker_init(7)
    assert worker_os.opened == [] and worker_os.libc.calls == []
    assert [t.args for t in RecordingThread.started] == [(7,)]


def test_the_watcher_polls_until_the_parent_changes_then_exits(monkeypatch):
    parents = iter([10, 10, 10, 1])
    sleeps: list[float] = []
    monkeypatch.setattr(executors.os, "getppid", lambda: next(parents))
    monkeypatch.setattr(executors.time, "sleep", sleeps.append)
    monkeypatch.setattr(executors.os, "_exit", _exit)
    with pytest.raises(Exited) as exited:
        executors._watch_parent(10)
    assert exited.value.code == 1
    assert sleeps == [executors.PARENT_POLL_S] * 3


def test_a_pool_worker_dies_with_its_parent(tmp_path):
    """The guard for real: a forked child that ran ``_worker_init`` dies when its parent
    (a middle process) is SIGKILLed."""
    import multiprocessing as mp
    import os

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method")
    pid_file = tmp_path / "grandchild.pid"
    middle = os.fork()
    if middle == 0:  # the middle process: forks the worker, then waits to be killed
        try:
            worker = os.fork()
            if worker == 0:
                executors._worker_init(os.getppid())
                pid_file.write_text(str(os.getpid()))
                time.sleep(60)
            time.sleep(60)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    worker_pid = int(pid_file.read_text())
    os.kill(middle, signal.SIGKILL)
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(worker_pid, signal.SIGKILL)
    pytest.fail("the worker outlived its parent")


# --- the local executor ------------------------------------------------------------------


def test_the_ray_task_body_is_the_trial_evaluation():
    spec = {"x": 3}
    assert executors._ray_trial(score, spec, 5, None, None)[:2] == evaluate_spec(score, spec, 5)[:2]
    context = TrialContext(trial_id=0, form="budget", budget=4)
    got = executors._ray_trial(budget_score, spec, 5, None, context)
    want = evaluate_trial(budget_score, spec, 5, None, context)
    assert got[0] == want[0] == {"score": 7.0}
    assert len(got) == 4, "a trial with a context also returns its progress"


def test_closing_drops_queued_trials_in_this_process():
    executor = LocalExecutor(1)
    executor.start(score, None)
    executor.submit(0, {"x": 1}, 0)
    executor.close()
    with pytest.raises(RuntimeError, match="no trial was submitted"):
        executor.wait()


def test_closing_waits_for_running_trials_unless_cancelled():
    executor = LocalExecutor(2)
    executor.start(slow_score, None)
    for i in range(6):
        executor.submit(i, {"sleep": 0.4}, i)
    start = time.perf_counter()
    executor.close(cancel=True)
    cancelled = time.perf_counter() - start
    assert executor.pool is None
    with pytest.raises(RuntimeError, match="no trial was submitted"):
        executor.wait()

    executor = LocalExecutor(2)
    executor.start(slow_score, None)
    for i in range(4):
        executor.submit(i, {"sleep": 0.4}, i)
    start = time.perf_counter()
    executor.close()
    waited = time.perf_counter() - start
    assert executor.pool is None
    # Cancelled: only the trials already running finish (<= 1 round of 0.4 s); waited: all
    # four finish on two workers (>= 2 rounds).
    assert waited >= 0.75, waited
    assert cancelled < waited, (cancelled, waited)


class BatchObjective:
    """Scores candidates one at a time or together; records the batch sizes it is given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, spec):
        return score(spec)

    def evaluate_batch(self, specs):
        self.batches.append(len(specs))
        return [score(spec) for spec in specs]


def test_trials_queued_together_are_scored_in_one_batch_call():
    objective = BatchObjective()
    executor = LocalExecutor(1)
    executor.start(objective, None)
    for trial_id, x in ((7, 1), (8, 2), (9, 3)):
        executor.submit(trial_id, {"x": x}, trial_id)
    finished = executor.wait()
    assert objective.batches == [3]
    assert [(i, outcome[0]) for i, outcome in finished] == [
        (7, {"score": 2.0}),
        (8, {"score": 4.0}),
        (9, {"score": 6.0}),
    ]
    with pytest.raises(RuntimeError, match="no trial was submitted"):
        executor.wait()


def test_a_single_trial_or_a_trial_with_a_handle_is_not_batched():
    objective = BatchObjective()
    executor = LocalExecutor(1)
    executor.start(objective, None)
    executor.submit(0, {"x": 1}, 0)
    assert [i for i, _ in executor.wait()] == [0]
    executor.submit(1, {"x": 1}, 0, TrialContext(trial_id=1, form="spec"))
    executor.submit(2, {"x": 2}, 0)
    assert [i for i, _ in executor.wait()] == [1], "one at a time, in submission order"
    assert [i for i, _ in executor.wait()] == [2]
    assert objective.batches == []


def test_a_pool_returns_each_trial_as_it_finishes():
    executor = LocalExecutor(2)
    executor.start(slow_score, None)
    try:
        executor.submit(0, {"sleep": 2.0}, 0)
        executor.submit(1, {"sleep": 0.05}, 1)
        start = time.perf_counter()
        first = executor.wait()
        assert [i for i, _ in first] == [1]
        assert time.perf_counter() - start < 1.5
        assert [i for i, _ in executor.wait()] == [0]
    finally:
        executor.close()


PARENT_STATE = {"offset": 0.0}


def offset_score(spec):
    """Reads state the parent set at run time (a forked worker inherits it)."""
    return {"score": PARENT_STATE["offset"]}


def test_pool_workers_are_forked_from_the_search_process(monkeypatch):
    monkeypatch.setitem(PARENT_STATE, "offset", 5.0)
    executor = LocalExecutor(2)
    executor.start(offset_score, None)
    try:
        executor.submit(0, {"x": 0}, 0)
        ((_, outcome),) = executor.wait()
    finally:
        executor.close()
    assert outcome[0] == {"score": 5.0}, "a spawned worker would re-import the module: 0.0"


def test_a_pool_refuses_an_objective_it_cannot_send_before_any_trial():
    executor = LocalExecutor(2)
    with pytest.raises(
        ValueError,
        match=r"workers=2 runs trials in separate processes, but the "
        r"objective cannot be sent to them \((PicklingError|AttributeError)",
    ):
        executor.start(lambda spec: {"score": 1.0}, None)
    assert executor.pool is None
    LocalExecutor(1).start(lambda spec: {"score": 1.0}, None)  # in this process: no pickling


def test_threads_of_a_trial_by_place():
    in_process = LocalExecutor(1)
    in_process.start(score, None)
    assert in_process.threads is None, "in this process: the process's own setting"
    pooled = LocalExecutor(2)
    pooled.start(score, None)
    try:
        assert pooled.threads == 1, "one thread per worker process"
    finally:
        pooled.close()
    pooled = LocalExecutor(2)
    pooled.start(score, 3)
    try:
        assert pooled.threads == 3
    finally:
        pooled.close()


# --- choosing an executor ----------------------------------------------------------------


def test_a_ray_executor_takes_the_address_of_a_ray_block_only():
    assert make_executor("ray", 2).address is None, "outside a block: RAY_ADDRESS or local"
    with using("ray", address="10.0.0.2:6379"):
        assert make_executor("ray", 2).address == "10.0.0.2:6379"
    with using("local"):
        assert make_executor("ray", 2).address is None
        assert isinstance(make_executor(None, 2), LocalExecutor)


def test_require_ray_returns_the_module(monkeypatch):
    fake = types.ModuleType("ray")
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert require_ray() is fake


# --- the Ray executor's bookkeeping, with a recording ray module ---------------------------


class FakeRayError(Exception):
    pass


class FakeRay(types.ModuleType):
    """The parts of ``ray`` the executor uses. Tasks run at ``.remote()``; a task whose spec is
    in ``dying`` fails with a ``RayError`` that many times. ``wait`` returns the oldest ref."""

    def __init__(self, cpus: float | None = 4.0, initialized: bool = False) -> None:
        super().__init__("ray")
        self.exceptions = types.SimpleNamespace(RayError=FakeRayError)
        self.cpus = cpus
        self.initialized = initialized
        self.init_calls: list[dict] = []
        self.options: dict = {}
        self.launched: list[tuple] = []
        self.cancelled: list[tuple] = []
        self.dying: dict[int, int] = {}
        self.results: dict[int, object] = {}
        self.refuse_put = False
        self.cancel_raises = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address=None, **kwargs) -> None:
        self.init_calls.append({"address": address, **kwargs})
        self.initialized = True

    def cluster_resources(self) -> dict:
        return {} if self.cpus is None else {"CPU": self.cpus}

    def put(self, value):
        if self.refuse_put:
            raise TypeError("cannot pickle 'generator' object")
        return ("ref", value)

    def remote(self, fn):
        ray = self

        class Task:
            def options(self, **options):
                ray.options = options
                return self

            def remote(self, objective_ref, spec, seed, threads, context):
                ray.launched.append((spec["x"], seed, threads, context))
                ref = len(ray.launched)
                if ray.dying.get(spec["x"], 0) > 0:
                    ray.dying[spec["x"]] -= 1
                    ray.results[ref] = FakeRayError("worker died")
                else:
                    ray.results[ref] = fn(objective_ref[1], spec, seed, threads, context)
                return ref

        return Task()

    def wait(self, refs, num_returns=1):
        ordered = sorted(refs)
        return ordered[:num_returns], ordered[num_returns:]

    def get(self, ref):
        result = self.results[ref]
        if isinstance(result, Exception):
            raise result
        return result

    def cancel(self, ref, force=False) -> None:
        self.cancelled.append((ref, force))
        if self.cancel_raises:
            raise ValueError("already finished")


@pytest.fixture
def fake_ray(monkeypatch):
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    return ray


def test_ray_connects_once_with_the_driver_log_off_unless_asked(fake_ray):
    RayExecutor(address="h:6379").start(score, None)
    assert fake_ray.init_calls == [{"address": "h:6379", "log_to_driver": False}]
    RayExecutor().start(score, None)
    assert len(fake_ray.init_calls) == 1, "a connected process keeps its connection"
    fake_ray.initialized = False
    RayExecutor(init_options={"log_to_driver": True, "num_cpus": 2}).start(score, None)
    assert fake_ray.init_calls[-1] == {"address": None, "log_to_driver": True, "num_cpus": 2}


@pytest.mark.parametrize(
    ("cpus", "per_trial", "max_concurrent", "want"),
    [
        (8.0, 1, None, 8),
        (7.0, 2, None, 3),
        (1.0, 2, None, 1),
        (6.0, 0, None, 6),
        (8.0, 1, 3, 3),
        (None, 1, None, 1),  # a cluster that lists no CPUs counts as one
    ],
)
def test_ray_concurrency_is_the_cluster_cpus_over_a_trials(
    fake_ray, cpus, per_trial, max_concurrent, want
):
    fake_ray.cpus = cpus
    executor = RayExecutor(
        max_concurrent=max_concurrent, resources_per_trial={"num_cpus": per_trial}
    )
    if max_concurrent is None:
        with pytest.raises(RuntimeError, match="known once the executor started"):
            _ = executor.concurrency
    executor.start(score, None)
    assert executor.concurrency == want


@pytest.mark.parametrize(
    ("num_cpus", "threads", "want"), [(1, None, 1), (3, None, 3), (0.5, None, 1), (3, 2, 2)]
)
def test_ray_trial_threads_follow_the_cpus_it_holds(fake_ray, num_cpus, threads, want):
    executor = RayExecutor(resources_per_trial={"num_cpus": num_cpus, "num_gpus": 1})
    executor.start(score, threads)
    assert fake_ray.options == {"max_retries": 0, "num_cpus": num_cpus, "num_gpus": 1}
    executor.submit(0, {"x": 1}, 9)
    assert fake_ray.launched == [(1, 9, want, None)]


def test_ray_refuses_an_objective_it_cannot_send(fake_ray):
    fake_ray.refuse_put = True
    with pytest.raises(ValueError, match=r"cannot be serialized \(TypeError: cannot pickle"):
        RayExecutor().start(score, None)


def test_ray_results_come_back_with_their_trial_ids(fake_ray):
    executor = RayExecutor()
    with pytest.raises(RuntimeError, match="start the executor first"):
        executor.submit(0, {"x": 1}, 0)
    executor.start(score, None)
    with pytest.raises(RuntimeError, match="^RayExecutor.wait: no trial was submitted"):
        executor.wait()
    executor.submit(5, {"x": 1}, 0)
    executor.submit(6, {"x": 4}, 1)
    (first,) = executor.wait()
    (second,) = executor.wait()
    assert (first[0], first[1][0]) == (5, {"score": 2.0})
    assert (second[0], second[1][0]) == (6, {"score": 8.0})


def test_a_dead_ray_worker_is_retried_then_logged_failed(fake_ray):
    executor = RayExecutor(retries=1)
    executor.start(score, None)
    fake_ray.dying = {2: 1, 3: 2}
    executor.submit(0, {"x": 2}, 11)  # dies once: the retry succeeds
    executor.submit(1, {"x": 3}, 12)  # dies twice: failed after the retry
    finished = executor.wait() + executor.wait()
    by_id = {trial_id: outcome for trial_id, outcome in finished}
    assert by_id[0][0] == {"score": 4.0}
    assert by_id[1][0] is None
    assert by_id[1][1].startswith("The trial's Ray worker failed 2 time(s); the last failure: ")
    assert "FakeRayError: worker died" in by_id[1][1]
    retried = [(x, seed) for x, seed, _, _ in fake_ray.launched]
    assert sorted(retried) == [(2, 11), (2, 11), (3, 12), (3, 12)], "same spec, same seed"


def test_without_retries_a_dead_ray_worker_fails_at_once(fake_ray):
    executor = RayExecutor(retries=0)
    executor.start(score, None)
    fake_ray.dying = {2: 1}
    context = TrialContext(trial_id=0, form="spec")
    executor.submit(0, {"x": 2}, 11, context)
    ((trial_id, outcome),) = executor.wait()
    assert trial_id == 0 and outcome[0] is None and outcome[2] == 0.0
    assert "failed 1 time(s)" in outcome[1]
    assert len(fake_ray.launched) == 1


def test_closing_a_ray_executor_cancels_what_is_in_flight_when_asked(fake_ray):
    RayExecutor().close(cancel=True)  # never started: nothing to release
    assert fake_ray.cancelled == []

    executor = RayExecutor()
    executor.start(score, None)
    executor.submit(0, {"x": 1}, 0)
    executor.submit(1, {"x": 2}, 0)
    fake_ray.cancel_raises = True
    executor.close(cancel=True)
    assert fake_ray.cancelled == [(1, True), (2, True)], "a failing cancel does not stop the rest"
    with pytest.raises(RuntimeError, match="start the executor first"):
        executor.submit(2, {"x": 3}, 0)

    executor = RayExecutor()
    executor.start(score, None)
    executor.submit(0, {"x": 1}, 0)
    executor.close()
    assert len(fake_ray.cancelled) == 2, "closing without cancel lets running tasks finish"
    with pytest.raises(RuntimeError, match="no trial was submitted"):
        executor.wait()
