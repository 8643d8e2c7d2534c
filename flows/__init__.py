"""symnas.flows: search loops that compose spaces, algorithms and programs."""

from symnas.flows.fidelity import Fidelity
from symnas.flows.nested import NestedResult, joint_search, nested
from symnas.flows.result import FlowResult, SearchResult, Trial
from symnas.flows.search import SearchFailed, search
from symnas.flows.seeding import current_trial_seed
from symnas.flows.trial_handle import TrialHandle

__all__ = [
    "Fidelity",
    "FlowResult",
    "NestedResult",
    "SearchFailed",
    "SearchResult",
    "Trial",
    "TrialHandle",
    "current_trial_seed",
    "joint_search",
    "nested",
    "search",
]
