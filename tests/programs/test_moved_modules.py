"""The module paths from before ``programs/`` was split by kind still work for one release."""

import importlib
import sys
import warnings

import pytest

from symnas import programs
from symnas.programs import _moved


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_an_old_module_path_imports_the_new_module_object_and_warns(old, monkeypatch):
    new = importlib.import_module(_moved.MOVED[old])
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=_moved.MOVED[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is new
    assert module.__spec__.name == new.__name__  # the new module's own spec is kept
    assert sys.modules[old] is new


def test_an_old_attribute_of_the_package_is_the_new_module_and_warns():
    from symnas.programs.cost import hardware

    with pytest.warns(DeprecationWarning, match=r"symnas\.programs\.cost\.hardware"):
        assert programs.hardware is hardware


def test_importing_an_old_module_path_keeps_the_package_functions_of_that_name(monkeypatch):
    from symnas.programs.cost.count import count
    from symnas.programs.training.train import train

    for old in ("symnas.programs.train", "symnas.programs.count"):
        monkeypatch.delitem(sys.modules, old, raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module(old)
    assert programs.train is train
    assert programs.count is count


def test_the_new_paths_import_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for new in _moved.MOVED.values():
            importlib.import_module(new)
        assert callable(programs.build) and callable(programs.train)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        programs.nope  # noqa: B018
