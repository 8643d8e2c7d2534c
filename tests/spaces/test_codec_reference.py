"""The codec against PyGlove's own enumeration on small hand-written spaces, and its checks.

``pg.iter(space)`` lists every architecture of a space: the codec's size must equal that count,
and its random genomes must decode to exactly those architectures. Bad genomes and bad calls
raise errors naming the decision point and the allowed values.
"""

from __future__ import annotations

import math

import numpy as np
import pyglove as pg
import pytest

from symnas import spaces


@pg.members([("width", pg.typing.Any()), ("kind", pg.typing.Str())])
class Layer(pg.Object):
    """A symbolic node of the test spaces."""


SMALL_SPACES = {
    "oneof": pg.Dict(x=pg.oneof([1, 2, 3]), y=pg.oneof(["a", "b"])),
    "distinct_sorted": pg.Dict(m=pg.manyof(2, [1, 2, 3, 4], distinct=True, sorted=True)),
    "distinct_unsorted": pg.Dict(m=pg.manyof(2, [1, 2, 3, 4], distinct=True, sorted=False)),
    "repeated_sorted": pg.Dict(m=pg.manyof(3, [1, 2, 3], distinct=False, sorted=True)),
    "repeated_unsorted": pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=False, sorted=False)),
    "nested_distinct_sorted": pg.Dict(
        m=pg.manyof(
            2,
            [pg.Dict(a=pg.oneof([1, 2])), 3, pg.Dict(b=pg.oneof([4, 5, 6]))],
            distinct=True,
            sorted=True,
        )
    ),
    "nested_distinct_unsorted": pg.Dict(
        m=pg.manyof(2, [pg.Dict(a=pg.oneof([1, 2])), 3, 4], distinct=True, sorted=False)
    ),
    "nested_repeated_sorted": pg.Dict(
        m=pg.manyof(3, [pg.Dict(a=pg.oneof([1, 2])), 3], distinct=False, sorted=True)
    ),
    "nested_repeated_unsorted": pg.Dict(
        m=pg.manyof(2, [Layer(width=pg.oneof([8, 16]), kind="c"), 3], distinct=False)
    ),
    "conditional": pg.Dict(
        block=pg.oneof(
            [
                Layer(width=pg.oneof([8, 16, 32]), kind="conv"),
                Layer(width=pg.oneof([pg.Dict(h=pg.oneof([1, 2])), 4]), kind="attn"),
                None,
            ]
        ),
        tail=[pg.oneof([True, False]), (1, {"t": 2}), {"fixed": [1, {"k": "v"}]}],
    ),
}


@pytest.mark.parametrize("name", sorted(SMALL_SPACES))
def test_size_and_random_genomes_cover_pyglove_enumeration(name):
    space = SMALL_SPACES[name]
    codec = spaces.compile(space)
    every = [pg.to_json(value) for value in pg.iter(space)]
    assert codec.size == len(every)
    genomes = codec.distinct(codec.size + 10, np.random.default_rng(0))
    assert len(genomes) == codec.size
    decoded = [codec.decode(g) for g in genomes]
    assert sorted(map(repr, decoded)) == sorted(map(repr, every))
    for genome in genomes:
        assert np.array_equal(codec.validate(genome), genome, equal_nan=True)
        dna = codec.to_dna(genome)
        assert codec.numbers(genome) == dna.to_numbers()
        assert np.array_equal(codec.from_dna(dna), genome, equal_nan=True)
        assert np.array_equal(codec.from_numbers(dna.to_numbers()), genome, equal_nan=True)


def test_size_of_spaces_too_large_to_enumerate():
    # Distinct sorted: C(10, 3); distinct unsorted: 10 * 9 * 8; repeated sorted: C(12, 3);
    # repeated unsorted: 10^3; a float makes any space infinite, also inside a choice.
    assert spaces.compile(pg.Dict(m=pg.manyof(3, list(range(10)), sorted=True))).size == 120
    assert spaces.compile(pg.Dict(m=pg.manyof(3, list(range(10))))).size == 720
    repeated = pg.manyof(3, list(range(10)), distinct=False, sorted=True)
    assert spaces.compile(pg.Dict(m=repeated)).size == 220
    assert spaces.compile(pg.Dict(m=pg.manyof(3, list(range(10)), distinct=False))).size == 1000
    for inner in (
        pg.oneof([pg.floatv(0.0, 1.0), 2]),
        pg.manyof(2, [pg.floatv(0.0, 1.0), 2, 3]),
        pg.Dict(a=pg.oneof([1, 2]), b=pg.floatv(0.0, 1.0)),
    ):
        assert spaces.compile(pg.Dict(x=inner, y=pg.oneof([1, 2]))).size == math.inf


