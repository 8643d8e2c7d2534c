"""Feature encodings of genomes for performance predictors.

- **Path encoding** (White, Neiswanger and Savani, "BANANAS: Bayesian Optimization with Neural
  Architectures for Neural Architecture Search", AAAI 2021): a cell is described by the
  sequences of ops along its paths from an input to the output. For NAS-Bench-201 the four
  input-to-output paths of the cell (edges ``3->0``; ``1->0, 3->1``; ``2->0, 3->2``; ``1->0,
  2->1, 3->2``) are one-hot over all op sequences of length 1 to 3 (``5 + 25 + 125 = 155``
  features). For DARTS every path from one of the two cell inputs to an intermediate node (each
  of which feeds the concatenated output) counts towards its (cell, input, op sequence) feature:
  ``2 x 2 x sum_{L=1..4} n_ops**L`` features (18,720 with the 8 DARTS ops).
- **One-hot encoding**, for any other space: each choice is one-hot over its candidates (all zero
  when the choice is inactive); each float is scaled to ``[0, 1]`` with an indicator of whether
  it is active.

Spaces are recognised from the codec's decision points (their names and candidate values), so
a codec built from a ``pg.DNASpec`` alone (what ``pg.sample`` gives an algorithm) encodes
exactly as one compiled from the hyper-value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from symnas.spaces.cells import DARTS_NODES, DARTS_OPS, NB201_OPS
from symnas.spaces.codec import Codec

Encoder = Callable[[np.ndarray], np.ndarray]
ENCODINGS = ("auto", "path", "onehot")

# Edges (indices into the official NB201 edge order) along each input-to-output path.
NB201_PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
DARTS_CELLS = ("normal", "reduce")
_DARTS_SLOT = re.compile(r"^(normal|reduce)\[(\d)\]\.(inputs|ops)\[([01])\]$")


def encoder(codec: Codec, encoding: str = "auto") -> Encoder:
    """The encoder of a space: ``"path"`` (NB201 and DARTS cells only), ``"onehot"``, or
    ``"auto"`` (path where the space allows it, one-hot otherwise)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {list(ENCODINGS)}; got {encoding!r}.")
    if encoding in ("auto", "path"):
        if _is_nb201(codec):
            return nb201_path_encoding
        darts = _darts_layout(codec)
        if darts is not None:
            return lambda genomes: darts_path_encoding(genomes, *darts)
        if encoding == "path":
            raise ValueError(
                "encoding='path' needs a NAS-Bench-201 or DARTS cell space "
                "(spaces.nb201_cell(), spaces.darts_cell()); use 'onehot' or 'auto'."
            )
    reject_custom(codec, "The one-hot encoding")
    return lambda genomes: onehot_encoding(codec, genomes)


def reject_custom(codec: Codec, who: str) -> None:
    """Raises a clear error when a space holds custom decision points, which ``who`` (an
    algorithm or encoding that models choices and floats only) cannot handle."""
    custom = [s.path for s in codec.slots if getattr(s, "is_custom", False)]
    if custom:
        raise ValueError(
            f"{who} models pg.oneof, pg.manyof and pg.floatv decisions; this space has custom "
            f"decision points {custom[:4]}. Use random or regularized_evolution for it."
        )


def _literal(op: str) -> str:
    return repr(op)


def _is_nb201(codec: Codec) -> bool:
    literals = tuple(_literal(op) for op in NB201_OPS)
    return codec.num_slots == 6 and all(
        s.path == f"edges[{k}]" and s.literals == literals and s.parent < 0
        for k, s in enumerate(codec.slots)
    )


def nb201_path_encoding(genomes: np.ndarray) -> np.ndarray:
    """Path encoding of NAS-Bench-201 genomes (rows of 6 op indices in ``NB201_OPS`` order)."""
    genomes = np.atleast_2d(genomes).astype(np.int64)
    n_ops = len(NB201_OPS)
    offsets = np.cumsum([0] + [n_ops**length for length in (1, 2)])
    out = np.zeros((len(genomes), sum(n_ops**length for length in (1, 2, 3))))
    rows = np.arange(len(genomes))
    for path in NB201_PATHS:
        index = offsets[len(path) - 1] + sum(genomes[:, e] * n_ops**j for j, e in enumerate(path))
        out[rows, index] = 1.0
    return out


def _darts_layout(codec: Codec) -> tuple[dict, int] | None:
    """Slot indices of a DARTS genotype space (cell, node, field, position) and its op count."""
    layout: dict[tuple[str, int, str, int], int] = {}
    n_ops = None
    for slot in codec.slots:
        match = _DARTS_SLOT.match(slot.path)
        if match is None:
            continue
        cell, node, field, position = match[1], int(match[2]), match[3], int(match[4])
        layout[(cell, node, field, position)] = slot.index
        if field == "ops":
            if not all(lit in {_literal(op) for op in DARTS_OPS} for lit in slot.literals):
                return None
            n_ops = slot.num_candidates if n_ops is None else n_ops
            if slot.num_candidates != n_ops:
                return None
        elif slot.num_candidates != node + 2:
            return None
    if len(layout) != 2 * DARTS_NODES * 4 or n_ops is None:
        return None
    return layout, n_ops


def darts_path_encoding(genomes: np.ndarray, layout: dict, n_ops: int) -> np.ndarray:
    """Path-count encoding of DARTS genomes (see the module docstring)."""
    genomes = np.atleast_2d(genomes).astype(np.int64)
    per_input = sum(n_ops**length for length in range(1, DARTS_NODES + 1))
    offsets = np.cumsum([0] + [n_ops**length for length in range(1, DARTS_NODES)])
    out = np.zeros((len(genomes), len(DARTS_CELLS) * 2 * per_input))
    for r, genome in enumerate(genomes):
        for c, cell in enumerate(DARTS_CELLS):
            # paths[node] lists (input, op sequence) for every path from a cell input to node.
            paths: list[list[tuple[int, tuple[int, ...]]]] = [[(0, ())], [(1, ())]]
            for node in range(DARTS_NODES):
                incoming = []
                for position in (0, 1):
                    source = genome[layout[(cell, node, "inputs", position)]]
                    op = int(genome[layout[(cell, node, "ops", position)]])
                    incoming.extend((k, ops + (op,)) for k, ops in paths[source])
                paths.append(incoming)
                for k, ops in incoming:
                    index = offsets[len(ops) - 1] + sum(o * n_ops**j for j, o in enumerate(ops))
                    out[r, (c * 2 + k) * per_input + index] += 1.0
    return out


def onehot_encoding(codec: Codec, genomes: np.ndarray) -> np.ndarray:
    """One-hot choices and scaled floats with an activity flag, for any compiled space."""
    reject_custom(codec, "The one-hot encoding")
    genomes = np.atleast_2d(np.asarray(genomes, dtype=np.float64))
    active = codec.active_mask(genomes)
    columns = []
    for slot in codec.slots:
        on = active[:, slot.index]
        if slot.is_float:
            span = slot.high - slot.low
            scaled = (genomes[:, slot.index] - slot.low) / span if span > 0 else 0.0 * on
            columns.append(np.where(on, scaled, 0.0)[:, None])
            columns.append(on[:, None].astype(np.float64))
        else:
            hot = np.zeros((len(genomes), slot.num_candidates))
            rows = np.flatnonzero(on)
            hot[rows, genomes[rows, slot.index].astype(np.int64)] = 1.0
            columns.append(hot)
    return np.concatenate(columns, axis=1)
