"""PreNAS data-free Taylor scores on the weights of an entangled ViT supernet.

Implements the zero-cost scoring of PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot
Learning Towards Efficient Neural Architecture Search", ICML 2023; tinyvision/PreNAS
``lib/score_maker.py``):

- one gradient ``G`` of ``sum(supernet(X))`` with the supernet at its largest configuration, in
  train mode, on a Gaussian batch ``X[:, c] ~ N(mean_c, std_c)`` (``--data-free``);
- block increment scores (``balance_taylor6_max_dim``): per layer, how much the heads
  ``h_j -> h_{j+1}`` of ``qkv`` and the MLP columns ``r_j -> r_{j+1}`` of ``fc1``/``fc2`` add,
  from the element scores ``|W * G| / (sum|W| * sum|G|)`` at the largest embedding dimension;
- the candidate score (``left_super_taylor6``): ``sum |theta * G|`` over every weight slice the
  sub-network uses (patch embedding, final norm, head and, per layer, qkv, proj, both norms, fc1,
  fc2), read from the supernet. It decomposes into per-(embed dim), per-(layer, embed dim, heads)
  and per-(layer, embed dim, ratio) tables (``SliceTables``), so thousands of candidates are
  scored with a few array sums.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symnas.programs.families.vit import ViTSupernet
from symnas.programs.families.vit_layers import count_relative_positions

#: Channel statistics of ImageNet, the data-free input of the reference for RGB inputs.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def shared_choices(supernet: ViTSupernet) -> tuple[list[int], list[int], list[float], list[int]]:
    """Sorted ``(embed_dims, depths, mlp_ratios, num_heads)`` of a supernet whose layers share
    one list of MLP-ratio choices and one of head choices, as PreNAS's spaces do."""
    if not isinstance(supernet, ViTSupernet):
        raise TypeError(f"supernet must be a ViTSupernet; got {type(supernet).__name__}.")
    choices = supernet.choices
    for name in ("mlp_ratio", "num_heads"):
        per_layer = {tuple(sorted(c)) for c in choices[name]}
        if len(per_layer) != 1:
            raise ValueError(
                f"PreNAS needs the same {name!r} choices in every layer; got {choices[name]}."
            )
    return (
        sorted(choices["embed_dim"]),
        sorted(choices["depth"]),
        sorted(float(r) for r in choices["mlp_ratio"][0]),
        sorted(choices["num_heads"][0]),
    )


def data_free_batch(
    in_chans: int,
    image_size: int,
    batch_size: int = 64,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """A Gaussian image batch ``(batch_size, in_chans, image_size, image_size)``.

    Channel ``c`` is drawn from ``N(mean[c], std[c])``; by default ImageNet's statistics for
    three channels (as PreNAS does) and ``N(0, 1)`` otherwise (standardised inputs).
    """
    if mean is None:
        mean = IMAGENET_MEAN if in_chans == 3 else (0.0,) * in_chans
    if std is None:
        std = IMAGENET_STD if in_chans == 3 else (1.0,) * in_chans
    if len(mean) != in_chans or len(std) != in_chans:
        raise ValueError(
            f"mean and std need one value per input channel ({in_chans}); got {mean!r}, {std!r}."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size, in_chans, image_size, image_size), generator=generator)
    return x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)


