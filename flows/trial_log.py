"""The trial log: ``trials.jsonl`` appended and flushed per trial, JSON files replaced atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, TextIO

REQUIRED_FIELDS = ("id", "genome", "dna", "spec", "metrics", "status")


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Writes JSON to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def genome_to_json(genome: Any) -> list[float | int | None]:
    """A genome as JSON (inactive float slots become null)."""
    out: list[float | int | None] = []
    for v in genome.tolist():
        if isinstance(v, float) and math.isnan(v):
            out.append(None)
        elif float(v).is_integer():
            out.append(int(v))
        else:
            out.append(v)
    return out


def genome_from_json(values: list[float | int | None]) -> list[float]:
    """Inverse of :func:`genome_to_json`."""
    return [math.nan if v is None else float(v) for v in values]


class TrialLog:
    """Appends one JSON line per finished trial and flushes it to disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, record: dict[str, Any]) -> None:
        """Writes one trial record and flushes it."""
        self._file.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Flushes and closes the file."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def read_trials(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads a trial log, checking every line.

    A last line without its newline (a write cut short by a kill) is dropped and the file is
    truncated to the last complete trial; any other malformed line is an error that names the
    file and the line number.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    records = []
    complete_end = raw.rfind(b"\n") + 1
    if complete_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(complete_end)
        raw = raw[:complete_end]
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: corrupt trial record ({e.msg}).") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: a trial record must be a JSON object.")
        missing = [k for k in REQUIRED_FIELDS if k not in record]
        if missing:
            raise ValueError(f"{path}:{number}: trial record lacks fields {missing}.")
        records.append(record)
    return records
