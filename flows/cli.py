"""The ``symnas`` command line: ``list``, ``run`` and ``report``.

Exit status: 0 on success, 1 when a search stopped after consecutive failed trials, 2 for bad
input (names, options, folders), 130 when interrupted. Progress goes to stderr: a bar on a
terminal, one log line per trial otherwise.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import inspect
import logging
import runpy
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

from symnas.algorithms.registry import ALGORITHMS
from symnas.algorithms.registry import create as create_algorithm
from symnas.core.registry import Entry
from symnas.flows.executors import using
from symnas.flows.progress import FORMAT as PROGRESS_FORMAT
from symnas.flows.progress import StderrHandler
from symnas.flows.registry import DEFAULT_FLOW, flows, get_flow
from symnas.flows.report import describe_best, report
from symnas.flows.result import SearchResult
from symnas.flows.run_marker import require_run
from symnas.flows.search import SearchFailed
from symnas.spaces.context_free import CONSTRAINTS
from symnas.spaces.registry import SPACES

WATCH_INTERVAL_S = 5.0


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
    from symnas.algorithms.pruners import PRUNERS
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
    print("pruners (flows.search(..., pruner=NAME), symnas run --pruner NAME):")
    for name, entry in PRUNERS.entries().items():
        print(_line(name, entry.description))
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
    if args.pruner is not None:
        from symnas.algorithms.pruners import PRUNERS

        PRUNERS.get(args.pruner)  # unknown names fail here with the valid list
        options["pruner"] = args.pruner
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


def load_script(path: Path, ray: bool = False) -> types.ModuleType:
    """A flow script imported as a module listed in ``sys.modules``, so that its functions
    pickle by reference into forked worker processes (which inherit the module); with ``ray``
    they pickle by value into Ray workers, which cannot import the script."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"symnas_flow_script_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    if ray:
        try:
            from ray import cloudpickle
        except ImportError:
            return module  # the Ray executor reports the missing package
        cloudpickle.register_pickle_by_value(module)
    return module


def _run_script(path: Path, options: dict[str, Any], ray: bool = False) -> Any:
    """Runs a script once: its ``flow(**options)`` if it defines one, else its body as
    ``__main__``."""
    if not path.is_file():
        raise FileNotFoundError(f"No such flow script: {path}.")
    sys.argv = [str(path)]
    if not _defines_flow(path):
        runpy.run_path(str(path), run_name="__main__")
        return None
    return load_script(path, ray).flow(**options)


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
    failed = _every_trial_failed(getattr(result, "trials", None) or [])
    if failed is not None:
        print(f"symnas: {failed}", file=sys.stderr)
        return 1
    return 0


def _every_trial_failed(trials: list[Any]) -> str | None:
    """A message naming the first failure when there are trials and none succeeded."""
    if not trials or any(getattr(t, "ok", True) for t in trials):
        return None
    first = min(trials, key=lambda t: t.id)
    reason = (getattr(first, "error", None) or "no reason logged").rstrip()
    return f"every one of the {len(trials)} trials failed; the first, trial {first.id}:\n{reason}"


def _run_target(target: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Runs a flow or script with the options of the command line; returns its result and the
    options it got."""
    options = _options(args)
    settings = dict(args.set or [])
    if target.endswith(".py"):
        if options["resume"] and options["out"] is not None:
            require_run(options["out"])
        options.update({key: _guess(value) for key, value in settings.items()})
        result = _run_script(Path(target), options, ray=args.executor == "ray")
    else:
        entry = get_flow(target)
        options.update(entry.parse_options(settings))  # typed; unknown keys refused
        if "pruner" in options and not _passes_on(entry.run, "pruner"):
            raise ValueError(
                f"--pruner: flow {target!r} does not take a pruner (the family flows such as "
                "nb201-digits do)."
            )
        if args.device is not None and "device" not in entry.options:
            raise ValueError(
                f"--device: flow {target!r} trains no supernet; the flows that do take it: "
                f"{sorted(n for n, e in flows().items() if 'device' in e.options)}."
            )
        if options["out"] is None:
            options["out"] = str(Path("runs") / target)
        result = entry.run(**options)
    return result, options


def _passes_on(function: Any, name: str) -> bool:
    """Whether ``function`` takes the keyword ``name`` (itself or through ``**options``)."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def cmd_report(args: argparse.Namespace) -> int:
    """Prints the table of best trials of a search folder (and writes pareto.png); with --html
    writes report.html pages, with --watch again every few seconds until interrupted."""
    if args.watch is not None and not args.html:
        raise ValueError("--watch rewrites the HTML report: give --html too.")
    if args.watch is None:
        print(report(args.folder, top=args.top, html=args.html))
        return 0
    from symnas.flows.html_report import watch

    def announce(pages: list[Path]) -> None:
        if not announced:
            print(f"writing {pages[0]} every {args.watch:g} s (Ctrl-C stops)", flush=True)
            announced.append(True)

    announced: list[bool] = []
    try:
        watch(args.folder, args.watch, on_write=announce)
    except KeyboardInterrupt:
        print("symnas: stopped watching.", file=sys.stderr)
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0; got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0; got {text}")
    return value


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
    run.add_argument(
        "--pruner", help="stop trials early from their per-epoch reports (see symnas list)"
    )
    run.add_argument("--out", help="output folder (default runs/FLOW)")
    run.add_argument("--resume", action="store_true", help="continue the search in --out")
    run.add_argument("--seed", type=_seed, default=0)
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="trials at once: local processes (default 1, in this process) or, with --executor "
        "ray, trials in flight (default the cluster's CPUs)",
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
    rep.add_argument(
        "--html",
        action="store_true",
        help="also write report.html, a self-contained page with figures "
        "(pip install 'symnas[report]')",
    )
    rep.add_argument(
        "--watch",
        nargs="?",
        const=WATCH_INTERVAL_S,
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"with --html: rewrite the pages every SECONDS (default {WATCH_INTERVAL_S:g}) "
        "until interrupted",
    )
    rep.set_defaults(fn=cmd_report)
    return p


def _log_to_stderr() -> None:
    """Progress lines of symnas (one per trial or epoch off a terminal) go to stderr with a
    time."""
    logger = logging.getLogger("symnas")
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(PROGRESS_FORMAT))
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


#: Python arguments named in library messages, as the flags a command-line user types.
FLAG_NAMES = {"resume=True": "--resume"}


def as_flags(message: str) -> str:
    """``message`` with the Python arguments it names written as command-line flags."""
    for argument, flag in FLAG_NAMES.items():
        message = message.replace(argument, flag)
    return message


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
        print(f"symnas: error: {as_flags(str(e))}", file=sys.stderr)
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
