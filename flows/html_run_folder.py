"""What a run folder holds, read leniently from its logs alone.

A page must come out of a folder at any time, also while a search is writing to it: a torn last
line is dropped (as ``read_trials`` does), and a malformed line elsewhere is skipped and named in
the page's notes instead of failing the page. The folder is only read, never written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symnas.flows.report import read_objectives
from symnas.flows.result import SearchResult, Trial
from symnas.flows.trial_handle import REPORTS_FILE
from symnas.flows.trial_log import record_problem

try:  # optional (the ``fast`` extra): parses a long log several times faster
    import orjson
except ImportError:  # pragma: no cover - depends on the installed extras
    orjson = None

TRIAL_LOG = "trials.jsonl"
TRAIN_LOG = "train_log.jsonl"
SPLIT_PLAN = "plan.json"
INNER = "inner"


@dataclass
class TrainLog:
    """One supernet training's ``train_log.jsonl``: a record per epoch."""

    path: Path
    name: str
    records: list[dict[str, Any]]
    op_names: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SplitPlan:
    """A few-shot training's ``plan.json``: its method and the split of each sub-supernet."""

    path: Path
    name: str
    method: str
    splits: dict[str, dict[str, Any]]
    split_epochs: list[int] = field(default_factory=list)


@dataclass
class RunFolder:
    """Everything a page shows, gathered from one folder and the folders below it."""

    path: Path
    result: SearchResult | None
    notes: list[str]
    train_logs: list[TrainLog]
    plans: list[SplitPlan]
    inner: dict[str, Path]
    searches: list[Path]
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether the folder holds nothing a page can show yet."""
        return not (
            self.result is not None or self.train_logs or self.plans or self.inner or self.searches
        )


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON-object lines of ``path`` and a note per skipped line; a last line without its
    newline (still being written, or cut off by a kill) is dropped silently."""
    raw = path.read_bytes()
    raw = raw[: raw.rfind(b"\n") + 1]
    records, notes = [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = _parse(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            notes.append(f"{path.name}:{number}: skipped a line that is not JSON ({e}).")
            continue
        if not isinstance(record, dict):
            notes.append(f"{path.name}:{number}: skipped a line that is not a JSON object.")
            continue
        records.append(record)
    return records, notes


def _parse(line: bytes) -> Any:
    """One JSON line, by orjson when it is installed (the standard parser for what orjson
    refuses, such as integers beyond 64 bits, and for the error message)."""
    if orjson is not None:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    return json.loads(line)


def read_search(folder: Path) -> tuple[SearchResult | None, list[str]]:
    """The search logged in ``folder/trials.jsonl`` (None without one) and notes on the lines
    that were skipped."""
    path = folder / TRIAL_LOG
    if not path.is_file():
        return None, []
    records, notes = read_jsonl(path)
    trials = []
    for record in records:
        problem = record_problem(record)
        if problem:
            notes.append(f"{TRIAL_LOG}: skipped trial {record.get('id', '?')!r}: {problem}.")
            continue
        if record["status"] == "ok" and not record["metrics"]:
            notes.append(f"{TRIAL_LOG}: skipped trial {record['id']}: it has no metrics.")
            continue
        trials.append(Trial.from_record(record))
    return SearchResult(trials, read_objectives(folder, trials), folder), notes


def read_train_log(path: Path, root: Path) -> tuple[TrainLog, list[str]]:
    """A ``train_log.jsonl`` with the op names of its architecture weights (from the nearest
    ``config.json`` or ``plan.json`` above it that records the search space)."""
    records, notes = read_jsonl(path)
    records = [r for r in records if isinstance(r.get("epoch"), int)]
    name = str(path.parent.relative_to(root)) if path.parent != root else "."
    log = TrainLog(path, name, records)
    decisions = {d for r in records for d in (r.get("arch_weights") or {})}
    if decisions:
        space = _nearest_space(path.parent, root)
        log.op_names = {d: _candidates(space, d) for d in sorted(decisions)}
    return log, notes


def read_plan(path: Path, root: Path) -> tuple[SplitPlan | None, list[str]]:
    """A few-shot split plan (None with a note when it cannot be read)."""
    try:
        plan = json.loads(path.read_text())
        method = str(plan["config"]["method"])
        splits = {str(k): v for k, v in plan["splits"].items() if isinstance(v, dict)}
        epochs = [int(e) for e in plan["config"].get("split_epochs") or []]
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
    ) as e:
        return None, [f"{path.relative_to(root)}: not a readable split plan ({e})."]
    return SplitPlan(path, str(path.parent.relative_to(root)), method, splits, epochs), []


def read_run_folder(folder: str | Path) -> RunFolder:
    """Gathers a run folder: its search, the supernet trainings and split plans below it, the
    inner searches of a nested run (``inner/<key>/``) and any other search below it."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder.")
    result, notes = read_search(root)
    inner = {}
    if (root / INNER).is_dir():
        inner = {p.parent.name: p.parent for p in sorted((root / INNER).glob(f"*/{TRIAL_LOG}"))}
    searches: list[Path] = []  # the top-most searches below the folder (each pages its own)
    for log in sorted(root.rglob(TRIAL_LOG), key=lambda p: (len(p.parts), p)):
        folder = log.parent
        if folder != root and not any(folder.is_relative_to(s) for s in [root / INNER, *searches]):
            searches.append(folder)
    searches.sort()
    train_logs, plans = [], []
    for path in sorted(root.rglob(TRAIN_LOG)):
        if any(path.is_relative_to(s) for s in searches) or path.is_relative_to(root / INNER):
            continue
        log, log_notes = read_train_log(path, root)
        notes += log_notes
        if log.records:
            train_logs.append(log)
    for path in sorted(root.rglob(SPLIT_PLAN)):
        if any(path.is_relative_to(s) for s in searches):
            continue
        plan, plan_notes = read_plan(path, root)
        notes += plan_notes
        if plan is not None:
            plans.append(plan)
    reports: list[dict[str, Any]] = []
    if result is not None and (root / REPORTS_FILE).is_file():
        reports, report_notes = read_jsonl(root / REPORTS_FILE)
        notes += report_notes
    return RunFolder(root, result, notes, train_logs, plans, inner, searches, reports)


def _nearest_space(folder: Path, root: Path) -> Any:
    """The search space JSON recorded nearest above ``folder`` (None if none is)."""
    for parent in (folder, *folder.parents):
        for name, keys in (("config.json", ("space",)), (SPLIT_PLAN, ("config", "space"))):
            path = parent / name
            if path.is_file():
                try:
                    value: Any = json.loads(path.read_text())
                    for key in keys:
                        value = value[key]
                    return value
                except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                    pass
        if parent == root:
            return None
    return None


def _candidates(space: Any, decision: str) -> list[str]:
    """The candidate names of the decision at dotted path ``decision`` (``cell.edges[3]``) in a
    space's JSON; empty when the path does not lead to a choice of named candidates."""
    node = space
    for part in decision.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return []
    if isinstance(node, dict) and isinstance(node.get("candidates"), list):
        return [c if isinstance(c, str) else _short(c) for c in node["candidates"]]
    return []


def _short(value: Any) -> str:
    """A candidate that is not a string, as a short text (its type name for objects)."""
    if isinstance(value, dict) and "_type" in value:
        return str(value["_type"]).rsplit(".", 1)[-1]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value)[:40]