def taylor_gradients(supernet: ViTSupernet, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """``d sum(supernet(batch)) / d theta`` at the largest configuration, in train mode.

    Returns a detached gradient per parameter name (zeros where unused); the supernet's
    ``.grad`` fields, train/eval mode and active spec are restored afterwards.
    """
    params = dict(supernet.named_parameters())
    saved_grads = {name: p.grad for name, p in params.items()}
    was_training = supernet.training
    active = supernet.active_spec, supernet.active_arch
    try:
        for p in params.values():
            p.grad = None
        supernet.train()
        supernet(batch, supernet.max_spec()).sum().backward()
        return {
            name: (torch.zeros_like(p) if p.grad is None else p.grad.detach().clone())
            for name, p in params.items()
        }
    finally:
        for name, p in params.items():
            p.grad = saved_grads[name]
        supernet.train(was_training)
        supernet.active_spec, supernet.active_arch = active


def _balanced(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """PreNAS's ``balance_taylor6`` element scores ``|W * G| / (sum|W| * sum|G|)``."""
    denominator = weight.abs().sum() * grad.abs().sum()
    scores = (weight * grad).abs()
    return scores / denominator if denominator > 0 else torch.zeros_like(scores)


def block_increment_scores(
    supernet: ViTSupernet, grads: dict[str, torch.Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer increment scores ``(heads (L, |H|-1), mlp (L, |R|-1))``.

    Column ``j`` scores growing a layer from the ``j``-th to the ``(j+1)``-th smallest choice, at
    the largest embedding dimension (``balance_taylor6_max_dim``): the absolute sum of the element
    scores of the q, k and v rows of the added heads, and of the added ``fc1`` rows plus ``fc2``
    columns.
    """
    _, _, ratios, heads = shared_choices(supernet)
    e = supernet.max_arch.embed_dim
    head_dim = supernet.max_arch.head_dim
    layers = supernet.max_arch.depth
    head_inc = np.zeros((layers, len(heads) - 1))
    mlp_inc = np.zeros((layers, len(ratios) - 1))
    with torch.no_grad():
        for layer, block in enumerate(supernet.blocks):
            prefix = f"blocks.{layer}."
            qkv = _balanced(block.attn.qkv.weight, grads[prefix + "attn.qkv.weight"])[..., :e]
            fc1 = _balanced(block.fc1.weight, grads[prefix + "fc1.weight"])[:, :e]
            fc2 = _balanced(block.fc2.weight, grads[prefix + "fc2.weight"])[:e]
            for j in range(len(heads) - 1):
                rows = slice(heads[j] * head_dim, heads[j + 1] * head_dim)
                head_inc[layer, j] = float(qkv[:, rows].sum().abs())
            for j in range(len(ratios) - 1):
                cols = slice(int(e * ratios[j]), int(e * ratios[j + 1]))
                mlp_inc[layer, j] = float(fc1[cols].sum().abs()) + float(fc2[:, cols].sum().abs())
    return head_inc, mlp_inc


@dataclass(frozen=True)
class SliceTables:
    """Sums of a per-weight quantity over the slices a sub-network uses.

    ``base[i]``: patch embedding, final norm and head at embed dim ``E[i]``; ``fixed[l, i]``:
    the parts of layer ``l`` that depend on the embed dim only (proj and fc2 biases, both norms);
    ``heads[l, i, k]``: qkv and proj weights with ``H[k]`` heads; ``mlp[l, i, k]``: fc1 and fc2
    weights with ratio ``R[k]``. A candidate's total is ``base[e] + sum_{l < d} (fixed[l, e] +
    heads[l, e, h_l] + mlp[l, e, r_l])``.
    """

    base: np.ndarray
    fixed: np.ndarray
    heads: np.ndarray
    mlp: np.ndarray

    def total(
        self, embed_index: int, depth: int, head_index: np.ndarray, mlp_index: np.ndarray
    ) -> np.ndarray:
        """Totals of ``(N, depth)`` per-layer choice indices (heads and MLP) at one embed dim."""
        layers = np.arange(depth)
        fixed = self.base[embed_index] + self.fixed[:depth, embed_index].sum()
        return (
            fixed
            + self.heads[layers, embed_index, head_index].sum(axis=-1)
            + self.mlp[layers, embed_index, mlp_index].sum(axis=-1)
        )


def slice_tables(
    supernet: ViTSupernet, value: Callable[[str, torch.Tensor], torch.Tensor]
) -> SliceTables:
    """``SliceTables`` of ``value(name, parameter)`` (a tensor of the parameter's shape)."""
    embeds, _, ratios, heads = shared_choices(supernet)
    head_dim = supernet.max_arch.head_dim
    layers = supernet.max_arch.depth
    with torch.no_grad():
        v = {name: value(name, p).double() for name, p in supernet.named_parameters()}
    base = np.zeros(len(embeds))
    fixed = np.zeros((layers, len(embeds)))
    head_t = np.zeros((layers, len(embeds), len(heads)))
    mlp_t = np.zeros((layers, len(embeds), len(ratios)))
    for i, e in enumerate(embeds):
        base[i] = float(
            v["patch_embed.weight"][:e].sum()
            + v["patch_embed.bias"][:e].sum()
            + v["norm.weight"][:e].sum()
            + v["norm.bias"][:e].sum()
            + v["head.weight"][:, :e].sum()
            + v["head.bias"].sum()
        )
        for layer in range(layers):
            p = f"blocks.{layer}."
            fixed[layer, i] = float(
                sum(
                    v[p + f"{n}.{k}"][:e].sum()
                    for n in ("norm1", "norm2")
                    for k in ("weight", "bias")
                )
                + v[p + "attn.proj.bias"][:e].sum()
                + v[p + "fc2.bias"][:e].sum()
            )
            for k, h in enumerate(heads):
                q = h * head_dim
                head_t[layer, i, k] = float(
                    v[p + "attn.qkv.weight"][:, :q, :e].sum()
                    + v[p + "attn.qkv.bias"][:, :q].sum()
                    + v[p + "attn.proj.weight"][:e, :q].sum()
                )
            for k, r in enumerate(ratios):
                hidden = int(e * r)
                mlp_t[layer, i, k] = float(
                    v[p + "fc1.weight"][:hidden, :e].sum()
                    + v[p + "fc1.bias"][:hidden].sum()
                    + v[p + "fc2.weight"][:e, :hidden].sum()
                )
    return SliceTables(base, fixed, head_t, mlp_t)


def taylor_tables(supernet: ViTSupernet, grads: dict[str, torch.Tensor]) -> SliceTables:
    """PreNAS's ``left_super_taylor6`` score tables: sums of ``|theta * G|``."""
    return slice_tables(supernet, lambda name, p: (p * grads[name]).abs())


def param_tables(supernet: ViTSupernet) -> SliceTables:
    """Parameter-count tables: with them ``total`` equals ``programs.families.vit.param_count``.

    The scored slices plus what the score leaves out: the class token and position embedding
    (per embed dim) and the relative position tables (per layer).
    """
    tables = slice_tables(supernet, lambda name, p: torch.ones_like(p))
    arch = supernet.max_arch
    embeds = np.array(shared_choices(supernet)[0], dtype=np.float64)
    base = tables.base + embeds * (arch.num_patches + 2)
    fixed = tables.fixed
    if arch.relative_position:
        fixed = fixed + count_relative_positions(arch.head_dim, arch.max_relative_position)
    return SliceTables(base, fixed, tables.heads, tables.mlp)
