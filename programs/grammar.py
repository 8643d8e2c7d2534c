"""Grammar networks: a derivation becomes a networkx DAG, its shapes are checked, then torch runs.

``graph(spec)`` expands a derivation of a built-in grammar (``spaces.hnb201``,
``spaces.einspace``) into an op-labelled ``networkx.DiGraph``: every primitive is a node
(attribute ``op``), tensors flow along edges, node attribute ``inputs`` lists a node's inputs in
order, and ``shape`` is the shape of its output (``(channels, downsampling)`` for hierarchical
NB201, ``(tokens, width)`` for einspace). Shapes are inferred while the graph is built, so an
unbuildable derivation fails with a ``ValueError`` naming the node before any module exists.
``build(spec)`` then makes one module per node, in derivation pre-order, and runs them in that
(topological) order.

Hierarchical NB201 semantics follow Schrodi et al. (NeurIPS 2023): a topology terminal
(``LinearK``, ``Residual2``, ``Residual3``, ``Cell``) is a DAG whose edges carry its arguments in
the edge order of the reference (``Residual2``: (1,2), (2,3), (1,3); ``Residual3``: (1,2), (2,3),
(1,4), (3,4); ``Cell``: the NB201 edges), a node sums its incoming edges, and the network is the
NB201 skeleton around it (3x3 conv + BN stem; BN, ReLU, global pooling and a linear head on 4C
channels). Primitives build the modules of the NB201 code (``resBlock`` is its ResNet basic
block, ``avg_pool`` its 3x3 average pooling, ``zero`` its zero op); the conv block primitives are
single layers (``conv3x3o``/``conv1x1o`` bias-free convolutions, ``dconv3x3o`` depthwise,
``batch``/``instance``/``layer`` normalisation over channels / per channel / over (C, H, W)), so
the derivation of an NB201 cell (``spaces.grammars.nb201_derivation``) builds the NB201 network
with the same modules in the same parameter order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import networkx as nx
import pyglove as pg
import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.cell_ops import ResNetBasicBlock, Zero, macro_args, nb201_op
from symnas.spaces.grammars import (
    EinspaceNetwork,
    HierarchicalNB201,
    einspace_input_shape,
)

# Edge lists of the hierarchical NB201 topologies (1 is the source, the last node the sink).
TOPOLOGIES: dict[str, list[tuple[int, int]]] = {
    "Linear1": [(1, 2)],
    "Linear2": [(1, 2), (2, 3)],
    "Linear3": [(1, 2), (2, 3), (3, 4)],
    "Linear4": [(1, 2), (2, 3), (3, 4), (4, 5)],
    "Residual2": [(1, 2), (2, 3), (1, 3)],
    "Residual3": [(1, 2), (2, 3), (1, 4), (3, 4)],
    "Cell": [(1, 2), (1, 3), (2, 3), (1, 4), (2, 4), (3, 4)],
}
HNB201_PRIMITIVES = (
    "id",
    "zero",
    "avg_pool",
    "resBlock",
    "conv3x3o",
    "conv1x1o",
    "dconv3x3o",
    "batch",
    "instance",
    "layer",
    "relu",
    "hardswish",
    "mish",
)


class _GraphBuilder:
    """Adds op nodes to a DiGraph, tracking each node's output shape."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.graph = nx.DiGraph()
        self.graph.add_node(0, op="input", inputs=[], shape=input_shape, path="input")
        self.graph.graph["input"] = 0

    def add(self, op: str, inputs: list[int], shape: tuple[int, ...], path: str, **attrs) -> int:
        node = self.graph.number_of_nodes()
        self.graph.add_node(node, op=op, inputs=list(inputs), shape=shape, path=path, **attrs)
        for i in inputs:
            self.graph.add_edge(i, node)
        return node

    def shape(self, node: int) -> tuple[int, ...]:
        return self.graph.nodes[node]["shape"]

    def finish(self, last: int) -> nx.DiGraph:
        self.graph.add_node(
            "output", op="output", inputs=[last], shape=self.shape(last), path="output"
        )
        self.graph.add_edge(last, "output")
        self.graph.graph["output"] = "output"
        return self.graph


