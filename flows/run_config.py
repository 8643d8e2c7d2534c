"""What makes the trials of a search folder comparable, and checks of the folder itself.

``config.json`` records the algorithm, the seed, the worker count, the space's full symbolic
form (fixed fields included) and the flow's options. Resuming with anything different would mix
trials of two searches, so it is refused with the first differing field named.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyglove as pg

from symnas.core.compare import first_difference, short_repr
from symnas.spaces.codec import Codec

FIELDS = ("algorithm", "seed", "workers", "space", "options")


def prepare_out_dir(out: str | os.PathLike, argument: str = "out") -> Path:
    """Creates the output folder if needed and checks that files can be written in it.

    Raises ``ValueError`` naming ``argument`` when the path is a file, cannot be created or is
    not writable, so that a search fails before any work is done.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"'{argument}': {path} is a file, not a folder; choose a folder path.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(
            f"'{argument}': cannot write in folder {path} ({e.strerror or e})."
        ) from None
    return path


def space_form(codec: Codec) -> Any:
    """The JSON form of the codec's space (its DNA spec when it was compiled from one)."""
    source = codec.space if codec.space is not None else codec.dna_spec
    try:
        form = pg.to_json(source)
        json.dumps(form, allow_nan=False)
    except (TypeError, ValueError):
        form = pg.format(source, compact=True)
    return form


def run_config(
    algorithm: pg.Symbolic, codec: Codec, seed: int, workers: int, options: dict[str, Any]
) -> dict[str, Any]:
    """The configuration recorded in ``config.json``."""
    return {
        "algorithm": pg.to_json(algorithm),
        "seed": seed,
        "workers": workers,
        "space": space_form(codec),
        "options": json.loads(json.dumps(options, default=repr)),
    }


def check_resumable(out_dir: Path, config: dict[str, Any]) -> None:
    """Raises ``ValueError`` naming the first field where ``out_dir``'s configuration differs."""
    path = out_dir / "config.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: corrupt search configuration ({e}).") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: corrupt search configuration (not a JSON object).")
    for key in FIELDS:
        found = first_difference(saved.get(key), config[key], key)
        if found:
            where, was, now = found
            raise ValueError(
                f"Cannot resume from {out_dir}: its '{where}' was {short_repr(was)}, this search "
                f"has {short_repr(now)}; resume with the same settings or choose another folder."
            )
