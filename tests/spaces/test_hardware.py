"""Tests of the systolic-accelerator space and its area model."""

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces import hardware


def test_default_space_size_and_spec_fields():
    space = spaces.systolic_accelerator()
    assert pg.dna_spec(space).space_size == 5 * 5 * 5**3 * 3 * 3
    spec = pg.to_json(pg.materialize(space, pg.DNA([4, 0, 1, 2, 3, 2, 1])))
    assert spec == {
        "_type": "symnas.spaces.hardware.SystolicAccelerator",
        "rows": 64,
        "cols": 4,
        "ifmap_sram_kb": 32,
        "filter_sram_kb": 64,
        "ofmap_sram_kb": 128,
        "bandwidth": 16,
        "dataflow": "os",
        "clock_mhz": 500.0,
        "word_bytes": 1,
        "max_area_mm2": None,
        "precisions": None,
        "bit_fusion": False,
    }


def test_codec_decodes_the_same_spec_as_materialize():
    space = spaces.systolic_accelerator(max_area_mm2=4.0)
    codec = spaces.compile(space)
    genome = codec.random(1, np.random.default_rng(0))[0]
    expected = pg.to_json(pg.materialize(space, codec.to_dna(genome)))
    assert codec.decode(genome) == expected
    assert expected["max_area_mm2"] == 4.0


def test_area_model_uses_documented_constants():
    spec = {"rows": 16, "cols": 8, "dataflow": "ws", "ifmap_sram_kb": 32}
    expected = 16 * 8 * 0.0012 + (32 + 64 + 64) * 0.004
    assert hardware.area_mm2(spec) == pytest.approx(expected)
    wide = dict(spec, word_bytes=2)
    assert hardware.area_mm2(wide) - hardware.area_mm2(spec) == pytest.approx(3 * 16 * 8 * 0.0012)
    concrete = hardware.SystolicAccelerator(rows=16, cols=8, dataflow="ws", ifmap_sram_kb=32)
    assert hardware.area_mm2(concrete) == pytest.approx(expected)


def test_feasible_reads_cap_from_spec_or_argument():
    small = {"rows": 4, "cols": 4, "dataflow": "os", "max_area_mm2": 1.0}
    big = dict(small, rows=64, cols=64)
    assert hardware.feasible(small) and not hardware.feasible(big)
    assert hardware.feasible(big, max_area_mm2=10.0)
    assert hardware.feasible({"rows": 64, "cols": 64, "dataflow": "is"})


def test_area_cap_prunes_array_sizes_that_can_never_fit():
    space = spaces.systolic_accelerator(max_area_mm2=0.3)
    rows = space.sym_init_args.rows.candidates
    cols = space.sym_init_args.cols.candidates
    assert max(rows) == 16 and max(cols) == 16
    smallest = {"rows": 4, "cols": 4, "dataflow": "ws"}
    smallest.update(ifmap_sram_kb=16, filter_sram_kb=16, ofmap_sram_kb=16)
    for r in rows:
        assert any(hardware.feasible(dict(smallest, rows=r, cols=c), 0.5) for c in cols)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="dataflow"):
        spaces.systolic_accelerator(dataflow=("ws", "xs"))
    with pytest.raises(ValueError, match="max_area_mm2"):
        spaces.systolic_accelerator(max_area_mm2=0.01)
    with pytest.raises(ValueError, match="rows"):
        hardware.fields({"cols": 4, "dataflow": "ws"})
    with pytest.raises(ValueError, match="dataflow"):
        hardware.fields({"rows": 4, "cols": 4, "dataflow": "xs"})
    with pytest.raises(ValueError, match="bandwidth"):
        hardware.fields({"rows": 4, "cols": 4, "dataflow": "ws", "bandwidth": 0})
    with pytest.raises(ValueError, match="unknown"):
        hardware.fields({"rows": 4, "cols": 4, "dataflow": "ws", "sram": 3})
    with pytest.raises(TypeError, match="dict"):
        hardware.area_mm2([4, 4, "ws"])