# ----------------------------------------------------------------------------- hierarchical NB201
def _hnb201_expand(b: _GraphBuilder, item: Any, src: int, path: str) -> int:
    """Expands a derivation item from node ``src``; returns the node holding its output."""
    if isinstance(item, str):
        return _hnb201_primitive(b, item, src, path)
    if not isinstance(item, list) or len(item) < 2:
        raise ValueError(f"hnb201 derivation at {path}: expected a node; got {item!r:.80}.")
    _, head, *args = item
    if not args:
        return _hnb201_primitive(b, head, src, path)
    if head not in TOPOLOGIES:
        raise ValueError(
            f"hnb201 derivation at {path}: unknown topology {head!r}; known: {sorted(TOPOLOGIES)}."
        )
    edges = TOPOLOGIES[head]
    if len(args) != len(edges):
        raise ValueError(
            f"hnb201 derivation at {path}: {head} takes {len(edges)} arguments; got {len(args)}."
        )
    incoming: dict[int, list[int]] = {}
    nodes = {1: src}
    for k, ((u, v), arg) in enumerate(zip(edges, args, strict=True)):
        if u not in nodes:
            nodes[u] = _junction(b, incoming[u], f"{path}.{head}[{u}]")
        incoming.setdefault(v, []).append(_hnb201_expand(b, arg, nodes[u], f"{path}.{k + 2}"))
    sink = max(incoming)
    return _junction(b, incoming[sink], f"{path}.{head}[{sink}]")


def _junction(b: _GraphBuilder, inputs: list[int], path: str) -> int:
    shapes = {b.shape(i) for i in inputs}
    if len(shapes) != 1:
        raise ValueError(f"hnb201 derivation at {path}: summed inputs differ in shape: {shapes}.")
    return b.add("add", inputs, shapes.pop(), path)


