"""Reports of a finished (or running) search folder: a table of the best trials and a plot.

A report only reads the folder (``pareto.png`` aside): it works from ``trials.jsonl`` alone,
taking the objectives from ``summary.json``, else from the algorithm in ``config.json``, else
ranking by the first metric.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyglove as pg

from symnas.algorithms.objectives import Objectives
from symnas.flows.last_reports import progress_table
from symnas.flows.result import SearchResult, Trial
from symnas.flows.trial_log import read_trials


def load_result(folder: str | Path) -> SearchResult:
    """A ``SearchResult`` read back from a search folder."""
    folder = Path(folder)
    log = folder / "trials.jsonl"
    if not log.exists():
        raise FileNotFoundError(f"{folder} holds no search: expected {log}.")
    trials = [Trial.from_record(r) for r in read_trials(log)]
    return SearchResult(trials, read_objectives(folder, trials), folder)


def read_objectives(folder: Path, trials: list[Trial]) -> Objectives:
    """The search's objectives: from ``summary.json``, the algorithm of ``config.json``, or the
    first metric of the log (maximised)."""
    summary_path = folder / "summary.json"
    if summary_path.exists():
        try:
            spec = json.loads(summary_path.read_text())["objectives"]
            names = tuple(spec["names"]) if spec["names"] else None
            return Objectives(
                names, tuple(spec["modes"]), {k: tuple(v) for k, v in spec["constraints"].items()}
            )
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            pass  # a summary cut short: fall back on the configuration
    config_path = folder / "config.json"
    if config_path.exists():
        try:
            return pg.from_json(json.loads(config_path.read_text())["algorithm"]).objectives()
        except Exception:  # noqa: BLE001 - an unreadable configuration falls back on the log
            pass
    names = [k for t in trials if t.ok for k in t.metrics]
    return Objectives((names[0],), ("max",)) if names else Objectives()


def readable(value: Any, digits: int = 4) -> str:
    """A compact text form of a spec: ``Class(field=value, ...)`` without ``_type`` keys, floats
    rounded to ``digits`` significant digits."""
    if isinstance(value, dict):
        fields = ", ".join(f"{k}={readable(v, digits)}" for k, v in value.items() if k != "_type")
        name = str(value.get("_type", "")).rsplit(".", 1)[-1]
        return f"{name}({fields})" if name else "{" + fields + "}"
    if isinstance(value, list):
        return "[" + ", ".join(readable(v, digits) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return repr(value) if isinstance(value, str) else str(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of a spec by dotted path (``_type`` keys left out)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k != "_type":
                out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def distinguishing_fields(specs: list[Any]) -> list[str]:
    """The dotted paths whose values differ among ``specs`` (all paths for a single spec)."""
    flat = [flatten(s) for s in specs]
    paths = list(dict.fromkeys(p for f in flat for p in f))
    if len(flat) < 2:
        return paths
    return [p for p in paths if len({json.dumps(f.get(p), sort_keys=True) for f in flat}) > 1]


def describe_best(result: SearchResult) -> str:
    """What the best trial is and what "best" means for the search's objectives."""
    best = result.best
    if best is None:
        return "no trial succeeded"
    objectives = result.objectives
    names = objectives.names or tuple(best.metrics)[:1]
    goal = ", ".join(f"{n} ({m})" for n, m in zip(names, objectives.modes, strict=False))
    meaning = f"best by {goal}"
    if len(names) > 1:
        front = len(result.pareto_front())
        meaning = (
            f"best by {names[0]} ({objectives.modes[0]}), the first of the objectives {goal}; "
            f"{front} trials on the Pareto front (symnas report)"
        )
    if objectives.constraints:
        rules = ", ".join(f"{k} {op} {b:g}" for k, (op, b) in objectives.constraints.items())
        meaning += f"; feasible means {rules}"
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in best.metrics.items())
    return f"best trial {best.id} ({meaning}):\n  {metrics}\n  {readable(best.spec)}"


def table(result: SearchResult, top: int = 10) -> str:
    """A text table of the best ``top`` trials (the Pareto front when multi-objective)."""
    multi = result.objectives.names is not None and len(result.objectives.names) > 1
    rows = result.pareto_front() if multi else []
    if not multi:
        ok = [t for t in result.trials if t.ok]
        ok.sort(key=lambda t: -float(result.objectives.reward(t.metrics)[0]))
        rows = ok
    rows = rows[:top]
    counts = result.summary()["counts"]
    lines = [
        f"{counts['total']} trials ({counts['ok']} ok, {counts['failed']} failed"
        + (f", {counts['pruned']} pruned)" if counts["pruned"] else ")")
        + (" — Pareto front:" if multi else f" — best {len(rows)}:")
    ]
    names = sorted({k for t in rows for k in t.metrics})
    fields = distinguishing_fields([t.spec for t in rows])
    widths = [max(12, len(n)) for n in names]  # whole metric names as headers
    lines.append(
        "  ".join(
            ["id".rjust(5)]
            + [n.rjust(w) for n, w in zip(names, widths, strict=True)]
            + ["spec fields that differ"]
        )
    )
    for t in rows:
        cells = [str(t.id).rjust(5)] + [
            f"{t.metrics.get(n, float('nan')):{w}.4g}" for n, w in zip(names, widths, strict=True)
        ]
        flat = flatten(t.spec)
        # A field the spec does not have (specs of other shapes, as derivations) is left out.
        text = " ".join(f"{p}={readable(flat[p])}" for p in fields if p in flat)
        lines.append("  ".join(cells + [text]))
    return "\n".join(lines)


