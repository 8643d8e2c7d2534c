"""PreNAS preferred one-shot training, and the uniform-sampling one-shot baseline.

Implements Stage 2 of PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning Towards
Efficient Neural Architecture Search", ICML 2023; tinyvision/PreNAS ``supernet_engine.py``
``sample_candidates`` and ``supernet_train.py``): the weight-entangled supernet is trained on the
preferred architectures only. With ``--group-by-dim --group-by-depth`` the candidates are grouped
by ``(embed_dim, depth)``; each step draws a group uniformly, then a candidate uniformly inside it,
and takes one AdamW step on its label-smoothed cross-entropy under a cosine schedule. Options of
the reference code that its released scripts leave off, off here too: ``sandwich`` (the smallest
and largest candidate plus ``k`` others per step, losses averaged) and ``shuffle`` (permute the
sampled candidate's per-layer choices). The baseline (AutoFormer, Chen et al., ICCV 2021) samples
a uniformly random architecture of the whole space per step, with the same recipe and steps.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from symnas.programs.data import Dataset
from symnas.programs.train import train
from symnas.programs.vit import ViTSupernet

GROUP_KEYS = ("embed_dim", "depth")
#: PreNAS's base learning rate for a total batch of 512 (linear scaling rule).
BASE_LR = 5e-4
Sampler = Callable[[random.Random], list[dict[str, Any]]]


def group_candidates(
    specs: Sequence[dict[str, Any]], group_by: Sequence[str] = GROUP_KEYS
) -> list[list[int]]:
    """Indices of ``specs`` grouped by the values of ``group_by`` (first-seen order)."""
    unknown = sorted(set(group_by) - set(GROUP_KEYS))
    if unknown:
        raise ValueError(f"group_by keys must be among {list(GROUP_KEYS)}; got {unknown}.")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(tuple(spec[k] for k in group_by), []).append(i)
    return list(groups.values())


def _shuffled(spec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The spec with its first ``depth`` MLP ratios and head counts permuted (an isomer)."""
    depth = spec["depth"]
    out = dict(spec)
    for name in ("mlp_ratio", "num_heads"):
        active = list(spec[name][:depth])
        rng.shuffle(active)
        out[name] = active + list(spec[name][depth:])
    return out


def preferred_sampler(
    specs: Sequence[dict[str, Any]],
    group_by: Sequence[str] = GROUP_KEYS,
    sandwich: int = 0,
    sandwich_base: bool = True,
    sandwich_top: bool = True,
    shuffle: bool = False,
) -> Sampler:
    """PreNAS's per-step candidate sampler over ``specs`` (ordered smallest to largest).

    Without ``sandwich`` it returns one candidate: a group uniformly, then a member uniformly
    (``group_by=()`` samples the candidates uniformly). With ``sandwich = k > 0`` it returns the
    first spec (``sandwich_base``), ``k`` sampled specs other than those two, and the last spec
    (``sandwich_top``).
    """
    specs = list(specs)
    if not specs:
        raise ValueError("preferred_sampler needs at least one spec.")
    if isinstance(sandwich, bool) or not isinstance(sandwich, int) or sandwich < 0:
        raise ValueError(f"sandwich must be an int >= 0; got {sandwich!r}.")
    groups = group_candidates(specs, group_by) if group_by else [list(range(len(specs)))]
    exclude = set()
    if sandwich:
        exclude = {0} if sandwich_base else set()
        exclude |= {len(specs) - 1} if sandwich_top else set()
        if all(i in exclude for i in range(len(specs))):
            raise ValueError("sandwich needs a candidate besides the base and the top.")

    def one(rng: random.Random) -> dict[str, Any]:
        while True:
            index = rng.choice(rng.choice(groups))
            if index not in exclude:
                break
        return _shuffled(specs[index], rng) if shuffle else specs[index]

    def sample(rng: random.Random) -> list[dict[str, Any]]:
        if not sandwich:
            return [one(rng)]
        base = [specs[0]] if sandwich_base else []
        top = [specs[-1]] if sandwich_top else []
        return base + [one(rng) for _ in range(sandwich)] + top

    return sample


