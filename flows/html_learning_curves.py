"""Learning curves of a search's trials from its intermediate reports (``reports.jsonl``): each
trial's first objective over the reported steps, coloured by how the trial ended, pruned trials
marked where they stopped; a long search draws a bounded sample of the curves."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from symnas.flows.html_search_data import ScoredSearch, evenly
from symnas.flows.html_search_figures import TEMPLATE

#: At most this many trials' curves are drawn.
MAX_CURVES = 200
#: Of a sample, this share goes to the best completed trials, the rest evenly over the log.
BEST_SHARE = 0.2
#: Status: (legend label, line colour); ``running`` is a trial with reports but no log line yet.
STYLES = {
    "ok": ("completed", "rgba(31, 119, 180, 0.45)"),
    "pruned": ("pruned (stopped early)", "rgba(255, 127, 14, 0.7)"),
    "failed": ("failed", "rgba(214, 39, 40, 0.7)"),
    "running": ("running", "rgba(120, 120, 120, 0.7)"),
}


@dataclass
class Curve:
    """One trial's reported values of the first objective, by step."""

    trial: int
    status: str
    steps: list[int]
    values: list[float]


def curves(search: ScoredSearch, reports: list[dict[str, Any]]) -> list[Curve]:
    """The curve of every trial with a report of the first objective, by trial id. A trial
    reported again from its first step (a resumed search re-running it) keeps its last run."""
    if not search.names:
        return []
    metric = search.names[0]
    status = {t.id: t.status for t in search.trials}
    points: dict[int, tuple[list[int], list[float]]] = {}
    for record in reports:
        try:
            trial, step = int(record["trial"]), int(record["step"])
            value = float(record["metrics"][metric])
        except (KeyError, TypeError, ValueError):
            continue
        steps, values = points.setdefault(trial, ([], []))
        if steps and step <= steps[-1]:
            steps.clear()
            values.clear()
        steps.append(step)
        values.append(value)
    return [
        Curve(trial, status.get(trial, "running"), steps, values)
        for trial, (steps, values) in sorted(points.items())
    ]


def sample(found: list[Curve], mode: str, limit: int = MAX_CURVES) -> list[Curve]:
    """At most ``limit`` curves, by trial id: the best completed ones by their last value (a
    ``BEST_SHARE`` of the room) and the rest evenly spaced over the log."""
    if len(found) <= limit:
        return found
    sign = 1.0 if mode == "max" else -1.0
    completed = [i for i, c in enumerate(found) if c.status == "ok"]
    best = sorted(completed, key=lambda i: -sign * found[i].values[-1])[: int(BEST_SHARE * limit)]
    rest = np.setdiff1d(np.arange(len(found)), best)
    chosen = np.union1d(best, evenly(rest, limit - len(best)))
    return [found[i] for i in chosen]


def learning_curves(drawn: list[Curve], metric: str, mode: str) -> go.Figure:
    """A line per trial (one trace per status, lines broken between trials), coloured by how
    the trial ended, and a marker where each pruned trial stopped."""
    fig = go.Figure()
    for status, (label, color) in STYLES.items():
        group = [c for c in drawn if c.status == status]
        if not group:
            continue
        x: list[Any] = []
        y: list[Any] = []
        ids: list[Any] = []
        for c in group:
            x += [*c.steps, None]
            y += [*c.values, None]
            ids += [c.trial] * len(c.steps) + [None]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                customdata=ids,
                mode="lines",
                line={"color": color, "width": 1.5},
                name=label,
                hovertemplate="trial %{customdata}, step %{x}: %{y:.4g}<extra></extra>",
            )
        )
    stopped = [c for c in drawn if c.status == "pruned"]
    if stopped:
        fig.add_trace(
            go.Scatter(
                x=[c.steps[-1] for c in stopped],
                y=[c.values[-1] for c in stopped],
                customdata=[c.trial for c in stopped],
                mode="markers",
                marker={"symbol": "x", "color": STYLES["pruned"][1], "size": 7},
                name="where a pruned trial stopped",
                hovertemplate="trial %{customdata} pruned after step %{x}: %{y:.4g}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        xaxis_title="step",
        yaxis_title=html.escape(f"{metric} ({mode})"),
        height=420,
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 30},
    )
    return fig
