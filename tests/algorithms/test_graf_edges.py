"""GRAF features beyond the worked cell of ``test_surrogate.py``: the op count and the path
count of an all-skip cell, the task forwarded to the shape check, and the errors naming the
spec type."""

from __future__ import annotations

import math
import re

import pytest

from symnas import spaces
from symnas.algorithms.graf import graf, op_graph

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_an_all_skip_cell_has_six_ops_and_four_input_to_output_paths():
    f = graf(spaces.nb201_arch(ALL_SKIP))
    assert f["num_ops"] == 6  # one op node per edge; input, sums and output are structural
    # 0-3, 0-1-3, 0-2-3 and 0-1-2-3.
    assert f["paths"] == pytest.approx(math.log1p(4))


def test_the_task_reaches_the_shape_check_of_a_grammar_spec(hnb201_spec):
    cell = ["nor_conv_3x3", "nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1"]
    spec = hnb201_spec(cell)
    assert graf(spec)["num_ops"] > 0
    with pytest.raises(ValueError, match="1x1 features cannot be halved"):
        graf(spec, image_size=2)


def test_an_unknown_spec_type_is_named_with_the_known_ones():
    known = re.escape("known: ['symnas.spaces.cells.NB201Cell', ")
    with pytest.raises(ValueError, match=rf"no vocabulary for spec type 'x'; {known}"):
        graf({"_type": "x"})
    with pytest.raises(ValueError, match=r"no vocabulary for spec type 'list'"):
        graf([])
    with pytest.raises(ValueError, match=rf"no graph for spec type 'x'; {known}"):
        op_graph({"_type": "x"})
