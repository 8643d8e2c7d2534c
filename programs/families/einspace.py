"""einspace-style token networks (Ericsson et al. 2024).

``graph(spec)`` expands a derivation of ``spaces.einspace`` into the shape-checked op DAG of
``grammar_network`` (node shapes ``(tokens, width)``); ``build_einspace(spec)`` runs it as a
:class:`GraphNetwork` between a patch embedding and a token-mean classifier.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import networkx as nx
import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.families.grammar_network import GraphBuilder, GraphNetwork, task_fields
from symnas.spaces.grammars import EinspaceNetwork, einspace_input_shape


def _einspace_expand(b: GraphBuilder, item: Any, src: int, path: str) -> int:
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
    b = GraphBuilder(shape)
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


_EINSPACE_TASK = ("embed_dim", "patch_size", "image_size", "in_chans", "num_classes")


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
    spec = task_fields(spec, _EINSPACE_TASK, task, "programs.build(EinspaceNetwork)")
    graph = einspace_graph(spec)
    stem = _PatchEmbed(spec["in_chans"], spec["embed_dim"], spec["patch_size"])
    head = _TokenHead(graph.nodes["output"]["shape"][1], spec["num_classes"])

    def make_op(op: str, node: dict) -> nn.Module:
        in_shape = graph.nodes[node["inputs"][0]]["shape"]
        return _einspace_module(op, in_shape, node["shape"], node)

    return GraphNetwork(graph, stem, head, make_op, sum_inputs=False)


def graph(spec: dict[str, Any], **task: Any) -> nx.DiGraph:
    """The shape-checked op DAG of an einspace-style spec; ``task`` may override ``embed_dim``,
    ``patch_size``, ``image_size``, ``in_chans`` and ``num_classes``."""
    return einspace_graph(task_fields(spec, _EINSPACE_TASK, task, "graph"))


registry.register(
    EinspaceNetwork,
    build=build_einspace,
    name="einspace",
    description="einspace-style token networks (Ericsson et al. 2024)",
)
