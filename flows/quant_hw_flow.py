"""The ``quant-hw-nested`` flow: precision x ResNet20-pooling architecture x systolic accelerator.

The mixed-precision co-design of EQ-Net's search (Xu et al., "EQ-Net: Elastic Quantization
Neural Networks", ICCV 2023) priced on accelerators, nested as ``hw-nested`` is (PyGlove's
nested search, Peng et al., NeurIPS 2020):

- **Accuracy**: one weight-sharing quantization supernet over ``spaces.quantized`` of the
  ResNet20 pooling space (per-unit weight and activation bit-widths, granularity, symmetry) is
  trained once on digits by the shared trainer with a path sampler chosen by name; each
  candidate's accuracy is its inherited test accuracy, evaluated when first asked for and
  cached.
- **Cost**: the analytical systolic-array model at the candidate's operand widths
  (``programs.cost.hardware_precision``): SRAM words, DRAM traffic, MAC energy and, on Bit
  Fusion arrays, packed MACs per PE.
- **Accelerators** (outer search, NSGA-II over accuracy, latency and area): the systolic space
  with searched supported precisions and PE kind (``bit_fusion``); area cap as a constraint.
- **Architectures and precisions** (inner search per accelerator): regularized evolution whose
  children are filtered by EQ-Net's conditional quantization-aware accuracy predictor
  (``algorithms.cqap``: ``cqap_candidates`` children per trial, the predicted best evaluated),
  on the MnasNet-style reward ``accuracy * (latency / target) ** -0.07`` of ``hw-nested``. As
  in EQ-Net, the predictor is fitted once, on the supernet accuracy of ``cqap_samples`` random
  networks, before the search; it predicts accuracy, which dominates the reward (the latency
  factor moves it by 5% for a twofold latency).

A candidate whose bit-widths the accelerator does not support is infeasible: its metrics carry
``unsupported_units`` (how many units use a width the accelerator lacks; a constraint ``<= 0`` of
the outer search), its inner reward is ``-unsupported_units`` (Deb's feasibility-first rule in
scalar form: below every feasible candidate, whose reward is positive, and better the fewer units
it must change, so evolution is led towards the widths the accelerator supports), and the report
names each unit and width (``spaces.hardware.unsupported``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.cqap import cqap_filter, cqap_surrogate
from symnas.algorithms.dedup import Deduped
from symnas.algorithms.objectives import Objectives
from symnas.algorithms.surrogate import SurrogateFilter
from symnas.core.files import write_text_atomic
from symnas.flows.hw_flow import (
    MNAS_W,
    OUTER_OBJECTIVES,
    LayerTables,
    arch_key,
    default_inner_algorithm,
    inner_search_algorithm,
    nested_out_dir,
    outer_search_algorithm,
    path_sampler,
)
from symnas.flows.nested import NestedResult, nested
from symnas.flows.progress import phase
from symnas.flows.registry import register_flow
from symnas.flows.report import pareto_plot, table
from symnas.flows.result import SearchResult, Trial
from symnas.flows.validate import device_option, int_option, positive_number

FLOW = "quant-hw-nested"

logger = logging.getLogger(__name__)


def parse_widths(flow: str, name: str, text: str) -> tuple[int, ...]:
    """``"2,4,8"`` as ``(2, 4, 8)``; anything else is a ``ValueError`` naming the option."""
    try:
        widths = tuple(sorted({int(part) for part in str(text).split(",") if part.strip()}))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ValueError(
            f"{flow}: option '{name}' must list bit-widths separated by commas (e.g. '2,4,8'); "
            f"got {text!r}."
        )
    return widths


def parse_precision_sets(flow: str, text: str) -> tuple[tuple[int, ...], ...]:
    """``"8;4,8;2,4,8"`` as ``((8,), (4, 8), (2, 4, 8))``: the accelerators' candidate sets."""
    sets = [part for part in str(text).split(";") if part.strip()]
    if not sets:
        raise ValueError(
            f"{flow}: option 'precisions' must list sets of bit-widths separated by ';' "
            f"(e.g. '8;4,8;2,4,8'); got {text!r}."
        )
    return tuple(parse_widths(flow, "precisions", part) for part in sets)


