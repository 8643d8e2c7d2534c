"""Module paths that moved (``programs/`` split by kind, ``spaces.grammar`` renamed) still work
for one release, through ``core.moved``."""

import importlib
import sys
import warnings

import pytest

from symnas import programs, spaces
from symnas.core import moved

OLD_PATHS = {**programs.MOVED_MODULES, **spaces.MOVED_MODULES}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_module_path_imports_the_new_module_object_and_warns(old, monkeypatch):
    new = importlib.import_module(OLD_PATHS[old])
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=OLD_PATHS[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is new
    assert module.__spec__.name == new.__name__  # the new module's own spec is kept
    assert sys.modules[old] is new


def test_an_old_attribute_of_the_package_is_the_new_module_and_warns(monkeypatch):
    from symnas.programs.cost import hardware

    monkeypatch.delitem(sys.modules, "symnas.programs.hardware", raising=False)
    with pytest.warns(DeprecationWarning, match=r"symnas\.programs\.cost\.hardware"):
        assert programs.hardware is hardware


def test_importing_an_old_module_path_keeps_the_package_functions_of_that_name(monkeypatch):
    from symnas.programs.cost.count import count
    from symnas.programs.training.train import train
    from symnas.spaces.context_free import grammar

    for old in ("symnas.programs.train", "symnas.programs.count", "symnas.spaces.grammar"):
        monkeypatch.delitem(sys.modules, old, raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module(old)
    assert programs.train is train
    assert programs.count is count
    assert spaces.grammar is grammar


def test_the_new_paths_import_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for new in OLD_PATHS.values():
            importlib.import_module(new)
        assert callable(programs.build) and callable(programs.train)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        programs.nope  # noqa: B018


def test_an_old_path_is_declared_by_its_own_package_once():
    with pytest.raises(ValueError, match="not a module of package 'symnas.spaces'"):
        moved.keep_old_paths("symnas.spaces", {"symnas.programs.x": "symnas.programs.y"})
    with pytest.raises(ValueError, match="already moved to 'symnas.programs.families.vit'"):
        moved.keep_old_paths("symnas.programs", {"symnas.programs.vit": "symnas.programs.y"})
