"""Reports of a finished (or running) search folder: a table of the best trials and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from symnas.algorithms.objectives import Objectives
from symnas.flows.result import SearchResult, Trial
from symnas.flows.trial_log import read_trials


def load_result(folder: str | Path) -> SearchResult:
    """A ``SearchResult`` read back from a search folder."""
    folder = Path(folder)
    log = folder / "trials.jsonl"
    if not log.exists():
        raise FileNotFoundError(f"{folder} holds no search: expected {log}.")
    trials = [Trial.from_record(r) for r in read_trials(log)]
    objectives = Objectives()
    summary_path = folder / "summary.json"
    if summary_path.exists():
        try:
            spec = json.loads(summary_path.read_text())["objectives"]
        except (json.JSONDecodeError, KeyError) as e:
            raise ValueError(f"{summary_path}: corrupt summary ({e}).") from None
        names = tuple(spec["names"]) if spec["names"] else None
        objectives = Objectives(
            names, tuple(spec["modes"]), {k: tuple(v) for k, v in spec["constraints"].items()}
        )
    return SearchResult(trials, objectives, folder)


def _spec_text(spec: Any, width: int = 70) -> str:
    text = json.dumps(spec, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


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
        f"{counts['total']} trials ({counts['ok']} ok, {counts['failed']} failed)"
        + (" — Pareto front:" if multi else f" — best {len(rows)}:")
    ]
    names = sorted({k for t in rows for k in t.metrics})
    lines.append("  ".join(["id".rjust(5)] + [n[:12].rjust(12) for n in names] + ["spec"]))
    for t in rows:
        cells = [str(t.id).rjust(5)] + [f"{t.metrics.get(n, float('nan')):12.5g}" for n in names]
        lines.append("  ".join(cells + [_spec_text(t.spec)]))
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
    fig, ax = plt.subplots(figsize=(6, 4.5))
    colors = [t.metrics.get(color_by, 0.0) for t in ok] if color_by else None
    points = ax.scatter(
        [t.metrics[x_name] for t in ok],
        [t.metrics[y_name] for t in ok],
        s=14,
        label="trials",
        **({"c": colors, "cmap": "viridis"} if colors else {"color": "0.7"}),
    )
    if colors:
        fig.colorbar(points, ax=ax, label=color_by)
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


def report(folder: str | Path, top: int = 10) -> str:
    """The report text of a search folder; writes ``pareto.png`` there for two objectives."""
    result = load_result(folder)
    text = table(result, top)
    names = result.objectives.names
    if names is not None and len(names) >= 2 and result.pareto_front():
        path = pareto_plot(result, Path(folder) / "pareto.png")
        text += f"\nPareto plot: {path}"
    return text
