"""Ready-made flows: search a few specs of one family, each trained briefly on its data.

Each flow trains every proposed spec from scratch for a few epochs on the training samples less
a held-out validation split (``VALID_FRACTION`` of each class, drawn with ``VALID_SEED``:
``Dataset.with_validation``), and returns its validation accuracy ``valid_accuracy``, the
metric the search optimises, with the ``test_accuracy`` of the same final weights for the report,
parameters and MACs; the test split never steers the search (NAS-Bench-201's protocol: search
on validation, report test). The networks are small (8x8 digits, FSDD log-mel frames).
The objective reports the validation accuracy after every epoch (``trial.report``) and stops
when the search's pruner says so (``symnas run nb201-digits --pruner median``); its fidelity is
the number of epochs, from 1 to the flow's ``epochs``, so budgeted algorithms choose how long
each trial trains (``--algorithm asha``). The learning-rate schedule always spans the flow's
full ``epochs`` (a trial of budget ``b`` is the first ``b`` epochs of the full training), so a
trial below the full count saves its state in the trial's checkpoint folder, and a later trial
of the same architecture at a larger budget continues the latest state saved below its budget
and trains only the epochs left (``programs.train``'s ``save_to``/``resume_from``).
Weight initialisation and training use the trial's seed (``flows.seeding``), so a repeated or
resumed run gives the same metrics; the tiny models train single-threaded (``threads=1``), which
is fastest for them and insensitive to other load on the machine.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.registry import create
from symnas.flows.fidelity import Fidelity
from symnas.flows.registry import register_flow
from symnas.flows.result import SearchResult
from symnas.flows.search import search
from symnas.flows.seeding import current_trial_seed
from symnas.flows.trial_handle import TrialHandle
from symnas.flows.validate import int_option
from symnas.spaces.examples import (
    nb201_digits_space,
    pooling_digits_space,
    tdnn_fsdd_space,
    vit_digits_space,
)

if TYPE_CHECKING:
    from symnas.programs.data import Dataset

TRIAL_THREADS = 1
#: Share of each class's training samples held out as the validation split the flows select on.
VALID_FRACTION = 0.2
#: Seed of the draw of the held-out validation samples (fixed: every trial sees the same split).
VALID_SEED = 0
#: The metric the family flows optimise.
METRIC = "valid_accuracy"

#: File name prefix of a trial's saved training state, followed by its epoch.
STATE_PREFIX = "epoch_"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_root(name: str) -> Path:
    """Folder of a shared data set: ``$SYMNAS_DATA/<name>``, else ``../shared/data/<name>``."""
    base = Path(os.environ.get("SYMNAS_DATA", SHARED_DATA))
    return base / name


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str | None, valid_fraction: float = VALID_FRACTION):
    """The registered data set ``name`` (read from ``root`` if it reads files) with
    ``valid_fraction`` of its training samples held out as its valid split, kept for the
    process's later trials."""
    from symnas.programs.data import load_dataset

    return load_dataset(name, root).with_validation(valid_fraction, VALID_SEED)


def train_objective(
    spec: dict,
    trial: TrialHandle | None = None,
    *,
    data_name: str,
    epochs: int,
    root: str | None = None,
    lr: float | None = None,
    valid_fraction: float = VALID_FRACTION,
) -> dict[str, float]:
    """:func:`train_trial` on the registered data set ``data_name`` (read from ``root`` if it
    reads files) with ``valid_fraction`` of its training samples held out as the valid split."""
    return train_trial(spec, trial, _dataset(data_name, root, valid_fraction), epochs, lr=lr)


