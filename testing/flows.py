"""Conformance check of a registered flow: its options and its result type.

:func:`check_flow` raises ``AssertionError`` naming the flow when it does not take the common
options (``algorithm, budget, out, resume, seed, workers, verbose``) or a ``**options`` that
passes them on, when it declares no option of its own or one without a help line (an ``Args:``
line of its docstring), when ``--set KEY=DEFAULT`` would not give back a scalar default, or when
its annotated return type lacks a ``FlowResult``'s ``best``, ``trials`` and ``out``.
"""

from __future__ import annotations

import inspect
import typing

from symnas.flows.registry import COMMON_OPTIONS, get_flow

RESULT_FIELDS = ("best", "trials", "out")


def _result_members(cls: type) -> set[str]:
    """Attributes and annotated fields of ``cls`` and its bases."""
    members = set(dir(cls))
    for base in cls.__mro__:
        if base is not object:
            members |= set(typing.get_type_hints(base))
    return members


def check_flow_options(name: str) -> None:
    """The flow takes the common options and declares its own, each with help, and a scalar
    default converts back to itself."""
    entry = get_flow(name)
    parameters = inspect.signature(entry.run).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    missing = sorted(set(COMMON_OPTIONS) - set(parameters))
    assert takes_any or not missing, f"{name} lacks the common options {missing}"
    assert entry.options, f"{name} declares no option of its own"
    for option in entry.options.values():
        assert option.name not in COMMON_OPTIONS, f"{name}: {option.name!r} is a common option"
        assert option.help, f"{name}: option {option.name!r} has no help (an Args: line)"
        if isinstance(option.default, (bool, int, float, str)):
            back = option.convert(str(option.default), name)
            assert back == option.default, (
                f"{name}: --set {option.name}={option.default} gives {back!r}, not the default"
            )


def check_flow_result(name: str) -> None:
    """The flow annotates a return type with a ``FlowResult``'s fields."""
    returned = typing.get_type_hints(get_flow(name).run).get("return")
    assert isinstance(returned, type), f"{name} does not annotate its result type"
    missing = sorted(set(RESULT_FIELDS) - _result_members(returned))
    assert not missing, f"{name} returns {returned.__name__}, which lacks {missing}"


def check_flow(name: str) -> None:
    """Every flow check on the registered flow ``name``."""
    check_flow_options(name)
    check_flow_result(name)
