"""The distribution installs as ``symnas`` and imports from its installed form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pip_install_gives_working_imports(tmp_path):
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Built without isolation, so with this environment's setuptools (pyproject asks >= 77).
    assert installed.returncode == 0, f"pip install failed:\n{installed.stderr[-3000:]}"
    code = (
        "import symnas.spaces, symnas.algorithms, symnas.programs, symnas.flows, symnas.testing\n"
        "from symnas import spaces, algorithms, flows, programs\n"
        "print(spaces.__file__)\n"
        "import pyglove as pg\n"
        "r = flows.search(pg.Dict(x=pg.oneof([1, 2, 3])), lambda s: s['x'],\n"
        "                 algorithms.RandomSearch(), budget=3, verbose=False)\n"
        "print(r.best.metrics['objective'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    assert Path(out[0]).is_relative_to(site)
    assert float(out[1]) == 3.0
    assert not (site / "symnas" / "__init__.py").exists()  # a PEP 420 namespace
