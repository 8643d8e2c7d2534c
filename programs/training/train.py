"""Supervised training and evaluation of classifiers on a ``programs.data.Dataset``.

Mini-batch training with Adam (Kingma & Ba, ICLR 2015), AdamW (Loshchilov & Hutter, ICLR 2019)
or SGD with momentum, under a per-step cosine learning-rate decay to zero without restarts
(SGDR, Loshchilov & Hutter, ICLR 2017), the schedule of the NAS-Bench-201 and DARTS trainers.

One loop serves standalone models and weight-sharing supernets: ``forward(module, x)`` replaces
``module(x)`` (``lambda m, x: m(x, spec)`` trains one sub-network of a supernet), and
``step_fn(module, x, y, step) -> loss`` replaces the whole loss computation of a step (a
one-shot trainer samples a sub-network per step there, or sums the losses of several).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from symnas.core.files import write_atomic
from symnas.programs.data import Dataset

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]
StepFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]
#: Called after each epoch with the number of epochs done and the module; False stops.
OnEpoch = Callable[[int, nn.Module], bool | None]

OPTIMIZERS = ("adam", "adamw", "sgd")
DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05}


def _call_module(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module(x)


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")


def _check_inputs(module: Any, data: Any, split: str) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a programs.data.Dataset; got {type(data).__name__}.")
    if split not in data.splits:
        raise ValueError(
            f"split must be one of {data.splits} (the splits of {data.name!r}); got {split!r}."
        )


def _module_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


def make_optimizer(
    parameters: Iterable[nn.Parameter],
    name: str = "adam",
    lr: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """An optimizer by name: ``"adam"``, ``"adamw"`` or ``"sgd"`` (with ``momentum``).

    ``lr=None`` takes the default of the optimizer (``DEFAULT_LR``: 1e-3 for Adam and AdamW,
    0.05 for SGD).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")
    lr = DEFAULT_LR[name] if lr is None else lr
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr!r}.")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay!r}.")
    params = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, lr_min: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step cosine decay of each group's learning rate to ``lr_min`` (DARTS's schedule; to
    zero by default): the rate is scaled by ``f + (1 - f) * (1 + cos(pi * step / total_steps)) / 2``
    with ``f = lr_min / lr``."""
    _positive_int("total_steps", total_steps)
    floors = [lr_min / group["lr"] if lr_min else 0.0 for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        [
            lambda step, f=f: (
                f
                + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
            )
            for f in floors
        ],
    )


@torch.no_grad()
def evaluate(
    module: nn.Module,
    data: Dataset,
    split: str = "test",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    forward: Forward | None = None,
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``module`` on one split, in eval mode.

    ``device=None`` uses the device of the module's parameters; ``forward(module, x)`` replaces
    ``module(x)``. The module's train/eval mode is restored afterwards.
    """
    _check_inputs(module, data, split)
    _positive_int("batch_size", batch_size)
    forward = forward or _call_module
    device = torch.device(device) if device is not None else _module_device(module)
    was_training = module.training
    module.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        for x, y in data.loader(split, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            logits = forward(module, x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == y).sum())
            seen += len(y)
    finally:
        module.train(was_training)
    if seen == 0:
        raise ValueError(f"evaluate: the {split!r} split of {data.name!r} is empty.")
    return {"accuracy": correct / seen, "loss": total_loss / seen}


