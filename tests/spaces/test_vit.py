"""AutoFormer / PreNAS ViT spaces: published choices, sizes, specs and input validation."""

import math

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces
from symnas.spaces.vit import ViTSpace, num_architectures, vit_space


def _mini(**task):
    return vit_space([16, 24, 32], [2, 3, 4], [1.0, 2.0], [1, 2], head_dim=8, **task)


def test_tiny_has_the_published_choices():
    space = spaces.vit_tiny()
    assert isinstance(space, ViTSpace)
    assert list(space.sym_getattr("embed_dim").candidates) == [192, 216, 240]
    assert list(space.sym_getattr("depth").candidates) == [12, 13, 14]
    assert len(space.mlp_ratio) == len(space.num_heads) == 14
    for ratio, heads in zip(
        space.sym_getattr("mlp_ratio"), space.sym_getattr("num_heads"), strict=True
    ):
        assert list(ratio.candidates) == [3.5, 4.0]
        assert list(heads.candidates) == [3, 4]
    assert (space.head_dim, space.image_size, space.patch_size) == (64, 224, 16)
    assert (space.in_chans, space.num_classes) == (3, 1000)


def test_small_and_base_follow_the_autoformer_yaml():
    small, base = spaces.vit_small(), spaces.vit_base()
    assert list(small.sym_getattr("embed_dim").candidates) == [320, 384, 448]
    assert list(small.sym_getattr("depth").candidates) == [12, 13, 14]
    assert list(small.sym_getattr("num_heads")[13].candidates) == [5, 6, 7]
    assert list(base.sym_getattr("embed_dim").candidates) == [528, 576, 624]
    assert list(base.sym_getattr("depth").candidates) == [14, 15, 16]
    assert list(base.sym_getattr("num_heads")[15].candidates) == [9, 10]
    assert list(base.sym_getattr("mlp_ratio")[0].candidates) == [3.0, 3.5, 4.0]


def test_architecture_counts_match_the_formula():
    assert num_architectures(spaces.vit_tiny()) == 3 * sum(4**d for d in (12, 13, 14))
    assert num_architectures(spaces.vit_tiny()) == 1_056_964_608
    assert num_architectures(spaces.vit_small()) == 3 * sum(9**d for d in (12, 13, 14))
    assert num_architectures(spaces.vit_base()) == 3 * sum(6**d for d in (14, 15, 16))
    assert pg.dna_spec(spaces.vit_tiny()).space_size == 3 * 3 * 4**14
    # Brute force on a small space: distinct specs once layers beyond the depth are dropped.
    space = vit_space([8, 16], [1, 2], [1.0, 2.0], [1, 2], head_dim=4)
    seen = set()
    for value in pg.iter(space):
        spec = pg.to_json(value)
        d = spec["depth"]
        seen.add((spec["embed_dim"], d, tuple(spec["mlp_ratio"][:d]), tuple(spec["num_heads"][:d])))
    assert len(seen) == num_architectures(space) == 2 * (4 + 16)


def test_task_fields_serve_digits_and_imagenet():
    digits = spaces.vit_tiny(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    assert (digits.image_size, digits.patch_size, digits.in_chans, digits.num_classes) == (
        8,
        2,
        1,
        10,
    )
    spec = pg.to_json(next(pg.random_sample(digits, seed=1)))
    assert spec["_type"] == ViTSpace.__type_name__ == "symnas.spaces.vit.ViTSpace"
    assert spec["image_size"] == 8 and len(spec["mlp_ratio"]) == 14
    assert spec["embed_dim"] in (192, 216, 240)


def test_codec_decodes_the_same_spec_as_materialize():
    space = _mini(image_size=8, patch_size=2, in_chans=1, num_classes=10)
    codec = spaces.compile(space)
    genomes = codec.random(5, np.random.default_rng(0))
    for genome in genomes:
        spec = codec.decode(genome)
        assert spec == pg.to_json(pg.materialize(space, codec.to_dna(genome)))


def test_single_choices_are_fixed_values():
    space = vit_space([16], [2], [2.0], [2], head_dim=8)
    assert space.is_deterministic
    assert num_architectures(space) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"embed_dims": []}, "embed_dims"),
        ({"depths": [0]}, "depths"),
        ({"mlp_ratios": [-1.0]}, "mlp_ratios"),
        ({"num_heads": [1.5]}, "num_heads"),
        ({"head_dim": 0}, "head_dim"),
        ({"image_size": 10, "patch_size": 4}, "image_size"),
        ({"in_chans": 0}, "in_chans"),
        ({"num_classes": True}, "num_classes"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"embed_dims": [16], "depths": [2], "mlp_ratios": [1.0], "num_heads": [1]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        vit_space(**args)


def test_num_architectures_rejects_other_spaces():
    with pytest.raises(TypeError, match="ViTSpace"):
        num_architectures(pg.Dict(x=pg.oneof([1, 2])))


def test_docstrings_state_the_sizes():
    assert f"{num_architectures(spaces.vit_tiny()):,}" in spaces.vit_tiny.__doc__
    assert f"{num_architectures(spaces.vit_small()):,}" in spaces.vit_small.__doc__
    assert f"{num_architectures(spaces.vit_base()):,}" in spaces.vit_base.__doc__
    assert "2,415,919,104 DNAs" in spaces.vit_tiny.__doc__
    assert math.prod([3, 3, 4**14]) == 2_415_919_104
