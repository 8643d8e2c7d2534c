"""Grammar networks, shared by the grammar families (``hnb201``, ``einspace``): a derivation
becomes a networkx DAG, its shapes are checked, then torch runs.

A family's ``graph(spec)`` expands a derivation into an op-labelled ``networkx.DiGraph`` with a
:class:`GraphBuilder`: every primitive is a node (attribute ``op``), tensors flow along edges,
node attribute ``inputs`` lists a node's inputs in order, and ``shape`` is the shape of its output
(``(channels, downsampling)`` for hierarchical NB201, ``(tokens, width)`` for einspace). Shapes
are inferred while the graph is built, so an unbuildable derivation fails with a ``ValueError``
naming the node before any module exists. :class:`GraphNetwork` then makes one module per node,
in derivation pre-order, and runs them in that (topological) order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import pyglove as pg
import torch
from torch import nn

from symnas.programs.families.cell_ops import macro_args


class GraphBuilder:
    """Adds op nodes to a DiGraph, tracking each node's output shape (node 0 is the input)."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.graph = nx.DiGraph()
        self.graph.add_node(0, op="input", inputs=[], shape=input_shape, path="input")
        self.graph.graph["input"] = 0

    def add(self, op: str, inputs: list[int], shape: tuple[int, ...], path: str, **attrs) -> int:
        """Adds node ``op`` reading ``inputs`` (in order) with output ``shape``; ``path`` names
        its place in the derivation. Returns the new node."""
        node = self.graph.number_of_nodes()
        self.graph.add_node(node, op=op, inputs=list(inputs), shape=shape, path=path, **attrs)
        for i in inputs:
            self.graph.add_edge(i, node)
        return node

    def shape(self, node: int) -> tuple[int, ...]:
        """The output shape of ``node``."""
        return self.graph.nodes[node]["shape"]

    def finish(self, last: int) -> nx.DiGraph:
        """The graph, with an ``"output"`` node reading ``last``."""
        self.graph.add_node(
            "output", op="output", inputs=[last], shape=self.shape(last), path="output"
        )
        self.graph.add_edge(last, "output")
        self.graph.graph["output"] = "output"
        return self.graph


class GraphNetwork(nn.Module):
    """Runs an op DAG: ``ops[str(node)]`` takes the node's inputs in order (summed for ``add``
    junctions of hierarchical NB201), between a stem and a head."""

    def __init__(
        self,
        graph: nx.DiGraph,
        stem: nn.Module,
        head: nn.Module,
        make_op: Callable[[str, dict], nn.Module],
        sum_inputs: bool,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.stem = stem
        order = [n for n in graph.nodes if n not in (graph.graph["input"], graph.graph["output"])]
        self.ops = nn.ModuleDict()
        for node in order:
            self.ops[str(node)] = make_op(graph.nodes[node]["op"], graph.nodes[node])
        self.head = head
        self._plan = [(n, str(n), list(graph.nodes[n]["inputs"])) for n in order]
        self._input = graph.graph["input"]
        self._last = graph.nodes[graph.graph["output"]]["inputs"][0]
        self._sum = sum_inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        values = {self._input: self.stem(x)}
        for node, key, inputs in self._plan:
            args = [values[i] for i in inputs]
            if self._sum and len(args) > 1:
                values[node] = sum(args[1:], args[0])
            else:
                values[node] = self.ops[key](*args)
        return self.head(values[self._last])


def task_fields(spec: Any, names: tuple[str, ...], task: dict, where: str) -> dict[str, Any]:
    """The spec as a dict with its task fields overridden by ``task`` (validated)."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    return {**spec, **macro_args(spec, task, names, where)}
