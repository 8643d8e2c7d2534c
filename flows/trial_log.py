"""The trial log: ``trials.jsonl`` appended and flushed per trial, and read back checked."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

try:  # optional: parses the records a checkpoint covers several times faster
    import orjson
except ImportError:  # pragma: no cover - depends on the installed extras
    orjson = None

REQUIRED_FIELDS = ("id", "genome", "dna", "spec", "metrics", "status")
STATUSES = ("ok", "failed", "pruned")  # pruned: stopped early, metrics = last report
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
SCAN_CHUNK = 1 << 22  # bytes read at a time when an existing log is hashed and counted
_GENOME_TYPES = {int, float, type(None)}
_DNA_TYPES = {int, float, str, type(None)}


def genome_to_json(genome: Any) -> list[float | int | None]:
    """A genome as JSON (inactive float slots become null)."""
    return [
        int(v) if v.is_integer() else (None if v != v else v)  # v != v: NaN
        for v in np.asarray(genome, dtype=np.float64).tolist()
    ]


def genome_from_json(values: list[float | int | None]) -> list[float]:
    """Inverse of :func:`genome_to_json`."""
    return [math.nan if v is None else float(v) for v in values]


class TrialLog:
    """Appends one JSON line per finished trial and flushes it to disk; keeps the number of
    records, the size and the SHA-256 of the file, which checkpoints record as the log they
    cover."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(self.path, "ab")  # noqa: SIM115
        self._digest, self.size, self.records = _scan(self.path)

    def append(self, record: dict[str, Any]) -> None:
        """Writes one trial record and flushes it."""
        line = (_ENCODER.encode(record) + "\n").encode()
        self._file.write(line)
        self._file.flush()
        self._digest.update(line)
        self.records += 1
        self.size += len(line)

    def position(self) -> dict[str, Any]:
        """How much has been written: records, bytes and the SHA-256 of those bytes."""
        return {"records": self.records, "bytes": self.size, "sha256": self._digest.hexdigest()}

    def close(self) -> None:
        """Flushes and closes the file."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def _scan(path: Path) -> tuple[Any, int, int]:
    """The SHA-256, size and number of records (complete lines that are not blank, as
    :func:`read_trials` counts them) of an existing log, read in chunks."""
    digest, size, records = hashlib.sha256(), 0, 0
    blank = True  # whether the line being read holds only whitespace so far
    with open(path, "rb") as f:
        while chunk := f.read(SCAN_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            pieces = chunk.split(b"\n")
            for piece in pieces[:-1]:  # each ends a line
                if not (blank and not piece.strip()):
                    records += 1
                blank = True
            blank = blank and not pieces[-1].strip()
    return digest, size, records


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pauses the cyclic garbage collector: building many small containers (the records of a
    long log) otherwise triggers collections that traverse all of them, again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_trials(
    path: str | os.PathLike, repair: bool = False, trusted_bytes: int = 0
) -> list[dict[str, Any]]:
    """Reads a trial log, checking every line.

    A last line without its newline (a write cut short by a kill) is dropped; with
    ``repair=True`` (what a resuming search does before appending) the file is also truncated
    to the last complete trial, otherwise it is never written. Any other malformed line is a
    ``ValueError`` that names the file and the line number. The first ``trusted_bytes`` bytes,
    known to be complete records written by :class:`TrialLog` (a checkpoint's SHA-256 of them
    matched), are parsed in one call and not checked again.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    complete_end = raw.rfind(b"\n") + 1
    if complete_end < len(raw):
        if repair:
            drop_torn_line(path)
        raw = raw[:complete_end]
    with paused_gc():
        records = _trusted_records(raw, trusted_bytes)
        if records:
            head_lines = raw.count(b"\n", 0, trusted_bytes)
            raw = raw[trusted_bytes:]
        else:
            head_lines = 0
        records.extend(_checked_records(path, raw, head_lines))
    return records


def drop_torn_line(path: str | os.PathLike) -> None:
    """Truncates a trial log after its last complete line (a write cut short by a kill)."""
    path = Path(path)
    if not path.exists():
        return
    raw = path.read_bytes()
    complete_end = raw.rfind(b"\n") + 1
    if complete_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(complete_end)


def _trusted_records(raw: bytes, size: int) -> list[dict[str, Any]]:
    """The records of the first ``size`` bytes of a log (one JSON object per line), parsed
    without further checks; empty when that part cannot be read so (then it is read line by
    line, checked). Each line is parsed from a view of ``raw``: parsing the part as one JSON
    array would hold several times its size in memory at once."""
    if size <= 0 or size > len(raw) or raw[size - 1 : size] != b"\n":
        return []
    view = memoryview(raw)
    records = []
    start = 0
    try:
        while start < size:
            end = raw.index(b"\n", start)
            records.append(_load_line(view[start:end]))
            start = end + 1
    except ValueError:
        return []
    return records if all(type(r) is dict for r in records) else []


def _load_line(line: memoryview) -> Any:
    """One JSON value, by ``orjson`` when it is installed (the ``fast`` extra), else (or for a
    line it refuses, e.g. an integer beyond 64 bits) by the standard parser."""
    if orjson is not None:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    return json.loads(bytes(line))


def _checked_records(path: Path, raw: bytes, first_line: int) -> list[dict[str, Any]]:
    """The records of complete lines ``raw``, each parsed and checked; errors name the line
    (counted after ``first_line`` lines)."""
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        number = next(n for n, line in enumerate(raw.split(b"\n"), 1) if not _is_utf8(line))
        raise ValueError(
            f"{path}:{first_line + number}: corrupt trial record (not UTF-8 text)."
        ) from None
    del raw
    decode = json.JSONDecoder().decode
    records = []
    for number, line in enumerate(lines, start=first_line + 1):
        if not line or line.isspace():
            continue
        try:
            record = decode(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: corrupt trial record ({e.msg}).") from None
        problem = record_problem(record)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}.")
        records.append(record)
    return records


def record_problem(record: Any) -> str | None:
    """What is wrong with a parsed trial record (None when it is well formed)."""
    if not isinstance(record, dict):
        return "a trial record must be a JSON object"
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        return f"trial record lacks fields {missing}"
    trial_id = record["id"]
    if isinstance(trial_id, bool) or not isinstance(trial_id, int) or trial_id < 0:
        return f"trial record 'id' must be a non-negative integer; got {trial_id!r}"
    if record["status"] not in STATUSES:
        return f"trial record 'status' must be one of {list(STATUSES)}; got {record['status']!r}"
    genome, dna = record["genome"], record["dna"]
    # The exact JSON types first (set(map(type, ...)) runs at C speed), then subclasses.
    if not isinstance(genome, list) or not (
        set(map(type, genome)) <= _GENOME_TYPES or all(_is_number(v) for v in genome)
    ):
        return "trial record 'genome' must be a list of numbers"
    if not isinstance(dna, list) or not (
        set(map(type, dna)) <= _DNA_TYPES or all(_is_number(v) or isinstance(v, str) for v in dna)
    ):
        return "trial record 'dna' must be a list of numbers (strings for custom decisions)"
    metrics = record["metrics"]
    has_metrics = record["status"] != "failed"
    if has_metrics and not (
        isinstance(metrics, dict)
        and all(_is_number(v, null=False) and math.isfinite(v) for v in metrics.values())
    ):
        return (
            f"trial record 'metrics' of an {record['status']} trial must map names to finite "
            "numbers"
        )
    return None


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_number(value: Any, null: bool = True) -> bool:
    if value is None:
        return null
    return isinstance(value, (int, float)) and not isinstance(value, bool)
