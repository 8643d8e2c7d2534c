"""Custom decision points (``pg.hyper.CustomHyper``) in the codec: one slot holding a 48-bit
content hash of the DNA string, operators from the space's own hooks or, for a plain
``CustomHyper``, a redraw (mutation) and one parent's value (crossover)."""

from __future__ import annotations

import random

import numpy as np
import pyglove as pg
import pytest

from symnas import algorithms, spaces
from symnas.spaces import codec as codec_module


@pg.members([("letters", pg.typing.Str(), "Letters of the words.")])
class Word(pg.hyper.CustomHyper):
    """A plain custom hyper-value: a random three-letter word over ``letters``."""

    def custom_decode(self, dna: pg.DNA) -> str:
        return dna.value.upper()

    def random_dna(self, random_generator=None, previous_dna=None) -> pg.DNA:
        rng = random_generator or random
        return pg.DNA("".join(rng.choice(self.letters) for _ in range(3)))


class Counter(pg.hyper.CustomHyper):
    """A custom hyper-value with the codec's value hooks: strings of digits."""

    def custom_decode(self, dna: pg.DNA) -> int:
        return int(dna.value)

    def random_dna(self, random_generator=None, previous_dna=None) -> pg.DNA:
        return pg.DNA(str((random_generator or random).randint(0, 9)))

    def random_value(self, rng) -> str:
        return str(int(rng.integers(10)))

    def mutate_value(self, value: str, rng) -> str:
        return value + "1"

    def crossover_value(self, a: str, b: str, rng) -> str:
        return a + b[: 1 + int(rng.integers(len(b)))]  # a, then a non-empty prefix of b

    def check_value(self, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"Counter: {value!r} is not a digit string.")
        return value

    def decode_value(self, value: str) -> int:
        return int(value)

    def num_values(self) -> int:
        return 7


@pytest.fixture(autouse=True)
def empty_value_table(monkeypatch):
    """Each test starts from an empty process-wide table of custom values."""
    monkeypatch.setattr(codec_module, "_CUSTOM_VALUES", {})


def _values(codec, genomes: np.ndarray, column: int) -> list[str]:
    return [codec_module.custom_value(v) for v in genomes[:, column]]


def test_custom_id_is_a_registered_48_bit_content_hash():
    key = codec_module.custom_id("abc")
    assert key == int(key) and 0 <= key < 2**48
    assert codec_module.custom_id("abc") == key
    assert codec_module.custom_value(key) == "abc"
    assert len({codec_module.custom_id(s) for s in ("abc", "abd", "bac", "", "abcabc")}) == 5
    assert codec_module.custom_value(float(2**48 + 1)) is None
    with pytest.raises(
        ValueError, match=r"^A custom decision's DNA value must be a string; got 3\.$"
    ):
        codec_module.custom_id(3)


def test_custom_id_refuses_a_hash_collision(monkeypatch):
    key = codec_module.custom_id("left")
    monkeypatch.setitem(codec_module._CUSTOM_VALUES, key, "right")
    with pytest.raises(
        RuntimeError, match=r"^codec: hash collision between custom values 'right' and 'left'\.$"
    ):
        codec_module.custom_id("left")


def test_a_plain_custom_hyper_is_one_slot_that_decodes_like_pyglove():
    space = pg.Dict(word=Word(letters="abcd"), n=pg.oneof([1, 2]))
    codec = spaces.compile(space)
    assert codec.num_slots == 2 and codec.slots[0].is_custom and not codec.slots[1].is_custom
    assert codec.size == float("inf")
    genomes = codec.random(20, np.random.default_rng(0))
    words = _values(codec, genomes, 0)
    assert all(len(w) == 3 and set(w) <= set("abcd") for w in words)
    assert len(set(words)) > 5
    for genome in genomes:
        codec.validate(genome)
        dna = codec.to_dna(genome)
        assert codec.numbers(genome) == [codec_module.custom_value(genome[0]), int(genome[1])]
        assert codec.decode(genome) == pg.to_json(pg.materialize(space, dna))
        assert codec.decode(genome)["word"] == codec_module.custom_value(genome[0]).upper()
        assert np.array_equal(codec.from_dna(dna), genome)
    # The same numpy seed draws the same words.
    again = codec.random(20, np.random.default_rng(0))
    assert np.array_equal(again, genomes)


def test_a_plain_custom_hyper_draws_from_its_whole_space():
    # 1000 words; 1000 draws find about 1000 * (1 - 1/e) = 632 different ones.
    codec = spaces.compile(pg.Dict(word=Word(letters="abcdefghij")))
    genomes = codec.random(1000, np.random.default_rng(8))
    assert 560 < len(set(genomes[:, 0].tolist())) < 700


