"""Named flows for ``symnas run NAME``.

A flow is a function ``flow(algorithm=None, budget=None, out=None, resume=False, seed=0,
workers=None, verbose=True, **flow_options)`` that returns a result with ``best``, ``trials`` and
``out`` (``flows.result.FlowResult``); ``algorithm`` is a name or object (None: the flow's
default) and ``budget`` None means the flow's default. Flows register with
:func:`register_flow` in the project's one registry mechanism; the entry records the flow's own
options (every keyword parameter other than the common ones above) with their type, default and
help, read from the signature and the ``Args:`` section of the docstring, so that a command line
can convert ``KEY=VALUE`` text and refuse unknown keys. A flow that takes ``**options`` passes
them on to ``flows.search``, whose settings beyond the common ones are then options of the flow.
The registered function (what ``register_flow`` returns) first claims the flow's ``out`` folder
(``flows.run_marker``): it is checked and marked with the flow and its options before the flow
runs, and the mark is removed again when the flow refuses its options.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symnas.core.registry import Registry
from symnas.flows.run_marker import claim, release
from symnas.flows.search import search

COMMON_OPTIONS = ("algorithm", "budget", "out", "resume", "seed", "workers", "verbose")
DEFAULT_FLOW = "hw-nested"

# The modules that define flows are named ``*_flow`` or ``*_flows``; they are imported when a
# name is looked up or the flows are listed.
FLOWS = Registry("flow", loaders=["symnas.flows.*_flow", "symnas.flows.*_flows"])

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")
_SCALARS = (bool, int, float, Path, str)


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a value of ``annotation`` may have; () for any."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return ()
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members: tuple[Any, ...] = ()
        for arg in typing.get_args(annotation):
            inner = _members(arg)
            if not inner:
                return ()
            members += inner
        return members
    origin = typing.get_origin(annotation)
    return (origin if isinstance(origin, type) else annotation,)


@dataclass(frozen=True)
class FlowOption:
    """One flow-specific option: name, annotated type, default and a line of help."""

    name: str
    type: Any
    default: Any
    help: str = ""

    @property
    def type_text(self) -> str:
        """The allowed types as text (``int``, ``str or None``...)."""
        members = _members(self.type)
        if not members:
            return "any value"
        return " or ".join(
            "None" if t is type(None) else getattr(t, "__name__", str(t)) for t in members
        )

    def convert(self, value: Any, flow: str = "flow") -> Any:
        """``value`` as this option's type: command-line text (and numbers) converted, other
        objects checked; a value that fits none of the allowed types is a ``ValueError``."""
        members = _members(self.type)
        if not members or not all(isinstance(m, type) for m in members):
            return value
        if isinstance(value, (str, int, float)):
            text = str(value).strip()
            if text.lower() in _NONE and type(None) in members:
                return None
            for cast in _SCALARS:
                converted = _cast(cast, text) if cast in members else None
                if converted is not None:
                    return converted
        elif isinstance(value, members):
            return value
        raise ValueError(
            f"flow {flow!r}: option {self.name!r} expects {self.type_text}; got {value!r}."
        )


def _cast(cast: type, text: str) -> Any:
    """``text`` as ``cast`` (bool, int, float, Path, str), or None when it is not one."""
    if cast is bool:
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    try:
        return cast(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class FlowEntry:
    """A registered flow: name, function, one-line description and its own options."""

    name: str
    run: Callable[..., Any]
    description: str
    options: Mapping[str, FlowOption]

    def parse_options(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Converts flow-specific option values (``--set KEY=VALUE`` text or objects) to their
        types; an unknown key is refused with the valid ones."""
        parsed = {}
        for key, value in values.items():
            if key in COMMON_OPTIONS:
                raise ValueError(
                    f"flow {self.name!r}: {key!r} is a common option (--{key}), not a flow option."
                )
            if key not in self.options:
                raise ValueError(
                    f"flow {self.name!r} has no option {key!r}; valid options: "
                    f"{sorted(self.options)}."
                )
            parsed[key] = self.options[key].convert(value, self.name)
        return parsed


def _arg_help(fn: Callable[..., Any]) -> dict[str, str]:
    """``{name: help}`` from the ``Args:`` section of ``fn``'s docstring (continuation lines
    joined)."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)*)", doc, flags=re.MULTILINE)
    if match is None:
        return {}
    helps: dict[str, str] = {}
    current = None
    indent = None
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        item = re.match(r"\s*(\*{0,2}\w+)(?:\s*\(.*?\))?:\s*(.*)", line)
        if item and (indent is None or depth <= indent):
            indent = depth
            current = item.group(1).lstrip("*")
            helps[current] = item.group(2).strip()
        elif current is not None:
            helps[current] = f"{helps[current]} {line.strip()}".strip()
    return helps


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s resolved annotations ({} when one names a type its module does not define)."""
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):
        return {}


def options_of(fn: Callable[..., Any]) -> dict[str, FlowOption]:
    """The flow-specific options of flow function ``fn`` (see the module docstring)."""
    options: dict[str, FlowOption] = {}
    sources = [fn]
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
        sources.append(search)
    for source in sources:
        hints = _hints(source)
        helps = _arg_help(source)
        for p in inspect.signature(source).parameters.values():
            if (
                p.name in COMMON_OPTIONS
                or p.name in options
                or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                or p.default is p.empty
            ):
                continue
            # Without a resolvable annotation the default's type (or any value) is allowed.
            annotation = hints.get(p.name, Any if p.default is None else type(p.default))
            options[p.name] = FlowOption(p.name, annotation, p.default, helps.get(p.name, ""))
    options.pop("options", None)  # flows.search's own pass-through mapping
    return options


def _check_common(name: str, fn: Callable[..., Any]) -> None:
    parameters = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    missing = [o for o in COMMON_OPTIONS if o not in parameters]
    if missing:
        raise TypeError(
            f"register_flow({name!r}): a flow takes the common options {list(COMMON_OPTIONS)}; "
            f"{fn.__qualname__} lacks {missing}."
        )


def register_flow(
    name: str, description: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers a flow function under ``name`` with its options."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _check_common(name, fn)
        options = options_of(fn)
        run = _marking(name, fn, options)
        entry = FlowEntry(name, run, description, types.MappingProxyType(options))
        FLOWS.register(name, description, run, entry=entry)
        return run

    return decorate


def _marking(
    name: str, fn: Callable[..., Any], options: Mapping[str, FlowOption]
) -> Callable[..., Any]:
    """``fn`` that first claims its output folder (``flows.run_marker.claim``): the folder is
    checked and marked with the flow and its options (defaults filled in) before the flow does
    anything."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = {k: o.default for k, o in options.items()}
        arguments.update(bound.arguments)
        for p in signature.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                arguments.update(arguments.pop(p.name, {}))
        out = arguments.get("out")
        if out is None:
            return fn(*args, **kwargs)
        existed = claim(out, name, arguments, bool(arguments.get("resume")))
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, FileNotFoundError):
            release(out, existed)  # refused options leave no trace
            raise

    return run


def flows() -> dict[str, FlowEntry]:
    """Every registered flow by name."""
    return {name: e.meta["entry"] for name, e in FLOWS.entries().items()}


def get_flow(name: str) -> FlowEntry:
    """The flow called ``name``; unknown names list the valid flows."""
    return FLOWS.get(name).meta["entry"]
