"""Zero-cost scores of many specs of one weight-sharing supernet, each proxy in one pass.

synflow (Tanaka et al., NeurIPS 2020) runs a network on ``|theta|`` in float64, and epsinas
(Gracheva, arXiv 2302.04406) on constant weights and zero biases: both replace every tensor
elementwise. When a sub-network's tensors are selections of the supernet's (slices, indexing,
reshaping; ``selects_weights`` checks each spec on ``sliced_state``), the selection of a
replaced supernet tensor is the replaced selection, so ``score_many`` replaces the supernet's
tensors once per pass (once for synflow, once per epsinas constant), runs every spec's active
sub-network on them and puts the original tensors back at the end: per spec it pays only the
proxy's own forward (epsinas) or forward and backward (synflow). synflow's gradients are taken
with respect to the slices the sub-network reads, not the whole supernet tensors.

The other ``SUPERNET_SAFE`` proxies run on the activated supernet, the rest on
``supernet.extract(spec)``, as does every proxy of a spec whose tensors are derived by
arithmetic (kernel transformation matrices) and synflow where a batch norm outside the
supernet's modules would run. Every value equals ``score(supernet.extract(spec), ...)`` up to
float rounding, with the same per-proxy seeding (``torch.manual_seed(seed)`` in a forked RNG).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from tqdm.auto import tqdm

from symnas.algorithms.zero_cost import activation
from symnas.algorithms.zero_cost.common import first_output, layers, param_names, train_mode
from symnas.algorithms.zero_cost.saliency import (
    _batch_norm_disabled,
    synflow_buffer,
    synflow_parameter,
)

ParamFn = Callable[[str, torch.Tensor], torch.Tensor | None]
BufferFn = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def replaced_tensors(module: nn.Module, param_fn: ParamFn, buffer_fn: BufferFn) -> Iterator[None]:
    """Runs the block with every parameter's data replaced by ``param_fn(name, tensor)`` (``None``
    keeps it) and gradients off, every buffer replaced by ``buffer_fn(buffer)``; on exit the
    original tensors and ``requires_grad`` flags are put back (no copies are made of them)."""
    names = param_names(module)
    params = list({id(p): p for p in module.parameters()}.values())
    saved_params = [(p, p.data, p.requires_grad) for p in params]
    saved_buffers = [
        (sub, name, buf)
        for sub in module.modules()
        for name, buf in sub._buffers.items()
        if buf is not None
    ]
    try:
        for param in params:
            new = param_fn(names[id(param)][0], param.detach())
            if new is not None:
                param.data = new
            param.requires_grad_(False)
        for sub, name, buf in saved_buffers:
            sub._buffers[name] = buffer_fn(buf)
        yield
    finally:
        for param, data, flag in saved_params:
            param.data = data
            param.requires_grad_(flag)
        for sub, name, buf in saved_buffers:
            sub._buffers[name] = buf


def _basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class _SliceLeaves(TorchFunctionMode):
    """Turns every basic-index slice ``W[...]`` of a scored weight into a detached leaf that
    requires grad, so the sub-network's weight gradients come out slice-sized; raises
    ``_BatchNormRan`` on a batch-norm call (synflow runs without batch norm)."""

    def __init__(self, weights: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.ids = {id(w) for w in weights}
        self.slices: dict[int, list[tuple[Any, torch.Tensor]]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func in _BATCH_NORMS:
            raise _BatchNormRan(func)
        if func is torch.Tensor.__getitem__ and id(args[0]) in self.ids and _basic_index(args[1]):
            leaf = args[0].detach()[args[1]].requires_grad_(True)
            self.slices.setdefault(id(args[0]), []).append((args[1], leaf))
            return leaf
        return func(*args, **(kwargs or {}))


class _BatchNormRan(Exception):
    """A batch-norm call that disabling the supernet's batch-norm modules did not reach."""


_BATCH_NORMS = frozenset({F.batch_norm, torch.batch_norm})

