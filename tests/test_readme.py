"""Every ```python block of README.md runs, in order, in one namespace (later blocks use what
earlier ones defined, as a reader typing them in would), in a scratch folder; and every space
that ``symnas list`` shows is reachable under its listed name."""

from __future__ import annotations

import re
from pathlib import Path

from symnas import algorithms, spaces
from symnas.spaces.registry import SPACES

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a markdown text with the line each starts on."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def test_python_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (9, "y = x\n")]


def test_every_readme_python_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    namespace: dict = {"__name__": "__readme__"}
    for line, code in blocks:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102
    assert namespace["result"].best is not None
    assert (tmp_path / "runs" / "nb201" / "trials.jsonl").exists()


def test_every_listed_space_is_an_attribute_of_spaces():
    for name, entry in SPACES.entries().items():
        assert getattr(spaces, name) is entry.obj, name
        assert name in dir(spaces)


def test_nsga2_has_the_papers_population_size():
    assert algorithms.NSGA2().population_size == 100  # Deb et al. 2002, Section VI
