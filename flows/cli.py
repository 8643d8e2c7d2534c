"""The ``symnas`` command line: ``list``, ``run`` and ``report``.

Exit status: 0 on success, 1 when a search stopped after consecutive failed trials, 2 for bad
input (names, options, folders), 130 when interrupted. Progress goes to stderr: a bar on a
terminal, one log line per trial otherwise.
"""

from __future__ import annotations

import argparse
import ast
import logging
import runpy
import sys
import textwrap
from pathlib import Path
from typing import Any

from symnas.algorithms.registry import ALGORITHMS
from symnas.algorithms.registry import create as create_algorithm
from symnas.core.registry import Entry
from symnas.flows.executors import using
from symnas.flows.registry import DEFAULT_FLOW, flows, get_flow
from symnas.flows.report import describe_best, report
from symnas.flows.result import SearchResult
from symnas.flows.search import SearchFailed
from symnas.spaces.context_free import CONSTRAINTS
from symnas.spaces.registry import SPACES


def _line(name: str, text: str) -> str:
    return f"  {name:22s} {text}".rstrip()


def _flags(entry: Entry, *names: str) -> str:
    """``"[a, b] "`` for the boolean metadata ``names`` an entry sets (empty when none)."""
    set_flags = [name.replace("_", "-") for name in names if entry.meta.get(name)]
    return f"[{', '.join(set_flags)}] " if set_flags else ""


def cmd_list(_: argparse.Namespace) -> int:
    """Prints what every registry holds: spaces and their grammar constraints, program families
    with their supernet capabilities and parts hooks, data sets, algorithms with their kind, path
    samplers, zero-cost proxies with their flags, and flows with their options."""
    from symnas.algorithms.samplers import SAMPLERS
    from symnas.algorithms.zero_cost.registry import PROXY_REGISTRY
    from symnas.programs.cost.parts import PARTS
    from symnas.programs.data import DATASETS
    from symnas.programs.registry import FAMILIES, capabilities

    print("spaces:")
    for name, entry in SPACES.entries().items():
        print(_line(name, entry.description))
    print("grammar constraints:")
    for name, entry in CONSTRAINTS.entries().items():
        print(_line(name, entry.description))
    print("families (supernet capabilities):")
    for name, entry in FAMILIES.entries().items():
        print(
            _line(name, f"[{', '.join(capabilities(name)) or 'no supernet'}] {entry.description}")
        )
    print("parts hooks (spec type):")
    for name, entry in PARTS.entries().items():
        print(_line(name, entry.description))
    print("datasets:")
    for name, entry in DATASETS.entries().items():
        print(_line(name, f"{_flags(entry, 'folder')}{entry.description}"))
    print("algorithms:")
    aliases = ALGORITHMS.aliases()
    for name, entry in ALGORITHMS.entries().items():
        also = [alias for alias, target in aliases.items() if target == name]
        also_text = f" (also: {', '.join(also)})" if also else ""
        print(_line(name, f"[{entry.meta['kind']}] {entry.description}{also_text}"))
    print("path samplers:")
    for name, entry in SAMPLERS.entries().items():
        needs = f"[needs {entry.meta['requires']}] " if entry.meta["requires"] else ""
        family = f"[{entry.meta['family']}] " if entry.meta.get("family") else ""
        print(_line(name, f"{family}{needs}{entry.description}"))
    print("zero-cost proxies:")
    for name, entry in PROXY_REGISTRY.entries().items():
        flags = _flags(entry, "labelled", "supernet_safe", "saliency")
        print(_line(name, f"{flags}{entry.description}"))
    print("flows:")
    for name, entry in flows().items():
        marker = " (default)" if name == DEFAULT_FLOW else ""
        print(_line(name, f"{entry.description}{marker}"))
        if entry.options:
            options = ", ".join(f"{k}={o.default!r}" for k, o in entry.options.items())
            print(_line("", f"  --set {options}"))
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "resume": args.resume,
        "seed": args.seed,
        "workers": args.workers,
        "out": args.out,
    }
    if args.algorithm is not None:
        create_algorithm(args.algorithm)  # unknown names fail here with the valid list
        options["algorithm"] = args.algorithm
    if args.budget is not None:
        options["budget"] = args.budget
    if args.device is not None:
        options["device"] = args.device
    return options


def _guess(text: str) -> Any:
    """A script's ``--set`` value: an int or float when it reads as one, else the text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _defines_flow(path: Path) -> bool:
    """Whether a script defines a top-level ``flow`` function (read without running it)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as e:
        raise ValueError(f"{path}:{e.lineno}: syntax error ({e.msg}).") from None
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "flow"
        for node in tree.body
    )


def _run_script(path: Path, options: dict[str, Any]) -> Any:
    """Runs a script once: its ``flow(**options)`` if it defines one, else its body as
    ``__main__``."""
    if not path.is_file():
        raise FileNotFoundError(f"No such flow script: {path}.")
    sys.argv = [str(path)]
    if not _defines_flow(path):
        runpy.run_path(str(path), run_name="__main__")
        return None
    module = runpy.run_path(str(path), run_name="__symnas_flow__")
    return module["flow"](**options)


