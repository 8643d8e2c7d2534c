"""One supernet trainer for every weight-sharing method.

A :class:`SupernetTrainer` trains a supernet's shared weights in one of two ways:

- **sampled paths**: a path sampler (``algorithms.samplers``: SPOS uniform, sandwich, PreNAS's
  preferred set, ...) picks the sub-networks of each step; their label-smoothed cross-entropies
  are averaged and the sampler receives each loss back (``update``, with the step's gradients
  still on the parameters). A sampler with ``split_batch`` has each sub-network train on its own
  equal share of the batch, the loss being the mean over the whole batch (multi-architecture
  sampling). A sampler that ``observes_data`` receives each share's dataset indices, logits and
  targets, and each epoch's training indices are drawn with replacement from its
  ``data_weights`` (``programs.data.weighted_indices``; the plain shuffle until it has any).
  A sampler that ``observes_valid`` receives, after every step, the eval-mode logits of the
  step's specs on the next batch of the validation stream (``valid``, its test split). The
  trainer trains the supernet the sampler's ``prepare`` returns (a mixture sampler's copies).
  Every sampler's ``end_epoch`` runs after an epoch's last step, before the checkpoint;
- **weighted mixture**: with :class:`ArchitectureParameters` (one logit vector per op decision of
  a ``differentiable`` supernet) every step runs ``forward_weighted`` with the softmax of the
  logits. With an architecture learning rate, each step first updates the logits on a batch of
  the validation stream (DARTS's bilevel optimisation, first order: Liu et al., ICLR 2019, with
  Adam(3e-4, betas (0.5, 0.999), weight decay 1e-3) as defaults); ``arch_step`` is the hook a
  second-order variant overrides.

Weights follow ``programs.train``'s recipe (named optimizer, per-step cosine decay to ``lr_min``,
optional gradient clipping); ``augment="crop_flip"`` augments each training batch on its device
(``programs.data.augment``), and the validation batches of the architecture step too (DARTS's search
reads both halves of the training set with the training transform). With ``out`` the trainer checkpoints after every epoch (``checkpoint.pt``:
state dicts of the supernet, optimizers, schedule and architecture parameters, the sampler's JSON
state, the random generators and the epoch, replaced atomically and loaded with
``weights_only=True``) and writes one JSON line per epoch to ``train_log.jsonl``;
``resume=True`` continues from the checkpoint and ends with the same weights as an
uninterrupted run. A checkpoint of another configuration is refused with the difference named;
a corrupt one is an error, never a silent restart.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from symnas.core.compare import first_difference, short_repr
from symnas.core.files import write_atomic, write_text_atomic
from symnas.programs.data import Dataset, shuffled_indices, weighted_indices
from symnas.programs.data.augment import AUGMENTATIONS, augment
from symnas.programs.supernet_base import Supernet, require
from symnas.programs.training.train import cosine_schedule, evaluate, make_optimizer

CHECKPOINT = "checkpoint.pt"
TRAIN_LOG = "train_log.jsonl"
FORMAT = 1

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else as ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from e
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine.")
    return resolved


class ArchitectureParameters(nn.Module):
    """One logit vector per op decision of a ``differentiable`` supernet.

    Initialised as DARTS does, ``1e-3 * N(0, 1)``, from a generator seeded with ``seed``.
    ``weights()`` maps every decision to the softmax of its logits; ``mask`` (``{decision:
    [op indices]}``) removes ops from that softmax, which perturbation-based selection uses.
    """

    def __init__(self, decisions: Mapping[str, tuple[str, ...]], seed: int = 0) -> None:
        super().__init__()
        self.names = list(decisions)
        self.ops = {name: tuple(ops) for name, ops in decisions.items()}
        generator = torch.Generator().manual_seed(seed)
        self.logits = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(len(ops), generator=generator))
            for ops in decisions.values()
        )

    def weights(self, mask: Mapping[str, list[int]] | None = None) -> dict[str, torch.Tensor]:
        """The softmax weights of every decision (masked ops get weight 0)."""
        out = {}
        for name, logits in zip(self.names, self.logits, strict=True):
            if mask and mask.get(name):
                blocked = torch.zeros_like(logits, dtype=torch.bool)
                blocked[list(mask[name])] = True
                logits = logits.masked_fill(blocked, float("-inf"))
            out[name] = torch.softmax(logits, dim=-1)
        return out

    def as_json(self) -> dict[str, list[float]]:
        """The current softmax weights, rounded, for logs."""
        with torch.no_grad():
            return {k: [round(float(v), 5) for v in w] for k, w in self.weights().items()}


@dataclass
class TrainConfig:
    """Settings of a supernet training (what a checkpoint's fingerprint records)."""

    epochs: int
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float = 0.0
    momentum: float = 0.9
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    max_steps: int | None = None
    seed: int = 0
    arch_lr: float | None = None
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    lr_min: float = 0.0
    augment: str | None = None

    def check(self) -> None:
        """Raises ``ValueError`` naming the first bad field."""
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SupernetTrainer: {name} must be a positive int; got {value!r}.")
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, int)
            or self.max_steps < 1
        ):
            raise ValueError(
                f"SupernetTrainer: max_steps must be None or a positive int; got {self.max_steps!r}."
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"SupernetTrainer: label_smoothing must lie in [0, 1); got {self.label_smoothing!r}."
            )
        if not self.lr_min >= 0:
            raise ValueError(f"SupernetTrainer: lr_min must be >= 0; got {self.lr_min!r}.")
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            raise ValueError(
                f"SupernetTrainer: augment must be None or one of {list(AUGMENTATIONS)}; got "
                f"{self.augment!r}."
            )
        if self.arch_lr is not None and not self.arch_lr > 0:
            raise ValueError(
                f"SupernetTrainer: arch_lr must be None or positive; got {self.arch_lr!r}."
            )


