"""DARTS-PT: perturbation-based architecture selection on a DARTS-trained supernet.

Implements the selection of Wang, Cheng, Chen, Tang & Hsieh, "Rethinking Architecture Selection
in Differentiable NAS" (ICLR 2021; ruocwang/darts-pt) on any op-choice space. After the DARTS
search (``darts.DARTS``, first order as in the paper, or with the alphas left at their near-uniform
initialisation: the fix-alpha variant), the supernet is fine-tuned for
``interval * (events - 1) + 1`` epochs with a fresh weight optimizer at the search rate / 10 while
the alphas keep training (fix-alpha: they stay fixed). The tuning rate follows the reference's
code for the space (``tune_schedule="auto"``): constant on spaces without a topology phase such
as the NAS-Bench-201 cell (``nasbench201/projection.py`` resets the optimizer and steps no
scheduler), a cosine to ``lr_min`` over the tuning epochs on DARTS-style cells
(``sota/cnn/projection.py``); ``"constant"`` and ``"cosine"`` force either. Before epoch
``t = interval * n`` the n-th selection event runs, once per decision group (the NAS-Bench-201
cell is one group; the DARTS cell's normal and reduction cells are two):

- **operation phase** (while the group has unprojected edges): an edge drawn uniformly at random
  among the unprojected ones; each of its ops in turn is masked (its mixing weight set to 0, the
  others *not* renormalised) and the supernet's validation accuracy is measured in BN-train mode
  (on batches augmented as the search's are: the reference measures on its validation queue,
  which reads the training set with the training transform);
  the edge is projected onto the op whose removal hurts most (lowest accuracy, ties broken by
  the highest loss, which matters when few batches are measured; with ``criterion="loss"``
  highest loss): its weights become that op's one-hot vector;
- **topology phase** (DARTS-style nodes with more than two candidate inputs): a random node, each
  of its input edges zeroed in turn; the node keeps the two edges whose removal hurts most and the
  others get weight 0. (The reference removes the least harmful edge in rounds, re-measuring the
  same weights each round; with this deterministic measurement that keeps the same edges.)

Unprojected edges mix with the softmax of their alphas. The selected spec is
``supernet.discretize`` of the final projected weights. The NAS-Bench-201 reference fine-tunes
``interval * (edges - 1)`` epochs (its last projection one epoch earlier); the DARTS-space formula
is used for every space here. On a CPU, ``eval_batches`` caps each measurement at that many
validation batches (the same batches for every candidate); None uses the whole validation half.

Progress is checkpointed after every fine-tuning epoch (the shared trainer's checkpoint carries
the projection, the decisions and the edge-drawing generator), and ``selection.json`` (the
decisions so far, with every measured accuracy) is rewritten atomically after each event, so a
killed selection resumes at the last finished epoch and ends with the same cell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
import torch
import torch.nn.functional as F

from symnas.algorithms.oneshot.darts import DARTS, DARTSTrainer, Weights, darts_config
from symnas.algorithms.registry import register_algorithm
from symnas.core.files import write_json_atomic
from symnas.programs.data.augment import augment
from symnas.programs.training.supernet_train import ArchitectureParameters
from symnas.spaces.relaxation import Node, Relaxation, op_decisions

CRITERIA = ("acc", "loss")
EDGE_ORDERS = ("random",)
#: ``auto``: constant without a topology phase (NAS-Bench-201 reference), else cosine (DARTS).
TUNE_SCHEDULES = ("auto", "constant", "cosine")
SELECTION_FILE = "selection.json"

#: ``measure(weights) -> (accuracy, loss)`` of the supernet under mixing weights.
Measure = Callable[[Weights], tuple[float, float]]


def group_of(decision: str) -> str:
    """The decision group of a decision name: its first path component (``normal[2]<-3`` ->
    ``normal``, ``edges[4]`` -> ``edges``)."""
    return decision.split("[", 1)[0].split(".", 1)[0]


@dataclass
class Projection:
    """Projected mixing weights: decided edges one-hot, removed edges zero, the rest softmax."""

    decisions: dict[str, tuple[str, ...]]
    chosen: dict[str, int] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def weights(
        self, arch: ArchitectureParameters, mask: tuple[str, int | None] | None = None
    ) -> Weights:
        """The mixing weights; ``mask=(decision, op)`` also zeroes that op's weight (the others
        are not renormalised), ``mask=(decision, None)`` the whole edge."""
        out = {}
        for name, w in arch.weights().items():
            if name in self.removed:
                w = torch.zeros_like(w)
            elif name in self.chosen:
                w = F.one_hot(torch.tensor(self.chosen[name]), len(w)).to(w)
            out[name] = w
        if mask is not None:
            name, op = mask
            keep = torch.zeros_like(out[name])
            if op is not None:
                keep = torch.ones_like(keep)
                keep[op] = 0.0
            out[name] = out[name] * keep
        return out

    def to_json(self) -> dict[str, Any]:
        """The projection as JSON (op names, not indices)."""
        return {
            "chosen": {k: self.decisions[k][v] for k, v in self.chosen.items()},
            "removed": list(self.removed),
        }

    def load_json(self, state: dict[str, Any]) -> None:
        """Restores ``to_json``'s output."""
        self.chosen = {k: self.decisions[k].index(v) for k, v in state["chosen"].items()}
        self.removed = list(state["removed"])


