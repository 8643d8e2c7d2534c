"""The ``symnas`` command line: ``list``, ``run`` and ``report``."""

from __future__ import annotations

import argparse
import inspect
import runpy
import sys
from pathlib import Path
from typing import Any

from symnas.algorithms.registry import create as create_algorithm
from symnas.algorithms.registry import names as algorithm_names
from symnas.flows.registry import DEFAULT_FLOW, flows, get_flow
from symnas.flows.report import report


def _spaces() -> dict[str, str]:
    from symnas import spaces

    factories = {}
    for name in getattr(spaces, "__all__", dir(spaces)):
        obj = getattr(spaces, name, None)
        if inspect.isfunction(obj) and obj.__module__.startswith("symnas.spaces."):
            if name in FACTORY_NAMES:
                doc = (obj.__doc__ or "").strip().splitlines()
                factories[name] = doc[0] if doc else ""
    return factories


FACTORY_NAMES = (
    "vit_tiny",
    "vit_small",
    "vit_base",
    "vit_resnas",
    "resnet20_pooling",
    "tdnn",
    "nb201_cell",
    "darts_cell",
    "grammar",
    "systolic_accelerator",
)


def cmd_list(_: argparse.Namespace) -> int:
    """Prints spaces, algorithms and flows with one line each."""
    print("spaces:")
    for name, doc in sorted(_spaces().items()):
        print(f"  {name:22s} {doc}")
    print("algorithms:")
    for name, doc in algorithm_names().items():
        print(f"  {name:22s} {doc}")
    print("flows:")
    for name, entry in sorted(flows().items()):
        marker = " (default)" if name == DEFAULT_FLOW else ""
        print(f"  {name:22s} {entry.description}{marker}")
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
    for key, value in args.set or []:
        options[key] = value
    return options


def cmd_run(args: argparse.Namespace) -> int:
    """Runs a named flow or a user script."""
    target = args.flow or DEFAULT_FLOW
    options = _options(args)
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise FileNotFoundError(f"No such flow script: {path}.")
        sys.argv = [str(path)]
        module = runpy.run_path(str(path), run_name="__symnas_flow__")
        if "flow" not in module:
            runpy.run_path(str(path), run_name="__main__")
            return 0
        result = module["flow"](**options)
    else:
        entry = get_flow(target)
        if options["out"] is None:
            options["out"] = str(Path("runs") / target)
        result = entry.run(**options)
    out = getattr(result, "out", None) or options.get("out")
    best = getattr(result, "best", None)
    if best is not None:
        print(f"best trial {best.id}: {best.metrics}")
    if out:
        print(f"results in {out} (symnas report {out})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Prints the table of best trials of a search folder (and writes pareto.png)."""
    print(report(args.folder, top=args.top))
    return 0


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE; got {text!r}.")
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symnas`` command."""
    p = argparse.ArgumentParser(prog="symnas", description="Symbolic neural-architecture search.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list spaces, algorithms and flows").set_defaults(fn=cmd_list)
    run = sub.add_parser("run", help="run a flow by name or a flow script")
    run.add_argument("flow", nargs="?", help=f"flow name or script.py (default {DEFAULT_FLOW})")
    run.add_argument("--algorithm", help="algorithm name (see symnas list)")
    run.add_argument("--budget", type=int, help="number of trials")
    run.add_argument("--out", help="output folder (default runs/FLOW)")
    run.add_argument("--resume", action="store_true", help="continue the search in --out")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--workers", type=int, default=1, help="parallel trial processes")
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
    rep.add_argument("--top", type=int, default=10)
    rep.set_defaults(fn=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``symnas`` command."""
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"symnas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symnas: interrupted; the trials so far are logged (use --resume).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
