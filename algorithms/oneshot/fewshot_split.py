"""Where to split a supernet: exhaustive splits (Few-Shot NAS) and gradient-matching splits (GM-NAS).

- **Exhaustive** (Zhao et al., "Few-shot Neural Architecture Search", ICML 2021): one op decision
  is split into one sub-supernet per choice.
- **Gradient matching** (Hu, Wang et al., "Generalizing Few-Shot NAS with Gradient Matching",
  ICLR 2022): for every candidate decision ``e`` and every choice ``o`` of it, the child "``e``
  fixed to ``o``" runs a mini-batch with the other decisions drawn uniformly (the same draw for
  every child of that batch, as the reference fixes the other edges' weights for all children);
  its gradient on the *shared* weights (every weight the children all use, i.e. all but the ops
  of ``e``; by default only the searched cells and the reduction blocks, as the reference's
  ``get_split_gradients``) is flattened, and the pairwise cosine similarities are averaged over
  ``batches`` mini-batches (reference: 100). The choices are then bisected by a balanced
  minimum cut of that similarity graph (networkx Kernighan-Lin, started from every balanced
  partition so that small graphs get the exact balanced min-cut; 5 NB201 ops give 2 + 3, as the
  reference's ``mincut_split_201``). The decision with the lowest cut (the children that agree
  least on how to update the shared weights) is split. A balanced bisection has a fixed number of
  cross pairs, so the lowest cut similarity is the reference's largest cut distance.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pyglove as pg
import torch
import torch.nn.functional as F
from networkx.algorithms.community import kernighan_lin_bisection

from symnas.programs.data import Dataset
from symnas.programs.supernet_base import Supernet
from symnas.programs.training.fewshot import spec_value
from symnas.spaces.codec import compile as compile_space

GRADIENT_SCOPES = ("cells", "all")
#: Balanced partitions tried as Kernighan-Lin starts before falling back to seeded random ones.
_MAX_STARTS = 128


@dataclass(frozen=True)
class Split:
    """A split of one decision into groups of its choices (one sub-supernet per group).

    ``cut`` is the chosen decision's cut similarity and ``cuts`` every candidate's (gradient
    matching only); ``similarity`` maps each candidate to its mean pairwise cosine matrix.
    """

    decision: str
    groups: tuple[tuple[str, ...], ...]
    cut: float | None = None
    cuts: dict[str, float] = field(default_factory=dict)
    similarity: dict[str, list[list[float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The split as JSON."""
        return {
            "decision": self.decision,
            "groups": [list(g) for g in self.groups],
            "cut": self.cut,
            "cuts": dict(self.cuts),
            "similarity": {k: [list(r) for r in v] for k, v in self.similarity.items()},
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Split:
        """Inverse of ``to_json``."""
        return cls(
            value["decision"],
            tuple(tuple(g) for g in value["groups"]),
            value.get("cut"),
            dict(value.get("cuts", {})),
            {k: [list(r) for r in v] for k, v in value.get("similarity", {}).items()},
        )


def op_choices(space: Any) -> dict[str, tuple[str, ...]]:
    """Every ``pg.oneof`` of ``space`` over two or more op names (strings), by path."""
    found: dict[str, tuple[str, ...]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, pg.hyper.OneOf):
            if len(value.candidates) > 1 and all(isinstance(c, str) for c in value.candidates):
                found[str(value.sym_path)] = tuple(value.candidates)
            return
        if isinstance(value, (pg.Object, pg.Dict)):
            for _, child in value.sym_items():
                visit(child)
        elif isinstance(value, (list, pg.List)):
            for child in value:
                visit(child)

    visit(space)
    return found


def exhaustive_split(choices: Mapping[str, Sequence[str]], decision: str) -> Split:
    """One group per choice of ``decision`` (Few-Shot NAS)."""
    if decision not in choices:
        raise ValueError(
            f"exhaustive split: decision must be one of the open op decisions {list(choices)}; "
            f"got {decision!r}."
        )
    return Split(decision, tuple((op,) for op in choices[decision]))


def with_choice(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the decoded ``spec`` with the decision at ``path`` set to ``value``."""
    out = copy.deepcopy(spec)
    keys = pg.KeyPath.parse(path).keys
    spec_value(out, path)  # raises a clear error if the path is absent
    target = out
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return out


def _in_scope(name: str, scope: str) -> bool:
    return scope == "all" or name.startswith("cells.")


def gradient_similarity(
    supernet: Supernet,
    space: Any,
    decision: str,
    data: Dataset,
    batches: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    scope: str = "cells",
) -> np.ndarray:
    """Mean pairwise cosine similarity of the children's shared-weight gradients.

    Child ``i`` is ``space`` with ``decision`` fixed to its ``i``-th choice. For each of
    ``batches`` training mini-batches the other decisions are drawn once, uniformly, and every
    child's cross-entropy gradient is taken on the weights in ``scope`` (``"cells"``: parameters
    under ``cells.``; ``"all"``) that every child uses. BatchNorm statistics are restored
    afterwards, so the supernet is unchanged.
    """
    if scope not in GRADIENT_SCOPES:
        raise ValueError(f"gradient scope must be one of {GRADIENT_SCOPES}; got {scope!r}.")
    choices = op_choices(space)
    if decision not in choices:
        raise ValueError(
            f"gradient_similarity: decision must be one of {list(choices)}; got {decision!r}."
        )
    ops = choices[decision]
    codec = compile_space(space)
    rng = np.random.default_rng(seed)
    device = supernet.device
    buffers = {k: v.detach().clone() for k, v in supernet.named_buffers()}
    was_training = supernet.training
    supernet.train()
    total = np.zeros((len(ops), len(ops)))
    loader = data.loader("train", batch_size, shuffle=True, seed=seed)
    stream = itertools.chain.from_iterable(itertools.repeat(loader))
    try:
        for _, (x, y) in zip(range(batches), stream, strict=False):
            x, y = x.to(device), y.to(device)
            rest = codec.decode(codec.random(1, rng)[0])
            grads = []
            for op in ops:
                supernet.zero_grad(set_to_none=True)
                loss = F.cross_entropy(supernet(x, with_choice(rest, decision, op)), y)
                loss.backward()
                grads.append(
                    {
                        n: p.grad.detach().flatten().clone()
                        for n, p in supernet.named_parameters()
                        if p.grad is not None and _in_scope(n, scope)
                    }
                )
            shared = sorted(set.intersection(*(set(g) for g in grads)))
            if not shared:
                raise ValueError(
                    f"gradient_similarity: no weight in scope {scope!r} is used by every child "
                    f"of {decision!r}; try scope='all'."
                )
            vectors = torch.stack([torch.cat([g[n] for n in shared]) for g in grads])
            unit = vectors / (vectors.norm(dim=1, keepdim=True) + 1e-6)
            total += (unit @ unit.T).double().cpu().numpy()
    finally:
        supernet.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, value in supernet.named_buffers():
                value.copy_(buffers[name])
        supernet.train(was_training)
    return total / batches


def _balanced_starts(n: int, seed: int) -> list[tuple[set[int], set[int]]]:
    nodes = list(range(n))
    size = n // 2
    starts = [
        (set(c), set(nodes) - set(c))
        for c in itertools.combinations(nodes, size)
        if 0 in c or size * 2 != n  # each unordered bisection once when the halves are equal
    ]
    if len(starts) <= _MAX_STARTS:
        return starts
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(starts), size=_MAX_STARTS, replace=False)
    return [starts[int(i)] for i in sorted(picks)]


def mincut_bisection(similarity: np.ndarray, seed: int = 0) -> tuple[list[list[int]], float]:
    """A balanced two-way minimum cut of the complete graph weighted by ``similarity``.

    Returns the two groups of node indices (smaller group first, each sorted) and the cut
    weight (sum of the similarities across groups). Uses networkx's Kernighan-Lin bisection from
    every balanced start (up to 128) and keeps the lowest cut.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    n = similarity.shape[0]
    if similarity.shape != (n, n) or n < 2:
        raise ValueError(
            f"mincut_bisection: similarity must be a square matrix of 2 or more choices; got "
            f"shape {similarity.shape}."
        )
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for i, j in itertools.combinations(range(n), 2):
        graph.add_edge(i, j, weight=0.5 * (similarity[i, j] + similarity[j, i]))
    best: tuple[float, list[list[int]]] | None = None
    for start in _balanced_starts(n, seed):
        a, b = kernighan_lin_bisection(graph, partition=start, weight="weight", seed=seed)
        cut = float(nx.cut_size(graph, a, b, weight="weight"))
        groups = sorted((sorted(a), sorted(b)), key=lambda g: (len(g), g))
        if best is None or cut < best[0] - 1e-12:
            best = (cut, groups)
    return best[1], best[0]


def gm_split(
    supernet: Supernet,
    space: Any,
    candidates: Sequence[str],
    data: Dataset,
    batches: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    scope: str = "cells",
) -> Split:
    """The gradient-matching split: the candidate decision with the lowest balanced min-cut."""
    if not candidates:
        raise ValueError("gm_split: no candidate decision left to split.")
    choices = op_choices(space)
    cuts, similarity, groups = {}, {}, {}
    for decision in candidates:
        matrix = gradient_similarity(
            supernet, space, decision, data, batches, batch_size, seed, scope
        )
        parts, cut = mincut_bisection(matrix, seed)
        ops = choices[decision]
        groups[decision] = tuple(tuple(ops[i] for i in part) for part in parts)
        cuts[decision] = cut
        similarity[decision] = matrix.round(6).tolist()
    chosen = min(candidates, key=lambda d: cuts[d])
    return Split(chosen, groups[chosen], cuts[chosen], cuts, similarity)
