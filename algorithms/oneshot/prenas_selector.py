"""PreNAS zero-cost selector: the preferred architectures of an AutoFormer ViT space.

Implements Stage 1 of PreNAS (Wang, Ge, Chen, Sun, "PreNAS: Preferred One-Shot Learning Towards
Efficient Neural Architecture Search", ICML 2023; tinyvision/PreNAS ``evolution_pre_train.py``,
search mode ``iteration``):

1. one data-free gradient of the supernet at its largest configuration
   (``prenas_scores.taylor_gradients``);
2. per-layer block increment scores decide which layers take the larger choices;
3. every candidate is enumerated: for each embed dim ``e`` and depth ``d``, every composition of
   ``d`` over the MLP-ratio choices and every composition of ``d`` over the head choices (how many
   layers take each choice) is *reallocated*: going from the largest choice down to the second
   smallest, the still-unassigned layers with the highest increment score take it, the rest take
   the smallest choice;
4. each candidate gets its exact parameter count and the score ``sum |theta * G|`` over the
   supernet slices it uses;
5. candidates are bucketed by parameter count and the top ``per_bucket`` by score of each bucket
   form the preferred set.

The reference enumerates cut points with ``itertools.combinations``, which skips compositions that
give zero layers to a middle choice when there are three or more choices; here every composition
is enumerated (identical for two choices, as in PreNAS-Tiny).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from symnas.algorithms.oneshot import prenas_scores as scores
from symnas.programs.families.vit import ViTSupernet
from symnas.spaces.vit import ViTSpace

#: Candidate scores ``PreNASSelector`` computes itself; any name of
#: ``algorithms.zero_cost.PROXIES`` is accepted too (scored on the supernet, needs a batch).
OWN_SCORES = ("taylor", "params")


@dataclass(frozen=True)
class Preferred:
    """One preferred architecture: its spec, exact size, selector score and size bucket."""

    spec: dict[str, Any]
    params: int
    score: float
    bucket: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record."""
        return {
            "spec": self.spec,
            "params": self.params,
            "score": self.score,
            "bucket": list(self.bucket),
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Preferred:
        """Inverse of ``to_json``."""
        return cls(
            spec=record["spec"],
            params=int(record["params"]),
            score=float(record["score"]),
            bucket=(float(record["bucket"][0]), float(record["bucket"][1])),
        )


@dataclass(frozen=True)
class Candidates:
    """Every enumerated candidate as arrays: embed dim, depth, per-layer choices, size, score.

    ``mlp_ratio`` and ``num_heads`` are ``(N, max_depth)`` arrays of choice values, padded with
    the smallest choice beyond each candidate's depth.
    """

    embed_dim: np.ndarray
    depth: np.ndarray
    mlp_ratio: np.ndarray
    num_heads: np.ndarray
    params: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.params)

    def spec(self, index: int, template: dict[str, Any]) -> dict[str, Any]:
        """The decoded spec of candidate ``index`` (other fields from ``template``)."""
        return {
            **template,
            "embed_dim": int(self.embed_dim[index]),
            "depth": int(self.depth[index]),
            "mlp_ratio": [float(r) for r in self.mlp_ratio[index]],
            "num_heads": [int(h) for h in self.num_heads[index]],
        }


def compositions(total: int, parts: int) -> np.ndarray:
    """Every way to write ``total`` as an ordered sum of ``parts`` non-negative ints, ``(N, parts)``."""
    if parts < 1 or total < 0:
        raise ValueError(f"compositions needs parts >= 1 and total >= 0; got {parts}, {total}.")
    rows = []
    for cuts in itertools.combinations_with_replacement(range(total + 1), parts - 1):
        bounds = (0, *cuts, total)
        rows.append([bounds[i + 1] - bounds[i] for i in range(parts)])
    return np.array(rows, dtype=np.int64)


def reallocate(counts: Sequence[int], increments: np.ndarray) -> np.ndarray:
    """Per-layer choice indices for ``counts[k]`` layers taking choice ``k`` (PreNAS reallocation).

    ``increments`` is ``(depth, K-1)``: column ``k-1`` scores growing a layer to choice ``k``.
    From the largest choice down to choice 1, the unassigned layers with the highest increment
    take it (ties: the lower layer); the remaining layers take choice 0.
    """
    depth = increments.shape[0]
    if sum(counts) != depth or len(counts) != increments.shape[1] + 1:
        raise ValueError(
            f"counts {list(counts)} must have {increments.shape[1] + 1} entries summing to "
            f"the depth {depth}."
        )
    conf = np.zeros(depth, dtype=np.int64)
    free = np.ones(depth, dtype=bool)
    for k in range(len(counts) - 1, 0, -1):
        order = np.argsort(-increments[:, k - 1], kind="stable")
        chosen = [layer for layer in order if free[layer]][: counts[k]]
        conf[chosen] = k
        free[chosen] = False
    return conf