def uniform_sampler(supernet: ViTSupernet) -> Sampler:
    """AutoFormer's sampler: embed dim, depth and every layer's choices uniformly at random."""
    choices = supernet.choices
    template = supernet.max_spec()

    def sample(rng: random.Random) -> list[dict[str, Any]]:
        depth = rng.choice(choices["depth"])
        layers = range(len(choices["mlp_ratio"]))
        spec = {
            **template,
            "embed_dim": rng.choice(choices["embed_dim"]),
            "depth": depth,
            "mlp_ratio": [
                rng.choice(choices["mlp_ratio"][i]) if i < depth else min(choices["mlp_ratio"][i])
                for i in layers
            ],
            "num_heads": [
                rng.choice(choices["num_heads"][i]) if i < depth else min(choices["num_heads"][i])
                for i in layers
            ],
        }
        return [spec]

    return sample


def train_sampled(
    supernet: ViTSupernet,
    sampler: Sampler,
    data: Dataset,
    epochs: int,
    batch_size: int = 64,
    lr: float | None = None,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    grad_clip: float | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    eval_spec: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Trains ``supernet`` with AdamW and a cosine schedule, ``sampler`` choosing the
    sub-networks of each step (their label-smoothed cross-entropies are averaged).

    ``lr=None`` applies PreNAS's linear scaling rule ``5e-4 * batch_size / 512``; short runs on
    small data need a larger rate (the ``prenas-vit`` flow uses 5e-3). Returns
    ``programs.train``'s metrics, measured on ``eval_spec`` (default: the largest
    configuration), plus ``archs_sampled``, the number of sub-network passes.
    """
    if not isinstance(supernet, ViTSupernet):
        raise TypeError(f"supernet must be a ViTSupernet; got {type(supernet).__name__}.")
    rng = random.Random(seed)
    passes = 0
    lr = BASE_LR * batch_size / 512 if lr is None else lr

    def step(module: ViTSupernet, x: torch.Tensor, y: torch.Tensor, _: int) -> torch.Tensor:
        nonlocal passes
        specs = sampler(rng)
        passes += len(specs)
        losses = [
            F.cross_entropy(module(x, spec), y, label_smoothing=label_smoothing) for spec in specs
        ]
        return torch.stack(losses).mean()

    eval_spec = eval_spec or supernet.max_spec()
    metrics = train(
        supernet,
        data,
        epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer="adamw",
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        seed=seed,
        max_steps=max_steps,
        step_fn=step,
        forward=lambda module, x: module(x, eval_spec),
    )
    return {**metrics, "archs_sampled": passes}


def train_preferred(
    supernet: ViTSupernet,
    preferred: Sequence[Any],
    data: Dataset,
    epochs: int,
    group_by: Sequence[str] = GROUP_KEYS,
    sandwich: int = 0,
    sandwich_base: bool = True,
    sandwich_top: bool = True,
    shuffle: bool = False,
    **options: Any,
) -> dict[str, float]:
    """PreNAS Stage 2: trains ``supernet`` on the ``preferred`` architectures only.

    ``preferred`` holds specs or ``Preferred`` records (anything with ``.spec``), ordered from
    smallest to largest as the selector returns them. ``options`` go to ``train_sampled``
    (``batch_size``, ``lr``, ``weight_decay``, ``label_smoothing``, ``grad_clip``, ``seed``,
    ``max_steps``); metrics are measured on the largest preferred architecture.
    """
    specs = [getattr(p, "spec", p) for p in preferred]
    for spec in specs:
        supernet.arch_of(spec)  # every preferred spec must belong to the supernet's space
    sampler = preferred_sampler(specs, group_by, sandwich, sandwich_base, sandwich_top, shuffle)
    return train_sampled(supernet, sampler, data, epochs, eval_spec=specs[-1], **options)


def train_uniform(
    supernet: ViTSupernet, data: Dataset, epochs: int, **options: Any
) -> dict[str, float]:
    """The AutoFormer baseline: a uniformly random architecture of the whole space per step,
    with the same recipe and number of steps as ``train_preferred`` (``options`` likewise)."""
    return train_sampled(supernet, uniform_sampler(supernet), data, epochs, **options)