def test_floats_decode_to_their_value_and_draw_uniformly():
    space = pg.Dict(lr=pg.floatv(0.5, 2.5), n=pg.oneof([1, 2]))
    codec = spaces.compile(space)
    genomes = codec.random(4000, np.random.default_rng(1))
    assert np.all((genomes[:, 0] >= 0.5) & (genomes[:, 0] <= 2.5))
    assert abs(genomes[:, 0].mean() - 1.5) < 0.05 and genomes[:, 0].std() > 0.5
    assert set(genomes[:, 1].tolist()) == {0.0, 1.0}
    genome = np.array([1.25, 1.0])
    assert codec.decode(genome) == {"lr": 1.25, "n": 2}
    assert codec.numbers(genome) == [1.25, 1] and isinstance(codec.numbers(genome)[1], int)
    assert codec.to_dna(genome) == pg.DNA([1.25, 1])
    children = codec.mutate(np.tile(genome, (2000, 1)), np.random.default_rng(2), rate=1.0)
    assert np.all((children[:, 0] >= 0.5) & (children[:, 0] <= 2.5))
    assert abs(children[:, 0].mean() - 1.5) < 0.05 and np.all(children[:, 1] == 0.0)


def test_every_candidate_is_drawn_uniformly():
    codec = spaces.compile(pg.Dict(x=pg.oneof(list(range(4))), y=pg.oneof([1, 2, 3])))
    genomes = codec.random(6000, np.random.default_rng(3))
    for column, count in ((0, 4), (1, 3)):
        frequencies = np.bincount(genomes[:, column].astype(int), minlength=count) / 6000
        assert len(frequencies) == count and np.all(np.abs(frequencies - 1 / count) < 0.025)


def test_inactive_slots_hold_the_filler_and_are_ignored_by_validate():
    space = SMALL_SPACES["conditional"]
    codec = spaces.compile(space)
    # Slots: block, conv width, attn width, attn width's h, tail bool.
    assert [s.parent for s in codec.slots] == [-1, 0, 0, 2, -1]
    assert [s.parent_value for s in codec.slots] == [0, 0, 1, 0, 0]
    genome = codec.validate([2, 5.5, 7, 9, 1])  # the None branch: the sub-slots are not checked
    assert genome.tolist() == [2, -1, -1, -1, 1]
    assert codec.decode(genome) == {
        "block": None,
        "tail": [False, ["__tuple__", 1, {"t": 2}], {"fixed": [1, {"k": "v"}]}],
    }
    active = codec.active_mask(np.array([[1, -1, 0, 1, 0], [1, -1, 1, -1, 0], [0, 2, -1, -1, 0]]))
    assert active.tolist() == [
        [True, False, True, True, True],
        [True, False, True, False, True],
        [True, True, False, False, True],
    ]
    mutated = codec.mutate(np.tile(genome, (300, 1)), np.random.default_rng(4))
    for child in mutated:
        assert np.array_equal(codec.validate(child), child)
        assert np.all((child == -1) == ~codec.active_mask(child)[0])


def test_decoded_specs_are_fresh_objects():
    codec = spaces.compile(SMALL_SPACES["conditional"])
    genome = codec.validate([2, -1, -1, -1, 0])
    first = codec.decode(genome)
    first["tail"][2]["fixed"][1]["k"] = "changed"
    first["tail"][1].append(3)
    first["tail"][1][2]["t"] = 5
    assert codec.decode(genome)["tail"] == [
        True,
        ["__tuple__", 1, {"t": 2}],
        {"fixed": [1, {"k": "v"}]},
    ]


def test_decode_names_a_bad_choice_value():
    codec = spaces.compile(pg.Dict(embed=pg.oneof([192, 216, 240])))
    for bad in (1.5, 3.0, -1.0, float("nan"), float("inf"), "x"):
        with pytest.raises(
            ValueError,
            match=r"^Decision point 'embed': value .* not a candidate index; allowed 0\.\.2 for "
            r"candidates \['192', '216', '240'\]\.$",
        ):
            codec.decode([bad])
    nested = spaces.compile(pg.Dict(b=pg.oneof([pg.Dict(k=pg.oneof([1, 3])), 2])))
    assert nested.decode([0, 1]) == {"b": {"k": 3}}
    with pytest.raises(ValueError, match=r"'b': value 2"):
        nested.decode([2, 1])


