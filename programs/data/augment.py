"""Training-batch augmentation on tensors, drawn from the trainer's random generator.

``crop_flip`` is the CIFAR recipe of NAS-Bench-201 and DARTS (random crop of the zero-padded
image, 4 pixels at 32x32, and a horizontal flip with probability 1/2), applied to a whole batch
on its own device, so it costs no data-loader work on a GPU. The padding scales with the image
(``size // 8``), so an 8x8 proxy pads by 1 pixel. Offsets and flips come from a numpy generator
(the supernet trainer's, which its checkpoints keep), so a resumed training draws the same ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

AUGMENTATIONS = ("crop_flip",)


def crop_flip(
    x: torch.Tensor, rng: np.random.Generator, padding: int | None = None
) -> torch.Tensor:
    """Each image of the NCHW batch ``x`` randomly cropped from its zero-padded copy (``padding``
    pixels a side; None: ``height // 8``) and flipped left-right with probability 1/2."""
    if x.ndim != 4:
        raise ValueError(f"crop_flip: expected an NCHW batch; got shape {tuple(x.shape)}.")
    n, _, h, w = x.shape
    pad = max(1, h // 8) if padding is None else padding
    if pad < 0:
        raise ValueError(f"crop_flip: padding must be >= 0; got {pad}.")
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    flips = rng.random(n) < 0.5
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = torch.as_tensor(offsets[:, :1], device=x.device) + torch.arange(h, device=x.device)
    cols = torch.as_tensor(offsets[:, 1:], device=x.device) + torch.arange(w, device=x.device)
    cols = torch.where(torch.as_tensor(flips, device=x.device)[:, None], cols.flip(-1), cols)
    index = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def augment(name: str | None, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """``x`` augmented by the named recipe (one of ``AUGMENTATIONS``; None leaves it as it is)."""
    if name is None:
        return x
    if name == "crop_flip":
        return crop_flip(x, rng)
    raise ValueError(f"augment: unknown augmentation {name!r}; allowed: {list(AUGMENTATIONS)}.")
