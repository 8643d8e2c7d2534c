"""The op DAG of any grammar family's spec, by its ``_type`` (``hnb201``, ``einspace``)."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pyglove as pg

from symnas.programs.families import einspace, hnb201
from symnas.spaces.grammars import EinspaceNetwork, HierarchicalNB201

_GRAPHS = {
    HierarchicalNB201.__type_name__: hnb201.graph,
    EinspaceNetwork.__type_name__: einspace.graph,
}


def graph(spec: dict[str, Any], **task: Any) -> nx.DiGraph:
    """The shape-checked op DAG of a grammar spec (hierarchical NB201 or einspace)."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    kind = spec.get("_type") if isinstance(spec, dict) else None
    if kind not in _GRAPHS:
        raise ValueError(
            f"programs.families.grammar_graph.graph: expected a {HierarchicalNB201.__type_name__!r} "
            f"or {EinspaceNetwork.__type_name__!r} spec; got {kind!r}."
        )
    return _GRAPHS[kind](spec, **task)
