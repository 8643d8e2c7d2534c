"""The Registry mechanism: registration, lookup, aliases and loader modules."""

from __future__ import annotations

import sys
import types

import pytest

from symnas.core.registry import Registry


def test_decorator_and_plain_call_register_with_metadata():
    registry = Registry("widget")

    @registry.register("double", "twice x", arity=1)
    def double(x):
        return 2 * x

    registry.register("triple", "three times x", lambda x: 3 * x, aliases=("x3",))
    assert double(4) == 8  # the decorator returns the function unchanged
    assert registry.get("double").obj is double
    assert registry.get("double").meta["arity"] == 1
    assert registry.get("x3").name == "triple"
    assert registry.names() == ["double", "triple"]
    assert "x3" in registry and "quadruple" not in registry


def test_unknown_name_lists_valid_names_and_aliases():
    registry = Registry("widget")
    registry.register("a", "first", object, aliases=("alpha",))
    with pytest.raises(
        ValueError, match=r"Unknown widget .b.; valid widgets: \['a'\].*\['alpha'\]"
    ):
        registry.get("b")


def test_a_name_taken_by_another_object_is_refused():
    registry = Registry("widget")
    registry.register("a", "first", dict)
    with pytest.raises(ValueError, match="'a' is already registered for builtins.dict"):
        registry.register("a", "second", list)
    registry.register("a", "again", dict)  # the same object (a reloaded module) replaces
    assert registry.get("a").description == "again"


def test_bad_registration_arguments_are_named():
    registry = Registry("widget")
    with pytest.raises(ValueError, match="'name' must be a non-empty str"):
        registry.register("", "x", dict)
    with pytest.raises(TypeError, match="'description' of 'a' must be a str"):
        registry.register("a", None, dict)


def test_loader_modules_are_imported_on_a_miss_and_before_listing(tmp_path, monkeypatch):
    loaders = ["symnas_test_loader_a", "symnas_test_loader_b"]
    registry = Registry("widget", loaders=loaders)
    holder = types.ModuleType("symnas_test_holder")
    holder.registry = registry
    monkeypatch.setitem(sys.modules, "symnas_test_holder", holder)
    for module, widget in zip(loaders, ("wa", "wb"), strict=True):
        (tmp_path / f"{module}.py").write_text(
            f"import symnas_test_holder\nsymnas_test_holder.registry.register({widget!r}, '', 1)\n"
        )
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.register("w0", "eager", 0)
    assert registry.get("w0").obj == 0 and not set(loaders) & set(sys.modules)
    assert registry.get("wa").obj == 1
    assert loaders[0] in sys.modules and loaders[1] not in sys.modules  # only as far as needed
    assert registry.names() == ["w0", "wa", "wb"]
    assert loaders[1] in sys.modules


def test_a_loader_that_fails_to_import_raises_at_every_lookup():
    registry = Registry("widget", loaders=["symnas_test_no_such_module"])
    for _ in range(2):
        with pytest.raises(ModuleNotFoundError, match="symnas_test_no_such_module"):
            registry.get("anything")


def test_a_pattern_loader_imports_the_matching_modules_of_its_package(tmp_path, monkeypatch):
    registry = Registry("widget", loaders=["symnas_test_package.*_widgets"])
    holder = types.ModuleType("symnas_test_holder")
    holder.registry = registry
    monkeypatch.setitem(sys.modules, "symnas_test_holder", holder)
    package = tmp_path / "symnas_test_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    register = "import symnas_test_holder\nsymnas_test_holder.registry.register({!r}, '', 1)\n"
    for module, widget in (("b_widgets", "wb"), ("a_widgets", "wa"), ("helpers", "wh")):
        (package / f"{module}.py").write_text(register.format(widget))
    (package / "c_widgets").mkdir()  # a sub-package that matches the pattern
    (package / "c_widgets" / "__init__.py").write_text(register.format("wc"))
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("", ".a_widgets", ".b_widgets", ".c_widgets", ".helpers"):
        monkeypatch.delitem(sys.modules, "symnas_test_package" + module, raising=False)
    assert registry.names() == ["wa", "wb"]  # name order; helpers does not match
    assert "symnas_test_package.helpers" not in sys.modules
    assert "symnas_test_package.c_widgets" not in sys.modules  # sub-packages are not loaded
