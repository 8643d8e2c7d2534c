"""Path and one-hot encodings of genomes, worked by hand (BANANAS, White et al., AAAI 2021)."""

from __future__ import annotations

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.algorithms import encodings


def _nb201_features(ops: list[int]) -> list[int]:
    """The four paths of an NB201 cell as feature indices: length-1 paths at 0-4, length-2 at
    5-29, length-3 at 30-154, each op sequence read as base-5 digits, first edge lowest."""
    e = ops
    return sorted(
        [e[3], 5 + e[0] + 5 * e[4], 5 + e[1] + 5 * e[5], 30 + e[0] + 5 * e[2] + 25 * e[5]]
    )


def test_nb201_path_encoding_of_two_cells_by_hand():
    encode = encodings.encoder(spaces.compile(spaces.nb201_cell()))
    cells = [[1, 2, 3, 4, 0, 2], [4, 0, 1, 3, 2, 1]]
    features = encode(np.array(cells, dtype=np.float64))
    assert features.shape == (2, 155)
    for row, ops in zip(features, cells, strict=True):
        assert np.flatnonzero(row).tolist() == _nb201_features(ops)
        assert set(row.tolist()) == {0.0, 1.0}


def _darts_genome(codec, cells: dict[str, list[tuple[int, int, int, int]]]) -> np.ndarray:
    """A genome from (input 0, input 1, op 0, op 1) per node of each cell."""
    genome = np.zeros(codec.num_slots)
    index = {s.path: s.index for s in codec.slots}
    for cell, nodes in cells.items():
        for node, (in0, in1, op0, op1) in enumerate(nodes):
            genome[index[f"{cell}[{node}].inputs[0]"]] = in0
            genome[index[f"{cell}[{node}].inputs[1]"]] = in1
            genome[index[f"{cell}[{node}].ops[0]"]] = op0
            genome[index[f"{cell}[{node}].ops[1]"]] = op1
    return genome


def test_darts_path_encoding_counts_every_path_from_a_cell_input_by_hand():
    codec = spaces.compile(spaces.darts_cell())
    n = len(spaces.cells.DARTS_OPS)
    per_input = n + n**2 + n**3 + n**4

    def feature(cell: int, source: int, ops: tuple[int, ...]) -> int:
        offset = sum(n**length for length in range(1, len(ops)))
        return (cell * 2 + source) * per_input + offset + sum(o * n**j for j, o in enumerate(ops))

    # normal: node 0 reads inputs 0 and 1; node 1 reads node 0 (index 2) and input 0; node 2
    # reads node 1 twice; node 3 reads input 1 and node 2. reduce: every node reads the inputs
    # (node 2 reads input 1 twice through the same op: one feature counted twice).
    normal = [(0, 1, 1, 2), (2, 0, 3, 4), (3, 3, 5, 6), (1, 4, 7, 1)]
    reduce = [(0, 1, 4, 5), (0, 1, 6, 7), (1, 1, 2, 2), (0, 1, 1, 1)]
    genome = _darts_genome(codec, {"normal": normal, "reduce": reduce})
    expected: dict[int, float] = {}
    for nodes, cell in ((normal, 0), (reduce, 1)):
        paths = [[(0, ())], [(1, ())]]
        for in0, in1, op0, op1 in nodes:
            incoming = [(k, ops + (op0,)) for k, ops in paths[in0]]
            incoming += [(k, ops + (op1,)) for k, ops in paths[in1]]
            paths.append(incoming)
            for k, ops in incoming:
                expected[feature(cell, k, ops)] = expected.get(feature(cell, k, ops), 0.0) + 1.0
    # Paths into the normal cell's nodes: 2, 2 + 1, 3 + 3, 1 + 6; the reduce cell's: 2 each.
    features = encodings.encoder(codec)(genome[None])[0]
    assert features.shape == (2 * 2 * per_input,)
    assert features.sum() == 2 + 3 + 6 + 7 + 8
    got = {int(i): float(features[i]) for i in np.flatnonzero(features)}
    assert got == expected
    # Node 2 reads node 1 through ops 5 and 6: input 0 -> op 1 -> op 3 then either op.
    assert features[feature(0, 0, (1, 3, 5))] == 1.0 and features[feature(0, 0, (1, 3, 6))] == 1.0
    assert features[feature(0, 1, (7,))] == 1.0  # node 3's direct edge from input 1
    assert features[feature(1, 1, (2,))] == 2.0