_SELECTIONS = frozenset(
    {
        torch.Tensor.__getitem__,
        torch.Tensor.index_select,
        torch.index_select,
        torch.Tensor.narrow,
        torch.narrow,
        torch.Tensor.select,
        torch.select,
        torch.Tensor.reshape,
        torch.reshape,
        torch.Tensor.view,
        torch.Tensor.flatten,
        torch.flatten,
        torch.Tensor.unflatten,
        torch.Tensor.transpose,
        torch.transpose,
        torch.Tensor.permute,
        torch.permute,
        torch.Tensor.t,
        torch.t,
        torch.Tensor.movedim,
        torch.movedim,
        torch.Tensor.squeeze,
        torch.squeeze,
        torch.Tensor.unsqueeze,
        torch.unsqueeze,
        torch.Tensor.expand,
        torch.Tensor.contiguous,
        torch.Tensor.clone,
        torch.clone,
        torch.Tensor.detach,
        torch.cat,
        torch.stack,
    }
)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    """The tensors in ``value`` and in the lists, tuples and dict values nested in it."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


class _SelectionCheck(TorchFunctionMode):
    """Watches a supernet derive a sub-network's tensors: ``selects_only`` stays true while every
    operation on its parameters and buffers (and on what was derived from them) only selects or
    rearranges elements, so that replacing the supernet's tensors elementwise replaces the
    sub-network's the same way."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.derived = [*module.parameters(), *module.buffers()]
        self.ids = {id(t) for t in self.derived}
        self.selects_only = True

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        if any(id(t) in self.ids for t in _tensors((args, kwargs))):
            outputs = list(_tensors(out))
            if func in _SELECTIONS:
                self.derived.extend(outputs)
                self.ids.update(id(t) for t in outputs)
            elif outputs:
                self.selects_only = False
        return out


def selects_weights(supernet: nn.Module, spec: Any) -> bool:
    """Whether ``spec``'s sub-network takes its tensors from the supernet's by selection only
    (slices, indexing, reshaping, concatenation), judged on ``sliced_state(spec)``; a supernet
    without ``sliced_state`` is taken to select."""
    if not hasattr(supernet, "sliced_state"):
        return True
    check = _SelectionCheck(supernet)
    with torch.no_grad(), check:
        supernet.sliced_state(spec)
    return check.selects_only


def _synflow_parameter(_: str, tensor: torch.Tensor) -> torch.Tensor:
    return synflow_parameter(tensor)


def _clone(buf: torch.Tensor) -> torch.Tensor:
    return buf.clone()


def _abs_product_sum(weight: torch.Tensor, grad: torch.Tensor) -> float:
    """``sum |W * g|`` for ``W >= 0`` (synflow's ``|theta|``), as ``sum W * |g|``."""
    return float(torch.abs(grad).mul_(weight.detach()).sum())


def _synflow_active(supernet: nn.Module, weights: list[torch.Tensor], x: torch.Tensor) -> float:
    """synflow of the active sub-network of a supernet whose tensors are already ``|theta|`` in
    float64, in train mode with batch norm disabled; ``weights`` are its scored layer weights."""
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    capture = _SliceLeaves(weights)
    with capture:
        total = first_output(supernet(ones)).sum()
    if not total.requires_grad:
        return 0.0
    leaves = [leaf for w in weights for _, leaf in capture.slices.get(id(w), [])]
    grads = iter(torch.autograd.grad(total, weights + leaves, allow_unused=True))
    direct = [next(grads) for _ in weights]
    score = 0.0
    for weight, grad in zip(weights, direct, strict=True):
        parts = [(index, leaf, next(grads)) for index, leaf in capture.slices.get(id(weight), [])]
        if len(parts) == 1 and grad is None:
            _, leaf, leaf_grad = parts[0]
            if leaf_grad is not None:
                score += _abs_product_sum(leaf, leaf_grad)
            continue
        if not parts and grad is None:
            continue
        full = torch.zeros_like(weight) if grad is None else grad.clone()
        for index, _, leaf_grad in parts:
            if leaf_grad is not None:
                full[index] += leaf_grad
        score += _abs_product_sum(weight, full)
    return score