def _hnb201_primitive(b: _GraphBuilder, op: str, src: int, path: str) -> int:
    if op not in HNB201_PRIMITIVES:
        raise ValueError(
            f"hnb201 derivation at {path}: unknown primitive {op!r}; known: "
            f"{list(HNB201_PRIMITIVES)}."
        )
    channels, size = b.shape(src)
    if op == "resBlock":
        if size % 2:
            raise ValueError(
                f"hnb201 derivation at {path}: resBlock halves the resolution; {size}x{size} "
                "features cannot be halved exactly."
            )
        return b.add(op, [src], (2 * channels, size // 2), path)
    return b.add(op, [src], (channels, size), path)


def hnb201_graph(spec: dict[str, Any], image_size: int = 32) -> nx.DiGraph:
    """The op DAG of a hierarchical NB201 spec on ``image_size`` images; ``shape`` is
    ``(channels, side)``."""
    b = _GraphBuilder((spec["C"], image_size))
    last = _hnb201_expand(b, spec["derivation"], 0, "root")
    if b.shape(last)[0] != 4 * spec["C"]:
        raise ValueError(
            f"hnb201 derivation: the network ends with {b.shape(last)[0]} channels; the head "
            f"expects 4C = {4 * spec['C']} (two resBlocks on every path)."
        )
    return b.finish(last)


def _hnb201_module(op: str, channels: int) -> nn.Module:
    factories: dict[str, Callable[[], nn.Module]] = {
        "id": nn.Identity,
        "zero": lambda: Zero(1),
        "avg_pool": lambda: nb201_op("avg_pool_3x3", channels),
        "resBlock": lambda: ResNetBasicBlock(channels, 2 * channels),
        "conv3x3o": lambda: nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        "conv1x1o": lambda: nn.Conv2d(channels, channels, 1, bias=False),
        "dconv3x3o": lambda: nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False
        ),
        "batch": lambda: nn.BatchNorm2d(channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "layer": lambda: nn.GroupNorm(1, channels),
        "relu": lambda: nn.ReLU(inplace=False),
        "hardswish": nn.Hardswish,
        "mish": nn.Mish,
    }
    return factories[op]()


# ----------------------------------------------------------------------------- einspace
def _einspace_expand(b: _GraphBuilder, item: Any, src: int, path: str) -> int:
    if not isinstance(item, list) or len(item) < 3:
        raise ValueError(f"einspace derivation at {path}: expected a module; got {item!r:.80}.")
    _, head, *args = item
    s, d = b.shape(src)
    if head == "computation":
        op = args[0][1]
        if op.startswith("linear"):
            return b.add(op, [src], (s, int(op[len("linear") :])), path)
        if op not in ("identity", "norm", "leakyrelu", "softmax", "pos_enc"):
            raise ValueError(f"einspace derivation at {path}: unknown computation {op!r}.")
        return b.add(op, [src], (s, d), path)
    if head == "sequential":
        middle = _einspace_expand(b, args[0], src, f"{path}.2")
        return _einspace_expand(b, args[1], middle, f"{path}.3")
    if head == "routing":
        pre, module, post = args[0][1], args[1], args[2][1]
        first = b.add(pre, [src], (d, s) if pre == "permute" else (s, d), path + ".pre")
        inner = _einspace_expand(b, module, first, f"{path}.3")
        si, di = b.shape(inner)
        return b.add(post, [inner], (di, si) if post == "permute" else (si, di), path + ".post")
    if head == "branching":
        branch, left, right, agg = args[0][1], args[1], args[2], args[3][1]
        if branch == "group":
            if d % 2:
                raise ValueError(
                    f"einspace derivation at {path}: 'group' splits width {d} into halves; it "
                    "must be even."
                )
            starts = [
                b.add("group", [src], (s, d // 2), f"{path}.group{k}", part=k) for k in (0, 1)
            ]
        else:
            clone = b.add("clone", [src], (s, d), path + ".clone")
            starts = [clone, clone]
        ends = [
            _einspace_expand(b, left, starts[0], f"{path}.3"),
            _einspace_expand(b, right, starts[1], f"{path}.4"),
        ]
        (sa, da), (sb, db) = (b.shape(e) for e in ends)
        if agg == "add":
            if (sa, da) != (sb, db):
                raise ValueError(
                    f"einspace derivation at {path}: 'add' needs equal shapes; got {(sa, da)} "
                    f"and {(sb, db)}."
                )
            shape = (sa, da)
        elif agg == "cat":
            if sa != sb:
                raise ValueError(
                    f"einspace derivation at {path}: 'cat' needs equal token counts; got "
                    f"{(sa, da)} and {(sb, db)}."
                )
            shape = (sa, da + db)
        elif agg in ("dot_product", "scaled_dot_product"):
            if da != db:
                raise ValueError(
                    f"einspace derivation at {path}: {agg!r} needs equal widths; got {(sa, da)} "
                    f"and {(sb, db)}."
                )
            shape = (sa, sb)
        else:
            raise ValueError(f"einspace derivation at {path}: unknown aggregation {agg!r}.")
        return b.add(agg, ends, shape, path + ".agg")
    raise ValueError(f"einspace derivation at {path}: unknown module {head!r}.")


def einspace_graph(spec: dict[str, Any]) -> nx.DiGraph:
    """The op DAG of an einspace-style spec; ``shape`` is ``(tokens, width)``."""
    shape = einspace_input_shape(spec["image_size"], spec["patch_size"], spec["embed_dim"])
    b = _GraphBuilder(shape)
    return b.finish(_einspace_expand(b, spec["derivation"], 0, "root"))


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor], name: str) -> None:
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.name


class PositionalEncoding(nn.Module):
    """A learnable additive encoding of ``[tokens, width]`` inputs."""

    def __init__(self, tokens: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(tokens, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus the encoding."""
        return x + self.weight


def _einspace_module(
    op: str, in_shape: tuple[int, int], out_shape: tuple[int, int], attrs
) -> nn.Module:
    s, d = in_shape
    if op.startswith("linear"):
        return nn.Linear(d, out_shape[1])
    simple: dict[str, Callable[[], nn.Module]] = {
        "input": nn.Identity,
        "output": nn.Identity,
        "identity": nn.Identity,
        "clone": nn.Identity,
        "norm": lambda: nn.LayerNorm(d),
        "leakyrelu": nn.LeakyReLU,
        "softmax": lambda: nn.Softmax(dim=-1),
        "pos_enc": lambda: PositionalEncoding(s, d),
        "permute": lambda: _Lambda(lambda x: x.transpose(1, 2), "permute"),
        "add": lambda: _Lambda(torch.add, "add"),
        "cat": lambda: _Lambda(lambda a, b: torch.cat([a, b], dim=-1), "cat"),
        "dot_product": lambda: _Lambda(lambda a, b: a @ b.transpose(1, 2), "dot_product"),
        "scaled_dot_product": lambda: _Lambda(
            lambda a, b: a @ b.transpose(1, 2) / math.sqrt(a.shape[-1]), "scaled_dot_product"
        ),
    }
    if op == "group":
        half, part = d // 2, attrs["part"]
        return _Lambda(lambda x: x[..., part * half : (part + 1) * half], f"group{part}")
    return simple[op]()


class GraphNetwork(nn.Module):
    """Runs an op DAG: ``ops[str(node)]`` takes the node's inputs in order (summed for ``add``
    junctions of hierarchical NB201), between a stem and a head."""

    def __init__(
        self,
        graph: nx.DiGraph,
        stem: nn.Module,
        head: nn.Module,
        make_op: Callable[[str, dict], nn.Module],
        sum_inputs: bool,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.stem = stem
        order = [n for n in graph.nodes if n not in (graph.graph["input"], graph.graph["output"])]
        self.ops = nn.ModuleDict()
        for node in order:
            self.ops[str(node)] = make_op(graph.nodes[node]["op"], graph.nodes[node])
        self.head = head
        self._plan = [(n, str(n), list(graph.nodes[n]["inputs"])) for n in order]
        self._input = graph.graph["input"]
        self._last = graph.nodes[graph.graph["output"]]["inputs"][0]
        self._sum = sum_inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        values = {self._input: self.stem(x)}
        for node, key, inputs in self._plan:
            args = [values[i] for i in inputs]
            if self._sum and len(args) > 1:
                values[node] = sum(args[1:], args[0])
            else:
                values[node] = self.ops[key](*args)
        return self.head(values[self._last])


_HNB201_TASK = ("C", "num_classes", "in_chans")
_EINSPACE_TASK = ("embed_dim", "patch_size", "image_size", "in_chans", "num_classes")


def _fields(spec: Any, names: tuple[str, ...], task: dict, where: str) -> dict[str, Any]:
    """The spec as a dict with its task fields overridden by ``task`` (validated)."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    return {**spec, **macro_args(spec, task, names, where)}


def build_hnb201(spec: dict[str, Any], image_size: int = 32, **task: Any) -> GraphNetwork:
    """The network of a hierarchical NB201 spec for ``image_size`` inputs (shapes are checked
    for that size); ``task`` may override ``C``, ``num_classes`` and ``in_chans``."""
    spec = _fields(spec, _HNB201_TASK, task, "programs.build(HierarchicalNB201)")
    graph = hnb201_graph(spec, image_size)
    C, out = spec["C"], 4 * spec["C"]
    stem = nn.Sequential(
        nn.Conv2d(spec["in_chans"], C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
    )
    head = nn.Sequential(
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(out, spec["num_classes"]),
    )

    def make_op(op: str, node: dict) -> nn.Module:
        if op == "add":
            return nn.Identity()
        in_channels = graph.nodes[node["inputs"][0]]["shape"][0]
        return _hnb201_module(op, in_channels)

    return GraphNetwork(graph, stem, head, make_op, sum_inputs=True)


class _TokenHead(nn.Module):
    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.mean(dim=1))


class _PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def build_einspace(spec: dict[str, Any], **task: Any) -> GraphNetwork:
    """The network of an einspace-style spec (shapes checked first); ``task`` may override
    ``embed_dim``, ``patch_size``, ``image_size``, ``in_chans`` and ``num_classes``."""
    spec = _fields(spec, _EINSPACE_TASK, task, "programs.build(EinspaceNetwork)")
    graph = einspace_graph(spec)
    stem = _PatchEmbed(spec["in_chans"], spec["embed_dim"], spec["patch_size"])
    head = _TokenHead(graph.nodes["output"]["shape"][1], spec["num_classes"])

    def make_op(op: str, node: dict) -> nn.Module:
        in_shape = graph.nodes[node["inputs"][0]]["shape"]
        return _einspace_module(op, in_shape, node["shape"], node)

    return GraphNetwork(graph, stem, head, make_op, sum_inputs=False)


def graph(spec: dict[str, Any], **task: Any) -> nx.DiGraph:
    """The shape-checked op DAG of a grammar spec (hierarchical NB201 or einspace)."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    kind = spec.get("_type") if isinstance(spec, dict) else None
    if kind == HierarchicalNB201.__type_name__:
        image_size = task.pop("image_size", 32)
        return hnb201_graph(_fields(spec, _HNB201_TASK, task, "graph"), image_size)
    if kind == EinspaceNetwork.__type_name__:
        return einspace_graph(_fields(spec, _EINSPACE_TASK, task, "graph"))
    raise ValueError(
        f"programs.grammar.graph: expected a {HierarchicalNB201.__type_name__!r} or "
        f"{EinspaceNetwork.__type_name__!r} spec; got {kind!r}."
    )


registry.register(
    HierarchicalNB201,
    build=build_hnb201,
    name="hnb201",
    description="Hierarchical NAS-Bench-201 grammar networks (Schrodi et al. 2023)",
)
registry.register(
    EinspaceNetwork,
    build=build_einspace,
    name="einspace",
    description="einspace-style token networks (Ericsson et al. 2024)",
)
