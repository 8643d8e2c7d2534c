"""Atomic writes: the target holds the old or the new content, and no temporary file stays."""

from __future__ import annotations

import json

import pytest

from symnas.core.files import write_atomic, write_json_atomic, write_text_atomic


def test_json_is_strict_indented_and_ends_with_a_newline(tmp_path):
    path = tmp_path / "deep" / "folder" / "summary.json"
    write_json_atomic(path, {"a": [1, 2.5], "b": None})
    assert path.read_text() == json.dumps({"a": [1, 2.5], "b": None}, indent=2) + "\n"
    with pytest.raises(ValueError, match="JSON compliant"):
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text())["b"] is None  # the old content stays
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temporary_file(tmp_path):
    path = tmp_path / "train_log.jsonl"
    write_text_atomic(path, "old\n")

    def fail(f):
        f.write(b"half a line")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["train_log.jsonl"]


def test_the_writer_gets_a_binary_file_with_a_unique_name_in_the_target_folder(tmp_path):
    path = tmp_path / "checkpoint.pt"
    during = []

    def write(f):
        f.write(b"\x00\x01")
        during.extend(p.name for p in tmp_path.iterdir())

    write_atomic(path, write)
    write_atomic(path, write)
    assert path.read_bytes() == b"\x00\x01"
    temporary = [name for name in during if name != "checkpoint.pt"]
    assert len(set(temporary)) == 2 and all(n.startswith(".checkpoint.pt.") for n in temporary)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
