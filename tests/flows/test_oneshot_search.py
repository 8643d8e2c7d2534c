"""One-shot searchers swap into flows.search like any algorithm: trained in prepare(), logged,
checkpointed under out/oneshot, resumed, finalists proposed best first."""

from __future__ import annotations

import json

import pyglove as pg
import pytest

from symnas import algorithms
from symnas.flows.family_flows import vit_digits


def test_prenas_swaps_into_a_family_flow_and_resumes(tmp_path):
    def prenas():
        return algorithms.create("prenas", epochs=1, buckets=2, metric="valid_accuracy")

    result = vit_digits(algorithm=prenas(), budget=3, epochs=1, out=tmp_path, verbose=False)
    assert len(result.trials) == 2  # two finalists: the search stops when they run out
    assert all(t.ok for t in result.trials)
    assert (tmp_path / "oneshot" / "supernet" / "checkpoint.pt").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["algorithm"]["data"] == "digits" and "device" not in config["algorithm"]
    again = vit_digits(
        algorithm=prenas(), budget=3, epochs=1, out=tmp_path, verbose=False, resume=True
    )
    assert [t.metrics for t in again.trials] == [t.metrics for t in result.trials]
    with pytest.raises(ValueError, match="'algorithm.epochs' was 1"):
        vit_digits(
            algorithm=algorithms.create("prenas", epochs=2, buckets=2, metric="valid_accuracy"),
            budget=3,
            epochs=1,
            out=tmp_path,
            verbose=False,
            resume=True,
        )


def test_a_one_shot_searcher_works_with_pg_sample():
    from symnas import spaces
    from symnas.spaces.examples import vit_digits_space

    searcher = algorithms.PreNAS(data="digits", epochs=1, buckets=2, device="cpu")
    with pytest.raises(ValueError, match="pg.sample does not pass on"):
        next(pg.sample(vit_digits_space(), searcher))
    searcher = algorithms.PreNAS(data="digits", epochs=1, buckets=2, device="cpu")
    searcher.bind(spaces.compile(vit_digits_space()))
    seen = []
    for spec, feedback in pg.sample(vit_digits_space(), searcher):
        seen.append(pg.to_json(spec)["embed_dim"])
        feedback(0.0)  # pg.sample repeats a trial until it gets its feedback
    assert len(seen) == 2
