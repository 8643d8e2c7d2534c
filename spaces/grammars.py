"""Built-in grammar spaces: hierarchical NAS-Bench-201 and an einspace-style token grammar.

**Hierarchical NAS-Bench-201** (Schrodi et al., "Construction of Hierarchical Neural
Architecture Search Spaces based on Context-free Grammars", NeurIPS 2023; grammar files
``macro.cfg``, ``cell_flexible.cfg`` and ``conv_block.cfg`` of automl/hierarchical_nas_construction).
``D2`` is the network: three resolution stages (``D1`` stages end in a ``DOWN`` block with a
stride-2 ResNet block, ``D0`` keeps the resolution), built from topologies (``LinearK`` chains,
``Residual2/3``, the NB201 ``Cell`` DAG) whose edges are cells and, at the bottom, ops: identity,
zero, average pooling or a conv block (activation, convolution, normalisation). The duplicated
``"Linear1" CONVBLOCK`` alternative of the reference is kept, so derivations count as there.
The reference's sampling-time rule that a ``zero`` may not disconnect a topology is not context
free and is left out: disconnected cells are derivable, as the NB201 ``none`` cells are. The
NB201 cell space is the sub-language in which every cell is the same NB201 cell (``D2 -> D1 D1
D0``, ``D1 -> C C DOWN``, ``C -> CELL CELL``, ``DOWN -> CELL resBlock``, ``D0 -> C C CELL``: five
cells per stage, as in NB201 with N=5), see :func:`nb201_derivation`.

**einspace-style grammar** (Ericsson et al., "einspace: Searching for Neural Architectures from
Fundamental Operations", NeurIPS 2024; ``linusericsson/einspace``): a network is built from
``sequential``, ``branching`` (a branching function, two modules, an aggregation), ``routing``
(a pre-routing function, a module, a post-routing function) and ``computation`` modules, on
token tensors ``[S, D]`` (a fixed patch embedding of the image in front, mean over tokens and a
linear classifier behind). Computation is chosen with probability 0.5 and the three composite
modules share the rest, so a module has 0.83 independently derived children on average (einspace:
0.98 with p=0.32, where branching factors 4 and 8 copy one child); the start symbol excludes a
bare computation, as einspace's does. Derivations whose shapes do not type-check (``add`` of
different shapes, ``cat`` of different token counts, ``dot_product`` of different widths,
``group`` of an odd width) are excluded by the space's ``einspace_shapes`` constraint, which
checks them with :func:`einspace_shape` before any torch code runs; the operators redraw them,
as einspace backtracks on shape errors. Left out of einspace here: image mode and its
``im2col``/``col2im`` routing (the grammar works on tokens only), branching factors 4 and 8,
``group`` along other dimensions than the width, and the linear widths above 64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyglove as pg

from symnas.spaces.cells import NB201_OPS
from symnas.spaces.context_free import GrammarHyper, grammar, register_constraint
from symnas.spaces.registry import register_space

HNB201_GRAMMAR = """
D2 -> "Linear3" D1 D1 D0 | "Linear3" D0 D1 D1 | "Linear4" D1 D1 D0 D0
D1 -> "Linear3" C C DOWN | "Linear4" C C C DOWN | "Residual3" C C DOWN DOWN
D0 -> "Linear3" C C CELL | "Linear4" C C C CELL | "Residual3" C C CELL CELL
DOWN -> "Linear2" CELL "resBlock" | "Linear3" CELL CELL "resBlock" | "Residual2" CELL "resBlock" "resBlock"
C -> "Linear2" CELL CELL | "Linear3" CELL CELL CELL | "Residual2" CELL CELL CELL
CELL -> "Cell" OPS OPS OPS OPS OPS OPS
OPS -> "id" | "zero" | "Linear1" CONVBLOCK | "Linear1" CONVBLOCK | "avg_pool"
CONVBLOCK -> "Linear3" ACT CONV NORM
ACT -> "relu" | "hardswish" | "mish"
CONV -> "conv3x3o" | "conv1x1o" | "dconv3x3o"
NORM -> "batch" | "instance" | "layer"
"""

#: Depth of the deepest hierarchical NB201 derivation (D2, D1, C, CELL, OPS, CONVBLOCK, ACT).
HNB201_DEPTH = 7

EINSPACE_WIDTHS = (16, 32, 64)
EINSPACE_GRAMMAR = f"""
NET -> "sequential" M M | "branching" BRANCH M M AGG | "routing" PRE M POST
M -> "sequential" M M | "branching" BRANCH M M AGG | "routing" PRE M POST | "computation" COMP [3]
BRANCH -> "clone" | "group"
AGG -> "add" | "cat" | "dot_product" | "scaled_dot_product"
PRE -> "identity" | "permute"
POST -> "identity" | "permute"
COMP -> "identity" | {" | ".join(f'"linear{w}"' for w in EINSPACE_WIDTHS)} | "norm" | "leakyrelu" | "softmax" | "pos_enc"
"""

# NB201 op -> the hierarchical OPS derivation that builds the same module.
_NB201_TO_OPS: dict[str, list] = {
    "none": ["OPS", "zero"],
    "skip_connect": ["OPS", "id"],
    "avg_pool_3x3": ["OPS", "avg_pool"],
    "nor_conv_1x1": [
        "OPS",
        "Linear1",
        ["CONVBLOCK", "Linear3", ["ACT", "relu"], ["CONV", "conv1x1o"], ["NORM", "batch"]],
    ],
    "nor_conv_3x3": [
        "OPS",
        "Linear1",
        ["CONVBLOCK", "Linear3", ["ACT", "relu"], ["CONV", "conv3x3o"], ["NORM", "batch"]],
    ],
}


#: Number of hierarchical NB201 derivations at the full depth.
HNB201_SIZE = grammar(HNB201_GRAMMAR, "D2", max_depth=HNB201_DEPTH).num_values()


@pg.members(
    [
        ("derivation", pg.typing.Any(), "A derivation of the hierarchical NB201 grammar."),
        ("C", pg.typing.Int(min_value=1, default=16), "Channels of the first stage."),
        ("num_classes", pg.typing.Int(min_value=1, default=10), "Classifier outputs."),
        ("in_chans", pg.typing.Int(min_value=1, default=3), "Input image channels."),
    ]
)
class HierarchicalNB201(pg.Object):
    """A hierarchical NAS-Bench-201 network: a derivation and its stem/head settings."""


@pg.members(
    [
        ("derivation", pg.typing.Any(), "A derivation of the einspace-style grammar."),
        ("embed_dim", pg.typing.Int(min_value=2, default=16), "Width of the patch tokens."),
        ("patch_size", pg.typing.Int(min_value=1, default=2), "Side of a square patch."),
        ("image_size", pg.typing.Int(min_value=1, default=8), "Side of the square input image."),
        ("in_chans", pg.typing.Int(min_value=1, default=1), "Input image channels."),
        ("num_classes", pg.typing.Int(min_value=1, default=10), "Classifier outputs."),
    ]
)
class EinspaceNetwork(pg.Object):
    """An einspace-style network: a derivation on patch tokens, with fixed stem and head."""


def hnb201_grammar(max_depth: int = HNB201_DEPTH) -> GrammarHyper:
    """The hierarchical NB201 grammar as a space of derivations of ``D2``."""
    return grammar(HNB201_GRAMMAR, "D2", max_depth=max_depth)


@register_space(
    "hnb201",
    "hierarchical NAS-Bench-201 (Schrodi et al. 2023): 1.23e446 architectures (derivations)",
    architectures=HNB201_SIZE,
)
def hnb201(
    C: int = 16, num_classes: int = 10, in_chans: int = 3, max_depth: int = HNB201_DEPTH
) -> HierarchicalNB201:
    """The hierarchical NAS-Bench-201 space.

    At the full depth (7) it holds 1.23e446 derivations (exactly
    ``hnb201_grammar().num_values()``; the reference counts about 10^446). ``max_depth=6``
    allows conv blocks only in cells at level 3 (directly under ``D0``/``DOWN``; 3.23e142
    derivations); below 6 the conv-block production cannot terminate and the grammar is refused.
    """
    return HierarchicalNB201(
        derivation=hnb201_grammar(max_depth), C=C, num_classes=num_classes, in_chans=in_chans
    )


def nb201_derivation(edges: Sequence[str]) -> list:
    """The hierarchical NB201 derivation of the NB201 network with cell ``edges`` (N=5).

    ``edges`` are the 6 NB201 ops in official edge order; every one of the 15 cells is that cell.
    """
    edges = list(edges)
    if len(edges) != 6 or any(op not in NB201_OPS for op in edges):
        raise ValueError(
            f"nb201_derivation: edges must be 6 op names from {list(NB201_OPS)}; got {edges!r}."
        )
    cell = ["CELL", "Cell", *(_NB201_TO_OPS[op] for op in edges)]
    pair = ["C", "Linear2", cell, cell]
    down = ["DOWN", "Linear2", cell, "resBlock"]
    d1 = ["D1", "Linear3", pair, pair, down]
    d0 = ["D0", "Linear3", pair, pair, cell]
    return ["D2", "Linear3", d1, d1, d0]


def _shape_error(path: str, message: str) -> ValueError:
    return ValueError(f"einspace derivation at {path}: {message}")


def einspace_shape(derivation: Any, shape: tuple[int, int], path: str = "root") -> tuple[int, int]:
    """Output shape ``(S, D)`` of an einspace-style derivation on ``shape`` tokens.

    Raises ``ValueError`` naming the node (as a path of child positions) when the shapes do not
    type-check.
    """
    if not isinstance(derivation, (list, tuple)) or len(derivation) < 2:
        raise _shape_error(path, f"expected a node [symbol, ...]; got {derivation!r:.80}.")
    symbol, head, *rest = derivation
    s, d = shape
    if head == "computation":
        op = rest[0][1]
        if op.startswith("linear"):
            return (s, int(op[len("linear") :]))
        return (s, d)
    if head == "sequential":
        middle = einspace_shape(rest[0], shape, f"{path}.1")
        return einspace_shape(rest[1], middle, f"{path}.2")
    if head == "routing":
        pre, module, post = rest[0][1], rest[1], rest[2][1]
        inner = (d, s) if pre == "permute" else (s, d)
        out = einspace_shape(module, inner, f"{path}.2")
        return (out[1], out[0]) if post == "permute" else out
    if head == "branching":
        branch, left, right, agg = rest[0][1], rest[1], rest[2], rest[3][1]
        if branch == "group":
            if d % 2:
                raise _shape_error(path, f"'group' splits width {d} into halves; it must be even.")
            inner = (s, d // 2)
        else:
            inner = (s, d)
        a = einspace_shape(left, inner, f"{path}.2")
        b = einspace_shape(right, inner, f"{path}.3")
        if agg == "add":
            if a != b:
                raise _shape_error(path, f"'add' needs equal shapes; got {a} and {b}.")
            return a
        if agg == "cat":
            if a[0] != b[0]:
                raise _shape_error(path, f"'cat' needs equal token counts; got {a} and {b}.")
            return (a[0], a[1] + b[1])
        if a[1] != b[1]:
            raise _shape_error(path, f"{agg!r} needs equal widths; got {a} and {b}.")
        return (a[0], b[0])
    raise _shape_error(path, f"unknown module {head!r} of {symbol!r}.")


def einspace_input_shape(image_size: int, patch_size: int, embed_dim: int) -> tuple[int, int]:
    """Token shape ``(S, D)`` that the patch embedding gives."""
    if image_size % patch_size:
        raise ValueError(f"einspace: patch_size {patch_size} must divide image_size {image_size}.")
    return ((image_size // patch_size) ** 2, embed_dim)


@register_constraint(
    "einspace_shapes",
    "every derivation maps (tokens, width) inputs to valid shapes; argument 'TOKENS,WIDTH'",
)
def _einspace_shapes(derivation: list, argument: str | None) -> bool:
    tokens, width = (int(v) for v in (argument or "16,16").split(","))
    try:
        einspace_shape(derivation, (tokens, width))
    except ValueError:
        return False
    return True


def einspace_grammar(max_depth: int = 8, input_shape: tuple[int, int] = (16, 16)) -> GrammarHyper:
    """The einspace-style grammar, restricted to derivations that type-check on
    ``input_shape`` tokens ``(S, D)``."""
    tokens, width = input_shape
    return grammar(
        EINSPACE_GRAMMAR, "NET", max_depth=max_depth, constraint=f"einspace_shapes:{tokens},{width}"
    )


@register_space(
    "einspace",
    "einspace-style token grammar (Ericsson et al. 2024), depth 8: at most 7.1e118 architectures",
)
def einspace(
    max_depth: int = 8,
    embed_dim: int = 16,
    patch_size: int = 2,
    image_size: int = 8,
    in_chans: int = 1,
    num_classes: int = 10,
) -> EinspaceNetwork:
    """The einspace-style space on ``image_size`` images (defaults: 8x8 digits).

    The grammar has ``einspace_grammar(max_depth).num_values()`` derivations within the depth
    bound (7.1e118 at depth 8); the shape constraint keeps a subset of them, so that count is an
    upper bound.
    """
    shape = einspace_input_shape(image_size, patch_size, embed_dim)
    return EinspaceNetwork(
        derivation=einspace_grammar(max_depth, shape),
        embed_dim=embed_dim,
        patch_size=patch_size,
        image_size=image_size,
        in_chans=in_chans,
        num_classes=num_classes,
    )


def unrolled_expression_space(depth: int) -> Any:
    """``expr -> expr op expr | x | 1.0`` unrolled into nested ``pg.oneof`` to ``depth`` levels
    (the representation a grammar needs without custom decision points; a benchmark baseline)."""
    if depth < 1:
        raise ValueError(f"unrolled_expression_space: depth must be >= 1; got {depth}.")
    if depth == 1:
        return pg.oneof(["x", "1.0"])
    inner = unrolled_expression_space(depth - 1)
    return pg.oneof(
        [pg.List([inner, pg.oneof(["+", "*"]), unrolled_expression_space(depth - 1)]), "x", "1.0"]
    )


EXPRESSION_GRAMMAR = """
expr -> expr op expr | "x" | "1.0"
op -> "+" | "*"
"""
