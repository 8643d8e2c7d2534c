"""Closed forms of SCALE-Sim's double-buffered memory system: DRAM words, transfers, stalls.

SCALE-Sim v2 (Samajdar et al., ISPASS 2020; ``scalesim/memory/read_buffer.py``,
``write_buffer.py``, ``double_buffered_scratchpad_mem.py``, ``compute/systolic_compute_*.py``)
simulates every cycle; these are its counts per GEMM in closed form, vectorised with numpy.

Read buffers (ifmap, filter). Each operand is laid out as a *prefetch stream*: its fold tiles,
padded to the array width (padding takes stream slots but holds no data). The stream's valid
words are grouped into sets of ``ceil(SRAM words / 100)``; the active half of the SRAM is a
cyclic window of ``Na = ceil(half / set)`` sets. A demand outside the window advances it by
``Np`` sets (``Na``, or what is left of the stream) until it hits; every advance reads half an
SRAM (``ceil(half / bw) * bw`` words) in ``ceil(half / bw) + 1`` cycles, and the first half (or
the whole stream, if shorter) is loaded before the layer, for free. A stream that fits the
window is read once; otherwise each sweep costs ``sets / Np`` advances, plus whole revolutions
when a demand steps back behind the window (``window_advances``).

Per dataflow (``rf``/``cf`` row and column folds): the os ifmap and filter, the ws ifmap and the
is filter are diagonal orders of their folds, and each fold change steps back a little; the ws
filter and the is ifmap are row-major fold blocks that the array reads bottom row first. The
ws/os ifmap and the is filter are swept once per column fold; the os filter repeats each column
fold ``rf`` times (stepping back over the fold each time).

Stalls: prefetches run back to back from cycle 0, and the array waits when it demands one not
yet done. SCALE-Sim charges such a wait twice and carries the surplus over to the next miss, so
the total is the transfer time past the last miss plus one more wait when the misses are odd.

Write buffer (ofmap): outputs leave the array once (os) or once per reduction fold (partial
sums of ws/is); SCALE-Sim writes every copy to DRAM, which this model follows unless the output
fits half the ofmap SRAM (then the partial sums accumulate on chip). Half the SRAM drains at
``bw`` words per cycle whenever more than half is full; the last part drains after the layer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SETS_PER_SRAM = 100.0


class Stream(NamedTuple):
    """An operand's prefetch stream and how the array's demands walk it (arrays per GEMM)."""

    valid: np.ndarray  # words of data in the stream
    slots: np.ndarray  # stream length with the padding to the array width
    passes: np.ndarray  # sweeps of the whole stream
    steps_back: np.ndarray  # backward steps of a diagonal stream (fold changes, repeats)
    step_words: np.ndarray  # valid words per backward step (a whole fold, when reversed)
    reverse: np.ndarray  # True where every fold is read bottom row first


def _ceil(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.ceil(a / b)


def _diagonal_step(height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Words between a fold's last and the next fold's first demand in a diagonal stream.

    A diagonal order of a (height x width) matrix averages ``height * width / (height + width
    - 1)`` words per diagonal, and the next fold starts ``width - 2`` diagonals back.
    """
    return (width - 2.0) * height * width / (height + width - 1.0)


def window_advances(stream: Stream, set_words: np.ndarray, window: np.ndarray) -> np.ndarray:
    """How often an active window of ``window`` sets of ``set_words`` words moves over a stream."""
    sets = np.floor(stream.valid / set_words) + 1.0
    advance = np.maximum(np.minimum(window, sets - window), 1.0)
    sweep = np.maximum(stream.passes * sets - window, 0.0)
    step = stream.step_words / set_words
    # Diagonal streams: right after an advance the newest demand lies in the window's last
    # ``advance`` sets, so a step back of ``d`` sets leaves it with probability
    # ``(d - (Na - Np)) / Np``; then the window goes once round the stream.
    behind = np.clip((step - (window - advance)) / advance, 0.0, 1.0)
    diagonal = np.ceil(sweep / advance) + stream.steps_back * behind * sets / advance
    # Reversed folds: a fold whose top row moves the window past its end ``E`` has its lower
    # rows behind: the window goes round (``floor(sets / Np)`` advances) and stops
    # ``R = -sets mod Np`` sets past ``E``. If that is inside the same fold (probability
    # ``1 - R / fold``) its last rows take one plain advance (``R + Np`` gained), else the next
    # fold straddles again (``R`` gained).
    straddle = np.minimum(step, 1.0)
    shift = advance * np.ceil(sets / advance) - sets  # -sets mod Np (np.mod is slow)
    shift = np.where(shift > 0, shift, advance)
    inside = np.clip(1.0 - shift / np.maximum(step, 1e-9), 0.0, 1.0)
    gain = straddle * (shift + inside * advance) + (1.0 - straddle) * advance
    cost = straddle * (1.0 + np.floor(sets / advance) + inside) + (1.0 - straddle)
    reversed_ = sweep / gain * cost
    return np.where(sets <= window, 0.0, np.where(stream.reverse, reversed_, diagonal))