def test_onehot_encoding_of_a_conditional_mixed_space_by_hand():
    space = pg.Dict(
        branch=pg.oneof([pg.Dict(width=pg.floatv(0.5, 2.5), k=pg.oneof([1, 3])), "identity"]),
        rate=pg.floatv(-1.0, 1.0),
    )
    codec = spaces.compile(space)
    paths = [s.path for s in codec.slots]
    active_row = np.zeros(codec.num_slots)
    active_row[paths.index("branch")] = 0
    active_row[paths.index("branch[=0/2].width")] = 1.0
    active_row[paths.index("branch[=0/2].k")] = 1
    active_row[paths.index("rate")] = 0.5
    inactive_row = active_row.copy()
    inactive_row[paths.index("branch")] = 1
    features = encodings.encoder(codec, "onehot")(np.stack([active_row, inactive_row]))
    # Columns in slot order: branch one-hot (2), width scaled + flag (2), k one-hot (2), rate
    # scaled + flag (2).
    assert features.tolist()[0] == [1, 0, 0.25, 1, 0, 1, 0.75, 1]
    assert features.tolist()[1] == [0, 1, 0, 0, 0, 0, 0.75, 1]


def test_the_encoder_chooses_by_space_and_refuses_what_it_cannot_encode():
    nb201 = spaces.compile(spaces.nb201_cell())
    assert encodings.encoder(nb201, "auto") is encodings.nb201_path_encoding
    assert encodings.encoder(nb201, "onehot")(np.zeros((1, 6))).shape == (1, 30)
    plain = spaces.compile(pg.Dict(x=pg.oneof([1, 2, 3])))
    assert encodings.encoder(plain)(np.array([[2.0]])).tolist() == [[0, 0, 1]]
    with pytest.raises(ValueError, match="NAS-Bench-201 or DARTS"):
        encodings.encoder(plain, "path")
    # Six edges that are not NB201's ops are not taken for an NB201 cell.
    six = spaces.compile(pg.Dict(edges=[pg.oneof(["a", "b", "c", "d", "e"]) for _ in range(6)]))
    assert encodings.encoder(six)(np.zeros((1, 6))).shape == (1, 30)


class _Digit(pg.hyper.CustomHyper):
    """A custom decision point: one random digit."""

    def custom_decode(self, dna: pg.DNA) -> int:
        return int(dna.value)

    def random_dna(self, random_generator=None, previous_dna=None) -> pg.DNA:
        return pg.DNA(str((random_generator or np.random.default_rng(0)).integers(10)))


def test_a_space_with_a_custom_decision_point_is_refused_by_name():
    codec = spaces.compile(pg.Dict(n=pg.oneof([1, 2]), digit=_Digit()))
    for encoding in ("auto", "onehot"):
        with pytest.raises(ValueError, match=r"custom decision points \['digit'\]"):
            encodings.encoder(codec, encoding)
    with pytest.raises(ValueError, match=r"custom decision points \['digit'\]"):
        encodings.onehot_encoding(codec, np.zeros((1, codec.num_slots)))


def test_a_fixed_float_scales_to_zero_and_a_partial_darts_layout_is_one_hot():
    fixed = spaces.compile(pg.Dict(r=pg.floatv(1.0, 1.0)))
    assert encodings.encoder(fixed, "onehot")(np.array([[1.0]])).tolist() == [[0.0, 1.0]]
    ops = list(spaces.cells.DARTS_OPS)
    one_node = pg.Dict(
        normal=[pg.Dict(inputs=[pg.oneof([0, 1]), pg.oneof([0, 1])], ops=[pg.oneof(ops)] * 2)]
    )
    codec = spaces.compile(one_node)
    assert [s.path for s in codec.slots][0] == "normal[0].inputs[0]"
    assert encodings.encoder(codec)(np.zeros((1, 4))).shape == (1, 2 + 2 + 8 + 8)
