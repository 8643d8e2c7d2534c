"""Package layout: every sub-package is installed, a black-box search imports no torch, and a new
multi-trial algorithm module registers alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _torch_after(*steps: str) -> list[bool]:
    """Runs ``steps`` in order in a fresh interpreter; whether torch is imported after each."""
    lines = ["import sys"]
    for step in steps:
        lines += [step, "print('torch' in sys.modules)"]
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(lines)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [word == "True" for word in out.stdout.split()]


def test_black_box_search_modules_do_not_import_torch_until_a_torch_part_is_used():
    steps = (
        "import symnas.algorithms, symnas.spaces",
        "import symnas.flows.search",
        "import symnas.flows",
        "from symnas import algorithms; algorithms.create('regularized_evolution')",
        "algorithms.zero_cost.PROXIES",
    )
    assert _torch_after(*steps) == [False] * 4 + [True]


def test_every_sub_package_folder_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
    assert {"symnas.algorithms.oneshot", "symnas.algorithms.samplers"} <= found


def test_a_new_multi_trial_module_registers_alone_without_torch(tmp_path):
    """A module beside the built-in algorithms is found by name with no list to join, and
    looking it up imports no torch."""
    (tmp_path / "toy_search.py").write_text(
        "from symnas.algorithms import RandomSearch, register_algorithm\n\n\n"
        "@register_algorithm('toy_search', 'random search under another name')\n"
        "class ToySearch(RandomSearch):\n"
        "    pass\n"
    )
    steps = (
        f"import symnas.algorithms; symnas.algorithms.__path__.append({str(tmp_path)!r})",
        "from symnas import algorithms; algorithms.create('toy_search')",  # fails if unknown
    )
    assert _torch_after(*steps) == [False, False]
