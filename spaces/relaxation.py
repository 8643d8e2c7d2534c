"""The continuous relaxation of a space's operation choices (DARTS, Liu et al., ICLR 2019).

Differentiable NAS keeps one architecture-parameter vector per decision over operations. The
decisions are read off the space's own decision points, so any op-choice space relaxes without
code of its own:

- a ``pg.oneof`` whose candidates are all strings (op names) is one decision, named by its path
  (``edges[3]`` in the NAS-Bench-201 cell);
- a *node*, an object with a ``pg.manyof(k, [int sources])`` field (its inputs) beside a list of
  ``k`` op ``pg.oneof``s (one op per chosen input), as in the DARTS cell, relaxes to one decision
  per candidate source ``j`` (an edge), named ``"<node path><-j"`` (``normal[2]<-3``). Selecting a
  node keeps the ``k`` sources whose strongest non-``none`` op weighs most and that op on each
  (the DARTS genotype rule).

Weight-entangled spaces (AutoFormer ViTs, EfficientTDNN) relax by their size choices instead
(:func:`size_decisions`, TangleNAS), and :func:`relax` picks whichever relaxation fits a space.

Everything here is numpy and PyGlove; supernets map the decisions onto their modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyglove as pg

from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

NONE_OP = "none"


@dataclass(frozen=True)
class Node:
    """A node that picks ``k`` of ``sources`` as inputs and one op per chosen input."""

    path: str
    sources: tuple[int, ...]
    k: int
    ops: tuple[str, ...]

    def decision(self, source: int) -> str:
        """The name of the decision on the edge from ``source``."""
        return f"{self.path}<-{source}"


@dataclass(frozen=True)
class Relaxation:
    """The op decisions of a space: plain op choices and nodes, in DNA order."""

    codec: Codec
    choices: dict[str, tuple[str, ...]]
    nodes: tuple[Node, ...]

    @property
    def decisions(self) -> dict[str, tuple[str, ...]]:
        """Every decision name with its candidate ops (plain choices first, then node edges)."""
        out = dict(self.choices)
        for node in self.nodes:
            out.update({node.decision(j): node.ops for j in node.sources})
        return out

    def discretize(self, weights: Mapping[str, Sequence[float]]) -> Any:
        """The spec that ``weights`` select: the argmax op of every plain choice, and for every
        node the ``k`` strongest sources (by their best non-``none`` op) with that op."""
        decisions = self.decisions
        missing = sorted(set(decisions) - set(weights))
        if missing:
            raise ValueError(f"discretize: weights lack the decisions {missing}.")
        values: dict[str, int] = {}
        for name, ops in self.choices.items():
            values[name] = int(np.argmax(_vector(weights, name, len(ops))))
        for node in self.nodes:
            keep = [i for i, op in enumerate(node.ops) if op != NONE_OP] or list(
                range(len(node.ops))
            )
            best: dict[int, tuple[float, int]] = {}
            for j in node.sources:
                w = _vector(weights, node.decision(j), len(node.ops))
                op = max(keep, key=lambda i, w=w: w[i])
                best[j] = (float(w[op]), op)
            chosen = sorted(sorted(node.sources, key=lambda j: -best[j][0])[: node.k])
            for slot, j in enumerate(chosen):
                values[f"{node.path}.inputs[{slot}]"] = node.sources.index(j)
                values[f"{node.path}.ops[{slot}]"] = best[j][1]
        genome = np.array([values[s.path] for s in self.codec.slots], dtype=np.float64)
        return self.codec.decode(genome)

    def one_hot(self, spec: Any) -> dict[str, np.ndarray]:
        """Weights that select ``spec`` (1 on its ops, 0 elsewhere; unused node edges all 0)."""
        out = {name: np.zeros(len(ops)) for name, ops in self.decisions.items()}
        for name, ops in self.choices.items():
            out[name][ops.index(_lookup(spec, name))] = 1.0
        for node in self.nodes:
            value = _lookup(spec, node.path)
            for source, op in zip(value["inputs"], value["ops"], strict=True):
                out[node.decision(int(source))][node.ops.index(op)] = 1.0
        return out


def _vector(weights: Mapping[str, Sequence[float]], name: str, size: int) -> np.ndarray:
    vector = np.asarray(weights[name], dtype=np.float64).reshape(-1)
    if vector.shape != (size,):
        raise ValueError(f"weights[{name!r}] must have {size} entries; got {vector.shape[0]}.")
    return vector


def _lookup(spec: Any, path: str) -> Any:
    return pg.KeyPath.parse(path).query(spec)


def _string_oneof(value: Any) -> bool:
    return (
        isinstance(value, pg.hyper.OneOf)
        and len(value.candidates) > 1
        and all(isinstance(c, str) for c in value.candidates)
    )


def _as_node(value: Any) -> Node | None:
    if not isinstance(value, (pg.Object, pg.Dict)):
        return None
    fields = dict(value.sym_items())
    inputs, ops = fields.get("inputs"), fields.get("ops")
    if not (
        isinstance(inputs, pg.hyper.ManyOf)
        and all(isinstance(c, int) for c in inputs.candidates)
        and isinstance(ops, list)
        and len(ops) == inputs.num_choices
        and all(_string_oneof(o) for o in ops)
        and len({tuple(o.candidates) for o in ops}) == 1
    ):
        return None
    return Node(
        str(value.sym_path),
        tuple(inputs.candidates),
        inputs.num_choices,
        tuple(ops[0].candidates),
    )


def op_decisions(space: Any) -> Relaxation:
    """The relaxation of ``space``: its op decisions, derived from its decision points.

    Raises ``ValueError`` if the space has no op decision or a decision point that is neither
    an op choice nor part of a node (the relaxation would not cover the space).
    """
    codec = space if isinstance(space, Codec) else compile_space(space)
    root = codec.space
    choices: dict[str, tuple[str, ...]] = {}
    nodes: list[Node] = []
    covered: set[str] = set()

    def visit(value: Any) -> None:
        node = _as_node(value)
        if node is not None:
            nodes.append(node)
            covered.add(f"{node.path}.inputs")
            covered.update(f"{node.path}.ops[{i}]" for i in range(node.k))
            return
        if _string_oneof(value):
            choices[str(value.sym_path)] = tuple(value.candidates)
            covered.add(str(value.sym_path))
            return
        if isinstance(value, (pg.Object, pg.Dict)):
            for _, child in value.sym_items():
                visit(child)
        elif isinstance(value, list):
            for child in value:
                visit(child)

    visit(root)
    others = [
        s.path
        for s in codec.slots
        if s.path not in covered and s.path.rsplit("[", 1)[0] not in covered
    ]
    if others or not (choices or nodes):
        raise ValueError(
            "op_decisions: the space must consist of op choices (pg.oneof over op names) and "
            f"nodes (inputs=pg.manyof over sources, ops=[pg.oneof, ...]); decision points "
            f"{others or '(none)'} are neither."
        )
    return Relaxation(codec, choices, tuple(nodes))


# ---------------------------------------------------------------------------------------------
# Entangled (sized) choices: TangleNAS's relaxation of weight-entangled spaces.

_BRANCH = re.compile(r"\[=\d+/\d+\]")


@dataclass(frozen=True)
class SizeRelaxation:
    """The size decisions of a weight-entangled space (TangleNAS, Sukthanker et al., AutoML 2024).

    Every ``pg.oneof`` over numbers (widths, ratios, head counts, kernels, depths, keep flags) is
    one decision named by its path, its candidates the values. A ``pg.oneof`` over lists (the
    EfficientTDNN ``blocks``: one list of layers per depth) is a depth decision whose candidates
    are the list lengths; the decisions inside its branches are shared by position across the
    branches (``blocks[1].width`` whatever the depth), as the entangled supernet shares that
    layer's weights.
    """

    codec: Codec
    choices: dict[str, tuple[Any, ...]]
    depths: frozenset[str]

    @property
    def decisions(self) -> dict[str, tuple[Any, ...]]:
        """Every decision name with its candidate values, in DNA order."""
        return dict(self.choices)

    def discretize(self, weights: Mapping[str, Sequence[float]]) -> Any:
        """The spec that ``weights`` select: the argmax candidate of every decision (a
        branch's decisions apply to the depth the depth decision selects)."""
        missing = sorted(set(self.choices) - set(weights))
        if missing:
            raise ValueError(f"discretize: weights lack the decisions {missing}.")
        genome = np.array(
            [
                float(np.argmax(_vector(weights, name, len(self.choices[name]))))
                for name in (canonical_path(s.path) for s in self.codec.slots)
            ]
        )
        active = self.codec.active_mask(genome)[0]
        return self.codec.decode(np.where(active, genome, -1.0))

    def one_hot(self, spec: Any) -> dict[str, np.ndarray]:
        """Weights that select ``spec`` (1 on its values; decisions of layers beyond its depth
        all 0)."""
        out = {}
        for name, candidates in self.choices.items():
            vector = np.zeros(len(candidates))
            try:
                value = _lookup(spec, name)
            except (KeyError, IndexError, AttributeError):
                value = None
            if value is not None:
                vector[candidates.index(len(value) if name in self.depths else value)] = 1.0
            out[name] = vector
        return out


def canonical_path(path: str) -> str:
    """A codec slot path with its branch markers removed (``blocks[=1/2][0].width`` ->
    ``blocks[0].width``): the name of the shared size decision."""
    return _BRANCH.sub("", path)


def _number(value: Any) -> bool:
    """Whether a candidate is a size value: a number or a keep flag (bools are ints)."""
    return isinstance(value, (int, float))


def size_decisions(space: Any) -> SizeRelaxation:
    """The relaxation of a weight-entangled ``space``: its size decisions, derived from its
    decision points.

    Raises ``ValueError`` naming the decision points that are not size choices (a ``pg.oneof``
    over numbers or over lists of layers), or branch decisions whose candidates differ across
    depths.
    """
    codec = space if isinstance(space, Codec) else compile_space(space)
    choices: dict[str, tuple[Any, ...]] = {}
    depths: set[str] = set()
    others: list[str] = []

    def add(name: str, candidates: tuple[Any, ...]) -> None:
        if choices.setdefault(name, candidates) != candidates:
            raise ValueError(
                f"size_decisions: decision {name!r} has candidates {list(choices[name])} in one "
                f"branch and {list(candidates)} in another; shared layers need the same choices."
            )

    def visit(value: Any, path: str) -> None:
        if isinstance(value, pg.hyper.OneOf):
            candidates = tuple(value.candidates)
            if all(_number(c) for c in candidates):
                add(path, candidates)
            elif all(isinstance(c, list) for c in candidates):
                depths.add(path)
                add(path, tuple(len(c) for c in candidates))
                for branch in candidates:
                    for i, child in enumerate(branch):
                        visit(child, f"{path}[{i}]")
            else:
                others.append(path)
        elif isinstance(value, pg.hyper.HyperValue):
            others.append(path)
        elif isinstance(value, (pg.Object, pg.Dict)):
            for key, child in value.sym_items():
                visit(child, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for i, child in enumerate(value):
                visit(child, f"{path}[{i}]")

    visit(codec.space, "")
    if others or not choices:
        raise ValueError(
            "size_decisions: the space must consist of size choices (pg.oneof over numbers, or "
            f"over lists of layers for the depth); decision points {others or '(none)'} are not."
        )
    ordered = {}
    for slot in codec.slots:
        name = canonical_path(slot.path)
        ordered.setdefault(name, choices[name])
    return SizeRelaxation(codec, ordered, frozenset(depths))


def relax(space: Any) -> Relaxation | SizeRelaxation:
    """The continuous relaxation of ``space``: its op decisions (DARTS) when its decision
    points are op choices, else its size decisions (TangleNAS)."""
    try:
        return op_decisions(space)
    except ValueError as op_error:
        try:
            return size_decisions(space)
        except ValueError as size_error:
            raise ValueError(
                f"relax: neither relaxation applies. {op_error} {size_error}"
            ) from None
