"""The one-shot searcher contract: train a supernet, then propose the architectures it derives.

A :class:`OneShotSearcher` is a ``SearchAlgorithm``, so it swaps into ``flows.search`` like any
sampler: ``flows.search(space, objective, algorithm=algorithms.PreNAS(data=...),
budget=n_finalists, out=...)``. ``flows.search`` calls ``prepare`` before the first proposal: the
searcher trains its supernet there (with the data and budget given to its constructor,
checkpointed under ``out/oneshot/`` and resumed with the search) and ranks its finalists. It
then proposes the finalists best first, the objective evaluates them, and ``propose`` raises
``StopIteration`` once they are exhausted (PyGlove's convention), which ends the search.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.objectives import MODES, Objectives
from symnas.spaces.codec import Codec
from symnas.spaces.codec import compile as compile_space

Spec = dict[str, Any]


def describe_data(data: Any) -> Any:
    """A JSON description of ``data`` (its name, or a dataset's name and sizes)."""
    if isinstance(data, str):
        return data
    return {"name": data.name, "train": len(data.y_train), "test": len(data.y_test)}


def encode_spec(codec: Codec, spec: Spec) -> np.ndarray:
    """The genome of a decoded spec of ``codec``'s space."""
    # pg.from_json consumes the "_type" keys of the dicts it is given: pass a copy.
    dna = pg.template(codec.space).encode(pg.from_json(copy.deepcopy(spec)))
    return codec.from_dna(dna)


@pg.members(
    [
        (
            "data",
            pg.typing.Any(),
            "Training data: a programs.data.Dataset or a name ('digits', 'cifar10_subset:DIR').",
        ),
        ("metric", pg.typing.Str().noneable(), "Metric of the finalists' evaluation to optimise."),
        ("mode", pg.typing.Enum("max", list(MODES)), "Direction of the metric."),
        ("device", pg.typing.Str(default="auto"), "'auto' (CUDA when available), 'cpu', 'cuda'."),
    ]
)
class OneShotSearcher(SearchAlgorithm):
    """Base class: ``search`` trains and returns finalists; they are proposed best first."""

    def objectives(self) -> Objectives:
        return Objectives.create(self.metric, self.mode)

    def _reset(self) -> None:
        self._finalists: list[np.ndarray] | None = None
        self._next = 0

    def bind(self, codec: Codec, seed: int | None = None) -> None:
        """Sets the searcher up on a compiled space and remembers the symbolic space, which
        ``pg.sample`` (that passes only a DNA spec to ``setup``) does not give."""
        self._space = codec.space
        super().bind(codec, seed)

    @property
    def train_seed(self) -> int:
        """The seed of the supernet's initialisation, data split and training: ``seed``, else
        the search's seed (0 outside a search)."""
        if self.seed is not None:
            return self.seed
        return getattr(self, "_default_seed", None) or 0

    @property
    def space(self) -> Any:
        """The symbolic space whose supernet the searcher trains."""
        space = self.codec.space if self.codec.space is not None else getattr(self, "_space", None)
        if space is None:
            raise ValueError(
                f"{type(self).__name__} trains a supernet of the symbolic space, which pg.sample "
                "does not pass on: use flows.search(space, ...), or call "
                "searcher.bind(spaces.compile(space)) before pg.sample(space, searcher)."
            )
        return space

    def prepare(self, out: Path | None, resume: bool = False, verbose: bool = True) -> None:
        """Trains the supernet and ranks the finalists (under ``out/oneshot`` when given)."""
        folder = Path(out) / "oneshot" if out is not None else None
        space = self.space
        specs = self.search(space, folder, resume=resume, progress=verbose)
        if not specs:
            raise ValueError(f"{type(self).__name__} derived no architecture.")
        if self.codec.space is not None:
            self._finalists = [encode_spec(self.codec, s) for s in specs]
            return
        # pg.sample's codec has no space: encode with a compiled one, convert through the DNA.
        codec = compile_space(space)
        self._finalists = [self.codec.from_dna(codec.to_dna(encode_spec(codec, s))) for s in specs]

    def search(self, space: Any, out: Path | None, resume: bool, progress: bool) -> list[Spec]:
        """Trains and returns the finalists, best first (subclasses implement it)."""
        raise NotImplementedError

    def _propose_genomes(self, n: int) -> np.ndarray:
        if self._finalists is None:
            self.prepare(None)  # the PyGlove path (pg.sample) trains in memory
        left = self._finalists[self._next : self._next + n]
        if not left:
            raise StopIteration(f"{type(self).__name__} has proposed all its finalists.")
        self._next += len(left)
        return np.stack(left)

    def sym_jsonify(self, **kwargs: Any) -> Any:
        """The algorithm as JSON, with its data described rather than serialised and without its
        device (a search may resume on another device)."""
        json_value = super().sym_jsonify(**kwargs)
        json_value["data"] = describe_data(self.data)
        json_value.pop("device", None)
        return json_value
