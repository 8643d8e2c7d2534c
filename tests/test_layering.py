"""The floors of symnas and what each may import, read from the source with ``ast``.

Floors, lowest first: ``core`` (the ground floor), ``spaces``, ``programs``, ``algorithms``,
``flows``, ``testing`` (the conformance kit, which exercises every floor below it). A module
imports only from its own floor and the floors below it (so the ground floor imports nothing of
symnas), counting the imports inside functions: a lazy import is still a dependency. The ground
floor imports only the standard library and spaces add numpy and pyglove, so no torch is
imported below programs; the kit imports numpy, pyglove and torch and no test framework, so it
works without the test extra. The sub-packages import each other without a circle. Inside
``programs``, each kind's sub-package imports only the kinds below it (``PROGRAMS_KINDS``), and the
package's top (``registry``, ``supernet_base``) imports none of them.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ("core", "spaces", "programs", "algorithms", "flows", "testing")
# Third-party packages a floor may import beyond the standard library; floors not named: any.
# The kit needs no test framework: pytest is a test extra, so ``testing`` may not import it.
THIRD_PARTY = {
    "core": set(),
    "spaces": {"numpy", "pyglove"},
    "testing": {"numpy", "pyglove", "torch"},
}

# The sub-packages of ``programs`` by kind, and the kinds each may import (every kind may import
# the package's top: ``registry``, ``supernet_base``; the top imports no kind).
PROGRAMS_KINDS = {
    "data": set(),
    "families": set(),
    "training": {"data", "families"},
    "cost": {"families"},
}


def _modules() -> dict[str, Path]:
    """Every module of symnas by dotted name (a package under its own name)."""
    found = {}
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            parts = path.relative_to(ROOT / floor).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("symnas", floor, *parts))] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import of a file, nested ones included. ``from A
    import b`` gives ``A.b`` when that is a module of symnas, else ``A``; a relative import
    gives ``.``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((".", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                found.append((module if module in MODULES else node.module, node.lineno))
    return sorted(set(found), key=lambda item: item[1])


def _floor(module: str) -> str:
    return module.split(".")[1]


def _package(module: str) -> str:
    """The package a symnas module belongs to (a package belongs to itself)."""
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_no_module_imports_from_a_higher_floor():
    upward = [
        f"{_where(module, line)} ({_floor(module)}) imports {imported}"
        for module, path in MODULES.items()
        for imported, line in _imports(path)
        if imported.startswith("symnas.")
        and FLOORS.index(_floor(imported)) > FLOORS.index(_floor(module))
    ]
    assert not upward, "imports from a higher floor:\n" + "\n".join(upward)


def test_imports_are_absolute():
    relative = [
        _where(module, line)
        for module, path in MODULES.items()
        for imported, line in _imports(path)
        if imported.startswith(".")
    ]
    assert not relative, "relative imports (import the installed form):\n" + "\n".join(relative)


def test_the_ground_floor_spaces_and_the_kit_import_only_their_third_party_packages():
    foreign = []
    for module, path in MODULES.items():
        allowed = THIRD_PARTY.get(_floor(module))
        if allowed is None:
            continue
        for imported, line in _imports(path):
            top = imported.split(".")[0]
            if top not in sys.stdlib_module_names and top not in allowed and top != "symnas":
                foreign.append(f"{_where(module, line)} ({_floor(module)}) imports {imported}")
    assert not foreign, "imports outside the floor's dependencies:\n" + "\n".join(foreign)


def test_sub_packages_import_each_other_without_a_circle():
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for imported, _ in _imports(path):
            if imported.startswith("symnas.") and _package(imported) != _package(module):
                graph.setdefault(_package(module), set()).add(_package(imported))
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(
            f"sub-packages import in a circle: {' -> '.join(error.args[1])}"
        ) from None


def _programs_kind(module: str) -> str | None:
    """The ``programs`` sub-package of a module (``"families"``...), ``""`` for the package's
    top, None outside ``programs``."""
    parts = module.split(".")
    if parts[:2] != ["symnas", "programs"]:
        return None
    return parts[2] if len(parts) > 2 and parts[2] in PROGRAMS_KINDS else ""


def test_programs_kinds_import_only_the_kinds_below_them():
    assert {path.parent.name for path in (ROOT / "programs").glob("*/__init__.py")} == set(
        PROGRAMS_KINDS
    ), "every sub-package of programs/ is a kind of PROGRAMS_KINDS"
    wrong = []
    for module, path in MODULES.items():
        kind = _programs_kind(module)
        if kind is None:
            continue
        allowed = PROGRAMS_KINDS.get(kind, set()) | {kind}
        for imported, line in _imports(path):
            other = _programs_kind(imported)
            if other and other not in allowed:
                wrong.append(
                    f"{_where(module, line)} (programs/{kind or 'top'}) imports {imported}"
                )
    assert not wrong, "imports of a programs kind it may not use:\n" + "\n".join(wrong)
