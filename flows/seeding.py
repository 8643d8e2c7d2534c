"""Per-trial seeds: every trial's randomness derives from (search seed, trial id).

``search`` seeds Python's ``random``, numpy's global generator and torch before it calls the
objective, so model construction (weight initialisation) and training are reproducible for a
trial whatever ran before it in the process; an objective that draws its own generators reads
the seed with :func:`current_trial_seed`. The seed is recorded in the trial log. A trial can
also run with a chosen number of torch threads (see ``docs/architecture.md``, Threads).

Torch is seeded only when it is in use: already imported, asked for by ``threads``, or declared
by the objective (an attribute ``uses_torch = True``), so a search whose objective never touches
torch does not pay for importing it. An objective that imports torch inside its call declares
it; one that does not is warned, since its first trial ran with torch unseeded.
"""

from __future__ import annotations

import importlib
import random
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

_current_seed: int | None = None


def trial_seed(search_seed: int, trial_id: int) -> int:
    """The seed of trial ``trial_id`` in a search seeded ``search_seed`` (0 <= seed < 2**31)."""
    state = np.random.SeedSequence([search_seed, trial_id]).generate_state(1, np.uint32)
    return int(state[0] >> 1)


def uses_torch(objective: Any) -> bool:
    """Whether ``objective`` declares that it uses torch (``objective.uses_torch``)."""
    return bool(getattr(objective, "uses_torch", False))


def _torch(needed: bool) -> ModuleType | None:
    """The torch module when it is imported already or ``needed`` (then imported), else None."""
    if needed:
        return importlib.import_module("torch")
    return sys.modules.get("torch")


def seed_everything(seed: int, torch_needed: bool = True) -> None:
    """Seeds ``random``, numpy's global generator and torch (CPU and, where present, CUDA);
    torch only when it is imported already or ``torch_needed``.

    Torch's CPU generator is seeded directly: ``torch.manual_seed`` also polls every accelerator
    backend, which costs about 0.8 ms a call, more than the whole search loop's other work per
    trial. CUDA generators are seeded (lazily, as ``torch.manual_seed`` does) when CUDA exists.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch = _torch(torch_needed)
    if torch is not None:
        torch.random.default_generator.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)


def current_trial_seed() -> int | None:
    """The seed of the trial being evaluated in this process (None outside a trial)."""
    return _current_seed


@contextmanager
def seeded_trial(
    seed: int, threads: int | None = None, torch_needed: bool = False
) -> Iterator[None]:
    """Seeds every global generator in use with ``seed`` and exposes it to the objective; with
    ``threads``, torch uses that many intra-op threads until the block ends. Torch is imported
    only for ``threads`` or when ``torch_needed`` (the objective declares it)."""
    global _current_seed
    torch = _torch(torch_needed or threads is not None)
    previous_seed = _current_seed
    previous_threads = torch.get_num_threads() if threads is not None else None
    seed_everything(seed, torch_needed=torch is not None)
    _current_seed = seed
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        _current_seed = previous_seed
        if threads is not None:
            torch.set_num_threads(previous_threads)
        if torch is None and "torch" in sys.modules:
            warnings.warn(
                "The objective imported torch during a trial, which then ran with torch "
                "unseeded; give the objective an attribute `uses_torch = True` so that every "
                "trial seeds torch.",
                stacklevel=3,
            )
