"""TangleNAS vs SPOS + regularized evolution vs SPOS + random search, at equal wall time.

TangleNAS (Sukthanker et al., "Weight-Entanglement Meets Gradient-Based Neural Architecture
Search", AutoML-Conf 2024) against the two-stage pipeline it replaces (AutoFormer: a supernet
trained with uniformly sampled paths, SPOS, then regularized evolution over inherited-weight
validation accuracy) and random search over the same supernet, on two weight-entangled spaces:

- ``vit``: the mini AutoFormer space of ``prenas-vit`` on the CIFAR-10 subset pooled to 16x16;
- ``tdnn``: the scaled-down EfficientTDNN space ``tdnn_fsdd`` on FSDD speaker identification.

Per space and seed, every method sees the same split (80 % of the training data trains the
weights, 20 % validates) and the same parameter budget (the median parameter count of the
space's distinct architectures). TangleNAS trains ``--vit-epochs``/``--tdnn-epochs`` epochs; its
time ``T`` is the budget of the other two methods, which train the SPOS supernet for the same
number of epochs (one training, shared by both; its time counts for each) and then search until
``T``. Time is the CPU time of the single-threaded process (``time.process_time``), which equals
wall time on an idle core and is not inflated by other load on a shared machine. TangleNAS
selects the architecture under the budget with the largest product of its decisions' softmax
weights (the plain argmax when that fits). Each found architecture is retrained from scratch
(``--vit-retrain``/``--tdnn-retrain`` epochs, Adam at its default rate, the trial's seed) and
scored on the test split. The any-time curve records, against CPU time, the inherited validation
accuracy of each method's incumbent on its own supernet (BatchNorm with batch statistics, as the
TangleNAS supernet's running statistics follow the mixture).

The memory comparison times one training step (forward and backward, batch 64) of each space's
entangled supernet with the superimposed weights and with DARTS-style output mixing (every
entangled layer called once per choice, outputs summed: ``programs.families.entangle.mix_outputs``; the
same function, so only the cost differs), recording the bytes the step saves for backward and,
with ``--device cuda``, the peak allocated memory.

Writes ``benchmarks/results/tanglenas.json``: ``{space: {method: [{seed, spec, accuracy,
params}]}}`` plus the settings, curves and memory figures under ``"_details"``.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/tanglenas.py
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
import torch

from symnas import algorithms, programs, spaces
from symnas.algorithms.oneshot.tanglenas import TangleNAS
from symnas.core.files import write_json_atomic
from symnas.flows.family_flows import data_root
from symnas.flows.prenas_flow import mini_autoformer
from symnas.programs.data import Dataset, load_dataset, resized, validation_split
from symnas.programs.families.entangle import mix_outputs
from symnas.programs.training.estimator import SupernetEstimator
from symnas.spaces.examples import tdnn_fsdd_space
from symnas.spaces.relaxation import size_decisions

RESULTS = Path(__file__).parent / "results" / "tanglenas.json"
METHODS = ("tanglenas", "spos_evolution", "spos_random")
TRAIN_PORTION = 0.8
#: Search and stand-alone retraining epochs per space (``--vit-epochs`` ... override them).
DEFAULT_EPOCHS = {"vit": (10, 15), "tdnn": (3, 5)}


def space_and_data(name: str, image_size: int) -> tuple[Any, Dataset]:
    """The benchmark's space and data set of ``name`` (``vit`` or ``tdnn``)."""
    if name == "vit":
        data = resized(load_dataset(f"cifar10_subset:{data_root('cifar10_subset')}"), image_size)
        return mini_autoformer(data.num_classes, data.input_shape[0], image_size), data
    if name == "tdnn":
        return tdnn_fsdd_space(), load_dataset("fsdd", str(data_root("fsdd")))
    raise ValueError(f"space must be 'vit' or 'tdnn'; got {name!r}.")


