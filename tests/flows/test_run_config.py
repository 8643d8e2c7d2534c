"""config.json of a search folder: what it records, and the checks of the folder and of a
resume against it."""

from __future__ import annotations

import json
from pathlib import Path

import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.flows.run_config import check_resumable, prepare_out_dir, run_config, space_form

SPACE = pg.Dict(x=pg.oneof([1, 2, 3]), name="fixed")


def test_prepare_out_dir_makes_nested_folders_and_names_the_argument(tmp_path):
    made = prepare_out_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and made.is_dir()
    assert list(made.iterdir()) == []  # the write probe leaves nothing behind
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=r"^'folder': .*file is a file, not a folder; choose"):
        prepare_out_dir(a_file, argument="folder")
    with pytest.raises(
        ValueError, match=r"^'out': cannot write in folder .*file/sub \(Not a directory\)\.$"
    ):
        prepare_out_dir(a_file / "sub")


def test_space_form_is_the_json_of_the_space_or_of_its_dna_spec():
    assert space_form(spaces.compile(SPACE)) == pg.to_json(SPACE)
    spec = pg.dna_spec(SPACE)
    assert space_form(spaces.Codec.from_dna_spec(spec)) == pg.to_json(spec)
    not_json = pg.Dict(x=pg.oneof([1, 2]), y=float("nan"))
    form = space_form(spaces.compile(not_json))
    assert form == pg.format(not_json, compact=True) and isinstance(form, str)


def test_run_config_records_algorithm_seed_workers_space_and_options():
    algorithm = algorithms.RandomSearch(metric="f")
    config = run_config(algorithm, spaces.compile(SPACE), 3, 2, {"epochs": 4, "path": Path("a")})
    assert config == {
        "algorithm": pg.to_json(algorithm),
        "seed": 3,
        "workers": 2,
        "space": pg.to_json(SPACE),
        "options": {"epochs": 4, "path": repr(Path("a"))},
    }
    json.dumps(config, allow_nan=False)


def test_check_resumable_names_the_first_differing_field(tmp_path):
    config = run_config(algorithms.RandomSearch(), spaces.compile(SPACE), 0, 1, {"epochs": 4})
    check_resumable(tmp_path, config)  # no config.json yet: nothing to compare
    (tmp_path / "config.json").write_text(json.dumps(config))
    check_resumable(tmp_path, config)
    with pytest.raises(
        ValueError,
        match=r"^Cannot resume from .*: its 'seed' was 0, this search has 5; resume with the same "
        r"settings or choose another folder\.$",
    ):
        check_resumable(tmp_path, {**config, "seed": 5})
    with pytest.raises(ValueError, match=r"its 'options\.epochs' was 4, this search has 8"):
        check_resumable(tmp_path, {**config, "options": {"epochs": 8}})
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: corrupt search configuration \(Expect"):
        check_resumable(tmp_path, config)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"corrupt search configuration \(not a JSON object\)"):
        check_resumable(tmp_path, config)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=r"corrupt search configuration \(.*codec"):
        check_resumable(tmp_path, config)
