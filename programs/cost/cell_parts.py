"""Part trees (``programs.cost.parts``) of the NAS-Bench-201 and DARTS cell networks.

NAS-Bench-201 (Dong & Yang, ICLR 2020): the network is one part keyed by its macro (stem,
reduction blocks and head do not depend on the cell); its 3N cells are slots, each a part keyed
by its channels whose six edges are slots keyed by (op, channels). A cell's own rows (the sums
of its nodes) and the input of every edge follow from the channels alone, so the rows of a new
cell come from cached edges.

DARTS (Liu et al., ICLR 2019): the network is keyed by its macro; each cell is keyed by its
position's channels and reduction flags and, in a reduction cell, by which of its ops read the
cell inputs (those run at stride 2 on the full resolution); its eight ops are slots keyed by
(op, channels, stride).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from symnas.programs.cost.parts import Part, register_parts
from symnas.programs.families import darts, nb201
from symnas.programs.families.cell_ops import darts_op, macro_args, nb201_op
from symnas.spaces.cells import DARTSGenotype, NB201Cell, darts_nodes, nb201_edges


def nb201_parts(spec: dict[str, Any], **task: Any) -> Part:
    """The part tree of a NAS-Bench-201 spec (``task`` overrides its macro fields)."""
    ops = nb201_edges(spec)
    macro = macro_args(spec, task, ("C", "N", "num_classes", "in_chans"), "nb201_parts")
    slots = []
    for stage in range(3):
        channels = macro["C"] * 2**stage
        edges = tuple(
            (f"edges.{k}", Part(("nb201_op", op, channels), partial(nb201_op, op, channels)))
            for k, op in enumerate(ops)
        )
        cell = Part(
            ("NB201InferCell", channels), partial(nb201.NB201InferCell, ops, channels), edges
        )
        first = stage * (macro["N"] + 1)  # a ResNet block precedes stages 1 and 2
        slots.extend((f"cells.{first + j}", cell) for j in range(macro["N"]))
    key = ("NB201Network", tuple(sorted(macro.items())))
    return Part(key, partial(nb201.NB201Network, ops, **macro), tuple(slots))


def darts_parts(spec: dict[str, Any], **task: Any) -> Part:
    """The part tree of a DARTS genotype spec (``task`` overrides its macro fields)."""
    genotype = {name: darts_nodes(spec, name) for name in ("normal", "reduce")}
    network = partial(darts.build, spec, **task)
    macro = darts._macro(spec, task, "darts_parts")
    reference = _darts_layout(macro)
    slots = []
    for index, (c_pp, c_p, c, reduction, reduction_prev) in enumerate(reference):
        nodes = genotype["reduce" if reduction else "normal"]
        inputs = [j for node_inputs, _ in nodes for j in node_inputs]
        op_names = [name for _, ops in nodes for name in ops]
        strides = [2 if reduction and j < 2 else 1 for j in inputs]
        ops = tuple(
            (f"ops.{k}", Part(("darts_op", name, c, stride), partial(darts_op, name, c, stride)))
            for k, (name, stride) in enumerate(zip(op_names, strides, strict=True))
        )
        key = ("DARTSCell", c_pp, c_p, c, reduction, reduction_prev, tuple(strides))
        make = partial(darts.DARTSCell, nodes, c_pp, c_p, c, reduction, reduction_prev)
        slots.append((f"cells.{index}", Part(key, make, ops)))
    return Part(("DARTSNetwork", tuple(sorted(macro.items()))), network, tuple(slots))


def _darts_layout(macro: dict[str, int]) -> list[tuple[int, int, int, bool, bool]]:
    """``(c_pp, c_p, c, reduction, reduction_prev)`` of every cell, as ``DARTSNetwork`` builds."""
    layers = macro["layers"]
    c_pp = c_p = darts._STEM_MULTIPLIER * macro["C"]
    c_curr, reduction_prev, out = macro["C"], False, []
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c_curr = 2 * c_curr if reduction else c_curr
        out.append((c_pp, c_p, c_curr, reduction, reduction_prev))
        reduction_prev = reduction
        c_pp, c_p = c_p, darts.DARTS_NODES * c_curr
    return out


register_parts(NB201Cell, nb201_parts)
register_parts(DARTSGenotype, darts_parts)