def test_a_plain_custom_hyper_mutates_by_a_redraw_and_crosses_over_whole():
    codec = spaces.compile(pg.Dict(word=Word(letters="abcd")))
    rng = np.random.default_rng(1)
    parents = codec.random(300, rng)
    children = codec.mutate(parents, rng)
    assert np.all(children != parents)  # the only decision, redrawn until it differs
    assert all(len(w) == 3 for w in _values(codec, children, 0))
    other = codec.random(300, rng)
    crossed = codec.crossover(parents, other, rng)
    from_other = crossed[:, 0] == other[:, 0]
    assert np.all(from_other | (crossed[:, 0] == parents[:, 0]))
    assert 0.4 < from_other[parents[:, 0] != other[:, 0]].mean() < 0.6


def test_a_plain_custom_hyper_with_one_value_keeps_it():
    codec = spaces.compile(pg.Dict(word=Word(letters="a")))
    genome = codec.random(1, np.random.default_rng(2))
    assert codec_module.custom_value(genome[0, 0]) == "aaa"
    assert np.array_equal(codec.mutate(genome, np.random.default_rng(3)), genome)


def test_custom_hooks_mutate_and_recombine_the_values():
    space = pg.Dict(count=Counter(), n=pg.oneof([1, 2, 3]))
    codec = spaces.compile(space)
    assert codec.size == 7 * 3
    rng = np.random.default_rng(4)
    parents = codec.random(400, rng)
    assert all(v.isdigit() and len(v) == 1 for v in _values(codec, parents, 0))
    children = codec.mutate(parents, rng, rate=1.0)
    # Every decision changes: the custom one through its hook (one digit appended).
    assert _values(codec, children, 0) == [v + "1" for v in _values(codec, parents, 0)]
    assert np.all(children[:, 1] != parents[:, 1])
    other = codec.random(400, rng)
    crossed = codec.crossover(parents, other, rng)
    # The custom unit's coin decides which parent's value comes first in the hook's child.
    firsts = []
    for p, o, c in zip(parents, other, crossed, strict=True):
        pv, ov = codec_module.custom_value(p[0]), codec_module.custom_value(o[0])
        cv = codec_module.custom_value(c[0])
        assert cv in (pv + ov, ov + pv)
        firsts.append(cv == ov + pv and pv != ov)
        assert codec.decode(c)["count"] == int(cv)
    assert 0.35 < np.mean(firsts) < 0.6


def test_custom_values_are_checked_and_unknown_ones_named():
    codec = spaces.compile(pg.Dict(count=Counter()))
    with pytest.raises(ValueError, match="not a digit string"):
        codec.from_numbers(["x1"])
    with pytest.raises(ValueError, match="not a digit string"):
        codec.validate([codec_module.custom_id("y2")])
    with pytest.raises(
        ValueError,
        match=r"^Decision point 'count' \(custom\): genome value 5\.0 is no value this process has "
        r"drawn or read; read the genome through from_dna/from_numbers first\.$",
    ):
        codec.validate([5.0])
    with pytest.raises(ValueError, match="is no value this process has drawn"):
        codec.decode([5.0])
    with pytest.raises(ValueError, match=r"'count' \(custom\): genome value 'x' is no value"):
        codec.decode(["x"])
    with pytest.raises(ValueError, match=r"'count' \(custom\): genome value 6\.0 is no value"):
        codec.numbers(np.array([6.0]))
    genome = codec.from_numbers(["42"])
    assert codec.decode(genome) == {"count": 42}
    assert codec.numbers(genome) == ["42"]


def test_a_custom_slot_under_a_choice_moves_with_its_branch():
    space = pg.Dict(branch=pg.oneof([pg.Dict(count=Counter()), "none"]))
    codec = spaces.compile(space)
    assert codec.slots[1].is_custom and codec.slots[1].parent == 0
    rng = np.random.default_rng(5)
    a = codec.from_numbers([0, "3"])
    b = codec.from_numbers([0, "8"])
    crossed = codec.crossover(np.tile(a, (50, 1)), np.tile(b, (50, 1)), rng)
    # Not recombined by the hook (only top-level custom decisions are): one parent's value.
    assert set(_values(codec, crossed, 1)) == {"3", "8"}
    switched = codec.mutate(np.tile(codec.from_numbers([1]), (20, 1)), rng)
    assert all(v is not None and v.isdigit() for v in _values(codec, switched, 1))


def test_a_custom_decision_point_without_random_dna_fn_is_refused():
    spec = pg.geno.Space(
        [pg.geno.CustomDecisionPoint(hyper_type="Nothing", random_dna_fn=None, location="x")]
    )
    with pytest.raises(
        TypeError,
        match=r"^Custom decision point 'x' has no random_dna_fn; symnas needs one to draw its "
        r"values \(pg\.geno\.custom\(random_dna_fn=\.\.\.\) or a pg\.hyper\.CustomHyper with "
        r"random_dna\)\.$",
    ):
        spaces.compile(spec)