@contextmanager
def _seeded(seed: int, state: torch.Tensor | None = None) -> Iterator[None]:
    """Runs the block in a forked CPU RNG seeded with ``seed`` (or set to ``state``)."""
    with torch.random.fork_rng(devices=[]):
        if state is None:
            torch.manual_seed(seed)
        else:
            torch.set_rng_state(state)
        yield


def score_many(
    supernet: nn.Module,
    specs: Sequence[Any],
    batch: tuple[torch.Tensor, torch.Tensor | None],
    proxies: Sequence[str],
    *,
    options: dict[str, Any],
    progress: bool = False,
) -> list[dict[str, float]]:
    """``{proxy: score}`` of every spec on one ``programs.Supernet``, in ``proxies`` order.

    ``proxies`` are validated names and ``options`` the ``loss_fn``, ``seed`` and
    ``epsinas_weights`` that ``zero_cost.score`` takes; ``zero_cost.score_specs(...,
    supernet=...)`` is the checked entry point. The supernet's tensors are replaced while it
    runs, so it must not be used elsewhere (another thread) meanwhile.
    """
    from symnas.algorithms.zero_cost import SUPERNET_SAFE, score

    x = batch[0]
    seed = options["seed"]
    rows: list[dict[str, float]] = [{} for _ in specs]
    selecting = [i for i, spec in enumerate(specs) if selects_weights(supernet, spec)]
    shared = [n for n in proxies if n in SUPERNET_SAFE and n not in ("epsinas", "synflow")]
    passes = ("epsinas" in proxies) * 2 + ("synflow" in proxies)
    total = passes * len(selecting) + len(specs)
    bar = tqdm(total=total, desc="zero-cost", disable=not progress)
    if "epsinas" in proxies:
        first, second = options["epsinas_weights"]
        outputs: list[list[np.ndarray]] = [[], []]
        states: list[torch.Tensor] = []
        for k, value in enumerate((first, second)):
            constant = partial(activation.constant_fill, value=float(value))
            constants = replaced_tensors(supernet, constant, _clone)
            with constants, train_mode(supernet):
                for j, i in enumerate(selecting):
                    supernet.activate(specs[i])
                    with _seeded(seed, states[j] if k else None), torch.no_grad():
                        out = first_output(supernet(x))
                        if not k:
                            states.append(torch.get_rng_state())
                    outputs[k].append(activation.normalise_output(out))
                    bar.update()
        for i, a, b in zip(selecting, *outputs, strict=True):
            rows[i]["epsinas"] = activation.epsinas_gap(a, b)
    if "synflow" in proxies:
        linearised = replaced_tensors(supernet, _synflow_parameter, synflow_buffer)
        with linearised, train_mode(supernet), _batch_norm_disabled(supernet):
            weights = [layer.weight for _, layer in layers(supernet)]
            for weight in weights:
                weight.requires_grad_(True)
            for i in selecting:
                supernet.activate(specs[i])
                with _seeded(seed), contextlib.suppress(_BatchNormRan):
                    rows[i]["synflow"] = _synflow_active(supernet, weights, x)
                bar.update()
    chosen = set(selecting)
    for i, (row, spec) in enumerate(zip(rows, specs, strict=True)):
        here = [n for n in shared if i in chosen]
        extracted = [n for n in proxies if n not in row and n not in here]
        if here:
            supernet.activate(spec)
            row.update(score(supernet, batch, here, **options))
        if extracted:
            row.update(score(supernet.extract(spec), batch, extracted, **options))
        bar.update()
    bar.close()
    return [{name: row[name] for name in proxies} for row in rows]
