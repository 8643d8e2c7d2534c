"""The mark of a flow's output folder: which flow runs there and with which options.

A registered flow writes ``out/run.json`` (``{"flow": NAME, "options": {...}}``) before it does
any work, so a folder is recognised as that flow's from the first moment, also before any
search inside it has logged a trial. Before the flow writes anything:

- a new run (no resume) refuses a folder that holds another run or any other file;
- ``resume`` refuses a folder without a run, a folder of another flow, and options that differ
  from the recorded ones (the first differing field named); budget, workers, verbosity, device,
  torch threads and the consecutive-failure limit may change, as they may for a resumed search.

A folder that holds only its mark (the flow was stopped before its first step wrote anything)
holds no run yet; when the flow refuses its options, the mark (and a folder made for it) is
removed again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symnas.core.compare import first_difference, short_repr
from symnas.core.files import write_json_atomic
from symnas.flows.run_config import prepare_out_dir

MARKER = "run.json"
#: Options that a resumed run may change (the search checks what it must itself).
FREE_OPTIONS = (
    "budget",
    "out",
    "resume",
    "workers",
    "verbose",
    "device",
    "threads",
    "max_consecutive_failures",
)
#: Files of a search logged before folders were marked: such a folder holds a run.
LEGACY_RUN_FILES = ("trials.jsonl", "config.json")


def _plain(value: Any) -> Any:
    """``value`` as JSON: scalars, paths and containers as such, any other object by its type
    (an algorithm object's settings are checked by the search's own configuration)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return f"<{type(value).__qualname__}>"


def marked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options recorded in the mark, as JSON."""
    return {k: _plain(v) for k, v in sorted(options.items()) if k not in FREE_OPTIONS}


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The mark of ``folder`` (None when it has none); a corrupt mark is a ``ValueError``."""
    path = folder / MARKER
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: corrupt run mark ({e}).") from None
    if not isinstance(marker, dict) or not isinstance(marker.get("flow"), str):
        raise ValueError(f"{path}: corrupt run mark (no flow name).")
    return marker


def _contents(folder: Path) -> list[str]:
    """The names in ``folder`` other than its mark (empty when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != MARKER)


def require_run(folder: str | Path) -> None:
    """Raises ``ValueError`` unless ``folder`` holds a run to resume: a mark, or the log or
    configuration of a search."""
    folder = Path(folder)
    if (folder / MARKER).exists() or any(n in _contents(folder) for n in LEGACY_RUN_FILES):
        return
    raise ValueError(
        f"--resume: {folder} holds no run to continue"
        + (" (it does not exist)" if not folder.exists() else "")
        + "; check the path, or run without --resume to start one."
    )


def release(folder: str | Path, existed: bool) -> None:
    """Undoes a claim whose flow stopped before writing anything (its options were refused):
    the mark is removed, and the folder too when the claim created it."""
    folder = Path(folder)
    if (folder / MARKER).exists() and not _contents(folder):
        (folder / MARKER).unlink()
        if not existed:
            folder.rmdir()


def claim(folder: str | Path, flow: str, options: Mapping[str, Any], resume: bool) -> bool:
    """Checks that ``flow`` may run (``resume``: continue) in ``folder`` with ``options`` and
    marks the folder; raises ``ValueError`` before writing anything when it may not. Returns
    whether the folder existed before (for :func:`release`)."""
    folder = Path(folder)
    existed = folder.exists()
    if folder.exists() and not folder.is_dir():
        prepare_out_dir(folder)  # names the problem
    marker = read_marker(folder)
    contents = _contents(folder)
    recorded = marked_options(options)
    if marker is not None and marker["flow"] != flow and (contents or resume):
        raise ValueError(
            f"{folder} holds a run of flow {marker['flow']!r}, not {flow!r}; choose another "
            "output folder."
        )
    if not resume:
        if contents:
            held = f"a run of flow {marker['flow']!r}" if marker else f"files ({contents[0]}...)"
            raise ValueError(
                f"{folder} already holds {held}; pass --resume to continue it, or choose "
                "another output folder."
            )
    elif marker is None:
        require_run(folder)
    else:
        found = first_difference(marker.get("options"), recorded, "options")
        if found:
            where, was, now = found
            raise ValueError(
                f"Cannot resume from {folder}: its run's '{where}' was {short_repr(was)}, now "
                f"{short_repr(now)}; resume with the same options or choose another folder."
            )
    prepare_out_dir(folder)
    write_json_atomic(folder / MARKER, {"flow": flow, "options": recorded})
    return existed