def pyglove_random_dna(r, old_dna):
    """The ``random_dna_fn`` of PyGlove's ``custom_test.test_random_dna``: a digit 0-10."""
    del old_dna
    return pg.DNA(str(r.randint(0, 10)))


def step_random_dna(r, old_dna):
    """A ``random_dna_fn`` that uses the previous DNA, as PyGlove's mutator passes it: one step
    up or down from the old value, a draw in 0-9 without one."""
    if old_dna is None:
        return pg.DNA(str(r.randint(0, 9)))
    return pg.DNA(str(int(old_dna.value) + r.choice([-1, 1])))


def test_a_bare_custom_decision_point_draws_with_its_random_dna_fn_as_pyglove_does():
    point = pg.geno.custom(random_dna_fn=pyglove_random_dna, location="x")
    spec = pg.geno.Space([point, pg.geno.oneof([pg.geno.constant()] * 3, location="y")])
    assert point.random_dna(random.Random(1)) == pg.DNA("2")  # PyGlove's own expectation
    codec = spaces.compile(spec)
    assert codec.slots[0].is_custom and codec.size == float("inf")
    genomes = codec.random(200, np.random.default_rng(0))
    values = _values(codec, genomes, 0)
    assert set(values) == {str(i) for i in range(11)}
    for genome in genomes[:5]:
        dna = codec.to_dna(genome)
        pg.geno.Space([point.clone(), spec.elements[1].clone()]).validate(dna)
        assert dna.children[0].value == codec_module.custom_value(genome[0])
        assert np.array_equal(codec.from_dna(dna), genome)
    crossed = codec.crossover(genomes[:100], genomes[100:], np.random.default_rng(1))
    assert np.all((crossed[:, 0] == genomes[:100, 0]) | (crossed[:, 0] == genomes[100:, 0]))


def test_a_bare_custom_decision_point_mutates_from_its_previous_dna():
    codec = spaces.compile(pg.geno.Space([pg.geno.custom(random_dna_fn=step_random_dna)]))
    parents = codec.random(100, np.random.default_rng(2))
    children = codec.mutate(parents, np.random.default_rng(3))
    old = [int(v) for v in _values(codec, parents, 0)]
    new = [int(v) for v in _values(codec, children, 0)]
    assert all(abs(n - o) == 1 for n, o in zip(new, old, strict=True))


@pytest.mark.parametrize(
    "name, settings",
    [("random", {}), ("regularized_evolution", {"population_size": 5, "tournament_size": 2})],
)
def test_symnas_generators_search_a_bare_custom_decision_point(name, settings):
    spec = pg.geno.Space([pg.geno.custom(random_dna_fn=step_random_dna, location="x")])
    algorithm = algorithms.create(name, seed=0, **settings)
    algorithm.setup(spec)
    proposed = []
    for _ in range(40):
        dna = algorithm.propose()
        value = int(dna.value)
        proposed.append(value)
        algorithm.feedback(dna, -abs(value - 20))
    # Evolution walks one step at a time from its best towards 20; random draws stay in 0-9.
    assert len(set(proposed)) > 3
    if name == "random":
        assert max(proposed) <= 9
    else:
        assert max(proposed) > 9


def test_top_level_custom_decisions_after_a_nested_one_are_recombined():
    space = pg.Dict(branch=pg.oneof([pg.Dict(count=Counter()), "none"]), top=Counter())
    codec = spaces.compile(space)
    rng = np.random.default_rng(9)
    a = np.tile(codec.from_numbers([0, "3", "5"]), (40, 1))
    b = np.tile(codec.from_numbers([0, "8", "6"]), (40, 1))
    crossed = codec.crossover(a, b, rng)
    assert set(_values(codec, crossed, 1)) == {"3", "8"}
    assert set(_values(codec, crossed, 2)) == {"56", "65"}


def test_crossover_names_an_unknown_custom_value():
    codec = spaces.compile(pg.Dict(count=Counter()))
    known = codec.from_numbers(["4"])[None, :]
    unknown = np.array([[7.0]])
    for seed in range(8):
        for a, b in ((known, unknown), (unknown, known)):
            with pytest.raises(
                ValueError, match=r"^Decision point 'count' \(custom\): genome value 7\.0"
            ):
                codec.crossover(a, b, np.random.default_rng(seed))


def test_mutation_names_an_unknown_custom_value():
    codec = spaces.compile(pg.Dict(count=Counter()))
    with pytest.raises(ValueError, match=r"^Decision point 'count' \(custom\): genome value 7\.0"):
        codec.mutate(np.array([[7.0]]), np.random.default_rng(0))
