"""The first difference of two JSON values names the field, through objects and lists."""

from __future__ import annotations

from symnas.core.compare import first_difference, short_repr


def test_equal_values_have_no_difference():
    value = {"space": {"C": 8, "ops": ["conv", "skip"]}, "seed": 0}
    assert first_difference(value, {"seed": 0, "space": {"ops": ["conv", "skip"], "C": 8}}) is None


def test_the_path_descends_into_objects_and_equal_length_lists():
    saved = {"space": {"C": 8, "edges": [{"op": "conv"}, {"op": "skip"}]}}
    current = {"space": {"C": 8, "edges": [{"op": "conv"}, {"op": "none"}]}}
    assert first_difference(saved, current) == ("space.edges[1].op", "skip", "none")
    assert first_difference(saved["space"], current["space"], "space") == (
        "space.edges[1].op",
        "skip",
        "none",
    )


def test_lists_of_other_lengths_and_missing_keys_are_compared_whole():
    assert first_difference({"a": [1, 2]}, {"a": [1, 2, 3]}) == ("a", [1, 2], [1, 2, 3])
    assert first_difference({"a": 1}, {"a": 1, "b": {"c": 2}}) == ("b", None, {"c": 2})
    assert first_difference({"a": None}, {}) is None  # a missing key counts as None


def test_saved_order_comes_first():
    assert first_difference({"b": 1, "a": 1}, {"a": 2, "b": 2})[0] == "b"


def test_short_repr_cuts_long_values():
    assert short_repr("x" * 10) == repr("x" * 10)
    cut = short_repr(list(range(100)), width=20)
    assert len(cut) == 20 and cut.endswith("...")
