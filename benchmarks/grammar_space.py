"""Grammar spaces: compile time and genome size against the depth bound; operator throughput.

1. For depth bounds 1-10: the time of ``spaces.grammar`` + ``spaces.compile`` and the genome
   size (slots) of the hierarchical NB201 and the einspace-style grammars, with the number of
   derivations; a depth at which a production cannot terminate is refused (reported).
2. Baseline: ``expr -> expr op expr | x | 1.0`` unrolled into nested ``pg.oneof`` (depths 1-8)
   against the same grammar as one custom decision point.
3. Recombination: of 200 crossovers of random distinct parents at depth 7, how many return a
   copy of a parent (unrolled single-root space against the grammar space).
4. Throughput of ``codec.random``/``mutate``/``crossover`` on each grammar (genomes per second,
   batches of 200), with the NB201 cell codec as a reference.

Times are CPU seconds of this process (``time.process_time``).

Usage: python benchmarks/grammar_space.py [--max-unrolled 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symnas import spaces
from symnas.spaces.grammars import (
    EINSPACE_GRAMMAR,
    EXPRESSION_GRAMMAR,
    HNB201_GRAMMAR,
    unrolled_expression_space,
)


def timed(fn, *args, **kwargs):
    """(result, CPU seconds of this process) of one call: CPU time, because the benchmark
    machine is shared and wall time measures the other processes as much as this one."""
    started = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - started


def magnitude(n: int) -> str:
    """A big count in scientific notation without float overflow."""
    text = str(n)
    return f"{text[0]}.{text[1:3]}e{len(text) - 1}" if len(text) > 4 else text


def compile_rows() -> None:
    """Part 1: compile time and genome size against the depth bound."""
    print("1. compile time and genome size vs depth bound")
    print(f"{'grammar':<10} {'depth':>5} {'compile_ms':>11} {'slots':>6} {'derivations':>12}")
    for name, text, start in (
        ("hnb201", HNB201_GRAMMAR, "D2"),
        ("einspace", EINSPACE_GRAMMAR, "NET"),
    ):
        for depth in range(1, 11):
            try:
                space, seconds = timed(spaces.grammar, text, start, max_depth=depth)
            except ValueError as error:
                print(f"{name:<10} {depth:>5}   refused: {str(error)[:80]}")
                continue
            codec, more = timed(spaces.compile, space)
            size = magnitude(space.num_values())
            print(
                f"{name:<10} {depth:>5} {1e3 * (seconds + more):>11.2f} {codec.num_slots:>6} {size:>12}"
            )


def baseline_rows(max_unrolled: int) -> None:
    """Part 2: the unrolled baseline against the custom decision point."""
    print("2. expression grammar: unrolled pg.oneof vs one custom decision point")
    print(
        f"{'depth':>5} {'unrolled_ms':>12} {'slots':>6} {'grammar_ms':>11} {'slots':>6} {'ratio':>7}"
    )
    for depth in range(2, max_unrolled + 1):
        unrolled, t_build = timed(unrolled_expression_space, depth)
        codec_u, t_u = timed(spaces.compile, unrolled)
        grammar, t_g0 = timed(spaces.grammar, EXPRESSION_GRAMMAR, max_depth=depth)
        codec_g, t_g1 = timed(spaces.compile, grammar)
        tu, tg = t_build + t_u, t_g0 + t_g1
        print(
            f"{depth:>5} {1e3 * tu:>12.1f} {codec_u.num_slots:>6} {1e3 * tg:>11.2f} "
            f"{codec_g.num_slots:>6} {tu / tg:>7.0f}x",
            flush=True,
        )


def copies(codec, rng, n: int = 200) -> int:
    """Crossovers of ``n`` random distinct parent pairs that return a copy of a parent."""
    a, b = codec.random(4 * n, rng), codec.random(4 * n, rng)
    keep = [i for i in range(4 * n) if codec.key(a[i]) != codec.key(b[i])][:n]
    child = codec.crossover(a[keep], b[keep], rng)
    return sum(
        codec.key(c) in (codec.key(x), codec.key(y))
        for c, x, y in zip(child, a[keep], b[keep], strict=True)
    )


def recombination_rows() -> None:
    """Part 3: how often crossover merely copies a parent."""
    print("3. crossovers (of 200 distinct random pairs, depth 7) that return a parent")
    rng = np.random.default_rng(0)
    print(f"unrolled pg.oneof: {copies(spaces.compile(unrolled_expression_space(7)), rng)}/200")
    grammar = spaces.compile(spaces.grammar(EXPRESSION_GRAMMAR, max_depth=7))
    print(f"grammar (subtree crossover): {copies(grammar, rng)}/200")
    hnb = spaces.compile(spaces.grammar(HNB201_GRAMMAR, "D2", max_depth=7))
    print(f"hnb201 grammar: {copies(hnb, rng)}/200")


def throughput_rows() -> None:
    """Part 4: genome operators per second."""
    print("4. operator throughput (genomes/s, batches of 200)")
    rng = np.random.default_rng(0)
    cases = {
        "nb201 cell (reference)": spaces.nb201_cell(),
        "expression d8": spaces.grammar(EXPRESSION_GRAMMAR, max_depth=8),
        "hnb201 d7": spaces.hnb201(),
        "einspace d8": spaces.einspace(max_depth=8),
    }
    print(f"{'space':<24} {'random':>9} {'mutate':>9} {'crossover':>10} {'decode':>9}")
    for name, space in cases.items():
        codec = spaces.compile(space)
        parents, t_random = timed(codec.random, 200, rng)
        _, t_mutate = timed(codec.mutate, parents, rng)
        _, t_cross = timed(codec.crossover, parents, parents[::-1], rng)
        _, t_decode = timed(list, map(codec.decode, parents))
        print(
            f"{name:<24} {200 / t_random:>9.0f} {200 / t_mutate:>9.0f} {200 / t_cross:>10.0f} "
            f"{200 / t_decode:>9.0f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-unrolled", type=int, default=8)
    args = parser.parse_args()
    compile_rows()
    baseline_rows(args.max_unrolled)
    recombination_rows()
    throughput_rows()


if __name__ == "__main__":
    main()