def train_trial(
    spec: dict,
    trial: TrialHandle | None,
    dataset: Dataset,
    epochs: int,
    lr: float | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Builds ``spec`` and trains it under the trial's seed (0 outside a search) for the
    trial's budget (``epochs`` without a trial) on ``dataset``'s training samples (batches of
    ``batch_size``), under the cosine schedule over ``epochs``; reports the validation accuracy
    and loss after each epoch and stops when the trial's pruner says so. With the trial's
    checkpoint folder, continues the latest state saved there below the budget
    (:func:`latest_state`) and, below ``epochs``, saves its own state once trained. Returns
    ``valid_accuracy`` and ``valid_loss``, ``test_accuracy`` of the final weights, params, MACs,
    the training time and the epochs trained (``epochs_trained``)."""
    import torch

    from symnas import programs

    seed = current_trial_seed()
    seed = 0 if seed is None else seed
    torch.manual_seed(seed)
    model = programs.build(spec, num_classes=dataset.num_classes)
    size = programs.count(model, dataset.input_shape)
    on_epoch, budget, resume_from, save_to = None, epochs, None, None
    if trial is not None:
        budget = int(trial.budget) if trial.budget is not None else epochs
        folder = trial.checkpoint_dir
        if folder is not None:
            resume_from = latest_state(folder, budget)
            if resume_from is not None:
                trial.continue_from(state_epoch(resume_from))
            if budget < epochs:
                save_to = folder / f"{STATE_PREFIX}{budget}.pt"

        def on_epoch(epoch: int, module: torch.nn.Module) -> bool:
            scores = programs.evaluate(module, dataset, "valid")
            trial.report(epoch, {METRIC: scores["accuracy"], "valid_loss": scores["loss"]})
            return not trial.should_stop()

    metrics = programs.train(
        model,
        dataset,
        epochs=budget,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        on_epoch=on_epoch,
        schedule_epochs=epochs,
        resume_from=resume_from,
        save_to=save_to,
    )
    return {
        METRIC: metrics["valid_accuracy"],
        "valid_loss": metrics["valid_loss"],
        "test_accuracy": metrics["accuracy"],
        "params": float(size["params"]),
        "macs": float(size["macs"]),
        "train_s": metrics["wall_s"],
        "epochs_trained": metrics["epochs_trained"],
    }


def state_epoch(path: Path) -> int:
    """The epoch of a state saved by ``train_trial`` (from its file name)."""
    return int(path.stem[len(STATE_PREFIX) :])


def latest_state(folder: Path, budget: int) -> Path | None:
    """The state saved in ``folder`` at the most epochs below ``budget`` (None if none).

    Below, not up to: a trial run again after a kill, whose state at its own budget may be on
    disk, continues from the same state as the first time and trains the same epochs."""
    saved = [p for p in folder.glob(f"{STATE_PREFIX}*.pt") if state_epoch(p) < budget]
    return max(saved, key=state_epoch, default=None)


def _algorithm(algorithm: SearchAlgorithm | str | None) -> SearchAlgorithm:
    if algorithm is None:
        return create("random", metric=METRIC)
    if isinstance(algorithm, str):
        name = algorithm
        if name in ("nsga2",):
            return create(name, objectives={METRIC: "max", "params": "min"})
        return create(name, metric=METRIC)
    return algorithm


def check_epochs(flow: str, epochs: Any) -> None:
    """Refuses a number of training epochs with which every trial would fail."""
    int_option(flow, "epochs", epochs, why="every trial trains its network that many epochs")


def _run(
    space: Any, objective: functools.partial, default_budget: int, **options: Any
) -> SearchResult:
    """Runs ``search`` with the flow's defaults; the objective's settings, the validation
    fraction included, are fingerprinted."""
    budget = options.pop("budget", None)
    budget = default_budget if budget is None else budget
    algorithm = _algorithm(options.pop("algorithm", None))
    objective = functools.partial(objective, valid_fraction=VALID_FRACTION)
    settings = {k: v for k, v in objective.keywords.items() if k != "root"}
    options.setdefault("threads", TRIAL_THREADS)
    fidelity = Fidelity(1, objective.keywords["epochs"])
    return search(
        space, objective, algorithm, budget=budget, options=settings, fidelity=fidelity, **options
    )


@register_flow("nb201-digits", "NAS-Bench-201 cells (C=8, N=1) trained 4 epochs on 8x8 digits")
def nb201_digits(budget: int | None = None, epochs: int = 4, **options: Any) -> SearchResult:
    """Searches NB201 cells on digits, each trained briefly from scratch.

    Args:
      epochs: training epochs of each proposed cell network.
    """
    check_epochs("nb201-digits", epochs)
    space = nb201_digits_space()
    objective = functools.partial(train_objective, data_name="digits", epochs=epochs)
    return _run(space, objective, 8, budget=budget, **options)


@register_flow("vit-digits", "AutoFormer ViT (embed 16-32, depth 2-3) trained 6 epochs on digits")
def vit_digits(budget: int | None = None, epochs: int = 6, **options: Any) -> SearchResult:
    """Searches small AutoFormer ViTs (patch 2 on 8x8 digits).

    Args:
      epochs: training epochs of each proposed ViT.
    """
    check_epochs("vit-digits", epochs)
    space = vit_digits_space()
    objective = functools.partial(train_objective, data_name="digits", epochs=epochs, lr=2e-3)
    return _run(space, objective, 6, budget=budget, **options)


@register_flow("pooling-digits", "ResNet20 with searched pooling positions, 3 epochs on digits")
def pooling_digits(budget: int | None = None, epochs: int = 3, **options: Any) -> SearchResult:
    """Searches where ResNet20 halves the resolution, on digits.

    Args:
      epochs: training epochs of each proposed network.
    """
    check_epochs("pooling-digits", epochs)
    space = pooling_digits_space()
    objective = functools.partial(train_objective, data_name="digits", epochs=epochs)
    return _run(space, objective, 6, budget=budget, **options)


@register_flow("tdnn-fsdd", "EfficientTDNN (scaled down) speaker identification on FSDD")
def tdnn_fsdd(
    budget: int | None = None, epochs: int = 4, root: str | None = None, **options: Any
) -> SearchResult:
    """Searches small EfficientTDNN speaker models on the Free Spoken Digit Dataset.

    Args:
      epochs: training epochs of each proposed model.
      root: folder of the FSDD recordings (default ``$SYMNAS_DATA/fsdd`` or
        ``../shared/data/fsdd``).
    """
    check_epochs("tdnn-fsdd", epochs)
    root = str(root or data_root("fsdd"))
    space = tdnn_fsdd_space()
    objective = functools.partial(train_objective, data_name="fsdd", epochs=epochs, root=root)
    _dataset("fsdd", root)  # fails early, naming the folder, when the data is missing
    return _run(space, objective, 4, budget=budget, **options)
