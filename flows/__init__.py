"""symnas.flows: search loops that compose spaces, algorithms and programs."""

from symnas.flows.result import SearchResult, Trial
from symnas.flows.search import search

__all__ = ["SearchResult", "Trial", "search"]
