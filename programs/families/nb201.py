"""NAS-Bench-201 networks and single-path supernet (Dong & Yang, ICLR 2020).

The network is the benchmark's macro skeleton: a 3x3 conv + BN stem with ``C`` channels, three
stages of ``N`` identical cells at ``C``, ``2C`` and ``4C`` channels separated by ResNet basic
blocks (stride 2, avg-pool + 1x1-conv shortcut), then BN + ReLU, global average pooling and a
linear classifier. With C=16, N=5 and 10 classes its parameter count equals the benchmark's
published count for every cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyglove as pg
import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.families.cell_ops import (
    STANDALONE_NORM,
    CellNorm,
    MixedEdge,
    ResNetBasicBlock,
    macro_args,
    nb201_op,
    single_path_state,
)
from symnas.programs.supernet_base import DifferentiableSupernet, QuantizableSupernet
from symnas.spaces.cells import NB201_EDGES, NB201_OPS, NB201Cell, nb201_cell, nb201_edges
from symnas.spaces.relaxation import op_decisions

_MACRO = ("C", "N", "num_classes", "in_chans")


def _macro(fields: dict[str, Any], task: dict[str, Any], where: str) -> dict[str, int]:
    return macro_args(fields, task, _MACRO, where)


class NB201InferCell(nn.Module):
    """A fixed NAS-Bench-201 cell: node j sums ``edges[k](node_i)`` over its input edges."""

    def __init__(self, ops: list[str], channels: int, norm: CellNorm = STANDALONE_NORM) -> None:
        super().__init__()
        self.op_names = list(ops)
        self.edges = nn.ModuleList(nb201_op(name, channels, norm) for name in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the cell DAG and returns its last node."""
        return _run_dag(x, lambda k, h: self.edges[k](h))


