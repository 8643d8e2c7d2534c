"""symnas.flows: search loops that compose spaces, algorithms and programs."""

from symnas.flows.nested import NestedResult, joint_search, nested
from symnas.flows.result import FlowResult, SearchResult, Trial
from symnas.flows.search import SearchFailed, search
from symnas.flows.seeding import current_trial_seed

__all__ = [
    "FlowResult",
    "NestedResult",
    "SearchFailed",
    "SearchResult",
    "Trial",
    "current_trial_seed",
    "joint_search",
    "nested",
    "search",
]