class InheritedAccuracy:
    """Inherited test accuracy of decoded quantized specs on a trained supernet (cached)."""

    uses_torch = True

    def __init__(self, supernet: Any, data: Any, device: str = "auto") -> None:
        self.supernet = supernet
        self.data = data
        self.device = device
        self.cache: dict[str, float] = {}
        self._estimator: Any = None

    def __call__(self, spec: Any) -> float:
        key = arch_key(spec)
        if key not in self.cache:
            if self._estimator is None:
                from symnas.programs.training.estimator import SupernetEstimator

                self._estimator = SupernetEstimator(self.supernet, self.data, device=self.device)
            self.cache[key] = float(self._estimator.evaluate_batch([spec])[0]["accuracy"])
        return self.cache[key]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_estimator": None}


class QuantCoDesignObjective(LayerTables):
    """Metrics of an (accelerator, quantized network) pair: ``accuracy(spec)`` and the cost
    model at the spec's operand widths, with the infeasibility of unsupported widths."""

    uses_torch = True

    def __init__(
        self,
        accuracy: Callable[[Any], float],
        input_shape: tuple[int, ...],
        target_latency_ms: float,
    ) -> None:
        self.accuracy = accuracy
        self.input_shape = tuple(input_shape)
        self.target_latency_ms = target_latency_ms
        self._tables: dict[str, Any] = {}
        self._coster: Any = None

    def __call__(self, hw: Any, spec: Any) -> dict[str, float]:
        from symnas.programs.cost import hardware
        from symnas.spaces.hardware import area_mm2, unsupported
        from symnas.spaces.quantization import unit_bits

        bits = unit_bits(spec)
        reasons = unsupported(hw, bits)
        costs = hardware.cost_table(self.layer_table(spec["arch"]), [hw], precision=bits)
        latency = float(costs["total_latency_ms"][0])
        accuracy = float(self.accuracy(spec))
        feasible = not reasons
        if not feasible:
            logger.debug("%s: infeasible on %s: %s", FLOW, hw, "; ".join(reasons))
        return {
            "accuracy": accuracy,
            "latency_ms": latency,
            "energy": float(costs["total_energy"][0]),
            "utilization": float(costs["total_utilization"][0]),
            "area_mm2": area_mm2(hw),
            "unsupported_units": float(len(reasons)),
            "mean_weight_bits": float(np.mean([w for w, _ in bits.values()])),
            "mean_act_bits": float(np.mean([a for _, a in bits.values()])),
            "reward": (
                accuracy * (latency / self.target_latency_ms) ** MNAS_W
                if feasible
                else -float(len(reasons))
            ),
        }


def train_quant_supernet(
    space: Any,
    data: Any,
    epochs: int,
    seed: int,
    lr: float = 3e-3,
    out: Path | None = None,
    resume: bool = False,
    device: str = "auto",
    sampler: str = "uniform",
    verbose: bool = False,
) -> Any:
    """The quantization supernet of ``space`` trained by the shared trainer (Adam, cosine)
    with the path sampler ``sampler`` over the space; checkpointed in ``out``."""
    import torch

    from symnas import programs
    from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig

    torch.manual_seed(seed)
    supernet = programs.supernet(space)
    with phase(logger, f"{FLOW}: training the quantization supernet, {epochs} epochs", verbose):
        SupernetTrainer(
            supernet,
            data,
            TrainConfig(epochs=epochs, optimizer="adam", lr=lr, seed=seed),
            sampler=path_sampler(sampler, space, None),
            space=space,
            out=out,
            resume=resume,
            device=device,
            progress=verbose,
        ).fit()
    return supernet


def fit_predictor(
    predictor: Any,
    space: Any,
    accuracy: Callable[[Any], float],
    samples: int,
    seed: int,
    verbose: bool = False,
) -> None:
    """Fits the CQAP ``predictor`` on the inherited accuracy of ``samples`` distinct random
    networks of ``space`` (drawn with ``seed``)."""
    from symnas.spaces.codec import compile as compile_space

    codec = compile_space(space)
    specs = [codec.decode(g) for g in codec.distinct(samples, np.random.default_rng(seed))]
    with phase(logger, f"{FLOW}: fitting the CQAP predictor on {samples} networks", verbose):
        predictor.fit(specs, [accuracy(spec) for spec in specs])


