"""DARTS evaluation networks and single-path supernet (Liu, Simonyan & Yang, ICLR 2019).

The network is the DARTS CIFAR evaluation network: a 3x3 conv + BN stem with ``3C`` channels,
``layers`` cells, reduction cells (stride 2, doubled channels) at ``layers // 3`` and
``2 * layers // 3``, every cell preprocessing its two inputs (the outputs of the two previous
cells) to ``C`` channels and concatenating its 4 intermediate nodes, then global average pooling
and a linear classifier. Drop path (``drop_path_prob``) is applied in training to non-identity
ops, as in DARTS; the auxiliary head is not built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyglove as pg
import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.families.cell_ops import (
    STANDALONE_NORM,
    CellNorm,
    FactorizedReduce,
    MixedEdge,
    ReLUConvBN,
    darts_op,
    macro_args,
    single_path_state,
)
from symnas.programs.supernet_base import DifferentiableSupernet, SlicedSupernet
from symnas.spaces.cells import DARTS_NODES, DARTS_OPS, DARTSGenotype, darts_cell, darts_nodes
from symnas.spaces.relaxation import op_decisions

_MACRO = ("C", "layers", "num_classes", "in_chans")
_STEM_MULTIPLIER = 3
NUM_EDGES = sum(2 + i for i in range(DARTS_NODES))  # 14 candidate edges per cell


def edge_index(node: int, source: int) -> int:
    """Position of the edge ``source -> node`` among a cell's 14 candidate edges (DARTS order)."""
    if not 0 <= node < DARTS_NODES or not 0 <= source < 2 + node:
        raise ValueError(
            f"edge_index: node must be in 0..{DARTS_NODES - 1} and source in 0..node+1; "
            f"got node={node}, source={source}."
        )
    return node * (node + 3) // 2 + source


