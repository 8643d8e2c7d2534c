"""The checkpoint's fixed formats: the configuration fingerprint (stored in every checkpoint,
so a change would make earlier checkpoints unusable) and the counts it accepts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from symnas.flows import checkpoint


def test_the_fingerprint_is_the_sha256_of_compact_sorted_json():
    config = {"seed": 1, "algorithm": {"b": [1, 2], "a": None}, "path": Path("x")}
    text = '{"algorithm":{"a":null,"b":[1,2]},"path":"' + repr(Path("x")) + '","seed":1}'
    assert checkpoint.config_fingerprint(config) == hashlib.sha256(text.encode()).hexdigest()
    reordered = {"path": Path("x"), "algorithm": {"a": None, "b": [1, 2]}, "seed": 1}
    assert checkpoint.config_fingerprint(reordered) == checkpoint.config_fingerprint(config)
    assert checkpoint.config_fingerprint({**config, "seed": 2}) != checkpoint.config_fingerprint(
        config
    )


def test_counts_are_non_negative_integers_not_booleans():
    assert checkpoint._count(0) and checkpoint._count(7)
    assert not any(checkpoint._count(v) for v in (-1, True, False, 1.0, "3", None))
