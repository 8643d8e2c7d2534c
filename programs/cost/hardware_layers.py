"""The work of a PyTorch module as a table of GEMMs and memory-bound operators.

A systolic-array accelerator runs every layer as matrix multiplications, the way SCALE-Sim
(Samajdar et al., ISPASS 2020) describes a layer: ``M`` output rows, ``K`` reduction length,
``N`` output columns, repeated ``count`` times. The table is read from one pass of
``programs.cost.trace`` (so ``nn.Linear``, ``nn.Conv1d/2d/3d``, ``q @ k.transpose(...)``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` are all found, and layers
already traced are replayed from its layer cache); each entry is named after the innermost
module that ran it.

Mappings (im2col for convolutions):

- convolution: ``M = B * prod(out spatial)``, ``K = prod(kernel) * C_in / groups``,
  ``N = C_out / groups``, ``count = groups``; a transposed convolution is its col2im form,
  ``M = B * prod(in spatial)``, ``K = C_in / groups``, ``N = prod(kernel) * C_out / groups``.
- mm / addmm / mv / linear: one GEMM; bmm / baddbmm / batched matmul: ``count`` = batch.
- scaled dot-product attention: ``q @ k^T`` (``M = L, K = E, N = S``) and ``attn @ v``
  (``M = L, K = S, N = E_v``), each ``count = batch * heads``.
- memory-bound operators (``vector_ops=True``, the default): element-wise operators and
  activations (``eltwise``), pooling (``pool``), norms (``norm``), concatenation (``concat``),
  reductions (``reduce``) and resampling (``resample``), with ``M`` = output elements, ``K`` =
  input elements read per output element, ``N = count = 1``.

Each entry also keeps the unique operand sizes in words (input, weight, output), which set the
off-chip traffic; for a convolution they are the tensor sizes, not the im2col sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from symnas.programs.cost.trace import GEMM_KINDS, Row, trace

_FIELDS = ("m", "k", "n", "count", "in_words", "w_words", "out_words")
_GEOMETRY = ("kh", "kw", "oh")


@dataclass(frozen=True)
class LayerTable:
    """GEMM shapes of a module's layers, one entry per layer, as int64 arrays.

    ``kh``, ``kw``, ``oh`` (kernel rows, rest of the kernel, output rows of a convolution; 1
    elsewhere) are optional: a table read from JSON without them treats every entry as a GEMM.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    m: np.ndarray
    k: np.ndarray
    n: np.ndarray
    count: np.ndarray
    in_words: np.ndarray
    w_words: np.ndarray
    out_words: np.ndarray
    kh: np.ndarray | None = None
    kw: np.ndarray | None = None
    oh: np.ndarray | None = None

    def __post_init__(self) -> None:
        for f in _GEOMETRY:  # GEMMs and vector operators: a 1 x 1 "kernel", one output row
            if getattr(self, f) is None:
                object.__setattr__(self, f, np.ones(len(self.names), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def is_gemm(self) -> np.ndarray:
        """Which entries are GEMMs (the others are memory-bound operators)."""
        return np.fromiter((k in GEMM_KINDS for k in self.kinds), bool, len(self.kinds))

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per layer (0 for memory-bound operators)."""
        return np.where(self.is_gemm, self.m * self.k * self.n * self.count, 0)

    def to_json(self) -> dict[str, list]:
        """A JSON-able dict (for caching the table of an architecture)."""
        out: dict[str, list] = {"names": list(self.names), "kinds": list(self.kinds)}
        out.update({f: getattr(self, f).tolist() for f in _FIELDS + _GEOMETRY})
        return out

    @classmethod
    def from_json(cls, data: dict[str, list]) -> LayerTable:
        """Inverse of ``to_json``."""
        fields = _FIELDS + tuple(f for f in _GEOMETRY if f in data)
        arrays = {f: np.asarray(data[f], dtype=np.int64) for f in fields}
        return cls(names=tuple(data["names"]), kinds=tuple(data["kinds"]), **arrays)


def layers(
    module: nn.Module, input_shape: Sequence[int], batch_size: int = 1, vector_ops: bool = True
) -> LayerTable:
    """Traces one forward pass of ``module`` on a zero batch of ``batch_size`` samples.

    ``input_shape`` is the shape of one sample (``Dataset.input_shape``, as in
    ``programs.count``). The module runs in eval mode (every submodule's mode is restored
    afterwards). ``vector_ops=False`` keeps the GEMMs only.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    rows = trace(module, input_shape, batch_size)
    if not vector_ops:
        rows = [row for row in rows if row.kind in GEMM_KINDS]
    return _table(rows)


def numbered_names(names: Sequence[str]) -> tuple[str, ...]:
    """Layer names with repeats numbered (``blocks.0.attn``, ``blocks.0.attn#2``...)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return tuple(out)


def _table(rows: list[Row]) -> LayerTable:
    """Builds the table, numbering repeated names (:func:`numbered_names`)."""
    names = numbered_names([row.name for row in rows])
    width = len(Row._fields) - 2
    numbers = np.array([row[2:] for row in rows], dtype=np.int64).reshape(len(rows), width)
    arrays = {f: numbers[:, i] for i, f in enumerate(Row._fields[2:]) if f in _FIELDS + _GEOMETRY}
    return LayerTable(names=names, kinds=tuple(r.kind for r in rows), **arrays)
