"""GRAF: interpretable graph features of architectures, computed with networkx.

Kadlecova, Lukasik, Pilat, Vidnerova, Safarik, Neruda and Hutter, "Surprisingly Strong Performance
Prediction with Neural Graph Features" (ICML 2024), adapted to grammar spaces by Qin et al.,
"Transferrable Surrogates in Expressive Neural Architecture Search Spaces" (AutoML-Conf 2025).
An architecture is an op-labelled DAG from an input node to an output node (NB201 cells: one node
per non-``none`` edge op between the cell's sum nodes; grammar networks: the DAG of
``programs.families.grammar_graph.graph``). Its features:

- ``count_<op>``: number of nodes of each op (``none``/``zero`` included);
- ``min_path_<subset>`` / ``max_path_<subset>``: the fewest / most op nodes on an input-to-output
  path that uses only ops of the subset (and structural nodes), 0 when there is none; subsets are
  every non-empty combination of the space's op groups, as GRAF removes op groups in every
  combination;
- ``max_on_path_<op>``: the most nodes of one op on any input-to-output path;
- ``in_<op>`` / ``out_<op>``: op nodes that feed the output / read the input through structural
  nodes only (GRAF's output in-degree and input out-degree by op);
- ``num_ops``, ``paths`` (log of 1 + the number of input-to-output paths).

``none`` and ``zero`` nodes carry no signal: they are removed before any path is measured.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from symnas.spaces.cells import NB201_EDGES, NB201_OPS, NB201Cell, nb201_edges
from symnas.spaces.grammars import EinspaceNetwork, HierarchicalNB201

BLOCKING = frozenset({"none", "zero"})


@dataclass(frozen=True)
class Vocabulary:
    """The op groups of a space and the labels of its structural (op-free) nodes."""

    groups: Mapping[str, tuple[str, ...]]
    structural: frozenset[str]
    blocking: frozenset[str] = BLOCKING

    @property
    def ops(self) -> tuple[str, ...]:
        """Every op label, in group order."""
        return tuple(op for ops in self.groups.values() for op in ops)

    def subsets(self) -> list[tuple[str, frozenset[str]]]:
        """``(name, allowed ops)`` of every non-empty combination of groups."""
        names = list(self.groups)
        out = []
        for r in range(1, len(names) + 1):
            for combo in itertools.combinations(names, r):
                allowed = frozenset(op for g in combo for op in self.groups[g])
                out.append(("+".join(combo), allowed))
        return out


VOCABULARIES: dict[str, Vocabulary] = {
    NB201Cell.__type_name__: Vocabulary(
        groups={op: (op,) for op in NB201_OPS if op != "none"},
        structural=frozenset({"input", "output", "add"}),
    ),
    HierarchicalNB201.__type_name__: Vocabulary(
        groups={
            "conv": ("conv3x3o", "conv1x1o", "dconv3x3o"),
            "norm": ("batch", "instance", "layer"),
            "act": ("relu", "hardswish", "mish"),
            "pool": ("avg_pool",),
            "id": ("id",),
            "res": ("resBlock",),
        },
        structural=frozenset({"input", "output", "add"}),
    ),
    EinspaceNetwork.__type_name__: Vocabulary(
        groups={
            "linear": ("linear16", "linear32", "linear64"),
            "aggregation": ("add", "cat", "dot_product", "scaled_dot_product"),
            "permute": ("permute",),
            "branch": ("clone", "group"),
            "other": ("identity", "norm", "leakyrelu", "softmax", "pos_enc"),
        },
        structural=frozenset({"input", "output"}),
    ),
}


def nb201_graph(spec: Any) -> nx.DiGraph:
    """The op-node DAG of an NB201 cell: sum nodes 0..3 (0 the input, 3 the output) and one node
    per edge op."""
    edges = nb201_edges(spec)
    graph = nx.DiGraph()
    graph.add_node(0, op="input")
    for node in (1, 2, 3):
        graph.add_node(node, op="add")
    for k, ((dst, src), op) in enumerate(zip(NB201_EDGES, edges, strict=True)):
        name = f"e{k}"
        graph.add_node(name, op=op)
        graph.add_edge(src, name)
        graph.add_edge(name, dst)
    graph.add_node("output", op="output")
    graph.add_edge(3, "output")
    graph.graph.update(input=0, output="output")
    return graph


def op_graph(spec: Any, **task: Any) -> nx.DiGraph:
    """The op-labelled DAG of a spec (NB201 cell, hierarchical NB201 or einspace network)."""
    kind = spec.get("_type") if isinstance(spec, dict) else None
    if kind == NB201Cell.__type_name__:
        return nb201_graph(spec)
    if kind in (HierarchicalNB201.__type_name__, EinspaceNetwork.__type_name__):
        from symnas.programs.families.grammar_graph import graph

        return graph(spec, **task)
    raise ValueError(f"GRAF: no graph for spec type {kind!r}; known: {sorted(VOCABULARIES)}.")


def _path_extremes(
    plan: Sequence[tuple[Any, str, list]],
    source: Any,
    sink: Any,
    allowed: frozenset[str],
    vocab: Vocabulary,
) -> tuple[int, int]:
    """(fewest, most) op nodes on an input-to-output path through ``allowed`` ops; (0, 0) if
    there is no such path. ``plan`` lists (node, op, predecessors) in topological order."""
    low: dict[Any, float] = {source: 0}
    high: dict[Any, float] = {source: 0}
    for node, op, predecessors in plan:
        if node == source:
            continue
        if op not in vocab.structural and op not in allowed:
            continue
        preds = [p for p in predecessors if p in low]
        if not preds:
            continue
        step = 0 if op in vocab.structural else 1
        low[node] = min(low[p] for p in preds) + step
        high[node] = max(high[p] for p in preds) + step
    if sink not in low:
        return 0, 0
    return int(low[sink]), int(high[sink])


def _structural_reach(graph: nx.DiGraph, start: Any, vocab: Vocabulary, forward: bool) -> list:
    """Op nodes adjacent to ``start`` through structural nodes only."""
    step = graph.successors if forward else graph.predecessors
    seen, found, stack = {start}, [], [start]
    while stack:
        node = stack.pop()
        for nxt in step(node):
            if nxt in seen:
                continue
            seen.add(nxt)
            if graph.nodes[nxt]["op"] in vocab.structural:
                stack.append(nxt)
            else:
                found.append(nxt)
    return found


def features(graph: nx.DiGraph, vocab: Vocabulary) -> dict[str, float]:
    """GRAF features of an op-labelled DAG (see the module docstring)."""
    labels = {n: graph.nodes[n]["op"] for n in graph}
    known = vocab.structural | vocab.blocking | set(vocab.ops)
    unknown = sorted({op for op in labels.values() if op not in known})
    if unknown:
        raise ValueError(f"GRAF: op(s) {unknown} are not in this space's vocabulary {vocab.ops}.")
    out: dict[str, float] = {}
    for op in (*sorted(vocab.blocking), *vocab.ops):
        out[f"count_{op}"] = float(sum(1 for v in labels.values() if v == op))
    live = nx.DiGraph(graph.subgraph(n for n in graph if labels[n] not in vocab.blocking))
    live.graph.update(graph.graph)
    plan = [(n, labels[n], list(live.predecessors(n))) for n in nx.topological_sort(live)]
    source, sink = graph.graph["input"], graph.graph["output"]
    out["num_ops"] = float(sum(1 for v in labels.values() if v not in vocab.structural))
    for name, allowed in vocab.subsets():
        low, high = _path_extremes(plan, source, sink, allowed, vocab)
        out[f"min_path_{name}"] = float(low)
        out[f"max_path_{name}"] = float(high)
    count: dict[Any, int] = {source: 1}
    best: dict[str, dict[Any, int]] = {op: {source: 0} for op in vocab.ops}
    for node, _, predecessors in plan:
        if node == source:
            continue
        preds = [p for p in predecessors if p in count]
        if not preds:
            continue
        count[node] = sum(count[p] for p in preds)
        for op, table in best.items():
            table[node] = max(table[p] for p in preds) + (labels[node] == op)
    out["paths"] = math.log1p(count.get(sink, 0))
    for op in vocab.ops:
        out[f"max_on_path_{op}"] = float(best[op].get(sink, 0))
    feeding = [labels[n] for n in _structural_reach(live, sink, vocab, forward=False)]
    reading = [labels[n] for n in _structural_reach(live, source, vocab, forward=True)]
    for op in vocab.ops:
        out[f"in_{op}"] = float(feeding.count(op))
        out[f"out_{op}"] = float(reading.count(op))
    return out


def graf(spec: Any, **task: Any) -> dict[str, float]:
    """GRAF features of a decoded spec, with the vocabulary of its space."""
    if not isinstance(spec, dict) or spec.get("_type") not in VOCABULARIES:
        kind = spec.get("_type") if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(
            f"GRAF: no vocabulary for spec type {kind!r}; known: {sorted(VOCABULARIES)}."
        )
    return features(op_graph(spec, **task), VOCABULARIES[spec["_type"]])
