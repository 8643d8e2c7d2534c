"""Mechanisms of the read-buffer closed forms, each on a stream built so that one term acts.

An SRAM of 200 words has halves of 100 words, sets of 2 words and an active window of 50 sets.
A forward stream (one pass, no steps back) of ``2 * sets - 2`` valid words has ``sets`` sets.
"""

from __future__ import annotations

import numpy as np

from symnas.programs.cost.hardware_memory import Stream, read_buffer, window_advances

SRAM, SET_WORDS, WINDOW = 200.0, 2.0, 50.0


def _stream(sets: float, steps_back: float = 0.0, step_words: float = 0.0, reverse=False):
    valid = 2.0 * sets - 2.0
    return Stream(
        valid=np.array([valid]),
        slots=np.array([valid]),
        passes=np.array([1.0]),
        steps_back=np.array([steps_back]),
        step_words=np.array([step_words]),
        reverse=np.array([reverse]),
    )


def _advances(stream: Stream) -> float:
    return float(window_advances(stream, np.array([SET_WORDS]), np.array([WINDOW]))[0])


def test_even_misses_wait_past_the_last_miss_and_odd_ones_once_more():
    """Each advance moves 100 words at 10 a cycle (11 cycles). Two advances over 150 sets are
    demanded by cycle 2 of a 3-cycle layer: 22 - 2 = 20 cycles late; charged twice and carried
    over, two misses add nothing. Three over 200 sets, demanded by cycle 3 of 4, leave
    33 - 3 = 30 late plus one more wait of 11 - 1 (the spacing of the misses) = 40."""
    bw = np.array([10.0])
    for sets, compute, advances, stalls in ((150, 3.0, 2, 20.0), (200, 4.0, 3, 40.0)):
        stream = _stream(sets)
        assert _advances(stream) == advances
        words, waited = read_buffer(stream, np.array([SRAM]), bw, np.array([compute]))
        assert float(waited[0]) == stalls
        assert float(words[0]) == 100.0 + advances * 100.0  # the first half, then each advance


def test_a_step_back_inside_the_window_costs_no_revolution():
    """80 sets: the window of 50 advances by 30, so the newest demand is within the last 30
    sets and a step back of up to 20 sets stays inside; a step of 26 sets leaves it with
    probability (26 - 20) / 30, each time costing a revolution of 80 / 30 advances."""
    plain = _advances(_stream(80))
    assert plain == 1.0  # ceil((80 - 50) / 30)
    assert _advances(_stream(80, steps_back=3, step_words=2.0 * 10)) == plain
    assert _advances(_stream(80, steps_back=3, step_words=2.0 * 20)) == plain
    far = _advances(_stream(80, steps_back=3, step_words=2.0 * 26))
    assert np.isclose(far, plain + 3 * (6 / 30) * 80 / 30)


def test_reversed_folds_much_smaller_than_a_set_read_like_a_forward_stream():
    """A reversed fold that does not straddle a set boundary gains a whole advance per
    advance, as a forward stream does (300 sets: 250 past the window in advances of 50)."""
    forward = _advances(_stream(300))
    assert forward == 5.0
    assert np.isclose(_advances(_stream(300, step_words=1e-9, reverse=True)), forward)