def test_row_stationary_is_offered_beside_the_systolic_dataflows():
    assert spaces.systolic_accelerator().sym_init_args.dataflow.candidates == ["ws", "os", "is"]
    space = spaces.systolic_accelerator(dataflow=hardware.DATAFLOWS)
    assert space.sym_init_args.dataflow.candidates == ["ws", "os", "is", "rs"]
    assert hardware.fields({"rows": 12, "cols": 14, "dataflow": "rs"})["dataflow"] == "rs"


def test_dram_ports_default_to_one_shared_interface():
    assert hardware.fields({"rows": 4, "cols": 4, "dataflow": "ws"})["dram_ports"] == 1
    with pytest.raises(ValueError, match="dram_ports"):
        hardware.fields({"rows": 4, "cols": 4, "dataflow": "ws", "dram_ports": 2})


def test_precisions_and_bit_fusion_are_searched_decisions():
    space = spaces.systolic_accelerator(
        precisions=((8,), (4, 8), (2, 4, 8)), bit_fusion=(False, True)
    )
    assert pg.dna_spec(space).space_size == 5 * 5 * 5**3 * 3 * 3 * 3 * 2
    codec = spaces.compile(space)
    decoded = [codec.decode(g) for g in codec.random(64, np.random.default_rng(0))]
    assert {tuple(s["precisions"]) for s in decoded} == {(8,), (4, 8), (2, 4, 8)}
    assert {s["bit_fusion"] for s in decoded} == {False, True}
    fixed = pg.to_json(
        pg.materialize(spaces.systolic_accelerator(precisions=((8, 4, 4),)), pg.DNA([0] * 7))
    )
    assert fixed["precisions"] == [4, 8]


def test_fused_pes_cost_the_fusion_area_factor():
    spec = {"rows": 16, "cols": 8, "dataflow": "ws"}
    fused = dict(spec, bit_fusion=True)
    pe_area = 16 * 8 * hardware.PE_AREA_MM2
    assert hardware.area_mm2(fused) - hardware.area_mm2(spec) == pytest.approx(
        pe_area * (hardware.FUSION_AREA_FACTOR - 1.0)
    )
    # The area cap prunes with the cheaper PE kind when both are candidates.
    both = spaces.systolic_accelerator(max_area_mm2=0.5, bit_fusion=(True, False))
    only_fused = spaces.systolic_accelerator(max_area_mm2=0.5, bit_fusion=(True,))
    assert len(both.sym_init_args.rows.candidates) >= len(only_fused.sym_init_args.rows.candidates)


def test_unsupported_names_each_unit_and_width():
    spec = {"rows": 4, "cols": 4, "dataflow": "os", "precisions": [4, 8]}
    assert hardware.supported_precisions(spec) == (4, 8)
    assert hardware.supported_precisions({"rows": 4, "cols": 4, "dataflow": "os"}) == (8,)
    reasons = hardware.unsupported(spec, {"a": (4, 8), "b": (2, 8), "c": (32, 3)})
    assert reasons == [
        "unit 'b': weight_bits=2 not in the accelerator's precisions [4, 8]",
        "unit 'c': weight_bits=32, act_bits=3 not in the accelerator's precisions [4, 8]",
    ]
    assert hardware.unsupported(spec, {"a": (4, 4)}) == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"precisions": [16]}, "precisions"),
        ({"precisions": []}, "precisions"),
        ({"precisions": [0, 8]}, "precisions"),
        ({"bit_fusion": 1}, "bit_fusion"),
    ],
)
def test_bad_precision_fields_are_refused_by_name(extra, field):
    with pytest.raises(ValueError, match=field):
        hardware.fields({"rows": 4, "cols": 4, "dataflow": "os", **extra})
    with pytest.raises(ValueError, match="precisions"):
        spaces.systolic_accelerator(precisions=((4, 12),))