class NB201SearchCell(nn.Module):
    """A supernet cell: every edge is a ``MixedEdge`` holding all candidate ops."""

    def __init__(
        self,
        channels: int,
        op_names: tuple[str, ...] = NB201_OPS,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedEdge(op_names, lambda name: nb201_op(name, channels, norm)) for _ in NB201_EDGES
        )

    def forward(self, x: torch.Tensor, ops: list[str]) -> torch.Tensor:
        """Single path: edge k runs only ``ops[k]``."""
        return _run_dag(x, lambda k, h: self.edges[k](h, ops[k]))

    def weighted(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """DARTS mixed ops: edge k outputs the ``weights[k]``-weighted sum of its ops."""
        return _run_dag(x, lambda k, h: self.edges[k].weighted(h, weights[k]))


def _run_dag(x: torch.Tensor, edge: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    nodes = [x]
    for dst in (1, 2, 3):
        nodes.append(sum(edge(k, nodes[src]) for k, (d, src) in enumerate(NB201_EDGES) if d == dst))
    return nodes[-1]


class _NB201Skeleton(nn.Module):
    """Stem, three stages of cells with ResNet reductions between them, and the head."""

    def __init__(
        self, C: int, N: int, num_classes: int, in_chans: int, make_cell: Callable[[int], nn.Module]
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        cells: list[nn.Module] = []
        for stage, channels in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicBlock(channels // 2, channels))
            cells.extend(make_cell(channels) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * C, num_classes)

    def _run(
        self, x: torch.Tensor, cell: Callable[[int, nn.Module, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        return self._run_from_stem(self.stem(x), cell)

    def _run_from_stem(
        self, feature: torch.Tensor, cell: Callable[[int, nn.Module, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """The network after the stem; ``cell(k, module, h)`` runs the k-th searched cell."""
        k = 0
        for module in self.cells:
            if isinstance(module, ResNetBasicBlock):
                feature = module(feature)
            else:
                feature = cell(k, module, feature)
                k += 1
        feature = self.global_pooling(self.lastact(feature)).flatten(1)
        return self.classifier(feature)


class NB201Network(_NB201Skeleton):
    """The standalone NAS-Bench-201 network of one cell; ``forward`` returns logits.

    ``norm`` builds the cell ops' BatchNorm (the benchmark's affine BN with running statistics by
    default; a supernet extracts its sub-networks with its own).
    """

    def __init__(
        self,
        ops: list[str],
        C: int,
        N: int,
        num_classes: int,
        in_chans: int,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(C, N, num_classes, in_chans, lambda c: NB201InferCell(ops, c, norm))
        self.op_names = list(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self._run(x, lambda _, cell, h: cell(h))


class NB201Supernet(_NB201Skeleton, QuantizableSupernet, DifferentiableSupernet):
    """Single-path NAS-Bench-201 supernet: every cell edge holds all 5 ops, ``none`` gives zeros.

    Cell weights are not shared across the 15 cells; ``cells[k].edges[e].ops[name]`` is the op
    ``name`` on edge ``e`` of cell ``k`` (``cells`` also holds the two ResNet reduction blocks).
    Its op decisions are the space's ``edges[e]`` choices, each mixed in every cell.

    A path is a spec of the space (the same cell in all ``search_cells`` cells, as every
    architecture of the benchmark) or, for training, a list of ``search_cells`` specs, one per
    cell (Few-Shot NAS's one-shot supernet draws a cell per cell). ``norm`` builds the cell ops'
    BatchNorm (``CellNorm(affine=False)`` as the weight-sharing references); the stem, the
    reduction blocks and the head keep affine BN, as there.
    """

    def __init__(
        self, C: int, N: int, num_classes: int, in_chans: int, norm: CellNorm = STANDALONE_NORM
    ) -> None:
        super().__init__(C, N, num_classes, in_chans, lambda c: NB201SearchCell(c, NB201_OPS, norm))
        self.macro = {"C": C, "N": N, "num_classes": num_classes, "in_chans": in_chans}
        self.norm = norm
        self.search_cells = 3 * N
        self.relaxation = op_decisions(nb201_cell(**self.macro))
        self.decisions = self.relaxation.decisions

    def arch_of(self, spec: dict[str, Any] | list[dict[str, Any]]) -> list[str] | list[list[str]]:
        """The edge ops of ``spec`` (a list of ``search_cells`` specs: the ops of every cell);
        its macro fields must match the supernet's."""
        if isinstance(spec, list):
            if len(spec) != self.search_cells:
                raise ValueError(
                    f"NB201Supernet: a per-cell path needs one spec per searched cell "
                    f"({self.search_cells}); got {len(spec)}."
                )
            return [self.arch_of(cell) for cell in spec]
        if isinstance(spec, pg.Object):
            spec = pg.to_json(spec)
        ops = nb201_edges(spec)
        for k, v in self.macro.items():
            if spec.get(k, v) != v:
                raise ValueError(
                    f"NB201Supernet: spec field {k}={spec[k]!r} differs from the supernet's {v}."
                )
        return ops

    def _cell_ops(self, k: int) -> list[str]:
        arch = self.active_arch
        return arch[k] if isinstance(arch[0], list) else arch

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the active single path."""
        return self.forward_active_from_stem(self.stem_features(x))

    def stem_features(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output, the same for every path (an estimator computes it once)."""
        return self.stem(x)

    def forward_active_from_stem(self, feature: torch.Tensor) -> torch.Tensor:
        """Logits of the active path from ``stem_features(x)``: equals ``forward_active(x)``."""
        return self._run_from_stem(feature, lambda k, cell, h: cell(h, self._cell_ops(k)))

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        matrix = torch.stack([weights[name] for name in self.decisions])
        return self._run(x, lambda _, cell, h: cell.weighted(h, matrix))

    def discretize(self, weights: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """The cell with the argmax op of every edge."""
        self.check_weights(weights)
        return self.relaxation.discretize({k: v.detach().cpu().numpy() for k, v in weights.items()})

    def sliced_state(self, spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The stem, reduction blocks, head and the chosen op of every edge of ``spec``."""
        ops = _single_cell(self.arch_of(spec))
        return single_path_state(
            self, lambda cell, edge, op: f"cells.{cell}.edges.{edge}" if op == ops[edge] else None
        )

    def standalone(self, arch: list[str]) -> NB201Network:
        """A fresh standalone network of the edge ops ``arch`` (with the supernet's cell BN)."""
        return NB201Network(_single_cell(arch), **self.macro, norm=self.norm)


def _single_cell(arch: list[str] | list[list[str]]) -> list[str]:
    if isinstance(arch[0], list):
        raise ValueError("NB201Supernet: extract a spec of the space, not a per-cell path.")
    return arch


def build(spec: dict[str, Any], **task: Any) -> NB201Network:
    """The standalone network of a NAS-Bench-201 spec.

    ``task`` may override the spec's ``C``, ``N``, ``num_classes`` and ``in_chans``.
    """
    ops = nb201_edges(spec)
    return NB201Network(ops, **_macro(spec, task, "programs.build(NB201Cell)"))


def supernet(
    space: NB201Cell, affine: bool = True, track_running_stats: bool = True, **task: Any
) -> NB201Supernet:
    """The single-path supernet of ``spaces.nb201_cell(...)``; ``task`` may override its macro.

    ``affine`` and ``track_running_stats`` set the cell ops' BatchNorm (``CellNorm``); the
    weight-sharing references use ``affine=False``.
    """
    fields = {k: space.sym_getattr(k) for k in _MACRO}
    norm = CellNorm(affine=bool(affine), track_running_stats=bool(track_running_stats))
    return NB201Supernet(**_macro(fields, task, "programs.supernet(NB201Cell)"), norm=norm)


registry.register(NB201Cell, build=build, supernet=supernet)