def enumerate_candidates(
    supernet: ViTSupernet,
    head_increments: np.ndarray,
    mlp_increments: np.ndarray,
    score_tables: scores.SliceTables | None,
) -> Candidates:
    """Every reallocated candidate of the supernet's space with its parameter count and score.

    ``score_tables=None`` leaves the scores at zero (for scores computed per candidate).
    """
    embeds, depths, ratios, heads = scores.shared_choices(supernet)
    count_tables = scores.param_tables(supernet)
    max_depth = supernet.max_arch.depth
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("e", "d", "r", "h", "params", "score")}
    for d in depths:
        mlp_confs = np.stack(
            [reallocate(c, mlp_increments[:d]) for c in compositions(d, len(ratios))]
        )
        head_confs = np.stack(
            [reallocate(c, head_increments[:d]) for c in compositions(d, len(heads))]
        )
        mlp_idx = np.repeat(mlp_confs, len(head_confs), axis=0)
        head_idx = np.tile(head_confs, (len(mlp_confs), 1))
        pad = np.zeros((len(mlp_idx), max_depth - d), dtype=np.int64)
        for i, e in enumerate(embeds):
            n = len(mlp_idx)
            parts["e"].append(np.full(n, e))
            parts["d"].append(np.full(n, d))
            parts["r"].append(np.asarray(ratios)[np.hstack([mlp_idx, pad])])
            parts["h"].append(np.asarray(heads)[np.hstack([head_idx, pad])])
            parts["params"].append(count_tables.total(i, d, head_idx, mlp_idx).round())
            if score_tables is None:
                parts["score"].append(np.zeros(n))
            else:
                parts["score"].append(score_tables.total(i, d, head_idx, mlp_idx))
    return Candidates(
        embed_dim=np.concatenate(parts["e"]),
        depth=np.concatenate(parts["d"]),
        mlp_ratio=np.concatenate(parts["r"]),
        num_heads=np.concatenate(parts["h"]),
        params=np.concatenate(parts["params"]).astype(np.int64),
        score=np.concatenate(parts["score"]),
    )


def bucket_edges(
    params: np.ndarray, buckets: int | None, param_range: Sequence[float] | None
) -> np.ndarray:
    """Bucket boundaries: PreNAS's ``[lo + k*step, lo + (k+1)*step)`` up to ``hi`` from
    ``param_range=(lo, hi, step)``, else ``buckets`` equal intervals over the candidates' range."""
    if param_range is not None:
        lo, hi, step = (float(v) for v in param_range)
        if not (step > 0 and hi > lo):
            raise ValueError(
                f"param_range must be (lo, hi, step) with hi > lo, step > 0; got {param_range!r}."
            )
        count = int(np.floor((hi - lo) / step + 1e-9))
        return lo + step * np.arange(count + 1)
    lo, hi = float(params.min()), float(params.max())
    edges = np.linspace(lo, hi, buckets + 1)
    edges[-1] = np.nextafter(hi, np.inf)  # the largest candidate belongs to the last bucket
    return edges