def _macro(fields: dict[str, Any], task: dict[str, Any], where: str) -> dict[str, int]:
    macro = macro_args(fields, task, _MACRO, where)
    if macro["layers"] < 3:
        raise ValueError(
            f"{where}: layers must be >= 3 (two reduction cells); got {macro['layers']}."
        )
    return macro


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zeroes whole samples with probability ``prob`` and rescales the rest by ``1 / (1 - prob)``."""
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class _CellBase(nn.Module):
    """Input preprocessing shared by evaluation and supernet cells."""

    def __init__(
        self, c_pp: int, c_p: int, c: int, reduction_prev: bool, norm: CellNorm = STANDALONE_NORM
    ) -> None:
        super().__init__()
        self.preprocess0 = (
            FactorizedReduce(c_pp, c, norm)
            if reduction_prev
            else ReLUConvBN(c_pp, c, 1, 1, 0, norm=norm)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, norm=norm)

    def _run(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        node_fn: Callable[[int, list[torch.Tensor]], torch.Tensor],
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(DARTS_NODES):
            states.append(node_fn(i, states))
        return torch.cat(states[2:], dim=1)


class DARTSCell(_CellBase):
    """A DARTS evaluation cell built from 4 ``(inputs, ops)`` nodes; ``ops[2i + k]`` feeds node i."""

    def __init__(
        self,
        nodes: Sequence[tuple[list[int], list[str]]],
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev, norm)
        self.inputs = [j for inputs, _ in nodes for j in inputs]
        self.op_names = [name for _, ops in nodes for name in ops]
        self.ops = nn.ModuleList(
            darts_op(name, c, 2 if reduction and j < 2 else 1, norm)
            for name, j in zip(self.op_names, self.inputs, strict=True)
        )
        self.drop_prob = 0.0

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        """Output of the cell: the 4 intermediate nodes concatenated on channels."""

        def node(i: int, states: list[torch.Tensor]) -> torch.Tensor:
            total = 0
            for k in (2 * i, 2 * i + 1):
                h = self.ops[k](states[self.inputs[k]])
                if (
                    self.training
                    and self.drop_prob > 0
                    and not isinstance(self.ops[k], nn.Identity)
                ):
                    h = drop_path(h, self.drop_prob)
                total = total + h
            return total

        return self._run(s0, s1, node)


class DARTSSearchCell(_CellBase):
    """A supernet cell: ``edges[edge_index(i, j)]`` holds every op from node j to node i."""

    def __init__(
        self,
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        op_names: Sequence[str] = DARTS_OPS,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev, norm)
        self.edges = nn.ModuleList(
            MixedEdge(
                op_names,
                lambda name, s=2 if reduction and j < 2 else 1: darts_op(name, c, s, norm),
            )
            for i in range(DARTS_NODES)
            for j in range(2 + i)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, nodes: Sequence[tuple[list[int], list[str]]]
    ) -> torch.Tensor:
        """Single path: node i runs only its two chosen (input, op) edges."""

        def node(i: int, states: list[torch.Tensor]) -> torch.Tensor:
            inputs, ops = nodes[i]
            return sum(
                self.edges[edge_index(i, j)](states[j], op)
                for j, op in zip(inputs, ops, strict=True)
            )

        return self._run(s0, s1, node)

    def weighted(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """DARTS mixed ops: node i sums every input edge, each mixing its ops by ``weights[e]``."""

        def node(i: int, states: list[torch.Tensor]) -> torch.Tensor:
            return sum(
                self.edges[edge_index(i, j)].weighted(states[j], weights[edge_index(i, j)])
                for j in range(2 + i)
            )

        return self._run(s0, s1, node)


class _DARTSSkeleton(nn.Module):
    """Stem, ``layers`` cells (reductions at 1/3 and 2/3) and the classifier."""

    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        in_chans: int,
        make_cell: Callable[[int, int, int, bool, bool], nn.Module],
    ) -> None:
        super().__init__()
        c_curr = _STEM_MULTIPLIER * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, C
        self.reductions = [i in (layers // 3, 2 * layers // 3) for i in range(layers)]
        cells = []
        reduction_prev = False
        for reduction in self.reductions:
            c_curr = 2 * c_curr if reduction else c_curr
            cells.append(make_cell(c_pp, c_p, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, DARTS_NODES * c_curr
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def _run(
        self, x: torch.Tensor, cell_fn: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for k in range(len(self.cells)):
            s0, s1 = s1, cell_fn(k, s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))


class DARTSNetwork(_DARTSSkeleton):
    """The DARTS evaluation network of one genotype; ``forward`` returns logits.

    ``norm`` builds the cells' BatchNorm (affine with running statistics by default; a supernet
    extracts its sub-networks with its own).
    """

    def __init__(
        self,
        normal: Sequence[tuple[list[int], list[str]]],
        reduce: Sequence[tuple[list[int], list[str]]],
        C: int,
        layers: int,
        num_classes: int,
        in_chans: int,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        def make_cell(c_pp: int, c_p: int, c: int, red: bool, red_prev: bool) -> DARTSCell:
            return DARTSCell(reduce if red else normal, c_pp, c_p, c, red, red_prev, norm)

        super().__init__(C, layers, num_classes, in_chans, make_cell)

    @property
    def drop_path_prob(self) -> float:
        """Drop-path probability applied in training (0 disables it)."""
        return self.cells[0].drop_prob

    @drop_path_prob.setter
    def drop_path_prob(self, prob: float) -> None:
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"DARTSNetwork.drop_path_prob must be in [0, 1); got {prob!r}.")
        for cell in self.cells:
            cell.drop_prob = float(prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self._run(x, lambda k, s0, s1: self.cells[k](s0, s1))


class DARTSSupernet(_DARTSSkeleton, SlicedSupernet, DifferentiableSupernet):
    """Single-path DARTS supernet: every cell has 14 mixed edges holding all ops of the space.

    ``cells[k].edges[edge_index(i, j)].ops[name]`` is op ``name`` from node j to node i of cell k;
    ``reductions[k]`` tells whether cell k is a reduction cell. Its op decisions are the space's
    edges ``normal[i]<-j`` and ``reduce[i]<-j``, shared by every cell of that type. ``norm``
    builds the cells' BatchNorm (``CellNorm(affine=False)`` as DARTS's search model).
    """

    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        in_chans: int,
        op_names: Sequence[str] = DARTS_OPS,
        norm: CellNorm = STANDALONE_NORM,
    ) -> None:
        names = list(op_names)

        def make_cell(c_pp: int, c_p: int, c: int, red: bool, red_prev: bool) -> DARTSSearchCell:
            return DARTSSearchCell(c_pp, c_p, c, red, red_prev, names, norm)

        super().__init__(C, layers, num_classes, in_chans, make_cell)
        self.op_names = names
        self.norm = norm
        self.macro = {"C": C, "layers": layers, "num_classes": num_classes, "in_chans": in_chans}
        self.relaxation = op_decisions(darts_cell(**self.macro, ops=names))
        self.decisions = self.relaxation.decisions

    def arch_of(self, spec: dict[str, Any]) -> dict[str, list[tuple[list[int], list[str]]]]:
        """The normal and reduction nodes of ``spec``; its macro fields and ops must fit."""
        if isinstance(spec, pg.Object):
            spec = pg.to_json(spec)
        cells = {cell: darts_nodes(spec, cell) for cell in ("normal", "reduce")}
        for cell, nodes in cells.items():
            for i, (_, ops) in enumerate(nodes):
                missing = [op for op in ops if op not in self.op_names]
                if missing:
                    raise ValueError(
                        f"DARTSSupernet: {cell}[{i}] uses ops {missing} that this supernet does "
                        f"not hold; allowed ops: {self.op_names}."
                    )
        for k, v in self.macro.items():
            if spec.get(k, v) != v:
                raise ValueError(
                    f"DARTSSupernet: spec field {k}={spec[k]!r} differs from the supernet's {v}."
                )
        return cells

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the active single path."""

        def cell_fn(k: int, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
            nodes = self.active_arch["reduce" if self.reductions[k] else "normal"]
            return self.cells[k](s0, s1, nodes)

        return self._run(x, cell_fn)

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        # A cell type's decisions come in edge_index order (node i, then source j).
        normal = torch.stack([weights[n] for n in self.decisions if n.startswith("normal[")])
        reduce = torch.stack([weights[n] for n in self.decisions if n.startswith("reduce[")])

        def cell_fn(k: int, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
            return self.cells[k].weighted(s0, s1, reduce if self.reductions[k] else normal)

        return self._run(x, cell_fn)

    def discretize(self, weights: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """The genotype DARTS derives: per node the two sources whose strongest non-``none`` op
        weighs most, each with that op."""
        self.check_weights(weights)
        return self.relaxation.discretize({k: v.detach().cpu().numpy() for k, v in weights.items()})

    def sliced_state(self, spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Stem, preprocessing, head and the chosen op of every chosen edge of ``spec``."""
        arch = self.arch_of(spec)
        routes: dict[tuple[bool, int, str], str] = {}
        for reduction, cell in ((False, "normal"), (True, "reduce")):
            for i, (inputs, ops) in enumerate(arch[cell]):
                for slot, (j, name) in enumerate(zip(inputs, ops, strict=True)):
                    routes[(reduction, edge_index(i, j), name)] = str(2 * i + slot)

        def route(k: int, edge: int, op: str) -> str | None:
            slot = routes.get((self.reductions[k], edge, op))
            return None if slot is None else f"cells.{k}.ops.{slot}"

        return single_path_state(self, route)

    def standalone(self, arch: dict[str, Any]) -> DARTSNetwork:
        """A fresh evaluation network of the parsed genotype ``arch``."""
        return DARTSNetwork(arch["normal"], arch["reduce"], **self.macro, norm=self.norm)


def build(spec: dict[str, Any], **task: Any) -> DARTSNetwork:
    """The DARTS evaluation network of a genotype spec.

    ``task`` may override the spec's ``C``, ``layers``, ``num_classes`` and ``in_chans``.
    """
    normal, reduce = darts_nodes(spec, "normal"), darts_nodes(spec, "reduce")
    return DARTSNetwork(normal, reduce, **_macro(spec, task, "programs.build(DARTSGenotype)"))


def _space_ops(space: DARTSGenotype) -> list[str]:
    choice = space.normal[0].ops[0]
    return list(choice.candidates) if isinstance(choice, pg.hyper.OneOf) else list(DARTS_OPS)


def supernet(
    space: DARTSGenotype, affine: bool = True, track_running_stats: bool = True, **task: Any
) -> DARTSSupernet:
    """The single-path supernet of ``spaces.darts_cell(...)`` over the space's ops.

    ``affine`` and ``track_running_stats`` set the cells' BatchNorm (``CellNorm``); DARTS's
    search model uses ``affine=False``.
    """
    fields = {k: space.sym_getattr(k) for k in _MACRO}
    macro = _macro(fields, task, "programs.supernet(DARTSGenotype)")
    norm = CellNorm(affine=bool(affine), track_running_stats=bool(track_running_stats))
    return DARTSSupernet(**macro, op_names=_space_ops(space), norm=norm)


registry.register(DARTSGenotype, build=build, supernet=supernet)
