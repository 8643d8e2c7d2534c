"""The figures of one search: optimisation history, decision importance and the values among the
top trials, the Pareto front and the hypervolume over trials (plotly figures)."""

from __future__ import annotations

import html
import textwrap
from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from symnas.algorithms.pareto import hypervolume, pareto_front
from symnas.flows.html_importance import Decisions
from symnas.flows.html_search_data import ScoredSearch
from symnas.flows.report import readable

TEMPLATE = "plotly_white"
HOVER_WIDTH = 100
#: The hypervolume curve is evaluated at this many trials at most.
HYPERVOLUME_POINTS = 200
#: Objectives are scaled to [0, 1] over the feasible trials; the reference point lies this far
#: beyond the worst value of each.
REFERENCE_MARGIN = 0.1


def error_message(error: str) -> str:
    """The last non-empty line of an error text: a traceback's exception and message."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else error


def hover_text(value: Any, error: str | None = None) -> str:
    """A spec (and error) as hover text: escaped, wrapped at ``HOVER_WIDTH`` characters.

    Of a traceback only its last line, the exception and its message, is shown."""
    lines = textwrap.wrap(readable(value), HOVER_WIDTH) or [""]
    if error:
        lines += textwrap.wrap(f"error: {error_message(error)}", HOVER_WIDTH)[:6]
    return "<br>".join(html.escape(line) for line in lines)


def _points(search: ScoredSearch, rows: np.ndarray, y: np.ndarray, **style: Any) -> go.Scatter:
    trials = [search.trials[i] for i in rows]
    return go.Scatter(
        x=[t.id for t in trials],
        y=y,
        mode="markers",
        customdata=[[hover_text(t.spec, t.error)] for t in trials],
        hovertemplate="trial %{x}: %{y:.4g}<br>%{customdata[0]}<extra></extra>",
        **style,
    )


def history(search: ScoredSearch, shown: np.ndarray) -> go.Figure:
    """The first objective of every shown trial by trial id, the best so far as a step line
    (over the completed trials, at the largest budget when there are several), infeasible trials
    as grey crosses, trials at lower budgets as hollow circles, pruned ones at their last report
    as orange triangles and failed ones as red crosses along the bottom."""
    name = html.escape(search.names[0]) if search.names else "objective"
    fig = go.Figure()
    values = search.values[:, 0]
    finite = values[np.isfinite(values)]
    floor = float(finite.min()) if len(finite) else 0.0
    drawn = np.where(np.isnan(values), floor, values)
    top = "trials" if search.budget is None else f"trials at budget {search.budget:g} (largest)"
    groups = (
        (top, shown[search.feasible[shown]], {"size": 5}),
        (
            "infeasible (violates a constraint)",
            shown[search.scored[shown] & ~search.feasible[shown]],
            {"symbol": "x", "color": "#aaaaaa", "size": 6},
        ),
        (
            "at lower budgets",
            shown[search.lower[shown]],
            {"symbol": "circle-open", "color": "#7f9fbf", "size": 6},
        ),
        (
            "pruned (stopped early; at its last report)",
            shown[search.pruned[shown]],
            {"symbol": "triangle-down", "color": "#ff9f1c", "size": 7},
        ),
        (
            "failed (no metrics; drawn at the lowest value)",
            shown[search.failed[shown]],
            {"symbol": "x", "color": "#d62728", "size": 7},
        ),
    )
    for label, rows, marker in groups:
        if len(rows):
            fig.add_trace(_points(search, rows, drawn[rows], name=label, marker=marker))
    best = search.best_so_far()
    steps = np.flatnonzero(~np.isnan(best))
    if len(steps):
        changed = steps[np.r_[True, best[steps][1:] != best[steps][:-1]]]
        last = len(best) - 1
        rows = np.unique(np.r_[changed, last])
        fig.add_trace(
            go.Scatter(
                x=[search.trials[i].id for i in rows],
                y=best[rows],
                mode="lines",
                line={"shape": "hv", "color": "#ff7f0e", "width": 2},
                name=f"best so far ({search.modes[0]})",
                hovertemplate="best so far after trial %{x}: %{y:.4g}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        xaxis_title="trial",
        yaxis_title=name,
        height=420,
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 30},
    )
    return fig


def importance(names: list[str], mean: np.ndarray, std: np.ndarray, objective: str) -> go.Figure:
    """Horizontal bars of each decision's importance, the most important on top."""
    order = np.argsort(mean)
    fig = go.Figure(
        go.Bar(
            x=mean[order],
            y=[html.escape(names[i]) for i in order],
            orientation="h",
            error_x={"type": "data", "array": std[order]},
            hovertemplate="%{y}: %{x:.3g}<extra></extra>",
            name="importance",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        xaxis_title=f"drop of held-out R\u00b2 of {html.escape(objective)} when shuffled",
        height=max(260, 28 * len(names) + 120),
        margin={"t": 30, "l": 160},
    )
    return fig


def top_distributions(decisions: Decisions, top: np.ndarray, shown: list[str]) -> go.Figure:
    """Per decision, the share of each value among all scored trials and among the top ones."""
    columns = 3 if len(shown) > 2 else len(shown)
    rows = -(-len(shown) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[html.escape(n) for n in shown])
    for k, name in enumerate(shown):
        column = decisions.column(name)
        counts, chosen = Counter(column), Counter(column[i] for i in top)
        values = sorted(counts)
        everyone = np.array([counts[v] for v in values], dtype=np.float64) / len(column)
        best = np.array([chosen[v] for v in values], dtype=np.float64) / max(len(top), 1)
        labels = [html.escape(v[:40]) for v in values]
        for share, label, color in (
            (everyone, "all scored trials", "#b0b0b0"),
            (best, f"top {len(top)} trials", "#1f77b4"),
        ):
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=share,
                    name=label,
                    marker_color=color,
                    legendgroup=label,
                    showlegend=k == 0,
                    hovertemplate="%{x}: %{y:.0%}<extra>" + label + "</extra>",
                ),
                row=k // columns + 1,
                col=k % columns + 1,
            )
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        height=260 * rows + 80,
        margin={"t": 40},
        legend={"orientation": "h", "y": -0.08},
    )
    fig.update_yaxes(tickformat=".0%")
    return fig