def read_buffer(
    stream: Stream, sram_words: np.ndarray, bw: np.ndarray, compute: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM words and stall cycles of one operand through a double-buffered read SRAM.

    The SRAM holds ``sram_words`` words and refills at ``bw`` words per cycle; the layer
    computes for ``compute`` cycles.
    """
    half = np.floor(sram_words / 2.0)
    set_words = np.ceil(sram_words / SETS_PER_SRAM)
    window = _ceil(half, set_words)
    sets = np.floor(stream.valid / set_words) + 1.0
    advances = window_advances(stream, set_words, window)
    half_lines = _ceil(half, bw)
    first = np.minimum(half_lines, _ceil(stream.slots, bw)) * bw
    busy = advances * (half_lines + 1.0)
    # Prefetches run back to back from cycle 0; the last one is demanded once all but the
    # window's worth of the stream has been used. A wait is charged twice and the surplus
    # carries over to the next miss, so an odd number of misses leaves one extra wait.
    last_miss = compute * np.maximum(1.0 - window / np.maximum(stream.passes * sets, 1.0), 0.0)
    late = np.maximum(busy - last_miss, 0.0)
    spacing = last_miss / np.maximum(advances, 1.0)
    odd = advances - 2.0 * np.floor(advances / 2.0) >= 1.0
    extra = np.where(odd, np.minimum(np.maximum(half_lines + 1.0 - spacing, 0.0), late), 0.0)
    return first + advances * half_lines * bw, late + extra


def write_buffer(
    writes: np.ndarray, sram_words: np.ndarray, bw: np.ndarray, compute: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM words written and stall cycles of a double-buffered write SRAM.

    Half the SRAM drains whenever more than half is full; the last part drains after the
    layer, so the array waits for ``(writes - half) / bw`` cycles beyond ``compute``.
    """
    drain = np.maximum(writes - np.floor(sram_words / 2.0), 0.0) / bw
    return writes, np.maximum(drain - compute, 0.0)


def streams(
    m: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    flow: dict[str, np.ndarray],
    in_words: np.ndarray,
) -> tuple[Stream, Stream]:
    """The ifmap and filter streams of a GEMM per dataflow (``flow``: masks ``os``/``ws``/``is``).

    ``in_words`` unique input words: a convolution's unfolded input repeats words, which the
    SRAM serves, so its stream shrinks by ``in_words / (m * k)``.
    """
    is_os, is_ws = flow["os"], flow["ws"]
    rf = _ceil(np.where(is_os, m, k), rows)
    cf = _ceil(np.where(is_os | is_ws, n, m), cols)
    unique = in_words / (m * k)
    diagonal_in = is_os | is_ws  # row folds in diagonal order, swept once per column fold
    ifmap = Stream(
        valid=in_words,
        slots=unique
        * np.where(is_os, k * rows * rf, np.where(is_ws, m * rows * rf, k * cols * cf)),
        passes=np.where(diagonal_in, cf, 1.0),
        steps_back=np.where(diagonal_in, cf * (rf - 1.0), 0.0),
        step_words=unique
        * np.where(
            diagonal_in, _diagonal_step(np.where(is_os, k, m) * rf, rows), k * m / (rf * cf)
        ),
        reverse=~diagonal_in,
    )
    # os: column folds in diagonal order, each read rf times in a row (a step back of the
    # fold's span each time); ws: reversed blocks; is: row folds in diagonal order per pass.
    os_steps = (cf - 1.0) + cf * (rf - 1.0)
    os_step_words = (
        (cf - 1.0) * _diagonal_step(k * cf, cols) + cf * (rf - 1.0) * (k + cols - 1.0) * n / cf
    ) / np.maximum(os_steps, 1.0)
    filt = Stream(
        valid=k * n,
        slots=np.where(is_os | is_ws, k * cols * cf, n * rows * rf),
        passes=np.where(is_os | is_ws, 1.0, cf),
        steps_back=np.where(is_os, os_steps, np.where(is_ws, 0.0, cf * (rf - 1.0))),
        step_words=np.where(
            is_os, os_step_words, np.where(is_ws, k * n / (rf * cf), _diagonal_step(n * rf, rows))
        ),
        reverse=is_ws,
    )
    return ifmap, filt


def systolic_traffic(
    m: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    flow: dict[str, np.ndarray],
    sram_words: dict[str, np.ndarray],
    bw: np.ndarray | dict[str, np.ndarray],
    compute: np.ndarray,
    in_words: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-operand DRAM words and stall cycles of one GEMM.

    Keys ``<op>_words`` and ``<op>_stalls`` for ``op`` in ifmap, filter, ofmap.
    ``flow`` holds boolean masks ``os``, ``ws``, ``is``; ``sram_words`` each operand's whole
    SRAM in words of that operand; ``bw`` words per cycle per port (one array for all
    operands, or one per operand when their widths differ); ``compute`` the GEMM's compute
    cycles; ``in_words`` its unique input words.
    """
    if not isinstance(bw, dict):
        bw = {"ifmap": bw, "filter": bw, "ofmap": bw}
    ifmap, filt = streams(m, k, n, rows, cols, flow, in_words)
    # Partial sums of ws/is leave the array once per reduction fold; they stay on chip when
    # the output fits half the ofmap SRAM, else each fold's copy is written out.
    rf = _ceil(np.where(flow["os"], m, k), rows)
    fits = m * n <= np.floor(sram_words["ofmap"] / 2.0)
    writes = m * n * np.where(flow["os"] | fits, 1.0, rf)
    results = (
        ("ifmap", read_buffer(ifmap, sram_words["ifmap"], bw["ifmap"], compute)),
        ("filter", read_buffer(filt, sram_words["filter"], bw["filter"], compute)),
        ("ofmap", write_buffer(writes, sram_words["ofmap"], bw["ofmap"], compute)),
    )
    return {
        f"{name}_{key}": value[i]
        for name, value in results
        for i, key in enumerate(("words", "stalls"))
    }