def pareto_plot(result: SearchResult, path: str | Path, color_by: str | None = None) -> Path:
    """Scatter of every trial over the first two objectives, the Pareto front highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result.objectives.names
    if names is None or len(names) < 2:
        raise ValueError("pareto_plot needs a search with two objectives.")
    x_name, y_name = names[1], names[0]
    ok = [t for t in result.trials if t.ok]
    feasible = [t for t in ok if result.objectives.violation(t.metrics) == 0]
    infeasible = [t for t in ok if result.objectives.violation(t.metrics) > 0]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    colors = [t.metrics.get(color_by, 0.0) for t in feasible] if color_by else None
    points = ax.scatter(
        [t.metrics[x_name] for t in feasible],
        [t.metrics[y_name] for t in feasible],
        s=14,
        label="feasible trials",
        **({"c": colors, "cmap": "viridis"} if colors else {"color": "0.6"}),
    )
    if colors:
        fig.colorbar(points, ax=ax, label=color_by)
    if infeasible:
        rules = ", ".join(f"{k} {op} {b:g}" for k, (op, b) in result.objectives.constraints.items())
        ax.scatter(
            [t.metrics[x_name] for t in infeasible],
            [t.metrics[y_name] for t in infeasible],
            s=16,
            marker="x",
            color="0.75",
            label=f"infeasible (violates {rules})",
        )
    # The front of the two plotted objectives (constraints still apply).
    plotted = SearchResult(
        result.trials,
        Objectives(names[:2], result.objectives.modes[:2], result.objectives.constraints),
    )
    front = sorted(plotted.pareto_front(), key=lambda t: t.metrics[x_name])
    ax.plot(
        [t.metrics[x_name] for t in front],
        [t.metrics[y_name] for t in front],
        "o-",
        color="crimson",
        label=f"Pareto front ({y_name} vs {x_name})",
    )
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def searches_in(folder: str | Path) -> list[Path]:
    """The search folders (with a ``trials.jsonl``) of a flow's folder: itself when it holds
    one, else those one or two levels down (``gm/search``...), in name order."""
    folder = Path(folder)
    if (folder / "trials.jsonl").exists():
        return [folder]
    logs = sorted(folder.glob("*/trials.jsonl")) + sorted(folder.glob("*/*/trials.jsonl"))
    return [log.parent for log in logs]


def report(folder: str | Path, top: int = 10, html: bool = False) -> str:
    """The report text of a search folder; writes ``pareto.png`` there for two objectives. A
    flow's folder that runs several searches (``fewshot-nb201``) gets the flow's own report
    (``report.md``) and a table per search.

    With ``html`` it also writes ``report.html`` there (and in every search below it: see
    ``flows.html_report``, which needs the ``report`` extra) and names the pages; a log with a
    corrupt line then gets its page and the error (the page skips the line).
    """
    folder = Path(folder)
    pages = ""
    if html:
        from symnas.flows.html_report import write_pages

        written = write_pages(folder)
        pages = f"HTML report: {written[0]}" + (
            f" (and {len(written) - 1} linked pages below it)" if len(written) > 1 else ""
        )
        if not searches_in(folder):  # a one-shot run's folder: its page only
            return pages
    try:
        text = _text_report(folder, top)
    except ValueError as e:  # a corrupt line: the page skipped it, the table cannot
        if not pages:
            raise
        return f"{pages}\nNo text table: {e}"
    return text + (f"\n{pages}" if pages else "")


def _text_report(folder: Path, top: int) -> str:
    """The tables of a folder: one search's, or the flow's report and each search's."""
    found = searches_in(folder)
    if found and found != [folder]:
        parts = []
        flow_report = folder / "report.md"
        if flow_report.exists():
            parts.append(flow_report.read_text().rstrip())
        for search_folder in found:
            name = search_folder.relative_to(folder).as_posix()
            parts.append(f"## {name}\n{_search_report(search_folder, top)}")
        return "\n\n".join(parts)
    return _search_report(folder, top)


def _search_report(folder: Path, top: int) -> str:
    """The table (and plot) of one search folder."""
    result = load_result(folder)
    text = table(result, top)
    progress = progress_table(folder, top)
    if progress:
        text += "\n" + progress
    names = result.objectives.names
    if names is not None and len(names) >= 2 and result.pareto_front():
        try:
            path = pareto_plot(result, Path(folder) / "pareto.png")
            text += f"\nPareto plot: {path}"
        except OSError as e:
            text += f"\nPareto plot not written ({e.strerror or e})."
    return text
