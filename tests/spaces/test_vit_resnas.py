"""ViT-ResNAS multi-stage spaces: published choices, sizes, specs and input validation."""

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.vit_resnas import (
    ViTResNASSpace,
    ViTResNASStage,
    num_architectures,
    vit_resnas_space,
)


def _mini(**task):
    return vit_resnas_space(
        [[8, 16], [16, 24]], [4, 8], [[1, 2], [1, 2]], [[8, 16], [16]], [2, 3], **task
    )


def test_tiny_has_the_published_choices():
    space = spaces.vit_resnas_tiny()
    assert isinstance(space, ViTResNASSpace)
    stages = space.sym_getattr("stages")
    assert len(stages) == 3 and all(isinstance(s, ViTResNASStage) for s in stages)
    widths = [list(s.sym_getattr("embed_dim").candidates) for s in stages]
    assert widths[0] == [256, 224, 192, 176, 160]
    assert widths[1] == [512, 448, 384, 352, 320] and widths[2][0] == 1024
    assert [s.head_dim for s in stages] == [32, 48, 64]
    heads = [h * 32 for h in stages[0].sym_getattr("num_heads")[0].candidates]
    assert heads == [192, 160, 128, 96]  # attention widths of sr_tiny_mh
    mlp = list(stages[2].sym_getattr("mlp_hidden")[5].candidates)
    assert mlp == [3072, 2816, 2560, 2304, 2048, 1792, 1536]
    keep = stages[0].sym_getattr("keep")
    assert [k is True for k in keep] == [True, False, True, False, True, False]
    assert (space.image_size, space.patch_size, space.conv_stem) == (224, 14, True)


def test_architecture_counts():
    tiny = spaces.vit_resnas_tiny()
    assert num_architectures(tiny) == (5 * 28**3 * 29**3) ** 3
    assert pg.dna_spec(tiny).space_size == (5 * 28**6 * 2**3) ** 3
    assert num_architectures(spaces.vit_resnas_small()) == (5 * 28**4 * 29**3) ** 3
    assert f"{num_architectures(tiny):,}" in spaces.vit_resnas_tiny.__doc__
    # Brute force: networks differ only in the widths of kept blocks.
    space = vit_resnas_space(
        [[8, 16], [16]], [4, 4], [[1, 2], [1]], [[8], [16]], [2, 2], image_size=8, patch_size=2
    )
    seen = set()
    for value in pg.iter(space):
        seen.add(tuple(_kept_widths(stage) for stage in pg.to_json(value)["stages"]))
    assert len(seen) == num_architectures(space) == (2 * 2 * 3) * (1 * 1 * 2)


def _kept_widths(stage):
    blocks = zip(stage["num_heads"], stage["mlp_hidden"], stage["keep"], strict=True)
    return stage["embed_dim"], tuple((h, m) if keep else None for h, m, keep in blocks)


def test_specs_are_nested_json_and_the_codec_agrees():
    space = _mini(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    codec = spaces.compile(space)
    for genome in codec.random(4, np.random.default_rng(0)):
        spec = codec.decode(genome)
        assert spec == pg.to_json(pg.materialize(space, codec.to_dna(genome)))
        assert spec["_type"] == "symnas.spaces.vit_resnas.ViTResNASSpace"
        assert spec["stages"][0]["_type"] == "symnas.spaces.vit_resnas.ViTResNASStage"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"embed_dims": [[8], [4]]}, "embed_dims"),
        ({"head_dims": [4]}, "head_dims"),
        ({"depths": [2, 0]}, "depths"),
        ({"num_heads": [[1], [0]]}, "num_heads"),
        ({"image_size": 12, "patch_size": 4}, "2\\*\\*\\(stages - 1\\)"),
        ({"patch_size": 1, "image_size": 8}, "patch_size"),
        ({"stem_channels": 0}, "stem_channels"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {
        "embed_dims": [[8], [16]],
        "head_dims": [4, 4],
        "num_heads": [[1], [1]],
        "mlp_hidden": [[8], [8]],
        "depths": [2, 2],
        "image_size": 8,
        "patch_size": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        vit_resnas_space(**args)


def test_num_architectures_rejects_other_spaces():
    with pytest.raises(TypeError, match="ViTResNASSpace"):
        num_architectures(spaces.vit_tiny())
