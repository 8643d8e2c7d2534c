"""The split tree of a few-shot supernet training (``plan.json``): each sub-supernet at the epoch
its lineage split off, with the op group it is restricted to and the split's score."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import plotly.graph_objects as go

from symnas.flows.html_run_folder import SplitPlan
from symnas.flows.html_search_figures import TEMPLATE


@dataclass
class Node:
    """One sub-supernet: its name, its restriction and its children."""

    name: str
    restriction: str
    depth: int
    children: list[Node] = field(default_factory=list)
    y: float = 0.0


def split_tree(plan: SplitPlan) -> Node:
    """The tree of sub-supernets: a split's children are ``<name>.<k>``, child ``k`` restricted
    to the split decision's ``k``-th op group."""

    def grow(name: str, restriction: str, depth: int) -> Node:
        node = Node(name, restriction, depth)
        split = plan.splits.get(name) or {}
        decision, groups = split.get("decision"), split.get("groups") or []
        for k, group in enumerate(groups):
            ops = ", ".join(str(op) for op in group)
            node.children.append(grow(f"{name}.{k}", f"{decision} \u2208 {{{ops}}}", depth + 1))
        return node

    roots = [n for n in plan.splits if not any(n.startswith(f"{m}.") for m in plan.splits)]
    return grow(roots[0] if roots else "s", "whole space", 0)


def _place(node: Node, next_leaf: list[int]) -> None:
    """Leaves on consecutive rows, a parent at the middle of its children."""
    if not node.children:
        node.y = next_leaf[0]
        next_leaf[0] += 1
        return
    for child in node.children:
        _place(child, next_leaf)
    node.y = sum(c.y for c in node.children) / len(node.children)


def tree_figure(plan: SplitPlan, split_epochs: list[int]) -> go.Figure:
    """The split tree drawn left to right: x is the epoch at which a node's lineage split off
    (its depth when the plan records no split epochs)."""
    root = split_tree(plan)
    _place(root, [0])
    nodes: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(reversed(node.children))

    def x(node: Node) -> float:
        if node.depth == 0:
            return 0
        return split_epochs[node.depth - 1] if node.depth <= len(split_epochs) else node.depth

    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for node in nodes:
        for child in node.children:
            edge_x += [x(node), x(child), None]
            edge_y += [node.y, child.y, None]
    hover = []
    for node in nodes:
        split = plan.splits.get(node.name) or {}
        words = [f"{node.name}: {node.restriction}"]
        if split.get("decision"):
            words.append(f"split on {split['decision']}")
        if isinstance(split.get("cut"), (int, float)):
            words.append(f"gradient-matching cut score {split['cut']:.4g}")
        hover.append("<br>".join(html.escape(w) for w in words))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"color": "#999"},
            hoverinfo="skip",
            name="split",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[x(n) for n in nodes],
            y=[n.y for n in nodes],
            mode="markers+text",
            text=[html.escape(f"{n.name}  {n.restriction}") for n in nodes],
            textposition="middle right",
            marker={
                "size": 12,
                "color": ["#d62728" if n.children else "#1f77b4" for n in nodes],
            },
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            name="sub-supernet (red: split further)",
        )
    )
    depth = max(x(n) for n in nodes)
    fig.update_layout(
        template=TEMPLATE,
        height=max(240, 46 * (max(n.y for n in nodes) + 1) + 120),
        xaxis={"title": "epoch of the split", "range": [-0.3, depth * 1.9 + 1.2]},
        yaxis={"visible": False, "autorange": "reversed"},
        showlegend=False,
        margin={"t": 30},
    )
    return fig
