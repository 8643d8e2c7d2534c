"""The ``hw-nested`` flow: ResNet20 pooling architectures x systolic accelerators on digits.

Accuracy comes from one weight-sharing pooling supernet trained once on digits with a path
sampler chosen by name (default uniform; every architecture then reads its accuracy with
inherited weights, cached);
latency, energy and utilisation come from the analytical systolic-array model
(``programs.cost.hardware``), with each architecture's layer table extracted once. The inner search
optimises a MnasNet-style reward ``accuracy * (latency / target) ** w`` (Tan et al., CVPR 2019:
``w = -0.07``); the outer search is NSGA-II over accuracy, latency and area, with the area cap as a
constraint.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.dedup import Deduped
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.registry import create
from symnas.core.files import write_json_atomic, write_text_atomic
from symnas.flows.nested import NestedResult, nested
from symnas.flows.progress import phase
from symnas.flows.registry import register_flow
from symnas.flows.report import pareto_plot, table
from symnas.flows.result import SearchResult
from symnas.flows.run_config import prepare_out_dir
from symnas.flows.trial_log import read_trials
from symnas.flows.validate import device_option, positive_number

MNAS_W = -0.07
OUTER_OBJECTIVES = {"accuracy": "max", "latency_ms": "min", "area_mm2": "min"}

logger = logging.getLogger(__name__)


def arch_key(arch: Any) -> str:
    """The key of a decoded architecture in accuracy tables and caches (its sorted JSON)."""
    return json.dumps(arch, sort_keys=True)


def every_spec(space: Any) -> list[Any]:
    """Every architecture of a small ``space``, decoded, in a fixed order."""
    from symnas import spaces

    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.distinct(int(codec.size), np.random.default_rng(0))]


def path_sampler(name: str, space: Any, specs: list[Any]) -> Any:
    """The registered path sampler ``name`` (``symnas list``) for training the supernet of
    ``space``, with its default options; a sampler that takes ``specs`` draws from ``specs``.

    An unknown name, or a sampler that needs a capability the space's supernet lacks, is an
    error here, before anything is trained.
    """
    from symnas import programs
    from symnas.algorithms.samplers import SAMPLERS, create_sampler
    from symnas.programs.supernet_base import require

    entry = SAMPLERS.get(name)
    if entry.meta["requires"] is not None:
        require(
            programs.registry.supernet_class(space), entry.meta["requires"], f"sampler {name!r}"
        )
    takes_specs = "specs" in inspect.signature(entry.obj).parameters
    try:
        return create_sampler(name, **({"specs": specs} if takes_specs else {}))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"sampler {name!r} cannot draw this space's architectures with its default options "
            f"({type(e).__name__}: {e})."
        ) from None


def supernet_accuracy_table(
    space: Any,
    data: Any,
    epochs: int = 8,
    seed: int = 0,
    lr: float = 3e-3,
    out: Path | None = None,
    resume: bool = False,
    device: str = "auto",
    sampler: str = "uniform",
    verbose: bool = False,
) -> dict[str, float]:
    """Trains one pooling supernet with the shared trainer (the path sampler ``sampler`` by
    name, over the space's architectures: uniform single-path sampling by default; Adam, cosine)
    and returns the inherited test accuracy of every architecture of ``space``, keyed by the
    architecture's JSON. With ``out`` the training is checkpointed there and ``resume``
    continues it; ``verbose`` shows the progress of both phases (``flows.progress``). A sampler
    that scores its steps on validation batches (``balanced_mixture``) trains on one half of the
    training set and validates on the other (``programs.data.validation_split``); a mixture
    sampler's architectures are scored by the supernet each is assigned to."""
    from symnas import programs
    from symnas.programs.data import validation_split
    from symnas.programs.training.estimator import SupernetEstimator
    from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig

    every = every_spec(space)
    torch.manual_seed(seed)
    path = path_sampler(sampler, space, every)
    train, valid = validation_split(data, 0.5, seed) if path.observes_valid else (data, None)
    with phase(logger, f"hw-nested: training the pooling supernet, {epochs} epochs", verbose):
        trainer = SupernetTrainer(
            programs.supernet(space),
            train,
            TrainConfig(epochs=epochs, optimizer="adam", lr=lr, seed=seed),
            sampler=path,
            space=space,
            valid=valid,
            out=out,
            resume=resume,
            device=device,
            progress=verbose,
        )
        trainer.fit()
    with phase(logger, f"hw-nested: scoring {len(every)} architectures on it", verbose):
        scores = SupernetEstimator(trainer.supernet, data, device=device).evaluate_batch(every)
    return {arch_key(spec): s["accuracy"] for spec, s in zip(every, scores, strict=True)}


class LayerTables:
    """Per-process cache of architectures' layer tables for the cost model (``input_shape``)."""

    input_shape: tuple[int, ...]
    _tables: dict[str, Any]
    _coster: Any

    def layer_table(self, arch: Any):
        """The layer table of an architecture (once per process, assembled from cached parts)."""
        from symnas.programs.cost.spec_cost import SpecCoster

        key = arch_key(arch)
        if key not in self._tables:
            if self._coster is None:
                self._coster = SpecCoster(self.input_shape)
            self._tables[key] = self._coster.layers(arch)
        return self._tables[key]

    def __getstate__(self) -> dict[str, Any]:
        # Layer tables and their part cache are rebuilt in each worker process, not shipped.
        return {**self.__dict__, "_tables": {}, "_coster": None}


class CoDesignObjective(LayerTables):
    """Metrics of a (hardware, architecture) pair from an accuracy table and the cost model."""

    def __init__(
        self,
        accuracy: dict[str, float],
        input_shape: tuple[int, ...],
        target_latency_ms: float,
        max_area_mm2: float,
    ) -> None:
        self.accuracy = accuracy
        self.input_shape = tuple(input_shape)
        self.target_latency_ms = target_latency_ms
        self.max_area_mm2 = max_area_mm2
        self._tables: dict[str, Any] = {}
        self._coster: Any = None

    def __call__(self, hw: Any, arch: Any) -> dict[str, float]:
        from symnas.programs.cost import hardware
        from symnas.spaces.hardware import area_mm2

        costs = hardware.cost_table(self.layer_table(arch), [hw])
        latency = float(costs["total_latency_ms"][0])
        accuracy = self.accuracy[arch_key(arch)]
        return {
            "accuracy": accuracy,
            "latency_ms": latency,
            "energy": float(costs["total_energy"][0]),
            "utilization": float(costs["total_utilization"][0]),
            "area_mm2": area_mm2(hw),
            "reward": accuracy * (latency / self.target_latency_ms) ** MNAS_W,
        }


def outer_search_algorithm(
    algorithm: SearchAlgorithm | str | None, constraints: dict[str, tuple[str, float]]
) -> SearchAlgorithm:
    """The hardware search's algorithm: NSGA-II (population 8) over the co-design objectives
    under ``constraints`` by default or by name; another name optimises ``reward``."""
    if algorithm is None or algorithm == "nsga2":
        return create(
            "nsga2", population_size=8, objectives=OUTER_OBJECTIVES, constraints=constraints
        )
    if isinstance(algorithm, str):
        return create(algorithm, metric="reward")
    return algorithm


def nested_out_dir(out: str | None, resume: bool) -> Path | None:
    """The nested search's output folder, checked and made (None without ``out``); one that
    already holds a search is refused unless ``resume``."""
    out_dir = prepare_out_dir(out) if out is not None else None
    if out_dir is not None and not resume and read_trials(out_dir / "trials.jsonl"):
        raise ValueError(
            f"{out_dir} already holds a search; pass --resume to continue it, or choose another "
            "output folder."
        )
    return out_dir


def default_inner_algorithm() -> SearchAlgorithm:
    """Regularized evolution (population 8, tournament 3) on ``reward``."""
    return create("regularized_evolution", population_size=8, tournament_size=3, metric="reward")


def inner_search_algorithm(algorithm: SearchAlgorithm | str | None) -> Deduped:
    """The architecture search's algorithm, deduped: no (hardware, architecture) pair is
    evaluated twice (a repeated proposal is answered with the earlier trial's result)."""
    if algorithm is None:
        algorithm = default_inner_algorithm()
    elif isinstance(algorithm, str):
        if algorithm == "nsga2":
            algorithm = create(algorithm, population_size=8, objectives={"reward": "max"})
        else:
            algorithm = create(algorithm, metric="reward")
    return algorithm if isinstance(algorithm, Deduped) else Deduped(base=algorithm)


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (maximisation in both columns) above ``reference``."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[(pts[:, 0] > reference[0]) & (pts[:, 1] > reference[1])]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.argsort(-pts[:, 0])]
    area, best_y = 0.0, reference[1]
    for x, y in pts:
        if y > best_y:
            area += (x - reference[0]) * (y - best_y)
            best_y = y
    return area


@register_flow(
    "hw-nested",
    "nested accelerator (NSGA-II) x ResNet20-pooling (evolution) search on digits",
)
def hw_nested(
    algorithm: SearchAlgorithm | str | None = None,
    budget: int | None = None,
    out: str | None = None,
    resume: bool = False,
    seed: int = 0,
    workers: int | None = None,
    verbose: bool = True,
    inner_algorithm: SearchAlgorithm | str | None = None,
    inner_budget: int = 12,
    max_area_mm2: float = 2.0,
    target_latency_ms: float = 0.05,
    supernet_epochs: int = 8,
    device: str = "auto",
    sampler: str = "uniform",
) -> NestedResult:
    """Runs the nested co-design search and writes ``pairs_pareto.png`` (the pairs'
    front) and ``report.txt`` in ``out``.

    ``algorithm`` is the outer (hardware) algorithm, ``budget`` the number of configurations.
    Options and the output folder are checked before the supernet is trained.

    Args:
      inner_algorithm: the architecture search's algorithm (name or object; None: regularized
        evolution, population 8, tournament 3, on ``reward``), wrapped in
        ``algorithms.Deduped`` so that no architecture is evaluated twice per configuration.
      inner_budget: architectures evaluated per hardware configuration.
      max_area_mm2: area cap of a configuration (a constraint of the outer search).
      target_latency_ms: latency target of the MnasNet-style inner reward.
      supernet_epochs: training epochs of the pooling supernet that gives every accuracy.
      device: where the supernet trains and is evaluated ("auto": CUDA when available).
      sampler: path sampler of the supernet's training, by name (see symnas list; default
        uniform over the 36 architectures).
    """
    from symnas import programs, spaces

    budget = 16 if budget is None else budget
    for name, value in (
        ("budget", budget),
        ("inner_budget", inner_budget),
        ("workers", 1 if workers is None else workers),
        ("supernet_epochs", supernet_epochs),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"hw-nested: '{name}' must be a positive integer; got {value!r}.")
    positive_number("hw-nested", "max_area_mm2", max_area_mm2)
    positive_number("hw-nested", "target_latency_ms", target_latency_ms)
    device_option("hw-nested", device)
    outer_algorithm = outer_search_algorithm(algorithm, {"area_mm2": ("<=", max_area_mm2)})
    inner_algorithm = inner_search_algorithm(inner_algorithm)
    arch_space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    path_sampler(sampler, arch_space, every_spec(arch_space))  # fails before any work
    out_dir = nested_out_dir(out, resume)
    data = programs.data.digits()
    hw_space = spaces.systolic_accelerator(max_area_mm2=max_area_mm2)
    accuracy = _accuracy_table(
        arch_space, data, supernet_epochs, seed, out_dir, resume, device, sampler, verbose
    )
    objective = CoDesignObjective(accuracy, data.input_shape, target_latency_ms, max_area_mm2)
    result = nested(
        hw_space,
        arch_space,
        outer_algorithm,
        inner_algorithm,
        objective,
        outer_budget=budget,
        inner_budget=inner_budget,
        out=out_dir,
        seed=seed,
        resume=resume,
        workers=workers,
        verbose=verbose,
        options={
            "max_area_mm2": max_area_mm2,
            "target_latency_ms": target_latency_ms,
            "supernet_epochs": supernet_epochs,
            "sampler": sampler,
        },
    )
    if out_dir is not None:
        _write_report(result, out_dir, max_area_mm2)
    return result


def _accuracy_table(
    space,
    data,
    epochs: int,
    seed: int,
    out_dir: Path | None,
    resume: bool,
    device: str,
    sampler: str,
    verbose: bool,
) -> dict:
    path = out_dir / "supernet_accuracy.json" if out_dir is not None else None
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: corrupt accuracy table ({e.msg}).") from None
    folder = out_dir / "supernet" if out_dir is not None else None
    table_ = supernet_accuracy_table(
        space,
        data,
        epochs=epochs,
        seed=seed,
        out=folder,
        resume=resume,
        device=device,
        sampler=sampler,
        verbose=verbose,
    )
    if path is not None:
        write_json_atomic(path, table_)
    return table_


def _write_report(result: NestedResult, out_dir: Path, max_area_mm2: float) -> None:
    # Whatever the outer algorithm optimised, the report ranks pairs by the co-design objectives.
    codesign = Objectives.create(OUTER_OBJECTIVES, constraints={"area_mm2": ("<=", max_area_mm2)})
    front = result.pareto_front(codesign)
    lines = [table(result.outer), "", "Pareto front of (hardware, architecture) pairs:"]
    lines.append(
        f"{'accuracy':>9} {'latency_ms':>11} {'area_mm2':>9} {'energy':>10}  hardware / pool_at"
    )
    for p in front:
        hw = {k: p.hw[k] for k in ("rows", "cols", "dataflow", "bandwidth")}
        lines.append(
            f"{p.metrics['accuracy']:9.4f} {p.metrics['latency_ms']:11.5f} "
            f"{p.metrics['area_mm2']:9.3f} {p.metrics['energy']:10.3f}  {hw} / {p.arch['pool_at']}"
        )
    write_text_atomic(out_dir / "report.txt", "\n".join(lines) + "\n")
    pair_result = SearchResult(
        [_pair_trial(i, p) for i, p in enumerate(result.pairs())], codesign, out_dir
    )
    pareto_plot(pair_result, out_dir / "pairs_pareto.png", color_by="area_mm2")


def _pair_trial(index: int, pair):
    from symnas.flows.result import Trial

    return Trial(index, np.zeros(0), [], {"hw": pair.hw, "arch": pair.arch}, pair.metrics, "ok")