def train(
    module: nn.Module,
    data: Dataset,
    epochs: int,
    batch_size: int = 64,
    lr: float | None = None,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    label_smoothing: float = 0.0,
    grad_clip: float | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    max_steps: int | None = None,
    forward: Forward | None = None,
    step_fn: StepFn | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
    on_epoch: OnEpoch | None = None,
    schedule_epochs: int | None = None,
    resume_from: str | Path | None = None,
    save_to: str | Path | None = None,
) -> dict[str, float]:
    """Trains ``module`` on ``data.x_train`` and scores it on every split of ``data``.

    Runs ``epochs`` passes of shuffled mini-batches (stopping early after ``max_steps`` steps if
    given) with the named optimizer (``lr=None``: its default, see ``make_optimizer``), the
    cosine schedule over all steps, cross-entropy with ``label_smoothing`` and optional gradient
    norm clipping at ``grad_clip``. ``parameters`` (default: every parameter that requires a
    gradient) are the ones optimized.

    ``forward(module, x)`` replaces ``module(x)`` in training and evaluation. ``step_fn(module,
    x, y, step)`` instead computes the training loss of a step itself (the loop then calls
    ``backward``, clips and steps the optimizer); evaluation still uses ``forward``.

    ``on_epoch(epoch, module)`` is called after each complete epoch (``epoch`` counts from 1),
    e.g. to report intermediate accuracy; returning False stops the training there (the
    remaining epochs are not run, the schedule is not compressed).

    ``schedule_epochs`` (default ``epochs``, capped by ``max_steps``) is the length of the
    cosine schedule: with a longer schedule, a run of ``epochs`` is the exact prefix of the run
    of ``schedule_epochs``, so it can be continued. ``save_to`` receives, atomically, the
    state after the run's last epoch when the run completes ``epochs`` whole epochs
    (:func:`save_training_state`); ``resume_from`` continues such a state: it loads the
    weights, optimizer, schedule, torch's generator and epoch, and trains from that epoch up to
    ``epochs`` under the state's seed, so a run of 3 epochs continued to 9 equals a run of 9
    epochs bit for bit (the schedule's length, batch size and optimizer must be the same).

    The run is deterministic for a ``seed``: it seeds torch's global generator (dropout,
    sampling inside ``step_fn``) and the shuffling of every epoch.

    Returns ``accuracy`` and ``loss`` on the test split, ``train_accuracy`` and ``train_loss``
    of the final weights on the train split, ``valid_accuracy`` and ``valid_loss`` on the valid
    split when ``data`` has one (``Dataset.with_validation``), ``epochs`` (passes run, fractional when
    ``max_steps`` stopped the last one; counted from the start of the run a resumed state
    continues), ``epochs_trained`` (passes run by this call), ``steps`` and ``wall_s``.
    """
    _check_inputs(module, data, "train")
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    if max_steps is not None:
        _positive_int("max_steps", max_steps)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"train: label_smoothing must lie in [0, 1); got {label_smoothing!r}.")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"train: grad_clip must be None or positive; got {grad_clip!r}.")
    start = time.perf_counter()
    state = load_training_state(resume_from) if resume_from is not None else None
    if state is not None:
        seed = state["seed"]
    torch.manual_seed(seed)
    forward = forward or _call_module
    device = torch.device(device)
    module.to(device)
    source = module.parameters() if parameters is None else parameters
    params = [p for p in source if p.requires_grad]
    opt = make_optimizer(params, optimizer, lr, weight_decay, momentum)
    steps_per_epoch = len(data.loader("train", batch_size=batch_size))
    if steps_per_epoch == 0:
        raise ValueError(f"train: the train split of {data.name!r} is empty.")
    total_steps = epochs * steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    if schedule_epochs is None:
        schedule_steps = total_steps
    else:
        _positive_int("schedule_epochs", schedule_epochs)
        if schedule_epochs < epochs:
            raise ValueError(
                f"train: schedule_epochs ({schedule_epochs}) must be at least epochs ({epochs})."
            )
        schedule_steps = schedule_epochs * steps_per_epoch
    schedule = cosine_schedule(opt, schedule_steps)
    step = 0
    settings = {
        "seed": seed,
        "batch_size": batch_size,
        "schedule_steps": schedule_steps,
        "optimizer_name": optimizer,
    }
    if state is not None:
        step = _restore(state, settings, total_steps, module, opt, schedule)
    first_step = step
    module.train()
    with tqdm(total=total_steps, initial=step, disable=not progress, desc="train") as bar:
        for epoch in range(step // steps_per_epoch, math.ceil(total_steps / steps_per_epoch)):
            batches = data.loader("train", batch_size, shuffle=True, seed=seed + epoch)
            for x, y in batches:
                if step == total_steps:
                    break
                x, y = x.to(device), y.to(device)
                opt.zero_grad(set_to_none=True)
                if step_fn is None:
                    logits = forward(module, x)
                    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
                else:
                    loss = step_fn(module, x, y, step)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(params, grad_clip)
                opt.step()
                schedule.step()
                step += 1
                if progress:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss):.4f}")
            if on_epoch is not None and step % steps_per_epoch == 0:
                if on_epoch(step // steps_per_epoch, module) is False:
                    break
    if save_to is not None and step == epochs * steps_per_epoch:
        save_training_state(save_to, module, opt, schedule, step, settings)
    on_test = evaluate(module, data, "test", device=device, forward=forward)
    on_train = evaluate(module, data, "train", device=device, forward=forward)
    result = {
        "accuracy": on_test["accuracy"],
        "loss": on_test["loss"],
        "train_accuracy": on_train["accuracy"],
        "train_loss": on_train["loss"],
    }
    if data.has_valid:
        on_valid = evaluate(module, data, "valid", device=device, forward=forward)
        result.update(valid_accuracy=on_valid["accuracy"], valid_loss=on_valid["loss"])
    return {
        **result,
        "epochs": step / steps_per_epoch,
        "epochs_trained": (step - first_step) / steps_per_epoch,
        "steps": step,
        "wall_s": time.perf_counter() - start,
    }


def save_training_state(
    path: str | Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    settings: dict[str, Any],
) -> None:
    """Writes what continuing a run needs (weights, optimizer, schedule, torch's generator, the
    step reached and the run's ``settings``) to ``path`` atomically (``torch.save``)."""
    state = {
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": torch.get_rng_state(),
        "step": step,
        **settings,
    }
    write_atomic(path, lambda f: torch.save(state, f))


def load_training_state(path: str | Path) -> dict[str, Any]:
    """A state written by :func:`save_training_state` (tensors on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"train: resume_from {str(path)!r} is not a file.")
    return torch.load(path, map_location="cpu", weights_only=False)


def _restore(
    state: dict[str, Any],
    settings: dict[str, Any],
    total_steps: int,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> int:
    """Loads ``state`` into the run (checking it was made with the same ``settings`` and lies
    within its ``total_steps``); returns the step it continues from."""
    for name, value in settings.items():
        if state.get(name) != value:
            raise ValueError(
                f"train: cannot resume a run made with {name}={state.get(name)!r} with "
                f"{name}={value!r}; continue it with the settings it was made with."
            )
    if state["step"] > total_steps:
        raise ValueError(
            f"train: the state to resume has run {state['step']} steps, more than the "
            f"{total_steps} steps asked for."
        )
    module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["rng"])
    return int(state["step"])
