"""Skipped published-value checks are counted in one summary line, and fail a CI run that has
the data.

Runs pytest on a throw-away tree: ``<tmp>/repo/tests`` holds a copy of this suite's conftest and
a few tests that skip, so the conftest's data folder is ``<tmp>/shared/data``, present or not as
each case needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FAKE_TESTS = """
import pytest


def test_uses_the_data_fixture(shared_data):
    assert shared_data.is_dir()


@pytest.mark.published
def test_marked_published():
    pytest.skip("published table missing")


def test_names_the_data_folder():
    pytest.skip("NAS-Bench-201 table not found at ../shared/data/nb201/table.csv")


def test_unrelated_skip():
    pytest.skip("needs a GPU")


def test_plain():
    pass
"""


def _run(tmp_path: Path, data: bool, ci: bool) -> subprocess.CompletedProcess:
    tests = tmp_path / "repo" / "tests"
    tests.mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tests / "conftest.py")
    (tests / "test_fake.py").write_text(textwrap.dedent(FAKE_TESTS))
    if data:
        (tmp_path / "shared" / "data").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path / "repo",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("data", "ci", "skipped", "returncode", "message"),
    [
        (False, True, 3, 0, "is absent"),
        (True, True, 2, 1, "failing the run"),
    ],
)
def test_published_skips_are_counted_and_fail_ci_with_data(
    tmp_path, data, ci, skipped, returncode, message
):
    proc = _run(tmp_path, data, ci)
    lines = [line for line in proc.stdout.splitlines() if "published-value check" in line]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith(f"{skipped} published-value checks skipped")
    assert message in lines[0]
    assert proc.returncode == returncode, proc.stdout
    if returncode:
        assert "test_marked_published: published table missing" in proc.stdout
        assert "test_names_the_data_folder: NAS-Bench-201 table not found" in proc.stdout
        assert "test_unrelated_skip" not in proc.stdout
