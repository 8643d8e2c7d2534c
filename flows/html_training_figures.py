"""The figures of supernet trainings: loss, accuracy and learning rate per epoch from each
``train_log.jsonl``, and the architecture weights (the alphas of DARTS and DARTS-PT) of every
decision over the epochs."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from symnas.flows.html_run_folder import TrainLog
from symnas.flows.html_search_figures import TEMPLATE

#: The curves drawn when a log has them: (record key, panel title).
CURVES = (
    ("loss", "training loss"),
    ("arch_loss", "architecture (validation) loss"),
    ("accuracy", "accuracy of the evaluated path"),
    ("lr", "learning rate"),
)
COLORS = qualitative.Plotly + qualitative.Dark24


def training_curves(logs: list[TrainLog], offsets: dict[str, int]) -> go.Figure:
    """One panel per curve any log has, one line per log; a log's epochs start after its
    ``offsets`` entry (a few-shot stage starts at its split epoch)."""
    curves = [(k, t) for k, t in CURVES if any(k in r for log in logs for r in log.records)]
    fig = make_subplots(rows=1, cols=len(curves), subplot_titles=[t for _, t in curves])
    for n, log in enumerate(logs):
        offset = offsets.get(log.name, 0)
        color = COLORS[n % len(COLORS)]
        label = html.escape(log.name)
        for k, (key, _) in enumerate(curves):
            rows = [r for r in log.records if isinstance(r.get(key), (int, float))]
            if not rows:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[offset + r["epoch"] for r in rows],
                    y=[r[key] for r in rows],
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=k == 0,
                    line={"color": color},
                    hovertemplate=f"{label}<br>epoch %{{x}}: %{{y:.4g}}<extra>{key}</extra>",
                ),
                row=1,
                col=k + 1,
            )
        for k in range(len(curves)):
            fig.update_xaxes(title_text="epoch", row=1, col=k + 1)
    fig.update_layout(
        template=TEMPLATE, height=380, margin={"t": 40}, legend={"orientation": "h", "y": -0.25}
    )
    return fig


def architecture_weights(log: TrainLog) -> go.Figure:
    """One panel per decision: the softmax weight of each op over the epochs."""
    rows = [r for r in log.records if isinstance(r.get("arch_weights"), dict)]
    names = sorted({d for r in rows for d in r["arch_weights"]}, key=_natural)
    columns = min(3, len(names))
    height = -(-len(names) // columns)
    fig = make_subplots(rows=height, cols=columns, subplot_titles=[html.escape(n) for n in names])
    seen: dict[str, str] = {}
    for k, name in enumerate(names):
        series = [(r["epoch"], r["arch_weights"][name]) for r in rows if name in r["arch_weights"]]
        width = max(len(w) for _, w in series)
        ops = log.op_names.get(name) or []
        for j in range(width):
            op = ops[j] if j < len(ops) else f"op {j}"
            first = op not in seen
            color = seen.setdefault(op, COLORS[len(seen) % len(COLORS)])
            label = html.escape(op)
            fig.add_trace(
                go.Scatter(
                    x=[e for e, w in series if j < len(w)],
                    y=[w[j] for _, w in series if j < len(w)],
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=first,
                    line={"color": color},
                    hovertemplate=f"{label}: %{{y:.4f}} at epoch %{{x}}<extra></extra>",
                ),
                row=k // columns + 1,
                col=k % columns + 1,
            )
    fig.update_layout(
        template=TEMPLATE,
        height=230 * height + 90,
        margin={"t": 40},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig


def _natural(name: str) -> tuple:
    """Sort key that puts ``edges[10]`` after ``edges[9]``."""
    parts = name.replace("]", "[").split("[")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
