"""Cell search spaces: NAS-Bench-201 and DARTS.

NAS-Bench-201 (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020): one cell of 4 nodes and 6 edges, each edge one of 5 ops, stacked
in a fixed ResNet-like skeleton. DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture
Search", ICLR 2019): a normal and a reduction cell, each with 4 intermediate nodes that take two
distinct earlier nodes as inputs, each through one of 8 ops.

Spaces here are pure PyGlove; ``symnas.programs`` turns their specs into PyTorch modules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import pyglove as pg

from symnas.spaces.registry import register_space

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
# (to_node, from_node) of the 6 edges, in the order of the official arch string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS_NODES = 4


@pg.members(
    [
        ("edges", pg.typing.List(pg.typing.Str(), size=6), "Op of each edge, official order."),
        ("C", pg.typing.Int(min_value=1, default=16), "Channels of the first stage."),
        ("N", pg.typing.Int(min_value=1, default=5), "Cells per stage."),
        ("num_classes", pg.typing.Int(min_value=1, default=10), "Classifier outputs."),
        ("in_chans", pg.typing.Int(min_value=1, default=3), "Input image channels."),
    ]
)
class NB201Cell(pg.Object):
    """A NAS-Bench-201 network: one cell (6 edge ops) and its macro skeleton."""


@pg.members(
    [
        ("inputs", pg.typing.List(pg.typing.Int(min_value=0), size=2), "Two input nodes."),
        ("ops", pg.typing.List(pg.typing.Str(), size=2), "Op applied to each input."),
    ]
)
class DARTSNode(pg.Object):
    """One intermediate DARTS node: the sum of two ops on two distinct earlier nodes."""


@pg.members(
    [
        ("normal", pg.typing.List(pg.typing.Object(DARTSNode), size=DARTS_NODES)),
        ("reduce", pg.typing.List(pg.typing.Object(DARTSNode), size=DARTS_NODES)),
        ("C", pg.typing.Int(min_value=1, default=16), "Channels of the first cells."),
        ("layers", pg.typing.Int(min_value=3, default=8), "Number of cells."),
        ("num_classes", pg.typing.Int(min_value=1, default=10), "Classifier outputs."),
        ("in_chans", pg.typing.Int(min_value=1, default=3), "Input image channels."),
    ]
)
class DARTSGenotype(pg.Object):
    """A DARTS network: a normal and a reduction cell and the evaluation macro skeleton."""


@register_space(
    "nb201_cell", "NAS-Bench-201 cell, 6 edges x 5 ops: 15,625 architectures", architectures=5**6
)
def nb201_cell(C: int = 16, N: int = 5, num_classes: int = 10, in_chans: int = 3) -> NB201Cell:
    """The NAS-Bench-201 space: 6 edges x 5 ops = 5**6 = 15,625 architectures.

    ``C``, ``N``, ``num_classes`` and ``in_chans`` are fixed task arguments of the macro skeleton
    (the benchmark uses C=16, N=5).
    """
    return NB201Cell(
        edges=[pg.oneof(NB201_OPS) for _ in NB201_EDGES],
        C=C,
        N=N,
        num_classes=num_classes,
        in_chans=in_chans,
    )


def _darts_cell_space(ops: Sequence[str]) -> list[DARTSNode]:
    return [
        DARTSNode(
            inputs=pg.manyof(2, list(range(2 + i)), distinct=True, sorted=True),
            ops=[pg.oneof(list(ops)), pg.oneof(list(ops))],
        )
        for i in range(DARTS_NODES)
    ]


def darts_cell_size(num_ops: int = len(DARTS_OPS)) -> int:
    """Number of architectures of one DARTS cell: prod_i C(2+i, 2) * num_ops**2."""
    return math.prod(math.comb(2 + i, 2) * num_ops**2 for i in range(DARTS_NODES))


@register_space(
    "darts_cell",
    "DARTS normal and reduction cells, 8 ops: about 9.1e18 architectures",
    architectures=darts_cell_size() ** 2,
)
def darts_cell(
    C: int = 16,
    layers: int = 8,
    num_classes: int = 10,
    in_chans: int = 3,
    ops: Sequence[str] = DARTS_OPS,
) -> DARTSGenotype:
    """The DARTS space: a normal and a reduction cell searched jointly.

    Node i (0..3) picks 2 distinct inputs among its 2+i predecessors (the two cell inputs and the
    earlier intermediate nodes) and an op for each. With the 8 DARTS ops one cell has
    180 * 8**8 = 3,019,898,880 choices and the pair 9,119,789,245,425,254,400 (about 9.1e18);
    without ``none`` (the ops a derived DARTS genotype uses) a cell has 180 * 7**8 = 1,037,664,180
    and the pair 1,076,746,950,455,072,400 (about 1.1e18, the figure in the DARTS paper).
    ``C`` and ``layers`` scale the evaluation network (search: C=16, layers=8; evaluation: C=36,
    layers=20).
    """
    ops = list(ops)
    unknown = [op for op in ops if op not in DARTS_OPS]
    if unknown or not ops or len(set(ops)) != len(ops):
        raise ValueError(
            f"darts_cell: ops must be distinct names from {list(DARTS_OPS)}; got {ops}."
        )
    return DARTSGenotype(
        normal=_darts_cell_space(ops),
        reduce=_darts_cell_space(ops),
        C=C,
        layers=layers,
        num_classes=num_classes,
        in_chans=in_chans,
    )


def nb201_arch(
    arch_str: str, C: int = 16, N: int = 5, num_classes: int = 10, in_chans: int = 3
) -> dict[str, Any]:
    """Decodes an official NAS-Bench-201 arch string into a spec (a dict with ``_type``).

    Example: ``|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|``.
    """
    if not isinstance(arch_str, str):
        raise TypeError(f"nb201_arch: arch_str must be a str; got {type(arch_str).__name__}.")
    groups = arch_str.split("+")
    if len(groups) != 3:
        raise ValueError(
            f"nb201_arch: {arch_str!r} must have 3 node groups joined by '+' (nodes 1, 2, 3); "
            f"got {len(groups)}."
        )
    edges: list[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"nb201_arch: node {node} group {group!r} must be '|op~i|...|'.")
        items = group[1:-1].split("|")
        if len(items) != node:
            raise ValueError(
                f"nb201_arch: node {node} must have {node} input edge(s); got {group!r}."
            )
        for source, item in enumerate(items):
            op, sep, index = item.partition("~")
            if op not in NB201_OPS:
                raise ValueError(
                    f"nb201_arch: edge ({node}<-{source}) has op {op!r}; allowed ops: "
                    f"{list(NB201_OPS)}."
                )
            if sep != "~" or index != str(source):
                raise ValueError(
                    f"nb201_arch: edge ({node}<-{source}) is written {item!r}; expected "
                    f"'{op}~{source}' (inputs of node {node} listed in order 0..{node - 1})."
                )
            edges.append(op)
    macro = {"C": C, "N": N, "num_classes": num_classes, "in_chans": in_chans}
    for name, value in macro.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"nb201_arch: {name} must be a positive int; got {value!r}.")
    # Same dict as pg.to_json(NB201Cell(...)), built directly: this runs for whole benchmarks.
    return {"_type": NB201Cell.__type_name__, "edges": edges, **macro}


def nb201_arch_str(spec: dict[str, Any] | NB201Cell) -> str:
    """The official NAS-Bench-201 arch string of a spec (inverse of ``nb201_arch``)."""
    edges = nb201_edges(spec)
    groups = []
    for node in (1, 2, 3):
        items = [f"{edges[k]}~{src}" for k, (dst, src) in enumerate(NB201_EDGES) if dst == node]
        groups.append("|" + "|".join(items) + "|")
    return "+".join(groups)


def nb201_edges(spec: dict[str, Any] | NB201Cell) -> list[str]:
    """The 6 validated edge ops of a NAS-Bench-201 spec, in official edge order."""
    if isinstance(spec, NB201Cell):
        spec = pg.to_json(spec)
    if not isinstance(spec, dict) or spec.get("_type") != NB201Cell.__type_name__:
        raise TypeError(
            f"expected a NAS-Bench-201 spec (dict with _type {NB201Cell.__type_name__!r}); "
            f"got {spec!r:.200}."
        )
    edges = spec.get("edges")
    if not isinstance(edges, list) or len(edges) != len(NB201_EDGES):
        raise ValueError(f"NB201 spec field 'edges' must be a list of 6 op names; got {edges!r}.")
    for k, op in enumerate(edges):
        if op not in NB201_OPS:
            dst, src = NB201_EDGES[k]
            raise ValueError(
                f"NB201 spec edges[{k}] ({dst}<-{src}) is {op!r}; allowed ops: {list(NB201_OPS)}."
            )
    return list(edges)


def _nb201_ops(arch: str | dict[str, Any] | NB201Cell) -> list[str]:
    """The 6 edge ops of an arch string or a spec, validated."""
    return nb201_arch(arch)["edges"] if isinstance(arch, str) else nb201_edges(arch)


def _nb201_live(edges: Sequence[str]) -> list[str]:
    """``edges`` with every op that cannot reach the output replaced by ``none``."""
    forward = {0}  # nodes reachable from the input through non-``none`` edges
    for (dst, src), op in zip(NB201_EDGES, edges, strict=True):
        if op != "none" and src in forward:
            forward.add(dst)
    backward = {3}  # nodes that reach the output through non-``none`` edges
    for (dst, src), op in reversed(list(zip(NB201_EDGES, edges, strict=True))):
        if op != "none" and dst in backward:
            backward.add(src)
    return [
        op if op != "none" and src in forward and dst in backward else "none"
        for (dst, src), op in zip(NB201_EDGES, edges, strict=True)
    ]


def nb201_canonical(arch: str | dict[str, Any] | NB201Cell) -> str:
    """The arch string of a NAS-Bench-201 cell with its unreachable ops replaced by ``none``.

    An op is unreachable when its edge's source node cannot be reached from the input (node 0)
    through non-``none`` edges (it reads an all-zero node), or its destination cannot reach the
    output (node 3) through non-``none`` edges (its result is never used). Replacing such ops by
    ``none`` does not change what the cell computes, so cells with the same canonical string are
    one function: of the 15,625 cells, 6,180 have an unreachable op and the canonical strings
    form 9,445 classes. (Strictly, a ``nor_conv`` edge that reads an all-zero node adds its
    BatchNorm shift, a learned per-channel constant, to its destination; like NAS-Bench-201's own
    isomorphism check, this treats such an edge as ``none``.)

    ``nb201_function_key`` merges further cells that compute the same function.

    Example: ``|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|`` (node 1 is
    never read) becomes ``|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|``.
    """
    live = _nb201_live(_nb201_ops(arch))
    return nb201_arch_str({"_type": NB201Cell.__type_name__, "edges": live})


def nb201_function_key(arch: str | dict[str, Any] | NB201Cell) -> str:
    """A key that two NAS-Bench-201 cells share exactly when they compute the same function.

    Builds on ``nb201_canonical`` (unreachable ops dropped) and writes what the output node
    computes as a sum of terms, using the identities that hold for every weight setting:
    ``skip_connect`` is the identity; ``avg_pool_3x3`` (3x3, stride 1,
    ``count_include_pad=False``) is linear, so it distributes over a sum; a sum does not depend
    on the order of its terms (which also makes the cells that swap intermediate nodes 1 and 2
    when no edge joins them one function); equal terms are counted (``x + x`` is not ``x``).
    Each ``nor_conv`` edge (ReLU-conv-BN, non-linear, with its own weights) is one term of its
    own, written with its op and input; the key is the smallest writing over every relabelling of
    the conv edges of one op, so two cells share it exactly when a one-to-one map of their conv
    edges makes their outputs equal. The 15,625 cells form 5,044 such classes (9,445 by
    ``nb201_canonical`` alone).

    The key is a string meant for comparison, not an arch string: ``x`` is the cell input,
    ``A(...)`` the average pool, ``#i`` the i-th conv edge, defined before the ``|``.
    """
    edges = _nb201_live(_nb201_ops(arch))
    # A node's value is a list of atoms (a sum): ("x",), ("avg", atom) or ("conv", edge index).
    values: dict[int, list[tuple]] = {0: [("x",)]}
    convs: dict[int, tuple[str, list[tuple]]] = {}  # edge index -> (op, input value)
    for node in (1, 2, 3):
        atoms: list[tuple] = []
        for k, ((dst, src), op) in enumerate(zip(NB201_EDGES, edges, strict=True)):
            if dst != node or op == "none":
                continue
            if op == "skip_connect":
                atoms.extend(values[src])
            elif op == "avg_pool_3x3":
                atoms.extend(("avg", atom) for atom in values[src])
            else:
                convs[k] = (op, values[src])
                atoms.append(("conv", k))
        values[node] = atoms

    def write(atom: tuple, label: dict[int, int]) -> str:
        if atom[0] == "x":
            return "x"
        if atom[0] == "avg":
            return f"A({write(atom[1], label)})"
        return f"#{label[atom[1]]}"

    def total(atoms: list[tuple], label: dict[int, int]) -> str:
        return "+".join(sorted(write(atom, label) for atom in atoms)) or "0"

    # Conv edges of one op may be relabelled among themselves: try every such labelling.
    groups = [[k for k in sorted(convs) if convs[k][0] == op] for op in NB201_OPS]
    starts = itertools.accumulate([len(g) for g in groups], initial=0)
    slots = [range(start, start + len(g)) for start, g in zip(starts, groups, strict=False)]

    def writing(perms: tuple[tuple[int, ...], ...]) -> str:
        label = {
            k: i for g, p in zip(groups, perms, strict=True) for k, i in zip(g, p, strict=True)
        }
        defs = sorted(f"#{label[k]}={op}({total(inp, label)})" for k, (op, inp) in convs.items())
        return ";".join(defs) + "|" + total(values[3], label)

    return min(
        writing(perms) for perms in itertools.product(*(itertools.permutations(s) for s in slots))
    )


def nb201_deduplicate(
    archs: Iterable[str],
    key: Literal["function", "canonical"] | Callable[[str], Any] = "function",
) -> list[str]:
    """One arch string per class of functionally identical NAS-Bench-201 cells.

    Keeps the first arch of each class in the order given (pass the cells in NB201 index order
    to keep the lowest index) and drops the rest, so a train/test split of the result never puts
    one function on both sides. ``key``: ``"function"`` (``nb201_function_key``, every identity
    it knows), ``"canonical"`` (``nb201_canonical``, unreachable ops only) or a callable.
    """
    if key == "function":
        key_fn: Callable[[str], Any] = nb201_function_key
    elif key == "canonical":
        key_fn = nb201_canonical
    elif callable(key):
        key_fn = key
    else:
        raise ValueError(
            f"nb201_deduplicate: key must be 'function', 'canonical' or a callable; got {key!r}."
        )
    seen: set = set()
    out = []
    for arch in archs:
        k = key_fn(arch)
        if k not in seen:
            seen.add(k)
            out.append(arch)
    return out


def darts_nodes(
    spec: dict[str, Any] | DARTSGenotype, cell: str
) -> list[tuple[list[int], list[str]]]:
    """The validated ``(inputs, ops)`` of the 4 nodes of the ``normal`` or ``reduce`` cell."""
    if isinstance(spec, DARTSGenotype):
        spec = pg.to_json(spec)
    if not isinstance(spec, dict) or spec.get("_type") != DARTSGenotype.__type_name__:
        raise TypeError(
            f"expected a DARTS spec (dict with _type {DARTSGenotype.__type_name__!r}); "
            f"got {spec!r:.200}."
        )
    if cell not in ("normal", "reduce"):
        raise ValueError(f"darts_nodes: cell must be 'normal' or 'reduce'; got {cell!r}.")
    nodes = spec.get(cell)
    if not isinstance(nodes, list) or len(nodes) != DARTS_NODES:
        raise ValueError(f"DARTS spec field {cell!r} must be a list of 4 nodes; got {nodes!r}.")
    out = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise ValueError(f"DARTS spec {cell}[{i}] must be a node dict; got {node!r}.")
        inputs, ops = node.get("inputs"), node.get("ops")
        allowed = list(range(2 + i))
        if (
            not isinstance(inputs, list)
            or len(inputs) != 2
            or any(j not in allowed for j in inputs)
            or inputs[0] >= inputs[1]
        ):
            raise ValueError(
                f"DARTS spec {cell}[{i}].inputs must be 2 sorted distinct nodes from {allowed}; "
                f"got {inputs!r}."
            )
        if not isinstance(ops, list) or len(ops) != 2 or any(op not in DARTS_OPS for op in ops):
            raise ValueError(
                f"DARTS spec {cell}[{i}].ops must be 2 op names from {list(DARTS_OPS)}; "
                f"got {ops!r}."
            )
        out.append((list(inputs), list(ops)))
    return out


def darts_genotype(
    normal: Sequence[tuple[str, int]],
    reduce: Sequence[tuple[str, int]],
    C: int = 16,
    layers: int = 8,
    num_classes: int = 10,
    in_chans: int = 3,
) -> dict[str, Any]:
    """A DARTS spec from genotype pairs as the DARTS code writes them.

    ``normal`` and ``reduce`` list 8 ``(op, input)`` pairs, two per node; the pairs of a node are
    stored sorted by input (their sum does not depend on the order).
    """

    def nodes(cell: str, pairs: Sequence[tuple[str, int]]) -> list[DARTSNode]:
        if len(pairs) != 2 * DARTS_NODES:
            raise ValueError(f"darts_genotype: {cell} needs 8 (op, input) pairs; got {len(pairs)}.")
        out = []
        for i in range(DARTS_NODES):
            (op_a, in_a), (op_b, in_b) = sorted(pairs[2 * i : 2 * i + 2], key=lambda p: p[1])
            out.append(DARTSNode(inputs=[in_a, in_b], ops=[op_a, op_b]))
        return out

    spec = pg.to_json(
        DARTSGenotype(
            normal=nodes("normal", normal),
            reduce=nodes("reduce", reduce),
            C=C,
            layers=layers,
            num_classes=num_classes,
            in_chans=in_chans,
        )
    )
    darts_nodes(spec, "normal")
    darts_nodes(spec, "reduce")
    return spec


def nb201_connected(arch: str | dict[str, Any] | NB201Cell) -> bool:
    """Whether the cell's output depends on its input: some path of non-``none`` edges joins
    node 0 to node 3. GM-NAS's RSPS sampler redraws cells that are not (their output is zero)."""
    return any(op != "none" for op in _nb201_live(_nb201_ops(arch)))
