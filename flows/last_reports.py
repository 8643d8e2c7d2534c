"""Where each trial of a search folder stands: the last intermediate report per trial.

Reads ``out/reports.jsonl`` (appended by ``trial.report``, see ``flows.trial_handle``), so it
shows running trials too, and the trial log for their status (``running`` until logged). A line
cut short by a kill is skipped; the files are never written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from symnas.flows.trial_handle import REPORTS_FILE
from symnas.flows.trial_log import read_trials


def last_reports(folder: str | Path) -> dict[int, dict[str, Any]]:
    """``{trial id: its last report line}`` (``step``, ``metrics``, ``budget`` when given),
    each with the trial's ``status`` from the log (``running`` when not logged yet)."""
    folder = Path(folder)
    path = folder / REPORTS_FILE
    if not path.exists():
        return {}
    last: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text().splitlines(keepends=True), 1):
        if not line.endswith("\n"):
            continue  # cut short by a kill
        try:
            record = json.loads(line)
            last[int(record["trial"])] = record
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: corrupt report line.") from None
    status = {int(r["id"]): r["status"] for r in read_trials(folder / "trials.jsonl")}
    for trial_id, record in last.items():
        record["status"] = status.get(trial_id, "running")
    return last


def progress_table(folder: str | Path, top: int | None = None) -> str:
    """A text table of the last report of each trial (the ``top`` most recent trials), or an
    empty string when the search has no reports."""
    last = last_reports(folder)
    if not last:
        return ""
    ids = sorted(last)[-top:] if top else sorted(last)
    names = sorted({k for i in ids for k in last[i]["metrics"]})
    lines = [
        f"last report of {len(ids)} of {len(last)} trials:",
        "  ".join(
            ["id".rjust(5), "status".rjust(8), "budget".rjust(7), "step".rjust(5)]
            + [n[:12].rjust(12) for n in names]
        ),
    ]
    for i in ids:
        record = last[i]
        budget = record.get("budget")
        cells = [
            str(i).rjust(5),
            record["status"].rjust(8),
            ("-" if budget is None else f"{budget:g}").rjust(7),
            str(record["step"]).rjust(5),
        ] + [f"{record['metrics'].get(n, float('nan')):12.4g}" for n in names]
        lines.append("  ".join(cells))
    return "\n".join(lines)
