"""BANANAS: Bayesian optimisation with an ensemble of neural predictors.

White, Neiswanger and Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search", AAAI 2021 (reference code: naszilla ``bananas``). After
``num_init`` (10) random architectures, every ``k`` (10) proposals the algorithm

1. trains an ensemble of ``num_ensemble`` (5) feed-forward networks (scikit-learn
   ``MLPRegressor``: ``num_layers`` (10) hidden layers of ``layer_width`` (20), Adam at learning
   rate 0.01, 150 epochs, batch 32, each with its own initialisation) on the path encoding of
   every evaluated architecture (one-hot encoding outside cell spaces, see
   ``algorithms.encodings``), targets standardised;
2. builds ``num_candidates`` (100) candidates by mutating the ``num_arches_to_mutate`` (2) best
   architectures (1 to ``max_mutations`` successive one-decision mutations each), dropping those
   already proposed;
3. scores them with the acquisition function over the ensemble's mean and spread: independent
   Thompson sampling (``"its"``, the paper's choice: one draw from ``N(mean, std)`` per
   candidate) or ``"ucb"`` (``mean + ucb_beta * std``), and queues the ``k`` best.

Where this differs from the reference: scikit-learn's regressor minimises the squared error (the
reference trains on the mean absolute error), and the candidates are one-decision mutations of
the two best architectures (the reference mutates each op of the best cell with probability
1/4). Failed trials are not used for training; infeasible ones (a constraint violated) are, with
the worst reward seen.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyglove as pg

from symnas.algorithms.base import (
    SearchAlgorithm,
    pack_array,
    pack_genomes,
    pack_keys,
    unpack_array,
    unpack_keys,
)
from symnas.algorithms.encodings import ENCODINGS, encoder
from symnas.algorithms.objectives import MODES, Objectives
from symnas.algorithms.registry import register_algorithm
from symnas.core.redraw import random_unseen

ACQUISITIONS = ("its", "ucb")


@register_algorithm(
    "bananas",
    "neural-ensemble Bayesian optimisation on path encodings (White et al. 2021)",
    small={
        "num_init": 4,
        "k": 5,
        "num_ensemble": 1,
        "num_layers": 1,
        "layer_width": 4,
        "epochs": 3,
    },
)
@pg.members(
    [
        ("metric", pg.typing.Str().noneable(), "Metric to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        ("num_init", pg.typing.Int(min_value=1, default=10), "Random architectures first."),
        ("k", pg.typing.Int(min_value=1, default=10), "Proposals per predictor fit."),
        ("num_ensemble", pg.typing.Int(min_value=1, default=5), "Networks in the ensemble."),
        ("num_layers", pg.typing.Int(min_value=1, default=10), "Hidden layers per network."),
        ("layer_width", pg.typing.Int(min_value=1, default=20), "Units per hidden layer."),
        ("epochs", pg.typing.Int(min_value=1, default=150), "Training epochs per network."),
        ("num_candidates", pg.typing.Int(min_value=1, default=100), "Mutated candidates."),
        ("num_arches_to_mutate", pg.typing.Int(min_value=1, default=2), "Parents of candidates."),
        ("max_mutations", pg.typing.Int(min_value=1, default=1), "Mutations per candidate."),
        ("acquisition", pg.typing.Enum("its", list(ACQUISITIONS)), "its or ucb."),
        ("ucb_beta", pg.typing.Float(min_value=0.0, default=0.5), "Spread weight of ucb."),
        ("encoding", pg.typing.Enum("auto", list(ENCODINGS)), "Predictor features."),
    ]
)
class BANANAS(SearchAlgorithm):
    """Neural-ensemble Bayesian optimisation over mutations of the best architectures."""

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        self._encode = encoder(self._codec, self.encoding)
        self._genomes: list[np.ndarray] = []
        self._values: list[float] = []
        self._feasible: list[bool] = []
        self._seen: set[bytes] = set()
        self._queue: list[np.ndarray] = []

    # ------------------------------------------------------------------ proposals
    def _propose_genomes(self, n: int) -> np.ndarray:
        out = np.empty((n, self._codec.num_slots))
        for i in range(n):
            out[i] = self._next(self._num_proposals + i)
            self._seen.add(self._codec.key(out[i]))
        return out

    def _next(self, index: int) -> np.ndarray:
        if index >= self.num_init and len(self._genomes) >= 2:
            while True:
                while self._queue:
                    genome = self._queue.pop(0)
                    if self._codec.key(genome) not in self._seen:
                        return genome
                if not self._plan():
                    break
        return random_unseen(self._codec, self._rng, self._seen)

    def _plan(self) -> bool:
        """Fits the ensemble and queues the ``k`` best candidates; False when none is new."""
        candidates = self._candidates()
        if len(candidates) == 0:
            return False
        mean, std = self._predict(candidates)
        if self.acquisition == "its":
            score = mean + std * self._rng.standard_normal(len(mean))
        else:
            score = mean + self.ucb_beta * std
        best = np.argsort(-score, kind="stable")[: self.k]
        self._queue = [candidates[i] for i in best]
        return True

    def _candidates(self) -> np.ndarray:
        """Mutations of the best architectures that were never proposed."""
        codec = self._codec
        values = self._targets()
        parents = np.argsort(-values, kind="stable")[: self.num_arches_to_mutate]
        per_parent = max(1, self.num_candidates // len(parents))
        found: dict[bytes, np.ndarray] = {}
        for p in parents:
            children = np.repeat(self._genomes[p][None, :], per_parent, axis=0)
            steps = self._rng.integers(1, self.max_mutations + 1, size=per_parent)
            for step in range(self.max_mutations):
                rows = steps > step
                if rows.any():
                    children[rows] = codec.mutate(children[rows], self._rng)
            for child in children:
                key = codec.key(child)
                if key not in self._seen:
                    found.setdefault(key, child)
        if not found:
            return np.empty((0, codec.num_slots))
        return np.stack(list(found.values()))

    def _predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation of the candidates' standardised value."""
        # Imported here: scikit-learn is only needed once a predictor is trained.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        x = self._encode(np.stack(self._genomes))
        y = self._targets()
        y = (y - y.mean()) / (y.std() if y.std() > 0 else 1.0)
        xc = self._encode(candidates)
        seeds = self._rng.integers(0, 2**31 - 1, size=self.num_ensemble)
        predictions = []
        for seed in seeds:
            net = MLPRegressor(
                hidden_layer_sizes=(self.layer_width,) * self.num_layers,
                learning_rate_init=0.01,
                max_iter=self.epochs,
                batch_size=min(32, len(y)),
                alpha=0.0,
                random_state=int(seed),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                net.fit(x, y)
            predictions.append(net.predict(xc))
        predictions = np.stack(predictions)
        return predictions.mean(axis=0), predictions.std(axis=0)

    # ------------------------------------------------------------------ feedback
    def _update(self, genomes, rewards, violations) -> None:
        for genome, reward, violation in zip(genomes, rewards, violations, strict=True):
            self._seen.add(self._codec.key(genome))
            if reward is None:
                continue
            self._genomes.append(np.array(genome, dtype=np.float64))
            self._values.append(float(reward[0]))
            self._feasible.append(bool(violation <= 0))

    def _targets(self) -> np.ndarray:
        """Training targets: the rewards, with infeasible trials at the worst reward seen."""
        values = np.array(self._values)
        return np.where(self._feasible, values, values.min())

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        slots = self._codec.num_slots
        return {
            "genomes": pack_genomes(self._genomes, slots),
            "values": pack_array(self._values),
            "feasible": list(self._feasible),
            "seen": pack_keys(self._seen, self._codec),
            "queue": pack_genomes(self._queue, slots),
        }

    def _load_state(self, state: dict) -> None:
        self._genomes = list(unpack_array(state["genomes"]))
        self._values = unpack_array(state["values"]).tolist()
        self._feasible = [bool(f) for f in state["feasible"]]
        self._seen = unpack_keys(state["seen"], self._codec)
        self._queue = list(unpack_array(state["queue"]))
