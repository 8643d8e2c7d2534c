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
