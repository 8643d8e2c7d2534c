"""Fuzzing of the trial-log reader and the command line: every bad input is a clear error.

The reader either returns well-formed records or raises ``ValueError`` naming the file and line,
and never writes the file; the command line either returns an exit status or stops in argparse
with status 2 (usage errors), never with an internal traceback.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symnas.flows import cli
from symnas.flows.trial_log import read_trials, record_problem

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

GOOD = {
    "id": 0,
    "genome": [1, 0, None],
    "dna": [1, 0],
    "spec": {"x": 1},
    "metrics": {"score": 1.5},
    "status": "ok",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=4,
)


def _check(path: Path) -> None:
    before = path.read_bytes()
    try:
        records = read_trials(path)
    except ValueError as e:
        assert str(e).startswith(f"{path}:"), e  # names the file and the line
    else:
        assert all(record_problem(r) is None for r in records)
    assert path.read_bytes() == before  # a reader never writes


@FUZZ
@given(st.binary(max_size=300))
def test_reader_on_arbitrary_bytes(tmp_path, raw):
    path = tmp_path / "trials.jsonl"
    path.write_bytes(raw)
    _check(path)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries({}, optional={k: json_values for k in GOOD}).map(
            lambda fields: {**GOOD, **fields}
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 40),
)
def test_reader_on_mutated_records(tmp_path, records, cut):
    path = tmp_path / "trials.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(text[: len(text) - cut] if cut else text)
    _check(path)


def test_reader_accepts_the_well_formed_record_and_drops_a_cut_off_line(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:10])
    assert read_trials(path) == [GOOD]
    assert path.read_text().endswith(json.dumps(GOOD)[:10])  # left as it was
    assert read_trials(path, repair=True) == [GOOD]
    assert path.read_text() == json.dumps(GOOD) + "\n"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": -1}, "'id' must be a non-negative integer"),
        ({"id": "3"}, "'id' must be a non-negative integer"),
        ({"status": "done"}, "'status' must be one of ['ok', 'failed', 'pruned']"),
        ({"genome": "1,0"}, "'genome' must be a list of numbers"),
        ({"metrics": {"score": "high"}}, "'metrics' of an ok trial must map names to finite"),
    ],
)
def test_reader_names_the_bad_field(tmp_path, change, message):
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, **change}) + "\n")
    with pytest.raises(ValueError, match="trials.jsonl:2: .*" + re.escape(message)):
        read_trials(path)


# ---------------------------------------------------------------- command-line arguments
TOKENS = st.sampled_from(
    [
        "run",
        "report",
        "list",
        "nb201-digits",
        "hw-nested",
        "no-such-flow",
        "missing.py",
        "--budget",
        "--workers",
        "--seed",
        "--algorithm",
        "--set",
        "--resume",
        "--top",
        "0",
        "-1",
        "2",
        "abc",
        "1e3",
        "random",
        "annealing",
        "epochs=abc",
        "epochs=2",
        "=3",
        "k=",
        "novalue",
    ]
)


@FUZZ
@given(st.lists(TOKENS | st.text(string.printable, max_size=6), max_size=7))
def test_cli_arguments_never_crash(tmp_path, argv):
    # Any run is pointed at a file as its output folder, so it fails before doing any work.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    if argv[:1] == ["run"]:
        argv = argv + ["--out", str(blocker)]
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse: usage errors (2) and --help (0)
        assert e.code in (0, 2)
    else:
        assert code in (0, 2), argv