def test_validate_names_the_decision_point_and_the_allowed_values():
    codec = spaces.compile(pg.Dict(x=[pg.oneof([1, 2, 3]) for _ in range(10)]))
    with pytest.raises(
        ValueError,
        match=r"^Genome has shape \(9,\); this space has 10 decision points "
        r"\(x\[0\], x\[1\], .*, x\[7\]\.\.\.\)\.$",
    ):
        codec.validate([0] * 9)
    small = spaces.compile(pg.Dict(a=pg.oneof([1, 2]), b=pg.floatv(-1.0, 1.0)))
    with pytest.raises(
        ValueError,
        match=r"^Genome has shape \(2, 2\); this space has 2 decision points \(a, b\)\.$",
    ):
        small.validate([[0, 0.0], [0, 0.0]])
    assert small.validate([1, -1.0]).tolist() == [1.0, -1.0]
    assert small.validate([0, 1.0]).tolist() == [0.0, 1.0]
    for bad in (-1.01, 1.01, float("nan")):
        with pytest.raises(
            ValueError,
            match=r"^Decision point 'b': value .* is outside the allowed range \[-1\.0, 1\.0\]\.$",
        ):
            small.validate([0, bad])
    for bad in (2, -1, 0.5, float("nan"), float("inf")):
        with pytest.raises(
            ValueError,
            match=r"^Decision point 'a': value .* is not a candidate index; allowed 0\.\.1 for "
            r"candidates \['1', '2'\]\.$",
        ):
            small.validate([bad, 0.0])


def test_validate_checks_manyof_constraints_of_active_groups_only():
    space = pg.Dict(b=pg.oneof([pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=True, sorted=True)), 0]))
    codec = spaces.compile(space)
    assert codec.validate([0, 0, 2]).tolist() == [0, 0, 2]
    with pytest.raises(
        ValueError,
        match=r"^Decision point 'b\[=0/2\]\.m' \(pg\.manyof, distinct=True\) repeats a "
        r"candidate: \[1, 1\]\.$",
    ):
        codec.validate([0, 1, 1])
    with pytest.raises(
        ValueError,
        match=r"^Decision point 'b\[=0/2\]\.m' \(pg\.manyof, sorted=True\) is not sorted: "
        r"\[2, 0\]\.$",
    ):
        codec.validate([0, 2, 0])
    assert codec.validate([1, 1, 1]).tolist() == [1, -1, -1]
    repeated = spaces.compile(pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=False, sorted=True)))
    assert repeated.validate([1, 1]).tolist() == [1, 1]
    unsorted = spaces.compile(pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=True, sorted=False)))
    assert unsorted.validate([2, 0]).tolist() == [2, 0]


def test_conversions_name_the_mismatch():
    codec = spaces.compile(
        pg.Dict(a=pg.oneof([1, 2]), b=pg.oneof([pg.Dict(c=pg.oneof([1, 2])), 3]))
    )
    assert codec.from_numbers([1, 0, 1]).tolist() == [1, 0, 1]
    assert codec.from_numbers([1, 1]).tolist() == [1, 1, -1]
    with pytest.raises(
        ValueError, match=r"^Too few decisions: 2 numbers run out at 'b\[=0/2\]\.c'\.$"
    ):
        codec.from_numbers([1, 0])
    with pytest.raises(ValueError, match=r"^Too many decisions: 3 numbers for this space\.$"):
        codec.from_numbers([1, 1, 0])
    with pytest.raises(ValueError, match="'a': value 2"):
        codec.from_numbers([2, 1])
    assert codec.from_dna(pg.DNA([1, (0, 1)])).tolist() == [1, 0, 1]  # a DNA without a spec
    bare = spaces.compile(codec.dna_spec)
    assert bare.space is None and bare.size == 2 * 3
    assert bare.to_dna(bare.from_numbers([0, 1])) == pg.DNA([0, 1])
    for call in (bare.decode, bare.materialize):
        with pytest.raises(
            ValueError,
            match=r"^This codec was built from a DNASpec only; use spaces\.compile\(space\)\.$",
        ):
            call(np.array([0, 1, -1]))
    assert pg.eq(codec.materialize(np.array([0, 1, -1])), pg.Dict(a=1, b=3))


def test_key_identifies_the_architecture():
    codec = spaces.compile(pg.Dict(a=pg.oneof([1, 2]), b=pg.oneof([1, 2])))
    assert codec.key(np.array([1, 0])) == codec.key([1.0, 0.0]) == codec.key(np.array([1, 0.0]))
    assert codec.key([1, 0]) != codec.key([0, 1])


