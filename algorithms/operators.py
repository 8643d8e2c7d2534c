"""Pluggable evolution operators in PyGlove's form, applied to genomes.

Evolutionary algorithms take PyGlove's operator objects: a ``pg.evolution.Mutator`` (``mutator=``),
a ``pg.evolution.Recombinator`` (``crossover=``) and a ``pg.DNAGenerator`` that proposes the
initial population (``population_init=``). These functions run them on genomes by converting
through the codec's ``pg.DNA`` form. The algorithms' defaults stay the vectorised codec operators
(``codec.mutate``, ``codec.crossover``, ``codec.random``), which draw from the algorithm's own
generator.
"""

from __future__ import annotations

import numpy as np
import pyglove as pg

from symnas.spaces.codec import Codec


def _to_dna(codec: Codec, genome: np.ndarray, dna_spec: pg.DNASpec) -> pg.DNA:
    return pg.DNA.from_numbers(codec.numbers(genome), dna_spec)


def _from_dna(codec: Codec, dna: pg.DNA, operator: str) -> np.ndarray:
    if not isinstance(dna, pg.DNA):
        raise TypeError(f"{operator} must return pg.DNA; got {type(dna).__name__}.")
    return codec.from_numbers(dna.to_numbers())


def mutate_with(
    mutator: pg.evolution.Mutator,
    codec: Codec,
    dna_spec: pg.DNASpec,
    genomes: np.ndarray,
    step: int,
) -> np.ndarray:
    """One child per genome row from a PyGlove mutator (its first output per parent)."""
    children = []
    for genome in np.atleast_2d(genomes):
        outputs = mutator([_to_dna(codec, genome, dna_spec)], pg.geno.AttributeDict(), step)
        if not outputs:
            raise ValueError(f"mutator {mutator!r} returned no child.")
        children.append(_from_dna(codec, outputs[0], "mutator"))
    return np.stack(children)


def recombine_with(
    recombinator: pg.evolution.Recombinator,
    codec: Codec,
    dna_spec: pg.DNASpec,
    first: np.ndarray,
    second: np.ndarray,
    step: int,
) -> np.ndarray:
    """One child per pair of parent rows from a PyGlove recombinator (its first output)."""
    children = []
    for a, b in zip(np.atleast_2d(first), np.atleast_2d(second), strict=True):
        parents = [_to_dna(codec, a, dna_spec), _to_dna(codec, b, dna_spec)]
        outputs = recombinator(parents, pg.geno.AttributeDict(), step)
        if not outputs:
            raise ValueError(f"crossover {recombinator!r} returned no child.")
        children.append(_from_dna(codec, outputs[0], "crossover"))
    return np.stack(children)


def initial_with(generator: pg.DNAGenerator, codec: Codec, n: int) -> np.ndarray:
    """``n`` genomes proposed by a set-up ``pg.DNAGenerator`` (e.g. ``pg.geno.Random``)."""
    return np.stack([_from_dna(codec, generator.propose(), "population_init") for _ in range(n)])
