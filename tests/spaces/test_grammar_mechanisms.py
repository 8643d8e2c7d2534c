"""Grammar operators (NePS / einspace): exactly what mutation and crossover change.

Mutation picks a node uniformly and re-derives its subtree from the same nonterminal within the
depth left at that node; crossover grafts a different subtree of the other parent, rooted at the
same nonterminal and fitting the depth left, onto a node below the root. The grammar branches
and recurses, and its depth bound binds often, so an operator that ignores the bound, changes
more than one subtree or grafts at the root is seen within a few hundred draws.
"""

from __future__ import annotations

import numpy as np

from symnas.spaces.context_free import Grammar

RULES = """
S -> "a" S | "b" T T | "c"
T -> "d" | "e" S
"""
MAX_DEPTH = 5
DRAWS = 400


def _grammar() -> Grammar:
    return Grammar(RULES, "S", MAX_DEPTH)


def _at(tree, path):
    for i in path:
        tree = tree[2][i]
    return tree


def _changed_subtree(old, new, path=()):
    """The path of the smallest subtree outside which ``old`` and ``new`` are equal."""
    if old[1] != new[1]:
        return path
    differing = [i for i, (x, y) in enumerate(zip(old[2], new[2], strict=True)) if x != y]
    if len(differing) != 1:
        return path
    return _changed_subtree(old[2][differing[0]], new[2][differing[0]], path + (differing[0],))


def _pairs(grammar, seed):
    rng = np.random.default_rng(seed)
    return rng, [(grammar.random(rng), grammar.random(rng)) for _ in range(DRAWS)]


def test_mutation_rederives_one_subtree_from_its_nonterminal_within_the_depth_left():
    grammar = _grammar()
    rng, pairs = _pairs(grammar, 0)
    below_root = 0
    for tree, _ in pairs:
        child = grammar.mutate(tree, rng)
        assert child != tree
        path = _changed_subtree(tree, child)
        old, new = _at(tree, path), _at(child, path)
        assert new[0] == old[0]  # the same nonterminal, re-derived
        assert Grammar.height(new) <= MAX_DEPTH - len(path)  # within the depth left there
        assert Grammar.replace(tree, path, new) == child  # nothing else changed
        below_root += bool(path)
    # The node is drawn uniformly: most trees have several nodes, so most changes lie below the
    # root (re-deriving the root, the whole tree, would put them all at the root).
    assert below_root > DRAWS / 2


def test_crossover_grafts_a_same_symbol_subtree_of_the_other_parent():
    grammar = _grammar()
    rng, pairs = _pairs(grammar, 1)
    grafts = copies = 0
    for a, b in pairs:
        child = grammar.crossover(a, b, rng)
        # The grafts it may make: a node of a below the root (the root only when it is a leaf)
        # replaced by a different node of b with its nonterminal, within the depth left there.
        sites = grammar.nodes(a)[1:] or grammar.nodes(a)
        options = [
            Grammar.replace(a, path, node)
            for path, old, level in sites
            for _, node, _ in grammar.nodes(b)
            if node[0] == old[0] and node != old and Grammar.height(node) <= MAX_DEPTH - level + 1
        ]
        if child == a:
            copies += bool(options)
            continue
        grafts += 1
        assert child in options, (a, b, child)
    assert grafts > DRAWS / 2
    # A parent comes back unchanged only when no graft is possible (or all retries missed one).
    assert copies <= DRAWS / 100


def test_crossover_never_replaces_the_root_of_a_parent_with_children():
    grammar = _grammar()
    rng, pairs = _pairs(grammar, 2)
    for a, b in pairs:
        child = grammar.crossover(a, b, rng)
        if a[2]:
            assert (child[0], child[1]) == (a[0], a[1])
            assert any(x == y for x, y in zip(a[2], child[2], strict=True)) or len(a[2]) == 1


def test_children_stay_within_the_depth_bound_which_binds():
    grammar = _grammar()
    rng, pairs = _pairs(grammar, 3)
    heights = []
    for a, b in pairs:
        for child in (grammar.mutate(a, rng), grammar.crossover(a, b, rng)):
            heights.append(Grammar.height(child))
    assert max(heights) == MAX_DEPTH
    assert np.mean(np.array(heights) == MAX_DEPTH) > 0.2