def architectures(space: Any, num_classes: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Every distinct architecture of ``space`` (DNAs that differ only in unused layers count
    once) and its parameter count."""
    specs, params, seen = [], [], set()
    for member in pg.iter(space):
        spec = pg.to_json(member)
        model = programs.build(spec, num_classes=num_classes)
        if model.arch in seen:
            continue
        seen.add(model.arch)
        specs.append(spec)
        params.append(sum(p.numel() for p in model.parameters()))
    return specs, params


def budgeted_argmax(ctx: dict[str, Any], weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """The architecture within the budget with the largest product of its active decisions'
    weights (``ctx["choices"]``: every architecture's ``(decision, candidate index)`` pairs)."""
    logs = {
        k: np.log(np.maximum(np.asarray(v, dtype=np.float64), 1e-30)) for k, v in weights.items()
    }
    best, best_score = None, -np.inf
    for spec, size, choices in zip(ctx["specs"], ctx["params"], ctx["choices"], strict=True):
        if size > ctx["budget"]:
            continue
        score = sum(logs[name][index] for name, index in choices)
        if score > best_score:
            best, best_score = spec, score
    return best


def active_choices(relaxation: Any, spec: dict[str, Any]) -> list[tuple[str, int]]:
    """The ``(decision, candidate index)`` pairs a spec selects: its active decisions (the
    per-layer choices of an AutoFormer spec's layers at index ``>= depth`` are unused)."""
    pairs = []
    for name, vector in relaxation.one_hot(spec).items():
        layer = re.fullmatch(r"(?:mlp_ratio|num_heads)\[(\d+)\]", name)
        if not vector.any() or (layer and int(layer.group(1)) >= spec["depth"]):
            continue
        pairs.append((name, int(np.argmax(vector))))
    return pairs


def retrain(spec: dict[str, Any], data: Dataset, epochs: int, seed: int) -> dict[str, float]:
    """Trains ``spec`` from scratch (Adam, the default rate) and scores it on the test split."""
    torch.manual_seed(seed)
    model = programs.build(spec, num_classes=data.num_classes)
    metrics = programs.train(model, data, epochs=epochs, seed=seed)
    return {
        "accuracy": metrics["accuracy"],
        "params": sum(p.numel() for p in model.parameters()),
        "macs": programs.count(model, data.input_shape)["macs"],
    }


def run_tanglenas(
    space: Any, data: Dataset, validation: Dataset, args: Any, seed: int, ctx: dict
) -> tuple[dict, float, list]:
    """TangleNAS for ``args.epochs``; returns the budgeted spec, its CPU time and its curve."""
    searcher = TangleNAS(
        data=data,
        epochs=args.epochs,
        lr=args.lr,
        train_portion=TRAIN_PORTION,
        seed=seed,
        device=args.device,
        metric="accuracy",
    )
    start = time.process_time()
    trainer = searcher.train_supernet(space, None, False, False)
    spent = time.process_time() - start
    curve, elapsed = [], 0.0
    estimator = SupernetEstimator(
        searcher.supernet, validation, batch_statistics=True, device=args.device
    )
    for record in trainer.history:
        elapsed += record["cpu_s"]
        weights = {k: np.asarray(v) for k, v in record["arch_weights"].items()}
        spec = budgeted_argmax(ctx, weights)
        curve.append([round(elapsed, 2), spec])
    scored = estimator.evaluate_batch([spec for _, spec in curve])
    curve = [[t, m["accuracy"]] for (t, _), m in zip(curve, scored, strict=True)]
    weights = {k: v.detach().cpu().numpy() for k, v in searcher.arch.weights().items()}
    found = budgeted_argmax(ctx, weights)
    return found, spent, curve


def train_spos(space: Any, data: Dataset, args: Any, seed: int) -> tuple[Any, float]:
    """The SPOS supernet (uniform paths, the search's recipe) after ``args.epochs`` epochs."""
    from symnas.algorithms.samplers import UniformSampler
    from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig

    train, _ = validation_split(data, 1.0 - TRAIN_PORTION, seed)
    torch.manual_seed(seed)
    supernet = programs.supernet(space)
    config = TrainConfig(
        epochs=args.epochs, optimizer="adamw", lr=args.lr, lr_min=1e-5, weight_decay=0.05, seed=seed
    )
    start = time.process_time()
    trainer = SupernetTrainer(
        supernet,
        train,
        config,
        sampler=UniformSampler(),
        space=space,
        device=args.device,
        progress=False,
    )
    trainer.fit()
    return supernet, time.process_time() - start


def black_box(
    method: str,
    supernet: Any,
    space: Any,
    validation: Dataset,
    args: Any,
    seed: int,
    ctx: dict,
    spent: float,
    limit: float,
) -> tuple[dict, list]:
    """Regularized evolution or random search over inherited validation accuracy until the
    CPU time ``limit`` (``spent`` already used by the supernet training)."""
    codec = spaces.compile(space)
    estimator = SupernetEstimator(supernet, validation, batch_statistics=True, device=args.device)
    if method == "spos_evolution":
        algo = algorithms.RegularizedEvolution(
            population_size=args.population, tournament_size=args.tournament, metric="accuracy"
        )
    else:
        algo = algorithms.RandomSearch(metric="accuracy")
    algo.bind(codec, seed)
    sizes = ctx["param_of"]
    best, best_acc, curve = None, -1.0, []
    start = time.process_time()
    while spent + time.process_time() - start < limit:
        genome = algo.propose_batch(1)
        spec = codec.decode(genome[0])
        params = sizes(spec)
        if params > ctx["budget"]:
            algo.feedback_batch(genome, [None])
            continue
        accuracy = estimator.evaluate_batch([spec])[0]["accuracy"]
        algo.feedback_batch(genome, [{"accuracy": accuracy}])
        if accuracy > best_acc:
            best, best_acc = spec, accuracy
        curve.append([round(spent + time.process_time() - start, 2), best_acc])
    if best is None:
        raise RuntimeError(f"{method}: no architecture within the budget was evaluated in time.")
    return best, curve


def saved_bytes(step) -> int:
    """Bytes of the distinct tensors autograd saves for backward during ``step()``."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(storages.values())


def memory(space: Any, data: Dataset, args: Any) -> dict[str, Any]:
    """One training step with superimposed weights vs DARTS-style output mixing."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    supernet = programs.supernet(space).to(device).train()
    decisions = supernet.arch_decisions()
    logits = {
        k: torch.zeros(len(v), device=device, requires_grad=True) for k, v in decisions.items()
    }
    x = data.x_train[:64].to(device)
    y = data.y_train[:64].to(device)
    out: dict[str, Any] = {"choices": sum(len(v) for v in decisions.values())}

    def step() -> None:
        weights = {k: torch.softmax(v, dim=0) for k, v in logits.items()}
        loss = torch.nn.functional.cross_entropy(supernet.forward_weighted(x, weights), y)
        loss.backward()

    for mode in ("superposition", "output_mixing"):

        def run(mode: str = mode) -> None:
            if mode == "output_mixing":
                with mix_outputs():
                    step()
            else:
                step()

        run()  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(args.memory_steps):
            run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        row = {
            "step_s": round((time.perf_counter() - start) / args.memory_steps, 4),
            "saved_for_backward_mb": round(saved_bytes(run) / 2**20, 3),
        }
        if device.type == "cuda":
            row["peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 2)
        out[mode] = row
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean accuracy with a 95 % t interval half-width over seeds."""
    values = [r["accuracy"] for r in rows]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95": None}
    t = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}.get(len(values), 2.0)
    return {"mean": mean, "ci95": t * statistics.stdev(values) / math.sqrt(len(values))}


def main() -> None:
    """Runs the comparison and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=["vit", "tdnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    for name, (search, stand_alone) in DEFAULT_EPOCHS.items():
        parser.add_argument(f"--{name}-epochs", type=int, default=search, help="search epochs")
        parser.add_argument(f"--{name}-retrain", type=int, default=stand_alone, help="retraining")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--tournament", type=int, default=3)
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, Any] = {"_details": {"settings": {**vars(args), "out": str(args.out)}}}
    contexts = {}
    for name in args.spaces:
        space, data = space_and_data(name, args.image_size)
        details = results["_details"].setdefault(name, {})
        details["memory"] = memory(space, data, args)
        print(name, "memory", details["memory"], flush=True)
        if not args.memory_only:
            contexts[name] = context(space, data)
            details.update(
                architectures=len(contexts[name]["specs"]),
                budget=contexts[name]["budget"],
                curves={},
            )
            results[name] = {m: [] for m in METHODS}
    write_json_atomic(args.out, json.loads(json.dumps(results, default=float)))
    for seed in args.seeds:
        for name, ctx in contexts.items():
            details = results["_details"][name]
            run_args = copy.copy(args)
            run_args.epochs = getattr(args, f"{name}_epochs")
            space, data = ctx["space"], ctx["data"]
            _, validation = validation_split(data, 1.0 - TRAIN_PORTION, seed)
            found, budget_s, curve = run_tanglenas(space, data, validation, run_args, seed, ctx)
            curves = {"tanglenas": curve}
            picks = {"tanglenas": found}
            supernet, spos_s = train_spos(space, data, run_args, seed)
            for method in METHODS[1:]:
                picks[method], curves[method] = black_box(
                    method, supernet, space, validation, run_args, seed, ctx, spos_s, budget_s
                )
            details["curves"][str(seed)] = {
                "budget_cpu_s": round(budget_s, 2),
                "spos_train_cpu_s": round(spos_s, 2),
                **curves,
            }
            for method, spec in picks.items():
                scored = retrain(spec, data, getattr(args, f"{name}_retrain"), seed)
                results[name][method].append({"seed": seed, "spec": spec, **scored})
                print(
                    name, seed, method, round(scored["accuracy"], 4), scored["params"], flush=True
                )
            details["summary"] = {m: summary(results[name][m]) for m in METHODS}
            write_json_atomic(args.out, json.loads(json.dumps(results, default=float)))


def context(space: Any, data: Dataset) -> dict[str, Any]:
    """The space's architectures, their sizes and decisions, and the parameter budget."""
    specs, params = architectures(space, data.num_classes)
    relaxation = size_decisions(space)
    size_of = {json.dumps(s, sort_keys=True): p for s, p in zip(specs, params, strict=True)}

    def param_of(spec: dict[str, Any]) -> int:
        key = json.dumps(spec, sort_keys=True)
        if key not in size_of:
            model = programs.build(spec, num_classes=data.num_classes)
            size_of[key] = sum(p.numel() for p in model.parameters())
        return size_of[key]

    return {
        "space": space,
        "data": data,
        "specs": specs,
        "params": params,
        "choices": [active_choices(relaxation, s) for s in specs],
        "budget": statistics.median(params),
        "param_of": param_of,
    }


if __name__ == "__main__":
    main()