def _inner(
    algorithm: SearchAlgorithm | str | None, space: Any, candidates: int, predictor: Any
) -> Deduped:
    """The inner algorithm, deduped; the default is regularized evolution whose children are
    filtered by the CQAP ``predictor`` (``candidates`` per trial; 1: no filter), fitted once
    before the inner searches begin (every inner search runs a copy)."""
    if algorithm is None and candidates > 1:
        algorithm = cqap_filter(
            default_inner_algorithm(), space, candidates=candidates, predictor=predictor
        )
    return inner_search_algorithm(algorithm)


@register_flow(
    FLOW,
    "nested accelerator (NSGA-II) x mixed-precision ResNet20-pooling (CQAP-filtered evolution) "
    "search on digits",
)
def quant_hw_nested(
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
    bits: str = "2,4,8",
    precisions: str = "8;4,8;2,4,8",
    search_fusion: bool = True,
    cqap_candidates: int = 4,
    cqap_samples: int = 64,
) -> NestedResult:
    """Runs the nested precision x architecture x accelerator search; writes
    ``pairs_pareto.png`` (the pairs' front) and ``report.txt`` in ``out``.

    ``algorithm`` is the outer (accelerator) algorithm, ``budget`` the number of
    configurations. Options and the output folder are checked before the supernet is trained.

    Args:
      inner_algorithm: the architecture and precision search's algorithm (name or object;
        None: regularized evolution, population 8, tournament 3, on ``reward``, filtered by the
        CQAP predictor), wrapped in ``algorithms.Deduped``.
      inner_budget: quantized networks evaluated per accelerator configuration.
      max_area_mm2: area cap of a configuration (a constraint of the outer search).
      target_latency_ms: latency target of the MnasNet-style inner reward.
      supernet_epochs: training epochs of the quantization supernet that gives every accuracy.
      device: where the supernet trains and is evaluated ("auto": CUDA when available).
      sampler: path sampler of the supernet's training, by name (see symnas list; default
        uniform over the quantized space).
      bits: the bit-widths each unit's weights and activations choose from, e.g. "2,4,8"
        (the first and the last unit stay at 8 bits, as in EQ-Net).
      precisions: the accelerators' candidate sets of supported widths, sets separated by
        ';', e.g. "8;4,8;2,4,8".
      search_fusion: search Bit Fusion PEs (packed low-bit MACs) beside plain ones; False:
        plain PEs only.
      cqap_candidates: children the evolution proposes per evaluated one, the CQAP predictor
        keeping the best (1: no filter; default inner algorithm only).
      cqap_samples: random quantized networks whose supernet accuracy trains the CQAP
        predictor, once, before the nested search (EQ-Net's accuracy data set).
    """
    from symnas import programs, spaces
    from symnas.spaces.quantization import quantized

    budget = 16 if budget is None else budget
    for name, value in (
        ("budget", budget),
        ("inner_budget", inner_budget),
        ("workers", 1 if workers is None else workers),
        ("supernet_epochs", supernet_epochs),
        ("cqap_candidates", cqap_candidates),
    ):
        int_option(FLOW, name, value)
    int_option(FLOW, "cqap_samples", cqap_samples, minimum=2, why="the predictor needs 2 samples")
    positive_number(FLOW, "max_area_mm2", max_area_mm2)
    positive_number(FLOW, "target_latency_ms", target_latency_ms)
    device_option(FLOW, device)
    widths = parse_widths(FLOW, "bits", bits)
    precision_sets = parse_precision_sets(FLOW, precisions)
    arch_space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    try:
        space = quantized(arch_space, bits=widths)
        hw_space = spaces.systolic_accelerator(
            max_area_mm2=max_area_mm2,
            precisions=precision_sets,
            bit_fusion=(False, True) if search_fusion else (False,),
        )
    except ValueError as e:
        raise ValueError(f"{FLOW}: {e}") from None
    path_sampler(sampler, space, None)  # fails before any work
    outer_algorithm = outer_search_algorithm(algorithm, outer_constraints(max_area_mm2))
    predictor = cqap_surrogate(space, seed=seed)
    inner = _inner(inner_algorithm, space, cqap_candidates, predictor)
    out_dir = nested_out_dir(out, resume)
    data = programs.data.digits()
    supernet = train_quant_supernet(
        space,
        data,
        supernet_epochs,
        seed,
        out=out_dir / "supernet" if out_dir is not None else None,
        resume=resume,
        device=device,
        sampler=sampler,
        verbose=verbose,
    )
    accuracy = InheritedAccuracy(supernet, data, device)
    if isinstance(inner.base, SurrogateFilter) and inner.base.surrogate is predictor:
        fit_predictor(predictor, space, accuracy, cqap_samples, seed, verbose)
    objective = QuantCoDesignObjective(accuracy, data.input_shape, target_latency_ms)
    result = nested(
        hw_space,
        space,
        outer_algorithm,
        inner,
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
            "bits": list(widths),
            "precisions": [list(p) for p in precision_sets],
            "search_fusion": search_fusion,
            "cqap_candidates": cqap_candidates,
            "cqap_samples": cqap_samples,
        },
    )
    if out_dir is not None:
        write_report(result, out_dir, max_area_mm2)
    return result


