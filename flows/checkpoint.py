"""Checkpoints of a search's algorithm state, so that a resumed search replays only the trials
logged after the checkpoint instead of the whole log.

``flows.search`` writes ``out/algorithm_state.json`` (atomically, with ``summary.json``) when the
algorithm can save its state (``SearchAlgorithm.state_dict``) and every trial of the log has been
fed back: the file holds that state, the trials proposed and not yet fed back (asynchronous
scheduling), a fingerprint of ``config.json`` and the length and SHA-256 of the log it covers.
On resume the checkpoint is used only if its fingerprint matches and its log is a byte prefix of
``trials.jsonl``; a missing, stale or corrupt checkpoint is never an error: the search warns and
replays the whole log, which is slower but always right.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symnas.algorithms.base import SearchAlgorithm
from symnas.core.files import write_json_atomic
from symnas.flows.trial_log import genome_from_json, genome_to_json

CHECKPOINT_FILE = "algorithm_state.json"
FORMAT = 1
FIELDS = ("format", "config", "log", "next_id", "fed", "pending", "algorithm")


@dataclass
class Checkpoint:
    """What a loaded checkpoint covers: the first ``records`` log records (``fed`` trials fed
    back), ``next_id`` trials proposed, and the genomes of those proposed but not fed back."""

    records: int
    fed: int
    next_id: int
    pending: dict[int, np.ndarray]


def config_fingerprint(config: dict[str, Any]) -> str:
    """A hash of a search's ``config.json`` content."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(
    out_dir: Path,
    fingerprint: str,
    state: dict[str, Any],
    log: dict[str, Any],
    fed: int,
    next_id: int,
    pending: dict[int, np.ndarray],
) -> None:
    """Writes the checkpoint of an algorithm ``state`` that covers the ``log`` position (records,
    bytes, sha256) after ``fed`` trials were fed back and ``next_id`` proposed."""
    write_json_atomic(
        out_dir / CHECKPOINT_FILE,
        {
            "format": FORMAT,
            "config": fingerprint,
            "log": log,
            "fed": fed,
            "next_id": next_id,
            "pending": {str(i): genome_to_json(g) for i, g in pending.items()},
            "algorithm": state,
        },
    )


def read_checkpoint(out_dir: Path, fingerprint: str) -> tuple[dict[str, Any] | None, str | None]:
    """``out_dir``'s checkpoint when this search can use it, else why not: ``(payload, None)``,
    ``(None, problem)``, or ``(None, None)`` when there is none. A usable checkpoint's log
    is a byte prefix of ``trials.jsonl`` (checked with its SHA-256)."""
    path = out_dir / CHECKPOINT_FILE
    if not path.exists():
        return None, None
    try:
        payload = json.loads(path.read_bytes())
        problem = _payload_problem(payload, fingerprint)
        if problem is None:
            problem = _log_problem(out_dir / "trials.jsonl", payload["log"])
    except (OSError, ValueError) as e:
        problem = f"unreadable ({e})"
    return (payload, None) if problem is None else (None, problem)


def restore_checkpoint(
    out_dir: Path, payload: dict[str, Any] | None, problem: str | None, algorithm: SearchAlgorithm
) -> Checkpoint | None:
    """Loads a checkpoint read by :func:`read_checkpoint` into ``algorithm``; warns and returns
    None when it is unusable (the algorithm is then to be reset by the caller)."""
    if payload is not None:
        try:
            algorithm.load_state_dict(payload["algorithm"])
        except ValueError as e:
            problem = f"unusable algorithm state ({e})"
    if problem is not None:
        warnings.warn(
            f"{out_dir / CHECKPOINT_FILE}: {problem}; resuming by replaying the whole trial log "
            "instead.",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    if payload is None:
        return None
    pending = {
        int(i): np.array(genome_from_json(g), dtype=np.float64)
        for i, g in payload["pending"].items()
    }
    return Checkpoint(payload["log"]["records"], payload["fed"], payload["next_id"], pending)


def _payload_problem(payload: Any, fingerprint: str) -> str | None:
    """Why a parsed checkpoint cannot be used with this search (None when it can)."""
    if not isinstance(payload, dict) or any(k not in payload for k in FIELDS):
        return f"a checkpoint must be a JSON object with fields {list(FIELDS)}"
    if payload["format"] != FORMAT:
        return f"checkpoint format {payload['format']!r} is not {FORMAT}"
    if payload["config"] != fingerprint:
        return "the checkpoint was written by a search with another configuration"
    log = payload["log"]
    if (
        not isinstance(log, dict)
        or not all(_count(log.get(k)) for k in ("records", "bytes"))
        or not isinstance(log.get("sha256"), str)
    ):
        return "its 'log' must hold 'records' and 'bytes' counts and a 'sha256' digest"
    if not _count(payload["fed"]) or not _count(payload["next_id"]):
        return "its 'fed' and 'next_id' must be non-negative integers"
    pending = payload["pending"]
    if not isinstance(pending, dict) or not all(
        k.isdigit() and isinstance(v, list) for k, v in pending.items()
    ):
        return "its 'pending' must map trial ids to genomes"
    if payload["fed"] + len(pending) != payload["next_id"]:
        return "its 'fed' and 'pending' trials do not add up to 'next_id'"
    return None


def _log_problem(log_path: Path, log: dict[str, Any]) -> str | None:
    """Why the log a checkpoint covers is not a prefix of ``log_path`` (None when it is)."""
    size = log["bytes"]
    digest = hashlib.sha256()
    with open(log_path, "rb") as f:
        remaining = size
        while remaining:
            chunk = f.read(min(remaining, 1 << 22))
            if not chunk:
                return f"the trial log is shorter than the {size} bytes the checkpoint covers"
            digest.update(chunk)
            remaining -= len(chunk)
    if digest.hexdigest() != log["sha256"]:
        return "the trial log no longer starts with the trials the checkpoint covers"
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