class PreNASSelector:
    """PreNAS's zero-cost selector (Stage 1) as an algorithm over a ``ViTSpace``.

    Args:
      buckets: number of equal-width parameter buckets between the smallest and largest
        candidate (ignored when ``param_range`` is given).
      per_bucket: candidates kept per bucket (PreNAS's ``cand_per_interval``, 1 in the paper).
      param_range: ``(lo, hi, step)`` in parameters: PreNAS's intervals ``[lo + k*step,
        lo + (k+1)*step)``; candidates outside ``[lo, hi)`` are dropped (Tiny: 5e6, 12e6, 1e6).
      score: ``"taylor"`` (PreNAS's data-free ``sum |theta * G|``), ``"params"`` or the name of a
        proxy of ``algorithms.zero_cost`` (scored per candidate on the supernet; needs ``batch``
        in ``select``).
      batch_size, input_mean, input_std: the data-free Gaussian batch (64 images, ImageNet
        statistics for RGB inputs and ``N(0, 1)`` otherwise).
      seed: initialises the supernet (when ``select`` builds it) and draws the batch.
    """

    def __init__(
        self,
        buckets: int = 4,
        per_bucket: int = 1,
        param_range: Sequence[float] | None = None,
        score: str = "taylor",
        batch_size: int = 64,
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        for name, value in (
            ("buckets", buckets),
            ("per_bucket", per_bucket),
            ("batch_size", batch_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PreNASSelector: {name} must be a positive int; got {value!r}.")
        if param_range is not None and len(param_range) != 3:
            raise ValueError(
                f"PreNASSelector: param_range must be (lo, hi, step); got {param_range!r}."
            )
        if score not in OWN_SCORES:
            from symnas.algorithms.zero_cost import PROXIES

            if score not in PROXIES:
                raise ValueError(
                    f"PreNASSelector: score must be one of {list(OWN_SCORES) + list(PROXIES)}; "
                    f"got {score!r}."
                )
        self.buckets = buckets
        self.per_bucket = per_bucket
        self.param_range = None if param_range is None else tuple(param_range)
        self.score = score
        self.batch_size = batch_size
        self.input_mean = input_mean
        self.input_std = input_std
        self.seed = seed
        self.candidates: Candidates | None = None

    def select(
        self,
        space: ViTSpace,
        supernet: ViTSupernet | None = None,
        batch: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> list[Preferred]:
        """The preferred set of ``space``, smallest bucket first (best score first inside one).

        ``supernet`` (default: ``programs.supernet(space)`` initialised with ``seed``) supplies
        the entangled weights; ``batch`` is the ``(x, y)`` minibatch a ``zero_cost`` proxy
        needs. Every enumerated candidate is kept in ``self.candidates``.
        """
        if not isinstance(space, ViTSpace):
            raise TypeError(
                f"PreNASSelector.select expects a ViTSpace; got {type(space).__name__}."
            )
        if supernet is None:
            from symnas import programs

            torch.manual_seed(self.seed)
            supernet = programs.supernet(space)
        arch = supernet.max_arch
        x = scores.data_free_batch(
            arch.in_chans,
            arch.image_size,
            self.batch_size,
            self.input_mean,
            self.input_std,
            self.seed,
        ).to(supernet.cls_token.device)
        grads = scores.taylor_gradients(supernet, x)
        head_inc, mlp_inc = scores.block_increment_scores(supernet, grads)
        tables = scores.taylor_tables(supernet, grads) if self.score == "taylor" else None
        cands = enumerate_candidates(supernet, head_inc, mlp_inc, tables)
        template = supernet.max_spec()
        if self.score == "params":
            cands = _with_scores(cands, cands.params.astype(np.float64))
        elif self.score != "taylor":
            cands = _with_scores(cands, self._proxy_scores(cands, template, supernet, batch))
        self.candidates = cands
        return self._pick(cands, template)

    def _proxy_scores(
        self,
        cands: Candidates,
        template: dict[str, Any],
        supernet: ViTSupernet,
        batch: tuple[torch.Tensor, torch.Tensor | None] | None,
    ) -> np.ndarray:
        from symnas.algorithms import zero_cost

        if batch is None:
            raise ValueError(f"PreNASSelector: score={self.score!r} needs a batch (x, y).")
        specs = [cands.spec(i, template) for i in range(len(cands))]
        rows = zero_cost.score_specs(
            specs, batch, [self.score], supernet=supernet, seed=self.seed, progress=False
        )
        return np.array([row[self.score] for row in rows], dtype=np.float64)

    def _pick(self, cands: Candidates, template: dict[str, Any]) -> list[Preferred]:
        edges = bucket_edges(cands.params, self.buckets, self.param_range)
        index = np.searchsorted(edges, cands.params, side="right") - 1
        preferred = []
        for b in range(len(edges) - 1):
            members = np.flatnonzero(index == b)
            members = members[np.argsort(-cands.score[members], kind="stable")]
            for i in members[: self.per_bucket]:
                preferred.append(
                    Preferred(
                        spec=cands.spec(int(i), template),
                        params=int(cands.params[i]),
                        score=float(cands.score[i]),
                        bucket=(float(edges[b]), float(edges[b + 1])),
                    )
                )
        return preferred


def _with_scores(cands: Candidates, values: np.ndarray) -> Candidates:
    return Candidates(
        cands.embed_dim, cands.depth, cands.mlp_ratio, cands.num_heads, cands.params, values
    )