def outer_constraints(max_area_mm2: float) -> dict[str, tuple[str, float]]:
    """The area cap and the precisions' feasibility, constraints of the outer search."""
    return {"area_mm2": ("<=", max_area_mm2), "unsupported_units": ("<=", 0.0)}


def codesign_objectives(max_area_mm2: float) -> Objectives:
    """The objectives and constraints the report ranks pairs by."""
    return Objectives.create(OUTER_OBJECTIVES, constraints=outer_constraints(max_area_mm2))


def _bits_text(spec: Any) -> str:
    from symnas.spaces.quantization import unit_bits

    return " ".join(f"{w}/{a}" for w, a in unit_bits(spec).values())


def write_report(result: NestedResult, out_dir: Path, max_area_mm2: float) -> None:
    """``report.txt`` (outer table, Pareto front of pairs, why pairs were infeasible) and
    ``pairs_pareto.png`` (accuracy against latency, coloured by area)."""
    from symnas.spaces.hardware import unsupported
    from symnas.spaces.quantization import unit_bits

    codesign = codesign_objectives(max_area_mm2)
    pairs = result.pairs()
    front = result.pareto_front(codesign)
    lines = [table(result.outer), "", "Pareto front of (accelerator, quantized network) pairs:"]
    lines.append(
        f"{'accuracy':>9} {'latency_ms':>11} {'area_mm2':>9} {'energy':>10}  "
        "accelerator / pool_at / weight/act bits per unit"
    )
    for p in front:
        hw = {k: p.hw[k] for k in ("rows", "cols", "dataflow", "precisions", "bit_fusion")}
        lines.append(
            f"{p.metrics['accuracy']:9.4f} {p.metrics['latency_ms']:11.5f} "
            f"{p.metrics['area_mm2']:9.3f} {p.metrics['energy']:10.3f}  {hw} / "
            f"{p.arch['arch']['pool_at']} / {_bits_text(p.arch)}"
        )
    infeasible = [p for p in pairs if p.metrics.get("unsupported_units", 0.0) > 0]
    lines += ["", f"Pairs infeasible for their precisions: {len(infeasible)} of {len(pairs)}"]
    for p in infeasible[:20]:
        reasons = "; ".join(unsupported(p.hw, unit_bits(p.arch)))
        lines.append(f"  outer {p.outer_id} inner {p.inner_id}: {reasons}")
    write_text_atomic(out_dir / "report.txt", "\n".join(lines) + "\n")
    trials = [
        Trial(i, np.zeros(0), [], {"hw": p.hw, "arch": p.arch}, p.metrics, "ok")
        for i, p in enumerate(pairs)
    ]
    pareto_plot(SearchResult(trials, codesign, out_dir), out_dir / "pairs_pareto.png", "area_mm2")