def test_operators_reject_bad_arguments():
    codec = spaces.compile(pg.Dict(a=pg.oneof([1, 2]), b=pg.oneof([1, 2])))
    rng = np.random.default_rng(5)
    for rate in (-0.1, 1.5):
        with pytest.raises(
            ValueError, match=rf"^mutate: 'rate' must be in \[0, 1\]; got {rate}\.$"
        ):
            codec.mutate(np.zeros((2, 2)), rng, rate=rate)
    with pytest.raises(
        ValueError, match=r"^crossover: parents have shapes \(2, 2\) and \(1, 2\)\.$"
    ):
        codec.crossover(np.zeros((2, 2)), np.zeros((1, 2)), rng)
    assert codec.crossover(np.zeros(2), np.ones(2), rng).shape == (1, 2)
    assert codec.mutate(np.zeros(2), rng).shape == (1, 2)


def test_compile_rejects_what_is_not_a_search_space():
    for bad in (pg.Dict(a=1), {"a": pg.oneof([1, 2])}, 3):
        with pytest.raises(
            TypeError,
            match=r"^spaces\.compile expects a PyGlove hyper-value with at least one pg\.oneof, "
            r"pg\.manyof or pg\.floatv; got (Dict|dict|int)\.$",
        ):
            spaces.compile(bad)


def test_a_space_without_mutable_decisions_is_returned_unchanged():
    codec = spaces.compile(pg.Dict(a=pg.oneof([1]), b=pg.oneof([2])))
    genomes = codec.random(3, np.random.default_rng(6))
    assert genomes.tolist() == [[0, 0]] * 3
    assert codec.mutate(genomes, np.random.default_rng(7)).tolist() == [[0, 0]] * 3
    assert codec.mutate(genomes, np.random.default_rng(7), rate=0.5).tolist() == [[0, 0]] * 3
    assert codec.size == 1


def test_a_shape_error_lists_at_most_eight_decision_points():
    first = "x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]"
    for count, listed in ((8, f"({first})."), (9, f"({first}...).")):
        codec = spaces.compile(pg.Dict(x=[pg.oneof([1, 2]) for _ in range(count)]))
        with pytest.raises(ValueError) as error:
            codec.validate([0])
        assert str(error.value).endswith(f"this space has {count} decision points {listed}")


def test_validate_checks_every_slot_and_group_after_inactive_ones():
    space = pg.Dict(
        b=pg.oneof([pg.Dict(m=pg.manyof(2, [1, 2, 3], distinct=True)), 0]),
        n=pg.manyof(2, [1, 2, 3], distinct=True),
        t=pg.oneof([True, False]),
    )
    codec = spaces.compile(space)
    # Slots: b, b's pg.manyof (two), n (two), t. Groups: b's pg.manyof (0), n (1).
    assert [s.group for s in codec.slots] == [-1, 0, 0, 1, 1, -1]
    assert [g.slots for g in codec.groups] == [(1, 2), (3, 4)]
    assert codec.validate([1, 7, 7, 0, 1, 1]).tolist() == [1, -1, -1, 0, 1, 1]
    with pytest.raises(ValueError, match=r"^Decision point 'n' \(pg\.manyof, distinct=True\)"):
        codec.validate([1, -1, -1, 2, 2, 0])
    with pytest.raises(ValueError, match=r"^Decision point 't': value 2\.0 is not a candidate"):
        codec.validate([1, -1, -1, 0, 1, 2])


def test_a_float_under_a_choice_is_active_with_its_branch():
    codec = spaces.compile(
        pg.Dict(b=pg.oneof([pg.Dict(lr=pg.floatv(0.1, 0.5)), 0]), f=pg.floatv(0, 1))
    )
    assert [s.group for s in codec.slots] == [-1, -1, -1]
    assert [s.parent_value for s in codec.slots] == [0, 0, 0]
    genome = codec.from_numbers([0, 0.25, 0.5])
    assert codec.active_mask(genome).tolist() == [[True, True, True]]
    assert codec.decode(genome) == {"b": {"lr": 0.25}, "f": 0.5}
    assert np.isnan(codec.from_numbers([1, 0.5])[1])


def test_mutation_never_picks_a_decision_with_one_candidate():
    codec = spaces.compile(pg.Dict(a=pg.oneof([1]), b=pg.oneof([1, 2, 3])))
    parents = codec.random(200, np.random.default_rng(8))
    children = codec.mutate(parents, np.random.default_rng(9))
    assert np.all(children[:, 0] == 0) and np.all(children[:, 1] != parents[:, 1])
