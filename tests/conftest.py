"""Shared test settings: single-threaded torch (tiny models run fastest that way), the
location of the shared real data, and the count of published-value checks that skipped.

A published-value check compares with figures in ``../shared/data`` (NAS-Bench-201 tables,
NASLib scores, real recordings): a test marked ``published``, one that uses the
``shared_data`` fixture, or one whose skip reason names the data folder. When any of them
skips, one summary line says how many; with ``CI=true`` and the data folder present, such a skip
fails the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import settings

from symnas.spaces.examples import examples

torch.set_num_threads(1)

# Property tests draw the same examples on every run under CI, so a CI result is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_PUBLISHED_SKIPS: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``published`` marker."""
    config.addinivalue_line(
        "markers", "published: compares with published values from ../shared/data"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that uses the ``shared_data`` fixture as a published-value check."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.published)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Records the published-value checks that skipped."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if "published" in report.keywords or "shared/data" in reason or str(SHARED_DATA) in reason:
        _PUBLISHED_SKIPS[report.nodeid] = reason


def _ci_requires_data() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") and SHARED_DATA.is_dir()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fails a CI run (data folder present) in which a published-value check skipped."""
    if _PUBLISHED_SKIPS and _ci_requires_data() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line with the number of published-value checks that skipped."""
    if not _PUBLISHED_SKIPS:
        return
    count = len(_PUBLISHED_SKIPS)
    line = f"{count} published-value check{'s' if count != 1 else ''} skipped"
    if not SHARED_DATA.is_dir():
        terminalreporter.write_line(f"{line}: real data folder {SHARED_DATA} is absent")
    elif _ci_requires_data():
        terminalreporter.write_line(
            f"{line} in CI with the data present: failing the run", red=True
        )
        for nodeid, reason in _PUBLISHED_SKIPS.items():
            terminalreporter.write_line(f"  {nodeid}: {reason}")
    else:
        terminalreporter.write_line(f"{line} (see -rs for the reasons)")


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


# One tiny space per architecture family (the registered example spaces) with the per-sample
# input shape of its data.
TINY_FAMILIES = {family: (e.obj, e.meta["input_shape"]) for family, e in examples().items()}


@pytest.fixture(params=sorted(TINY_FAMILIES))
def tiny_family(request):
    """(name, space factory, per-sample input shape) of each family's tiny space."""
    make_space, input_shape = TINY_FAMILIES[request.param]
    return request.param, make_space, input_shape


@pytest.fixture
def hnb201_spec() -> Callable[..., dict]:
    """``make(cell, C=4)``: the decoded spec of the hierarchical NB201 network whose every cell
    is the NB201 cell ``cell`` (6 op names; 1 input channel, 10 classes)."""
    from symnas import spaces

    def make(cell: list[str], C: int = 4) -> dict:
        return {
            "_type": spaces.HierarchicalNB201.__type_name__,
            "derivation": spaces.nb201_derivation(cell),
            "C": C,
            "num_classes": 10,
            "in_chans": 1,
        }

    return make


class _Interrupted(Exception):
    """Raised into a trainer's epoch loop by the ``interrupt_fit`` fixture."""


@pytest.fixture
def interrupt_fit() -> Callable[[Any, int], None]:
    """``interrupt(trainer, epoch)``: runs ``trainer.fit()`` and stops it by an exception as
    epoch ``epoch`` (0-based) begins, after the checkpoint of the epoch before."""

    def interrupt(trainer: Any, epoch: int) -> None:
        def begin_epoch(current: int) -> None:
            if current == epoch:
                raise _Interrupted

        trainer.begin_epoch = begin_epoch
        with pytest.raises(_Interrupted):
            trainer.fit()

    return interrupt


_STALLED_TRAINING = textwrap.dedent(
    """
    import importlib.util, pathlib, time
    import torch
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("killed_test", {module!r})
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    from symnas.programs.training import supernet_train

    original = supernet_train.SupernetTrainer._run_epoch

    def stalled(self, epoch, bar):
        original(self, epoch, bar)
        if epoch == 1:  # epoch 1 is checkpointed, epoch 2 is not: wait here for the kill
            time.sleep(3600)

    supernet_train.SupernetTrainer._run_epoch = stalled
    out = pathlib.Path({out!r})
    {call}
    """
)


@pytest.fixture
def kill_supernet_training() -> Callable[[str, str, Path], None]:
    """``kill(module_file, call, out)``: runs ``call`` (source that trains a supernet into
    ``out``, with the test module as ``t``) in a child process whose training stalls after its
    first epoch, waits for that epoch's checkpoint, then SIGKILLs the child."""
    from symnas.programs.training.supernet_train import CHECKPOINT

    def kill(module_file: str, call: str, out: Path) -> None:
        script = _STALLED_TRAINING.format(module=module_file, out=str(out), call=call)
        process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "CI": "true"})
        deadline = time.monotonic() + 600  # a hang guard, not a timing expectation
        while not (out / CHECKPOINT).exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    return kill
