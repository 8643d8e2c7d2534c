"""Hierarchical NAS-Bench-201 grammar networks (Schrodi et al. 2023).

``graph(spec)`` expands a derivation of ``spaces.hnb201`` into the shape-checked op DAG of
``grammar_network``; ``build_hnb201(spec)`` runs it as a :class:`GraphNetwork`.

Semantics follow Schrodi et al. (NeurIPS 2023): a topology terminal
(``LinearK``, ``Residual2``, ``Residual3``, ``Cell``) is a DAG whose edges carry its arguments in
the edge order of the reference (``Residual2``: (1,2), (2,3), (1,3); ``Residual3``: (1,2), (2,3),
(1,4), (3,4); ``Cell``: the NB201 edges), a node sums its incoming edges, and the network is the
NB201 skeleton around it (3x3 conv + BN stem; BN, ReLU, global pooling and a linear head on 4C
channels). Primitives build the modules of the NB201 code (``resBlock`` is its ResNet basic
block, ``avg_pool`` its 3x3 average pooling, ``zero`` its zero op); the conv block primitives are
single layers (``conv3x3o``/``conv1x1o`` bias-free convolutions, ``dconv3x3o`` depthwise,
``batch``/``instance``/``layer`` normalisation over channels / per channel / over (C, H, W)), so
the derivation of an NB201 cell (``spaces.grammars.nb201_derivation``) builds the NB201 network
with the same modules in the same parameter order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
from torch import nn

from symnas.programs import registry
from symnas.programs.families.cell_ops import ResNetBasicBlock, Zero, nb201_op
from symnas.programs.families.grammar_network import GraphBuilder, GraphNetwork, task_fields
from symnas.spaces.grammars import HierarchicalNB201

# Edge lists of the hierarchical NB201 topologies (1 is the source, the last node the sink).
TOPOLOGIES: dict[str, list[tuple[int, int]]] = {
    "Linear1": [(1, 2)],
    "Linear2": [(1, 2), (2, 3)],
    "Linear3": [(1, 2), (2, 3), (3, 4)],
    "Linear4": [(1, 2), (2, 3), (3, 4), (4, 5)],
    "Residual2": [(1, 2), (2, 3), (1, 3)],
    "Residual3": [(1, 2), (2, 3), (1, 4), (3, 4)],
    "Cell": [(1, 2), (1, 3), (2, 3), (1, 4), (2, 4), (3, 4)],
}
HNB201_PRIMITIVES = (
    "id",
    "zero",
    "avg_pool",
    "resBlock",
    "conv3x3o",
    "conv1x1o",
    "dconv3x3o",
    "batch",
    "instance",
    "layer",
    "relu",
    "hardswish",
    "mish",
)


def _hnb201_expand(b: GraphBuilder, item: Any, src: int, path: str) -> int:
    """Expands a derivation item from node ``src``; returns the node holding its output."""
    if isinstance(item, str):
        return _hnb201_primitive(b, item, src, path)
    if not isinstance(item, list) or len(item) < 2:
        raise ValueError(f"hnb201 derivation at {path}: expected a node; got {item!r:.80}.")
    _, head, *args = item
    if not args:
        return _hnb201_primitive(b, head, src, path)
    if head not in TOPOLOGIES:
        raise ValueError(
            f"hnb201 derivation at {path}: unknown topology {head!r}; known: {sorted(TOPOLOGIES)}."
        )
    edges = TOPOLOGIES[head]
    if len(args) != len(edges):
        raise ValueError(
            f"hnb201 derivation at {path}: {head} takes {len(edges)} arguments; got {len(args)}."
        )
    incoming: dict[int, list[int]] = {}
    nodes = {1: src}
    for k, ((u, v), arg) in enumerate(zip(edges, args, strict=True)):
        if u not in nodes:
            nodes[u] = _junction(b, incoming[u], f"{path}.{head}[{u}]")
        incoming.setdefault(v, []).append(_hnb201_expand(b, arg, nodes[u], f"{path}.{k + 2}"))
    sink = max(incoming)
    return _junction(b, incoming[sink], f"{path}.{head}[{sink}]")


def _junction(b: GraphBuilder, inputs: list[int], path: str) -> int:
    shapes = {b.shape(i) for i in inputs}
    if len(shapes) != 1:
        raise ValueError(f"hnb201 derivation at {path}: summed inputs differ in shape: {shapes}.")
    return b.add("add", inputs, shapes.pop(), path)


def _hnb201_primitive(b: GraphBuilder, op: str, src: int, path: str) -> int:
    if op not in HNB201_PRIMITIVES:
        raise ValueError(
            f"hnb201 derivation at {path}: unknown primitive {op!r}; known: "
            f"{list(HNB201_PRIMITIVES)}."
        )
    channels, size = b.shape(src)
    if op == "resBlock":
        if size % 2:
            raise ValueError(
                f"hnb201 derivation at {path}: resBlock halves the resolution; {size}x{size} "
                "features cannot be halved exactly."
            )
        return b.add(op, [src], (2 * channels, size // 2), path)
    return b.add(op, [src], (channels, size), path)


def hnb201_graph(spec: dict[str, Any], image_size: int = 32) -> nx.DiGraph:
    """The op DAG of a hierarchical NB201 spec on ``image_size`` images; ``shape`` is
    ``(channels, side)``."""
    b = GraphBuilder((spec["C"], image_size))
    last = _hnb201_expand(b, spec["derivation"], 0, "root")
    if b.shape(last)[0] != 4 * spec["C"]:
        raise ValueError(
            f"hnb201 derivation: the network ends with {b.shape(last)[0]} channels; the head "
            f"expects 4C = {4 * spec['C']} (two resBlocks on every path)."
        )
    return b.finish(last)


def _hnb201_module(op: str, channels: int) -> nn.Module:
    factories: dict[str, Callable[[], nn.Module]] = {
        "id": nn.Identity,
        "zero": lambda: Zero(1),
        "avg_pool": lambda: nb201_op("avg_pool_3x3", channels),
        "resBlock": lambda: ResNetBasicBlock(channels, 2 * channels),
        "conv3x3o": lambda: nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        "conv1x1o": lambda: nn.Conv2d(channels, channels, 1, bias=False),
        "dconv3x3o": lambda: nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False
        ),
        "batch": lambda: nn.BatchNorm2d(channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "layer": lambda: nn.GroupNorm(1, channels),
        "relu": lambda: nn.ReLU(inplace=False),
        "hardswish": nn.Hardswish,
        "mish": nn.Mish,
    }
    return factories[op]()


_HNB201_TASK = ("C", "num_classes", "in_chans")


def build_hnb201(spec: dict[str, Any], image_size: int = 32, **task: Any) -> GraphNetwork:
    """The network of a hierarchical NB201 spec for ``image_size`` inputs (shapes are checked
    for that size); ``task`` may override ``C``, ``num_classes`` and ``in_chans``."""
    spec = task_fields(spec, _HNB201_TASK, task, "programs.build(HierarchicalNB201)")
    graph = hnb201_graph(spec, image_size)
    C, out = spec["C"], 4 * spec["C"]
    stem = nn.Sequential(
        nn.Conv2d(spec["in_chans"], C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
    )
    head = nn.Sequential(
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(out, spec["num_classes"]),
    )

    def make_op(op: str, node: dict) -> nn.Module:
        if op == "add":
            return nn.Identity()
        in_channels = graph.nodes[node["inputs"][0]]["shape"][0]
        return _hnb201_module(op, in_channels)

    return GraphNetwork(graph, stem, head, make_op, sum_inputs=True)


def graph(spec: dict[str, Any], image_size: int = 32, **task: Any) -> nx.DiGraph:
    """The shape-checked op DAG of a hierarchical NB201 spec on ``image_size`` images; ``task``
    may override ``C``, ``num_classes`` and ``in_chans``."""
    return hnb201_graph(task_fields(spec, _HNB201_TASK, task, "graph"), image_size)


registry.register(
    HierarchicalNB201,
    build=build_hnb201,
    name="hnb201",
    description="Hierarchical NAS-Bench-201 grammar networks (Schrodi et al. 2023)",
)
