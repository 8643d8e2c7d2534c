"""Atomic file writes: a reader sees the old file or the new one, never a part of either.

Every writer goes through :func:`write_atomic`: the content is written to a temporary file with
a unique name in the target's folder, flushed and fsynced, then renamed over the target with
``os.replace``; a failure (a kill aside) removes the temporary file and re-raises. Text, JSON,
torch checkpoints and numpy archives differ only in the callback that writes the bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Replaces ``path`` atomically by what ``write`` writes into the binary file it is given.

    The parent folders are created. ``write`` may be, e.g., ``lambda f: torch.save(state, f)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replaces ``path`` atomically by ``text`` (UTF-8)."""
    data = text.encode()
    write_atomic(path, lambda f: f.write(data))


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Replaces ``path`` atomically by ``payload`` as strict JSON (indented, no NaN or
    infinity, a final newline)."""
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