class SupernetTrainer:
    """Trains a supernet with a path sampler or architecture parameters (see the module doc).

    Args:
      supernet: a ``programs.Supernet``.
      data: training data; its train split trains the weights.
      config: a ``TrainConfig``.
      sampler: a path sampler (``algorithms.samplers``); bound here to ``space``.
      space: the supernet's space (needed by samplers that draw from it).
      arch: architecture parameters (weighted-mixture training; needs ``differentiable``).
      valid: the validation stream (its test split) for the architecture step, or for a sampler
        that ``observes_valid``; required with ``config.arch_lr`` and such samplers.
      eval_spec: the spec whose inherited accuracy is reported each epoch (sampled training);
        None reports the training loss only.
      out: folder for ``checkpoint.pt`` and ``train_log.jsonl``; None keeps nothing.
      resume: continue from ``out/checkpoint.pt``.
      device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
      progress: show progress: a bar on a terminal, elsewhere one ``logging`` line per epoch
        (logger ``symnas.programs.training.supernet_train``); None: a bar on a terminal only.
      fingerprint: extra JSON fields that must match on resume (space, data...).
    """

    def __init__(
        self,
        supernet: Supernet,
        data: Dataset,
        config: TrainConfig,
        sampler: Any = None,
        space: Any = None,
        arch: ArchitectureParameters | None = None,
        valid: Dataset | None = None,
        eval_spec: dict[str, Any] | None = None,
        out: str | os.PathLike | None = None,
        resume: bool = False,
        device: str | torch.device = "auto",
        progress: bool | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(supernet, Supernet):
            raise TypeError(
                f"SupernetTrainer: supernet must be a programs.Supernet; got {type(supernet).__name__}."
            )
        config.check()
        if sampler is not None:
            supernet = sampler.prepare(supernet)
            if sampler.observes_valid and valid is None:
                raise ValueError(
                    f"SupernetTrainer: sampler {type(sampler).__name__} scores every step on a "
                    "validation batch; give valid= (the validation stream)."
                )
        if (sampler is None) == (arch is None):
            raise ValueError(
                "SupernetTrainer: give exactly one of sampler= (sampled paths) and arch= "
                "(weighted mixture of a differentiable supernet)."
            )
        if arch is not None:
            require(supernet, "differentiable", "SupernetTrainer(arch=...)")
            if config.arch_lr is not None and valid is None:
                raise ValueError("SupernetTrainer: arch_lr needs valid= (the validation stream).")
        elif config.arch_lr is not None:
            raise ValueError("SupernetTrainer: arch_lr applies only with arch= parameters.")
        self.device = resolve_device(device)
        self.supernet = supernet.to(self.device)
        self.data, self.valid, self.config = data, valid, config
        self.arch = arch.to(self.device) if arch is not None else None
        self.sampler = sampler.bind(space, supernet) if sampler is not None else None
        self.eval_spec = eval_spec
        self.out = Path(out) if out is not None else None
        self.resume = resume
        on_terminal = sys.stderr.isatty()
        self.progress = on_terminal if progress is None else bool(progress)
        self.bar_shown = self.progress and on_terminal  # else a log line per epoch
        self.fingerprint = {
            "supernet": type(supernet).__name__,
            "parameters": sum(p.numel() for p in supernet.parameters()),
            "data": {
                "name": data.name,
                "train": len(data.y_train),
                "input_shape": list(data.input_shape),
            },
            "config": json.loads(json.dumps(asdict(config), default=str)),
            "sampler": sampler.config() if sampler is not None else None,
            "arch": list(arch.names) if arch is not None else None,
            **json.loads(json.dumps(dict(fingerprint or {}), default=str)),
        }
        self.history: list[dict[str, Any]] = []
        self._setup_optimizers()

    # ------------------------------------------------------------------ set-up
    def _setup_optimizers(self) -> None:
        cfg = self.config
        self.optimizer = make_optimizer(
            self.supernet.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum
        )
        self.steps_per_epoch = len(self.data.loader("train", batch_size=cfg.batch_size))
        if self.steps_per_epoch == 0:
            raise ValueError(f"SupernetTrainer: the train split of {self.data.name!r} is empty.")
        total = cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        self.schedule = cosine_schedule(self.optimizer, self.total_steps, cfg.lr_min)
        self.arch_optimizer = None
        if self.arch is not None and cfg.arch_lr is not None:
            self.arch_optimizer = torch.optim.Adam(
                self.arch.parameters(),
                lr=cfg.arch_lr,
                betas=tuple(cfg.arch_betas),
                weight_decay=cfg.arch_weight_decay,
            )
        self.rng = np.random.default_rng(cfg.seed)
        self.epoch = 0
        self.step = 0

    # ------------------------------------------------------------------ steps
    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training criterion: cross-entropy with the configured label smoothing."""
        return F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)

    def weighted_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the mixture the architecture parameters weigh."""
        return self.supernet.forward_weighted(x, self.arch.weights())

    def arch_step(
        self, x_valid: torch.Tensor, y_valid: torch.Tensor, x: torch.Tensor, y: torch.Tensor
    ) -> float:
        """One first-order DARTS step of the architecture parameters on a validation batch."""
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.weighted_logits(x_valid), y_valid)
        loss.backward()
        self.arch_optimizer.step()
        return float(loss.detach())

    def weight_step(
        self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray | None = None
    ) -> float:
        """One step of the shared weights on a training batch (``indices``: its examples'
        dataset indices, for a sampler that observes data); returns its loss."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.sampler is not None:
            specs, losses = self._sampled_losses(x, y, indices)
            if self.sampler.split_batch:
                weights = [len(part) / len(y) for part in self._shares(len(y), len(specs))]
                loss = torch.stack([w * v for w, v in zip(weights, losses, strict=True)]).sum()
            else:
                loss = torch.stack(losses).mean()
        else:
            loss = self.loss(self.weighted_logits(x), y)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.arch is not None:
            self.arch.zero_grad(set_to_none=True)
        if self.sampler is not None:
            self.sampler.update(specs, [float(v.detach()) for v in losses])
            if self.sampler.observes_valid:
                self.observe_valid(specs)
        return float(loss.detach())

    @torch.no_grad()
    def observe_valid(self, specs: list[Any]) -> None:
        """Scores ``specs`` in eval mode on the next validation batch and reports their logits
        to the sampler."""
        x, y = next(self.valid_batches)
        x, y = x.to(self.device), y.to(self.device)
        self.supernet.eval()
        try:
            logits = [self.supernet(x, spec) for spec in specs]
        finally:
            self.supernet.train()
        self.sampler.observe_valid(specs, logits, y)

    def _shares(self, size: int, count: int) -> list[torch.Tensor]:
        """The non-empty shares of a batch of ``size`` that ``count`` split-batch specs train on
        (equal up to one example; fewer shares than specs when the batch is smaller)."""
        return [part for part in torch.arange(size).tensor_split(count) if len(part)]

    def _sampled_losses(
        self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray | None
    ) -> tuple[list[Any], list[torch.Tensor]]:
        """The specs of a sampled step that ran and their losses (each on the whole batch, or
        on its own share with ``split_batch``); reports each share to a sampler that observes
        data."""
        specs = self.sampler.sample(self.rng)
        if not self.sampler.split_batch and not self.sampler.observes_data:
            return specs, [self.loss(self.supernet(x, spec), y) for spec in specs]
        shares = (
            self._shares(len(y), len(specs))
            if self.sampler.split_batch
            else [slice(None)] * len(specs)
        )
        specs = specs[: len(shares)]
        losses = []
        for spec, part in zip(specs, shares, strict=True):
            logits = self.supernet(x[part], spec)
            losses.append(self.loss(logits, y[part]))
            if self.sampler.observes_data:
                self.sampler.observe_data(indices[part], logits.detach(), y[part])
        return specs, losses

    def _epoch_order(self, epoch: int) -> np.ndarray | None:
        """The training indices of ``epoch`` for a sampler that observes data (drawn from its
        ``data_weights``, or the plain shuffle's order before it has any); None otherwise."""
        if self.sampler is None or not self.sampler.observes_data:
            return None
        size, seed = len(self.data.y_train), self.config.seed + epoch
        weights = self.sampler.data_weights(size)
        if weights is None:
            return shuffled_indices(size, seed)
        return weighted_indices(weights, size, seed)

    def _valid_stream(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        seed = self.config.seed + 7919 * (epoch + 1)
        while True:
            yield from self.valid.loader("test", self.config.batch_size, shuffle=True, seed=seed)
            seed += 1

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, Any]:
        """Trains to the end (resuming when asked); returns the last epoch's log record with the
        total training time ``train_s``."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.resume:
                self._load()
            elif (self.out / CHECKPOINT).exists():
                raise ValueError(
                    f"{self.out} already holds a supernet checkpoint; pass resume=True to "
                    "continue that training, or choose another folder."
                )
        if self.step == 0:
            torch.manual_seed(self.config.seed)  # dropout, drop path; a resume restores it
        epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        bar = tqdm(
            total=self.total_steps, initial=self.step, disable=not self.bar_shown, desc="supernet"
        )
        try:
            while self.epoch < epochs:
                self._run_epoch(self.epoch, bar)
                self.epoch += 1
                if self.out is not None:
                    self._save()
        finally:
            bar.close()
        if not self.history:
            return {}
        return {**self.history[-1], "train_s": sum(r["wall_s"] for r in self.history)}

    def begin_epoch(self, epoch: int) -> None:
        """Called before each epoch's steps (again after a resume); subclasses hook in here."""

    def extra_state(self) -> dict[str, Any]:
        """JSON state of a subclass, saved in every checkpoint (``load_extra_state`` restores it)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restores what ``extra_state`` returned when the checkpoint was written."""

    def _run_epoch(self, epoch: int, bar: Any) -> None:
        cfg = self.config
        self.begin_epoch(epoch)
        start, cpu_start = time.perf_counter(), time.process_time()
        self.supernet.train()
        valid = self._valid_stream(epoch) if self.arch_optimizer is not None else None
        if self.sampler is not None and self.sampler.observes_valid:
            self.valid_batches = self._valid_stream(epoch)
        order = self._epoch_order(epoch)
        if order is None:
            batches = self.data.loader("train", cfg.batch_size, shuffle=True, seed=cfg.seed + epoch)
        else:
            batches = self.data.loader("train", cfg.batch_size, indices=order)
        total, count, arch_total = 0.0, 0, 0.0
        for batch, (x, y) in enumerate(batches):
            if self.step == self.total_steps:
                break
            indices = None if order is None else order[batch * cfg.batch_size :][: len(y)]
            x, y = augment(cfg.augment, x.to(self.device), self.rng), y.to(self.device)
            if valid is not None:
                xv, yv = next(valid)
                xv = augment(cfg.augment, xv.to(self.device), self.rng)
                arch_total += self.arch_step(xv, yv.to(self.device), x, y)
            total += self.weight_step(x, y, indices)
            self.schedule.step()
            self.step += 1
            count += 1
            bar.update(1)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.step,
            "loss": total / max(count, 1),
            "lr": self.schedule.get_last_lr()[0],
            "wall_s": round(time.perf_counter() - start, 4),
            "cpu_s": round(time.process_time() - cpu_start, 4),
        }
        if valid is not None:
            record["arch_loss"] = arch_total / max(count, 1)
        if self.arch is not None:
            record["arch_weights"] = self.arch.as_json()
        if self.eval_spec is not None:
            spec = self.eval_spec
            metrics = evaluate(self.supernet, self.data, "test", forward=lambda m, x: m(x, spec))
            record["accuracy"] = metrics["accuracy"]
        if self.sampler is not None:
            self.sampler.end_epoch(epoch, math.ceil(self.total_steps / self.steps_per_epoch))
        self.history.append(record)
        if self.bar_shown:
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        elif self.progress:
            logger.info(
                "supernet epoch %d/%d: step %d/%d, loss %.4f, %.1f s",
                epoch + 1,
                math.ceil(self.total_steps / self.steps_per_epoch),
                self.step,
                self.total_steps,
                record["loss"],
                record["wall_s"],
            )

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        """Everything a resumed training needs, as ``torch.save``-able, ``weights_only`` data."""
        state = {
            "format": FORMAT,
            "fingerprint": json.dumps(self.fingerprint, sort_keys=True),
            "epoch": self.epoch,
            "step": self.step,
            "model": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "sampler": json.dumps(self.sampler.state_dict() if self.sampler else {}),
            "history": json.dumps(self.history),
            "extra": json.dumps(self.extra_state()),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.arch is not None:
            state["arch"] = self.arch.state_dict()
        if self.arch_optimizer is not None:
            state["arch_optimizer"] = self.arch_optimizer.state_dict()
        return state

    def _save(self) -> None:
        state = self.state()
        write_atomic(self.out / CHECKPOINT, lambda f: torch.save(state, f))
        write_text_atomic(self.out / TRAIN_LOG, "".join(json.dumps(r) + "\n" for r in self.history))

    def _load(self) -> None:
        path = self.out / CHECKPOINT
        if not path.exists():
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError(
                    f"unknown format {state.get('format') if isinstance(state, dict) else None}"
                )
            saved = json.loads(state["fingerprint"])
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is reported as corrupt
            raise ValueError(
                f"{path}: corrupt supernet checkpoint ({type(e).__name__}: {_load_problem(e)}); "
                "delete it to "
                "train from scratch."
            ) from None
        check_fingerprint(path, saved, self.fingerprint)
        self.supernet.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.sampler is not None:
            self.sampler.load_state_dict(json.loads(state["sampler"]))
        if self.arch is not None:
            self.arch.load_state_dict(state["arch"])
        if self.arch_optimizer is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = json.loads(state["history"])
        self.load_extra_state(json.loads(state.get("extra", "{}")))


def check_fingerprint(path: Path, saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Raises ``ValueError`` naming the first field where ``saved`` and ``current`` differ."""
    found = first_difference(dict(saved), json.loads(json.dumps(dict(current))))
    if found:
        where, was, now = found
        raise ValueError(
            f"Cannot resume from {path}: it was trained with another configuration ({where}: "
            f"checkpoint {short_repr(was)}, now {short_repr(now)})."
        )


def _load_problem(error: Exception) -> str:
    """What ``torch.load`` found wrong with a checkpoint, without torch's advice to load it
    with ``weights_only=False`` (unsafe for a file that was refused)."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:  # the file holds objects other than tensors and plain data
        return text[text.index(marker) :].splitlines()[0]
    lines = [line for line in text.splitlines() if "weights_only" not in line]
    return lines[0].strip() if lines else "unreadable"
