"""Per-trial seeds: every trial's randomness derives from (search seed, trial id).

``search`` seeds Python's ``random``, numpy's global generator and torch before it calls the
objective, so model construction (weight initialisation) and training are reproducible for a
trial whatever ran before it in the process; an objective that draws its own generators reads
the seed with :func:`current_trial_seed`. The seed is recorded in the trial log. A trial can
also run with a chosen number of torch threads (see ``docs/architecture.md``, Threads).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_current_seed: int | None = None


def trial_seed(search_seed: int, trial_id: int) -> int:
    """The seed of trial ``trial_id`` in a search seeded ``search_seed`` (0 <= seed < 2**31)."""
    state = np.random.SeedSequence([search_seed, trial_id]).generate_state(1, np.uint32)
    return int(state[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seeds ``random``, numpy's global generator and torch (CPU and, where present, CUDA).

    Torch's CPU generator is seeded directly: ``torch.manual_seed`` also polls every accelerator
    backend, which costs about 0.8 ms a call, more than the whole search loop's other work per
    trial. CUDA generators are seeded (lazily, as ``torch.manual_seed`` does) when CUDA exists.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def current_trial_seed() -> int | None:
    """The seed of the trial being evaluated in this process (None outside a trial)."""
    return _current_seed


@contextmanager
def seeded_trial(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seeds every global generator with ``seed`` and exposes it to the objective; with
    ``threads``, torch uses that many intra-op threads until the block ends."""
    import torch

    global _current_seed
    previous_seed, previous_threads = _current_seed, torch.get_num_threads()
    seed_everything(seed)
    _current_seed = seed
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        _current_seed = previous_seed
        if threads is not None:
            torch.set_num_threads(previous_threads)