def cmd_run(args: argparse.Namespace) -> int:
    """Runs a named flow or a user script."""
    target = args.flow or DEFAULT_FLOW
    if args.ray_address is not None and args.executor != "ray":
        raise ValueError("--ray-address ADDR: the address of a Ray cluster needs --executor ray.")
    with using(args.executor, address=args.ray_address):
        result, options = _run_target(target, args)
    out = getattr(result, "out", None) or options.get("out")
    outer = getattr(result, "outer", result)
    if isinstance(outer, SearchResult):
        print(describe_best(outer))
    if out and result is not None:
        print(f"results in {out} (symnas report {out})")
    return 0


def _run_target(target: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Runs a flow or script with the options of the command line; returns its result and the
    options it got."""
    options = _options(args)
    settings = dict(args.set or [])
    if target.endswith(".py"):
        options.update({key: _guess(value) for key, value in settings.items()})
        result = _run_script(Path(target), options)
    else:
        entry = get_flow(target)
        options.update(entry.parse_options(settings))  # typed; unknown keys refused
        if args.device is not None and "device" not in entry.options:
            raise ValueError(
                f"--device: flow {target!r} trains no supernet; the flows that do take it: "
                f"{sorted(n for n, e in flows().items() if 'device' in e.options)}."
            )
        if options["out"] is None:
            options["out"] = str(Path("runs") / target)
        result = entry.run(**options)
    return result, options


def cmd_report(args: argparse.Namespace) -> int:
    """Prints the table of best trials of a search folder (and writes pareto.png)."""
    print(report(args.folder, top=args.top))
    return 0


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE; got {text!r}.")
    key, value = text.split("=", 1)
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set KEY must be an option name; got {key!r}.")
    return key, value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {value}")
    return value


def _flow_epilog(name: str | None) -> str | None:
    """The ``--set`` options of flow ``name`` with defaults (None if it is not a known flow)."""
    if name is None or name.endswith(".py") or name not in flows():
        return None
    lines = [f"--set options of {name} (type, default):"]
    for option in get_flow(name).options.values():
        default = "the flow's setting" if option.default is None else repr(option.default)
        text = f"{option.name} ({option.type_text}, {default}) {option.help}".rstrip()
        lines.append(textwrap.fill(text, 88, initial_indent="  ", subsequent_indent="      "))
    return "\n".join(lines)


def parser(flow: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``symnas`` command; ``flow`` adds its options to run's help."""
    p = argparse.ArgumentParser(prog="symnas", description="Symbolic neural-architecture search.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list spaces, algorithms and flows").set_defaults(fn=cmd_list)
    run = sub.add_parser(
        "run",
        help="run a flow by name or a flow script",
        epilog=_flow_epilog(flow),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("flow", nargs="?", help=f"flow name or script.py (default {DEFAULT_FLOW})")
    run.add_argument("--algorithm", help="algorithm name (see symnas list)")
    run.add_argument("--budget", type=_positive_int, help="number of trials (>= 1)")
    run.add_argument("--out", help="output folder (default runs/FLOW)")
    run.add_argument("--resume", action="store_true", help="continue the search in --out")
    run.add_argument("--seed", type=_seed, default=0)
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="parallel trial processes (--executor ray: trials in flight, default the cluster's CPUs)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where trials run: local processes or Ray tasks (pip install 'symnas[ray]')",
    )
    run.add_argument(
        "--ray-address", help="Ray cluster to join (default: RAY_ADDRESS or a local one)"
    )
    run.add_argument(
        "--device",
        help="where supernets train and are evaluated: auto (CUDA when available), cpu, cuda[:N]",
    )
    run.add_argument(
        "--set",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="extra flow option (repeatable)",
    )
    run.set_defaults(fn=cmd_run)
    rep = sub.add_parser("report", help="table of the best trials of a search folder")
    rep.add_argument("folder")
    rep.add_argument("--top", type=_positive_int, default=10)
    rep.set_defaults(fn=cmd_report)
    return p


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """Progress lines of symnas (one per trial off a terminal) go to stderr with a time."""
    logger = logging.getLogger("symnas")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _flow_argument(argv: list[str]) -> str | None:
    """The flow name of a ``run`` command line (before parsing, for its help)."""
    if len(argv) < 2 or argv[0] != "run":
        return None
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    takes_value = {
        option
        for action in commands.choices["run"]._actions
        if action.option_strings and action.nargs != 0
        for option in action.option_strings
    }
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``symnas`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _log_to_stderr()
    args = parser(_flow_argument(argv)).parse_args(argv)
    try:
        return args.fn(args)
    except SearchFailed as e:
        print(f"symnas: search stopped: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, TypeError, ImportError) as e:
        print(f"symnas: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        print(f"symnas: error:{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symnas: interrupted; the trials so far are logged (use --resume).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
