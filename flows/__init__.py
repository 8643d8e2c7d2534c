"""symnas.flows: search loops that compose spaces, algorithms and programs."""

from symnas.flows.nested import NestedResult, joint_search, nested
from symnas.flows.result import FlowResult, SearchResult, Trial
from symnas.flows.search import search

__all__ = [
    "FlowResult",
    "NestedResult",
    "SearchResult",
    "Trial",
    "joint_search",
    "nested",
    "search",
]
