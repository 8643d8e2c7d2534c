"""Measured CPU inference latency of a module on this machine.

The protocol of hardware-aware NAS latency tables (HW-NAS-Bench, Li et al., ICLR 2021; nn-Meter,
Zhang et al., MobiSys 2021): eval mode, no autograd, a fixed thread count, warm-up runs that are
discarded, then the median wall time of repeated runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from symnas.programs.cost.threads import torch_threads


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"cpu_latency: {name} must be a positive int; got {value!r}.")
    return value


def cpu_latency(
    module: nn.Module,
    input_shape: Sequence[int],
    threads: int = 1,
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 10,
) -> float:
    """Median latency in milliseconds of ``module`` on a batch of ``batch_size`` samples.

    ``input_shape`` is one sample's shape (as in ``programs.count``). Runs on the CPU with ``threads`` intra-op threads, ``warmup`` discarded runs and ``repeats``
    timed runs. Every submodule's mode and the process's thread count are restored.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"cpu_latency: module must be a torch.nn.Module; got {type(module).__name__}."
        )
    shape = tuple(input_shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"cpu_latency: input_shape must be positive ints; got {input_shape!r}.")
    threads = _positive_int("threads", threads)
    batch_size = _positive_int("batch_size", batch_size)
    repeats = _positive_int("repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"cpu_latency: warmup must be an int >= 0; got {warmup!r}.")
    if any(p.device.type != "cpu" for p in module.parameters()):
        raise ValueError("cpu_latency: module parameters must be on the CPU.")

    x = torch.randn((batch_size, *shape), generator=torch.Generator().manual_seed(0))
    modes = {m: m.training for m in module.modules()}
    times = []
    try:
        module.eval()
        with torch_threads(threads), torch.inference_mode():
            for i in range(warmup + repeats):
                start = time.perf_counter()
                module(x)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        for sub, mode in modes.items():
            sub.training = mode
    return 1e3 * statistics.median(times)