class PerturbationSelection:
    """The schedule and decisions of DARTS-PT's selection over a relaxation's decisions.

    ``step(epoch, measure)`` runs the selection event due before ``epoch`` (if any);
    ``measure(weights) -> (accuracy, loss)`` scores the supernet under mixing weights.
    """

    def __init__(
        self,
        relaxation: Relaxation,
        interval: int,
        criterion: str = "acc",
        seed: int = 0,
    ) -> None:
        if criterion not in CRITERIA:
            raise ValueError(
                f"DARTSPT: criterion must be one of {list(CRITERIA)}; got {criterion!r}."
            )
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"DARTSPT: interval must be a positive int; got {interval!r}.")
        self.interval, self.criterion = interval, criterion
        self.projection = Projection(relaxation.decisions)
        self.groups: dict[str, list[str]] = {}
        for name in relaxation.decisions:
            self.groups.setdefault(group_of(name), []).append(name)
        self.nodes: dict[str, list[Node]] = {g: [] for g in self.groups}
        for node in relaxation.nodes:
            if len(node.sources) > node.k:
                self.nodes[group_of(node.path)].append(node)
        self.events = max(len(self.groups[g]) + len(self.nodes[g]) for g in self.groups)
        self.tune_epochs = interval * (self.events - 1) + 1
        self.rng = np.random.default_rng(seed)
        self.decided_nodes: list[str] = []
        self.log: list[dict[str, Any]] = []

    def due(self, epoch: int) -> bool:
        """Whether a selection event runs before ``epoch``."""
        return epoch % self.interval == 0 and epoch // self.interval < self.events

    @property
    def has_topology_phase(self) -> bool:
        """Whether some node chooses among more inputs than it keeps (DARTS-style cells)."""
        return any(self.nodes.values())

    @property
    def finished(self) -> bool:
        """Whether every edge is projected and every node's inputs are chosen."""
        nodes = sum(len(v) for v in self.nodes.values())
        return len(self.projection.chosen) == len(self.projection.decisions) and nodes == len(
            self.decided_nodes
        )

    def step(self, epoch: int, measure: Measure, arch: ArchitectureParameters) -> None:
        """Runs the event due before ``epoch``: one decision per group."""
        if not self.due(epoch):
            return
        for group, names in self.groups.items():
            open_edges = [n for n in names if n not in self.projection.chosen]
            open_nodes = [n for n in self.nodes[group] if n.path not in self.decided_nodes]
            if open_edges:
                self._project_op(epoch, group, open_edges, measure, arch)
            elif open_nodes:
                self._project_node(epoch, group, open_nodes, measure, arch)

    def _score(self, stats: tuple[float, float]) -> tuple[float, float]:
        """Higher is better for the supernet: accuracy (ties broken by the loss), or minus the
        loss."""
        return (stats[0], -stats[1]) if self.criterion == "acc" else (-stats[1], stats[0])

    def _project_op(
        self,
        epoch: int,
        group: str,
        open_edges: list[str],
        measure: Measure,
        arch: ArchitectureParameters,
    ) -> None:
        edge = open_edges[int(self.rng.integers(len(open_edges)))]
        ops = self.projection.decisions[edge]
        stats = [measure(self.projection.weights(arch, mask=(edge, i))) for i in range(len(ops))]
        best = min(range(len(ops)), key=lambda i: self._score(stats[i]))
        self.projection.chosen[edge] = best
        self.log.append(
            {
                "epoch": epoch,
                "phase": "operation",
                "group": group,
                "edge": edge,
                "masked": {op: _round(s) for op, s in zip(ops, stats, strict=True)},
                "chosen": ops[best],
            }
        )

    def _project_node(
        self,
        epoch: int,
        group: str,
        open_nodes: list[Node],
        measure: Measure,
        arch: ArchitectureParameters,
    ) -> None:
        node = open_nodes[int(self.rng.integers(len(open_nodes)))]
        edges = [node.decision(j) for j in node.sources]
        stats = [measure(self.projection.weights(arch, mask=(e, None))) for e in edges]
        # Keep the k edges whose removal hurts most (stable order: earlier edges win ties).
        order = sorted(range(len(edges)), key=lambda i: self._score(stats[i]))
        kept = sorted(order[: node.k])
        self.projection.removed.extend(edges[i] for i in range(len(edges)) if i not in kept)
        self.decided_nodes.append(node.path)
        self.log.append(
            {
                "epoch": epoch,
                "phase": "topology",
                "group": group,
                "node": node.path,
                "removed_edge": {e: _round(s) for e, s in zip(edges, stats, strict=True)},
                "kept": [edges[i] for i in kept],
            }
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON state: projection, decided nodes, decision log and the edge-drawing generator."""
        return {
            "projection": self.projection.to_json(),
            "decided_nodes": list(self.decided_nodes),
            "log": list(self.log),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict``'s output."""
        self.projection.load_json(state["projection"])
        self.decided_nodes = list(state["decided_nodes"])
        self.log = list(state["log"])
        self.rng.bit_generator.state = state["rng"]


def _round(stats: tuple[float, float]) -> dict[str, float]:
    return {"accuracy": round(stats[0], 6), "loss": round(stats[1], 6)}


class ProjectionTrainer(DARTSTrainer):
    """DARTS fine-tuning with the projected weights, running a selection event when due."""

    def __init__(
        self,
        *args: Any,
        selection: PerturbationSelection,
        eval_batches: int | None,
        on_event: Callable[[PerturbationSelection], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self.selection = selection
        self.eval_batches = eval_batches
        self.on_event = on_event
        super().__init__(*args, weights_fn=selection.projection.weights, **kwargs)

    @torch.no_grad()
    def measure(self, weights: Weights) -> tuple[float, float]:
        """Validation accuracy and loss under ``weights`` (BN-train mode, capped batches; the
        batches augmented by ``config.augment`` from the trainer's generator)."""
        self.supernet.train()
        correct, total, loss = 0, 0, 0.0
        batches = self.valid.loader("test", self.config.batch_size)
        for index, (x, y) in enumerate(batches):
            if self.eval_batches is not None and index == self.eval_batches:
                break
            x, y = augment(self.config.augment, x.to(self.device), self.rng), y.to(self.device)
            logits = self.supernet.forward_weighted(x, weights)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        return correct / total, loss / total

    def begin_epoch(self, epoch: int) -> None:
        """Runs the selection event due before ``epoch``."""
        if self.selection.due(epoch):
            self.selection.step(epoch, self.measure, self.arch)
            if self.on_event is not None:
                self.on_event(self.selection)

    def extra_state(self) -> dict[str, Any]:
        """The selection's state, saved with every checkpoint."""
        return self.selection.state_dict()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restores the selection from a checkpoint."""
        if state:
            self.selection.load_state_dict(state)


@register_algorithm(
    "darts_pt",
    "DARTS-PT: DARTS search, then perturbation-based selection edge by edge "
    "(Wang et al. ICLR 2021)",
    defaults={"data": "digits"},
)
@pg.members(
    [
        ("fix_alpha", pg.typing.Bool(default=False), "Keep the alphas at their init (fix-alpha)."),
        ("interval", pg.typing.Int(min_value=1, default=5), "Fine-tuning epochs between events."),
        (
            "eval_batches",
            pg.typing.Int(min_value=1).noneable(),
            "Validation batches per measurement; None: the whole validation half.",
        ),
        ("criterion", pg.typing.Enum("acc", list(CRITERIA)), "Measure: accuracy or loss."),
        ("edge_order", pg.typing.Enum("random", list(EDGE_ORDERS)), "Order edges are decided."),
        ("tune_lr", pg.typing.Float(min_value=0.0).noneable(), "Fine-tuning rate; None: lr/10."),
        (
            "tune_schedule",
            pg.typing.Enum("auto", list(TUNE_SCHEDULES)),
            "Fine-tuning rate schedule; auto: constant on NB201-like spaces, cosine on DARTS cells.",
        ),
    ]
)
class DARTSPT(DARTS):
    """DARTS-PT: ``flows.search(space, objective, algorithm=DARTSPT(data=...), out=...)``.

    Proposes the perturbation-selected spec; ``selected`` also holds the magnitude (argmax alpha)
    spec of the same supernet, and ``selection`` the decisions with every measurement.
    """

    def trains_alpha(self) -> bool:
        """False for the fix-alpha variant."""
        return not self.fix_alpha

    def tuning_schedule(self, selection: PerturbationSelection) -> str:
        """``"constant"`` or ``"cosine"``: ``tune_schedule``, with ``"auto"`` resolved by the
        reference's code for the space (constant without a topology phase, as
        ``nasbench201/projection.py``; cosine to ``lr_min`` with one, as ``sota/cnn/projection.py``)."""
        if self.tune_schedule != "auto":
            return self.tune_schedule
        return "cosine" if selection.has_topology_phase else "constant"

    def select(
        self, space: Any, trainer: DARTSTrainer, out: Path | None, resume: bool, progress: bool
    ) -> str:
        relaxation = op_decisions(space)
        if relaxation.decisions != self.supernet.arch_decisions():
            raise ValueError(
                "DARTSPT: the supernet's arch_decisions() differ from the space's op decisions; "
                "the family must derive them with spaces.relaxation.op_decisions."
            )
        start = time.perf_counter()
        self.selection = PerturbationSelection(
            relaxation, self.interval, self.criterion, seed=self.train_seed + 1
        )
        tune_lr = self.tune_lr if self.tune_lr is not None else self.lr / 10
        schedule = self.tuning_schedule(self.selection)
        config = darts_config(
            self.selection.tune_epochs,
            batch_size=self.batch_size,
            lr=tune_lr,
            lr_min=tune_lr if schedule == "constant" else self.lr_min,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            arch_lr=self.arch_lr if self.trains_alpha() else None,
            arch_weight_decay=self.arch_weight_decay,
            seed=self.train_seed + 1,
            augment=self.augmentation(),
        )
        settings = {
            "interval": self.interval,
            "eval_batches": self.eval_batches,
            "criterion": self.criterion,
            "edge_order": self.edge_order,
            "fix_alpha": self.fix_alpha,
            "tune_schedule": schedule,
        }
        folder = None if out is None else out / "selection"

        def write(selection: PerturbationSelection) -> None:
            if folder is not None:
                write_json_atomic(
                    folder / SELECTION_FILE,
                    {"settings": settings, "events": selection.events, **selection.state_dict()},
                )

        tuner = ProjectionTrainer(
            self.supernet,
            trainer.data,
            config,
            arch=self.arch,
            valid=trainer.valid,
            out=folder,
            resume=resume,
            device=self.device,
            progress=progress,
            order=self.order,
            selection=self.selection,
            eval_batches=self.eval_batches,
            on_event=write,
            fingerprint={"selection": settings},
        )
        if trainer.arch_optimizer is not None and tuner.arch_optimizer is not None:
            tuner.arch_optimizer.load_state_dict(trainer.arch_optimizer.state_dict())
        tuner.fit()
        if not self.selection.finished:
            raise RuntimeError("DARTSPT: the selection ended with undecided edges.")
        write(self.selection)
        final = self.selection.projection.weights(self.arch)
        self.selected["perturbation"] = self.supernet.discretize(final)
        self.record["selection"] = {
            **settings,
            "tune_epochs": self.selection.tune_epochs,
            "select_s": round(time.perf_counter() - start, 3),
            "decisions": self.selection.log,
        }
        return "perturbation"
