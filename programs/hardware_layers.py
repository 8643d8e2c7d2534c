"""The GEMM-shaped work of a PyTorch module, read from one traced forward pass.

A systolic-array accelerator runs every layer as matrix multiplications, the way SCALE-Sim
(Samajdar et al., ISPASS 2020) describes a layer: ``M`` output rows, ``K`` reduction length,
``N`` output columns, repeated ``count`` times. The table is taken from the module itself: a
``TorchDispatchMode`` records each ATen matrix product, convolution and fused attention that the
forward pass runs (so ``nn.Linear``, ``nn.Conv1d/2d/3d``, ``q @ k.transpose(...)``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` are all found), and module hooks
name each entry after the innermost module that ran it.

Mappings (im2col for convolutions):

- convolution: ``M = B * prod(out spatial)``, ``K = prod(kernel) * C_in / groups``,
  ``N = C_out / groups``, ``count = groups``; a transposed convolution is its col2im form,
  ``M = B * prod(in spatial)``, ``K = C_in / groups``, ``N = prod(kernel) * C_out / groups``.
- mm / addmm / mv: one GEMM; bmm / baddbmm: ``count`` = batch.
- scaled dot-product attention: ``q @ k^T`` (``M = L, K = E, N = S``) and ``attn @ v``
  (``M = L, K = S, N = E_v``), each ``count = batch * heads``.

Each entry also keeps the unique operand sizes in words (input, weight, output), which set the
off-chip traffic; for a convolution they are the tensor sizes, not the im2col sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

_FIELDS = ("m", "k", "n", "count", "in_words", "w_words", "out_words")


@dataclass(frozen=True)
class LayerTable:
    """GEMM shapes of a module's layers, one entry per layer, as int64 arrays."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    m: np.ndarray
    k: np.ndarray
    n: np.ndarray
    count: np.ndarray
    in_words: np.ndarray
    w_words: np.ndarray
    out_words: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per layer."""
        return self.m * self.k * self.n * self.count

    def to_json(self) -> dict[str, list]:
        """A JSON-able dict (for caching the table of an architecture)."""
        out: dict[str, list] = {"names": list(self.names), "kinds": list(self.kinds)}
        out.update({f: getattr(self, f).tolist() for f in _FIELDS})
        return out

    @classmethod
    def from_json(cls, data: dict[str, list]) -> LayerTable:
        """Inverse of ``to_json``."""
        arrays = {f: np.asarray(data[f], dtype=np.int64) for f in _FIELDS}
        return cls(names=tuple(data["names"]), kinds=tuple(data["kinds"]), **arrays)


class _Recorder(TorchDispatchMode):
    """Records GEMM-shaped ATen ops; ``scope`` is the stack of running module names."""

    def __init__(self) -> None:
        super().__init__()
        self.scope: list[str] = []
        self.rows: list[tuple] = []

    def _add(self, kind: str, m: int, k: int, n: int, count: int, words: Sequence[int]) -> None:
        name = self.scope[-1] if self.scope else "<root>"
        self.rows.append((name, kind, m, k, n, count, *words))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        op = func.overloadpacket.__name__
        if op == "convolution":
            self._conv(args, out)
        elif op in ("mm", "addmm", "mv", "addmv"):
            a, b = args[-2], args[-1]
            n = b.shape[1] if b.dim() == 2 else 1
            m = a.shape[0]
            self._add("linear", m, a.shape[1], n, 1, (a.numel(), b.numel(), m * n))
        elif op in ("bmm", "baddbmm"):
            a, b = args[-2], args[-1]
            words = (a.numel(), b.numel(), out.numel())
            self._add("matmul", a.shape[1], a.shape[2], b.shape[2], a.shape[0], words)
        elif op.startswith("_scaled_dot_product"):
            self._attention(*args[:3])
        return out

    def _conv(self, args: tuple, out: torch.Tensor) -> None:
        x, w = args[0], args[1]
        transposed, groups = bool(args[6]), int(args[8])
        batch = x.shape[0]
        kernel = math.prod(w.shape[2:])
        words = (x.numel(), w.numel(), out.numel())
        if transposed:
            m = batch * math.prod(x.shape[2:])
            k, n = w.shape[0] // groups, w.shape[1] * kernel
        else:
            m = batch * math.prod(out.shape[2:])
            k, n = w.shape[1] * kernel, w.shape[0] // groups
        self._add("conv", m, k, n, groups, words)

    def _attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        heads = math.prod(q.shape[:-2])
        length, dim, keys, dim_v = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
        scores = heads * length * keys
        self._add("attention", length, dim, keys, heads, (q.numel(), k.numel(), scores))
        self._add(
            "attention", length, keys, dim_v, heads, (scores, v.numel(), heads * length * dim_v)
        )


def _check_input(input_shape: Sequence[int], batch_size: int) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(
            f"input_shape must be a non-empty tuple of positive ints; got {input_shape!r}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    return (batch_size, *shape)


def _enter(scope: list[str], name: str, *_: object) -> None:
    scope.append(name)


def layers(module: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> LayerTable:
    """Traces one forward pass of ``module`` on a zero batch of ``batch_size`` samples.

    ``input_shape`` is the shape of one sample (``Dataset.input_shape``, as in
    ``programs.count``). The module runs in eval mode (every submodule's mode is restored
    afterwards) with autograd on, so that PyTorch's fused inference kernels (the
    ``nn.MultiheadAttention`` fast path) do not hide their matrix products.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    shape = _check_input(input_shape, batch_size)
    recorder = _Recorder()
    handles = []

    def leave(*_: object) -> None:
        recorder.scope.pop()

    for name, sub in module.named_modules():
        label = name or type(module).__name__
        handles.append(sub.register_forward_pre_hook(partial(_enter, recorder.scope, label)))
        handles.append(sub.register_forward_hook(leave))
    modes = {m: m.training for m in module.modules()}
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    x = torch.zeros(shape, device=device, requires_grad=True)
    try:
        module.eval()
        with torch.enable_grad(), recorder:
            module(x)
    finally:
        for sub, mode in modes.items():
            sub.training = mode
        for handle in handles:
            handle.remove()
    return _table(recorder.rows)


def _table(rows: list[tuple]) -> LayerTable:
    """Builds the table, numbering repeated names (``blocks.0.attn``, ``blocks.0.attn#2``...)."""
    seen: dict[str, int] = {}
    names = []
    for row in rows:
        seen[row[0]] = seen.get(row[0], 0) + 1
        names.append(row[0] if seen[row[0]] == 1 else f"{row[0]}#{seen[row[0]]}")
    columns = list(zip(*rows, strict=True)) if rows else [()] * (2 + len(_FIELDS))
    arrays = {f: np.asarray(columns[2 + i], dtype=np.int64) for i, f in enumerate(_FIELDS)}
    return LayerTable(names=tuple(names), kinds=tuple(columns[1]), **arrays)