def pareto(
    search: ScoredSearch, shown: np.ndarray, links: dict[int, str] | None = None
) -> go.Figure:
    """Every pair of objectives (one panel for two, three for three): trials, infeasible ones
    crossed, and the Pareto front over all objectives in red; ``links`` (trial id: URL) are
    opened by a click on the trial's point."""
    links = links or {}
    pairs = list(combinations(range(len(search.names)), 2))
    fig = make_subplots(rows=1, cols=len(pairs))
    front = search.front()
    groups = (
        ("trials", shown[search.feasible[shown]], {"size": 5, "color": "#1f77b4"}),
        (
            "infeasible (violates a constraint)",
            shown[search.scored[shown] & ~search.feasible[shown]],
            {"symbol": "x", "size": 6, "color": "#aaaaaa"},
        ),
        ("Pareto front", front, {"size": 9, "color": "#d62728", "line": {"width": 1}}),
    )
    for k, (a, b) in enumerate(pairs):
        for label, rows, marker in groups:
            if not len(rows):
                continue
            trials = [search.trials[i] for i in rows]
            fig.add_trace(
                go.Scatter(
                    x=search.values[rows, b],
                    y=search.values[rows, a],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=k == 0,
                    marker=marker,
                    customdata=[[t.id, hover_text(t.spec), links.get(t.id, "")] for t in trials],
                    hovertemplate="trial %{customdata[0]}: %{x:.4g}, %{y:.4g}<br>"
                    "%{customdata[1]}<extra></extra>",
                ),
                row=1,
                col=k + 1,
            )
        fig.update_xaxes(title_text=_axis(search, b), row=1, col=k + 1)
        fig.update_yaxes(title_text=_axis(search, a), row=1, col=k + 1)
    fig.update_layout(
        template=TEMPLATE, height=440, margin={"t": 30}, legend={"orientation": "h", "y": -0.25}
    )
    return fig


def _axis(search: ScoredSearch, k: int) -> str:
    return html.escape(f"{search.names[k]} ({search.modes[k]})")


def _undominated(points: np.ndarray, front: np.ndarray) -> np.ndarray:
    """The ``points`` that no point of ``front`` weakly dominates (those that can change it)."""
    if not len(front) or not len(points):
        return points
    covered = np.zeros(len(points), dtype=bool)
    for f in front:
        covered |= np.all(points <= f, axis=1)
    return points[~covered]


def hypervolume_curve(search: ScoredSearch) -> tuple[go.Figure, str] | None:
    """The hypervolume of the feasible trials so far, by trial; None without two feasible
    trials. Also returns how the objectives were scaled (for the caption)."""
    feasible = np.flatnonzero(search.feasible)
    if len(feasible) < 2:
        return None
    rewards = search.rewards[feasible]
    low, high = rewards.min(axis=0), rewards.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (rewards - low) / span
    reference = np.full(scaled.shape[1], -REFERENCE_MARGIN)
    marks = np.unique(np.linspace(0, len(feasible) - 1, HYPERVOLUME_POINTS).round().astype(int))
    volumes = []
    front: np.ndarray = np.zeros((0, scaled.shape[1]))
    start = 0
    for mark in marks:
        batch = _undominated(scaled[start : mark + 1], front)
        if len(batch):
            batch = np.vstack([front, batch])
            front = batch[pareto_front(batch)]
        start = mark + 1
        volumes.append(hypervolume(front, reference))
    x = [search.trials[feasible[m]].id for m in marks]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=volumes,
            mode="lines+markers",
            line={"shape": "hv"},
            name="hypervolume",
            hovertemplate="after trial %{x}: %{y:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        xaxis_title="trial",
        yaxis_title="hypervolume",
        height=340,
        margin={"t": 30},
    )
    caption = (
        "Hypervolume of the feasible trials so far, objectives in maximisation form scaled to "
        f"[0, 1] over all feasible trials, reference point {-REFERENCE_MARGIN:g} in each."
    )
    return fig, caption
