"""The grammar space's edges: continued and malformed grammar lines, enumeration through
alternatives of three symbols, a draw at the top of the unit interval, the bounded parse cache,
the compiled-grammar cache on a miss, and constraints (their argument, the number of draws, the
fallbacks)."""

from __future__ import annotations

import random

import pytest

from symnas.spaces import context_free
from symnas.spaces.context_free import (
    PARSE_CACHE,
    PATIENCE,
    Grammar,
    GrammarHyper,
    grammar,
    register_constraint,
)

_CALLS: list[str | None] = []


@register_constraint("edge_tests_first_word", "The first word of the derivation is the argument.")
def _first_word_is(derivation: list, argument: str | None) -> bool:
    return derivation[1] == argument


@register_constraint("edge_tests_never", "No derivation qualifies; counts its calls.")
def _never(derivation: list, argument: str | None) -> bool:
    _CALLS.append(argument)
    return False


class _TopOfUnitInterval:
    """An rng whose every draw is the largest float below 1."""

    def random(self) -> float:
        return 1.0 - 2.0**-53


def test_a_line_starting_with_a_bar_continues_the_rule_above():
    continued = Grammar("S -> 'a'\n  | 'b' S  # more\n  | 'c'", "S", 3)
    assert continued.text() == Grammar("S -> 'a' | 'b' S | 'c'", "S", 3).text()


@pytest.mark.parametrize("line", ["A", "-> 'a'", "A B -> 'a'", "'A' -> 'a'"])
def test_a_line_that_is_not_a_rule_is_refused_by_number(line):
    message = (
        f"grammar line 2: {line!r} must read 'SYMBOL -> alternative | ...' with an unquoted "
        "nonterminal on the left."
    )
    with pytest.raises(ValueError) as error:
        Grammar(f"S -> 'a'\n{line}", "S", 3)
    assert str(error.value) == message


def test_productions_of_another_type_are_refused_with_the_allowed_forms():
    with pytest.raises(TypeError, match=r"^grammar: productions must be grammar text or a dict"):
        Grammar(42, "S", 3)  # type: ignore[arg-type]


def test_a_value_matching_no_alternative_lists_the_alternatives():
    g = Grammar("S -> 'a' | 'b' S", "S", 3)
    with pytest.raises(
        ValueError, match=r'no alternative of .S. within depth 3; alternatives: "a" \| "b" S\.$'
    ):
        g.from_json(["S", "c"])


def test_enumeration_walks_every_child_of_a_three_symbol_alternative():
    g = Grammar("S -> A A A\nA -> 'x' | 'y'", "S", 2)
    words = [str(g.to_json(tree)) for tree in g.iterate()]
    assert len(words) == len(set(words)) == g.count() == 8


def test_a_draw_at_the_top_of_the_unit_interval_picks_the_last_alternative():
    # Subtracting these weights one by one from the top draw leaves a positive remainder.
    g = Grammar("S -> 'a' [1.4] | 'b' [1.09] | 'c' [1.9] | 'd' [2.9]", "S", 2)
    assert g.to_json(g.random(_TopOfUnitInterval())) == ["S", "d"]


def test_the_parse_cache_never_holds_more_than_its_bound():
    g = Grammar("S -> D D D D\nD -> '0'|'1'|'2'|'3'|'4'|'5'|'6'|'7'|'8'|'9'", "S", 2)
    values = []
    for tree in g.iterate():
        values.append(g.encode(tree))
        if len(values) > PARSE_CACHE:
            break
    for value in values:
        g.decode(value)
        assert len(g._parse_cache) <= PARSE_CACHE


def test_a_hyper_on_uncompiled_grammar_text_compiles_it():
    text = "S  ->  'x'  |  'y'  S  # not canonical: a cache miss"
    context_free._GRAMMARS.pop((text, "S", 4), None)
    hyper = GrammarHyper(rules=text, start="S", max_depth=4)
    assert hyper.grammar.text() == grammar("S -> 'x' | 'y' S", max_depth=4).grammar.text()
    assert hyper.num_values() == 4


def test_a_constraint_receives_its_argument():
    hyper = grammar("S -> 'a' | 'b'", constraint="edge_tests_first_word:b")
    for seed in range(5):
        assert hyper.decode_value(hyper.random_value(random.Random(seed))) == ["S", "b"]


def test_random_draws_under_an_unsatisfiable_constraint_give_up_after_twenty_patiences():
    hyper = grammar("S -> 'a' | 'b'", constraint="edge_tests_never")
    _CALLS.clear()
    with pytest.raises(RuntimeError, match=f"after {PATIENCE * 20} random draws"):
        hyper.random_value(random.Random(0))
    assert len(_CALLS) == PATIENCE * 20


def test_crossover_under_an_unsatisfiable_constraint_returns_the_first_parent():
    hyper = grammar("S -> 'a' T\nT -> 'x' | 'y'", constraint="edge_tests_never")
    g = hyper.grammar
    a = g.encode(g.from_json(["S", "a", ["T", "x"]]))
    b = g.encode(g.from_json(["S", "a", ["T", "y"]]))
    _CALLS.clear()
    assert hyper.crossover_value(a, b, random.Random(0)) == a
    assert len(_CALLS) == PATIENCE  # one patience of grafts, then the fallback
