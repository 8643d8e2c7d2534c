"""Context-free grammar spaces: one decision point whose value is a whole derivation.

A grammar is declared in the notation of the NePS ``.cfg`` files that the hierarchical
NAS-Bench-201 space of Schrodi et al. ("Construction of Hierarchical Neural Architecture Search
Spaces based on Context-free Grammars", NeurIPS 2023) is written in::

    D2   -> "Linear3" D1 D1 D0 | "Linear4" D1 D1 D0 D0
    OPS  -> "id" | "zero" | "Linear1" CONVBLOCK [2.0]

Quoted tokens are terminals, unquoted tokens are nonterminals, ``|`` separates alternatives, a
trailing ``[w]`` gives an alternative a sampling weight (default 1), ``#`` starts a comment and a
line that starts with ``|`` continues the rule above it. Productions may also be a dict
``{nonterminal: [alternative, ...]}`` whose alternatives are such strings or token sequences.

``grammar(productions, start, max_depth)`` returns a :class:`GrammarHyper`, a
``pg.hyper.CustomHyper``: its DNA is a string (the pre-order list of chosen alternative indices),
so ``pg.random_sample``, ``pg.sample``, ``pg.iter`` (through ``next_dna``) and every symnas
algorithm work on it, and it composes with ``pg.oneof``/``pg.floatv`` fields in one space. A
derivation decodes to nested lists: a node is ``[nonterminal, token, ...]`` where a token is a
terminal string or a child node. The depth of a derivation is the number of nonterminal nodes on
its longest root-to-leaf path; every derivation the space holds has depth at most ``max_depth``.

Operators follow the references: sampling draws a production of each nonterminal by weight among
those that can still terminate within the remaining depth (NePS ``DepthConstrainedGrammar``);
mutation picks a node uniformly and re-derives its subtree from the same nonterminal, retrying
until the tree changes (NePS ``Grammar.mutate``, einspace ``mutate``); crossover replaces a random
subtree of one parent by a subtree of the other rooted at the same nonterminal that fits the
depth bound (NePS crossover). A space may add a ``constraint`` (``"name"`` or ``"name:argument"``
of a predicate registered with :func:`register_constraint`, called on the decoded derivation);
the operators then only return derivations that satisfy it, by redrawing (einspace backtracks
in the same way on shape errors).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyglove as pg

from symnas.core.registry import Registry

#: A derivation node: (nonterminal, alternative index, child derivations of its nonterminals).
Tree = tuple

PATIENCE = 50
PARSE_CACHE = 4096  # derivations kept parsed per grammar
_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|\[[^\]]*\]|\S+')
Predicate = Callable[[list, "str | None"], bool]
CONSTRAINTS = Registry("grammar constraint")

# Symbolic values saved while this module was ``spaces.grammar`` name their classes
# ``symnas.spaces.grammar.GrammarHyper``; ``pg.from_json`` reads them as this module's.
pg.JSONConvertible.add_module_alias(__name__, "symnas.spaces.grammar")


@dataclass(frozen=True)
class Alternative:
    """One right-hand side: its tokens, which of them are nonterminals, and its weight."""

    tokens: tuple[str, ...]
    is_symbol: tuple[bool, ...]
    weight: float

    @property
    def symbols(self) -> tuple[str, ...]:
        """The nonterminals of this alternative, in order."""
        return tuple(t for t, s in zip(self.tokens, self.is_symbol, strict=True) if s)

    def text(self) -> str:
        """The alternative in grammar notation."""
        words = [t if s else f'"{t}"' for t, s in zip(self.tokens, self.is_symbol, strict=True)]
        if self.weight != 1.0:
            words.append(f"[{self.weight!r}]")
        return " ".join(words)


def register_constraint(name: str, description: str) -> Callable[[Predicate], Predicate]:
    """Decorator registering ``predicate(derivation_json, argument) -> bool`` as a grammar
    constraint; ``argument`` is the text after ``:`` in the space's constraint (or None)."""
    return CONSTRAINTS.register(name, description)


def _split_alternatives(text: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "|":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _parse_text(text: str) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    last = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("|"):
            if last is None:
                raise ValueError(f"grammar line {number}: {raw!r} continues no rule.")
            rules[last].extend(_split_alternatives(line[1:]))
            continue
        lhs, arrow, rhs = line.partition("->")
        lhs = lhs.strip()
        if not arrow or not lhs or len(lhs.split()) != 1 or lhs[0] in "\"'":
            raise ValueError(
                f"grammar line {number}: {raw!r} must read 'SYMBOL -> alternative | ...' with "
                "an unquoted nonterminal on the left."
            )
        rules.setdefault(lhs, []).extend(_split_alternatives(rhs))
        last = lhs
    return rules


def _alternative(symbol: str, alt: str | Sequence[str]) -> Alternative:
    tokens = _TOKEN.findall(alt) if isinstance(alt, str) else [str(t) for t in alt]
    weight = 1.0
    if tokens and tokens[-1].startswith("["):
        try:
            weight = float(tokens.pop()[1:-1])
        except ValueError:
            raise ValueError(
                f"grammar: an alternative of {symbol!r} has a bad weight in {alt!r}."
            ) from None
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"grammar: weights of {symbol!r} must be positive; got {weight}.")
    if not tokens:
        raise ValueError(f"grammar: nonterminal {symbol!r} has an empty alternative.")
    words, kinds = [], []
    for token in tokens:
        quoted = len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'"
        words.append(token[1:-1] if quoted else token)
        kinds.append(not quoted)
    return Alternative(tuple(words), tuple(kinds), weight)


class Grammar:
    """A validated context-free grammar with a depth bound, and its derivation operators."""

    def __init__(
        self,
        productions: str | Mapping[str, Sequence[str | Sequence[str]]],
        start: str,
        max_depth: int,
    ) -> None:
        if isinstance(productions, str):
            raw = _parse_text(productions)
        elif isinstance(productions, Mapping):
            raw = {str(k): list(v) for k, v in productions.items()}
        else:
            raise TypeError(
                "grammar: productions must be grammar text or a dict {nonterminal: "
                f"[alternative, ...]}}; got {type(productions).__name__}."
            )
        if not isinstance(max_depth, int) or isinstance(max_depth, bool) or max_depth < 1:
            raise ValueError(f"grammar: max_depth must be a positive int; got {max_depth!r}.")
        self.rules: dict[str, tuple[Alternative, ...]] = {}
        for symbol, alts in raw.items():
            if not alts:
                raise ValueError(f"grammar: nonterminal {symbol!r} has no alternatives.")
            self.rules[symbol] = tuple(_alternative(symbol, a) for a in alts)
        if start not in self.rules:
            raise ValueError(
                f"grammar: start symbol {start!r} has no production; nonterminals: "
                f"{sorted(self.rules)}."
            )
        for symbol, alts in self.rules.items():
            for alt in alts:
                for token in alt.symbols:
                    if token not in self.rules:
                        raise ValueError(
                            f"grammar: unknown symbol {token!r} in '{symbol} -> {alt.text()}': "
                            'it has no production (quote terminals, e.g. "relu").'
                        )
        self.start = start
        self.max_depth = max_depth
        self._min = self._min_depths()
        self._check_termination()
        self._alt_min = {
            s: tuple(1 + max((self._min[c] for c in a.symbols), default=0) for a in alts)
            for s, alts in self.rules.items()
        }
        self._count_cache: dict[tuple[str, int], int] = {}
        self._allowed_cache: dict[tuple[str, int], list[int]] = {}
        self._parse_cache: dict[str, Tree] = {}

    # ----------------------------------------------------------------- declaration checks
    def _min_depths(self) -> dict[str, float]:
        depth = dict.fromkeys(self.rules, math.inf)
        changed = True
        while changed:
            changed = False
            for symbol, alts in self.rules.items():
                best = min(1 + max((depth[c] for c in a.symbols), default=0) for a in alts)
                if best < depth[symbol]:
                    depth[symbol] = best
                    changed = True
        return depth

    def _check_termination(self) -> None:
        level = {self.start: 1}
        frontier = [self.start]
        while frontier:
            nxt = []
            for symbol in frontier:
                for alt in self.rules[symbol]:
                    for child in alt.symbols:
                        if child not in level:
                            level[child] = level[symbol] + 1
                            nxt.append(child)
            frontier = nxt
        endless = [s for s in level if math.isinf(self._min[s])]
        if endless:
            raise ValueError(
                f"grammar: nonterminal(s) {endless} never derive a terminal string (every "
                "alternative recurses)."
            )
        for symbol, first in level.items():
            for alt in self.rules[symbol]:
                need = first - 1 + 1 + max((self._min[c] for c in alt.symbols), default=0)
                if need > self.max_depth:
                    raise ValueError(
                        f"grammar: production '{symbol} -> {alt.text()}' cannot terminate within "
                        f"max_depth={self.max_depth} (it needs depth {int(need)} where {symbol!r} "
                        f"first occurs, at level {first})."
                    )

    # ----------------------------------------------------------------- text and size
    def text(self) -> str:
        """The grammar in canonical notation (one rule per nonterminal)."""
        return "\n".join(
            f"{s} -> " + " | ".join(a.text() for a in alts) for s, alts in self.rules.items()
        )

    def count(self, symbol: str | None = None, depth: int | None = None) -> int:
        """Number of derivations of ``symbol`` (default: the start) within ``depth`` levels."""
        symbol = self.start if symbol is None else symbol
        depth = self.max_depth if depth is None else depth
        key = (symbol, depth)
        if key not in self._count_cache:
            total = 0
            for k, alt in enumerate(self.rules[symbol]):
                if self._alt_min[symbol][k] <= depth:
                    total += math.prod(self.count(c, depth - 1) for c in alt.symbols)
            self._count_cache[key] = total
        return self._count_cache[key]

    def allowed(self, symbol: str, budget: int) -> list[int]:
        """Alternatives of ``symbol`` that terminate within ``budget`` levels."""
        key = (symbol, budget)
        options = self._allowed_cache.get(key)
        if options is None:
            options = [k for k, d in enumerate(self._alt_min[symbol]) if d <= budget]
            self._allowed_cache[key] = options
        return options

    # ----------------------------------------------------------------- sampling
    def random(self, rng: Any, symbol: str | None = None, budget: int | None = None) -> Tree:
        """A random derivation; ``rng`` is anything with ``random()`` (numpy or ``random``)."""
        symbol = self.start if symbol is None else symbol
        budget = self.max_depth if budget is None else budget
        options = self.allowed(symbol, budget)
        alts = self.rules[symbol]
        total = sum(alts[k].weight for k in options)
        u = rng.random() * total
        choice = options[-1]
        for k in options:
            u -= alts[k].weight
            if u < 0:
                choice = k
                break
        children = tuple(self.random(rng, c, budget - 1) for c in alts[choice].symbols)
        return (symbol, choice, children)

    def nodes(self, tree: Tree) -> list[tuple[tuple[int, ...], Tree, int]]:
        """Every node as ``(path, subtree, level)`` in pre-order (the root has level 1)."""
        out = []
        stack = [((), tree, 1)]
        while stack:
            path, node, level = stack.pop()
            out.append((path, node, level))
            for i in range(len(node[2]) - 1, -1, -1):
                stack.append((path + (i,), node[2][i], level + 1))
        return out

    @staticmethod
    def height(tree: Tree) -> int:
        """Depth of a derivation (nonterminal nodes on its longest root-to-leaf path)."""
        return 1 + max((Grammar.height(c) for c in tree[2]), default=0)

    @staticmethod
    def replace(tree: Tree, path: tuple[int, ...], subtree: Tree) -> Tree:
        """``tree`` with the node at ``path`` replaced by ``subtree``."""
        if not path:
            return subtree
        children = list(tree[2])
        children[path[0]] = Grammar.replace(children[path[0]], path[1:], subtree)
        return (tree[0], tree[1], tuple(children))

    def mutate(self, tree: Tree, rng: Any) -> Tree:
        """Re-derives the subtree of a uniformly chosen node; retries until the tree changes."""
        nodes = self.nodes(tree)
        for _ in range(PATIENCE):
            path, node, level = nodes[int(rng.random() * len(nodes))]
            new = self.random(rng, node[0], self.max_depth - level + 1)
            if new != node:
                return self.replace(tree, path, new)
        return tree

    def crossover(self, a: Tree, b: Tree, rng: Any) -> Tree:
        """``a`` with one subtree below its root replaced by a different subtree of ``b`` rooted
        at the same nonterminal that fits the depth bound; ``a`` when no such pair is found."""
        nodes_a = self.nodes(a)[1:] or self.nodes(a)  # grafting at the root just copies b
        by_symbol: dict[str, list[Tree]] = {}
        for _, node, _ in self.nodes(b):
            by_symbol.setdefault(node[0], []).append(node)
        for _ in range(PATIENCE):
            path, node, level = nodes_a[int(rng.random() * len(nodes_a))]
            room = self.max_depth - level + 1
            options = [
                n for n in by_symbol.get(node[0], ()) if n != node and self.height(n) <= room
            ]
            if options:
                return self.replace(a, path, options[int(rng.random() * len(options))])
        return a

    # ----------------------------------------------------------------- enumeration
    def first(self, symbol: str | None = None, budget: int | None = None) -> Tree:
        """The first derivation in enumeration order (lowest alternative indices)."""
        symbol = self.start if symbol is None else symbol
        budget = self.max_depth if budget is None else budget
        k = self.allowed(symbol, budget)[0]
        children = tuple(self.first(c, budget - 1) for c in self.rules[symbol][k].symbols)
        return (symbol, k, children)

    def successor(self, tree: Tree, budget: int | None = None) -> Tree | None:
        """The next derivation in enumeration order, or None after the last one."""
        budget = self.max_depth if budget is None else budget
        symbol, k, children = tree
        for i in range(len(children) - 1, -1, -1):
            nxt = self.successor(children[i], budget - 1)
            if nxt is not None:
                rest = tuple(self.first(c[0], budget - 1) for c in children[i + 1 :])
                return (symbol, k, children[:i] + (nxt,) + rest)
        later = [j for j in self.allowed(symbol, budget) if j > k]
        if not later:
            return None
        alt = self.rules[symbol][later[0]]
        return (symbol, later[0], tuple(self.first(c, budget - 1) for c in alt.symbols))

    def iterate(self) -> Iterator[Tree]:
        """Every derivation in enumeration order."""
        tree: Tree | None = self.first()
        while tree is not None:
            yield tree
            tree = self.successor(tree)

    # ----------------------------------------------------------------- encodings
    def encode(self, tree: Tree) -> str:
        """The DNA string of a derivation: its pre-order alternative indices."""
        out = []
        stack = [tree]
        while stack:
            node = stack.pop()
            out.append(str(node[1]))
            stack.extend(reversed(node[2]))
        value = ",".join(out)
        self._remember(value, tree)
        return value

    def _remember(self, value: str, tree: Tree) -> None:
        if len(self._parse_cache) >= PARSE_CACHE:
            self._parse_cache.clear()
        self._parse_cache[value] = tree

    def decode(self, value: str) -> Tree:
        """The derivation of a DNA string; ``ValueError`` names the first bad decision."""
        tree = self._parse_cache.get(value)
        if tree is not None:
            return tree
        if not isinstance(value, str):
            raise ValueError(f"grammar: a derivation is a string of indices; got {value!r}.")
        try:
            numbers = [int(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(
                f"grammar: {value[:60]!r} is not a comma-separated list of alternative indices."
            ) from None
        position = 0

        def read(symbol: str, budget: int) -> Tree:
            nonlocal position
            if position >= len(numbers):
                raise ValueError(f"grammar: derivation {value[:60]!r} ends inside {symbol!r}.")
            k = numbers[position]
            position += 1
            allowed = self.allowed(symbol, budget)
            if k not in allowed:
                raise ValueError(
                    f"grammar: alternative {k} of {symbol!r} is not allowed here (depth left "
                    f"{budget}); allowed: "
                    + ", ".join(f"{j}: {self.rules[symbol][j].text()}" for j in allowed)
                    + "."
                )
            return (symbol, k, tuple(read(c, budget - 1) for c in self.rules[symbol][k].symbols))

        tree = read(self.start, self.max_depth)
        if position != len(numbers):
            raise ValueError(
                f"grammar: derivation {value[:60]!r} has {len(numbers) - position} extra indices."
            )
        self._remember(value, tree)
        return tree

    def to_json(self, tree: Tree) -> list:
        """Nested lists ``[nonterminal, token, ...]``; tokens are terminals or child nodes."""
        symbol, k, children = tree
        alt = self.rules[symbol][k]
        out: list = [symbol]
        it = iter(children)
        for token, is_symbol in zip(alt.tokens, alt.is_symbol, strict=True):
            out.append(self.to_json(next(it)) if is_symbol else token)
        return out

    def from_json(self, value: Any, symbol: str | None = None, budget: int | None = None) -> Tree:
        """The derivation of a decoded value (first matching alternative for duplicates)."""
        symbol = self.start if symbol is None else symbol
        budget = self.max_depth if budget is None else budget
        if not isinstance(value, (list, tuple)) or not value or value[0] != symbol:
            raise ValueError(
                f"grammar: expected a {symbol!r} node [{symbol!r}, ...]; got {value!r:.120}."
            )
        tokens = list(value[1:])
        for k in self.allowed(symbol, budget):
            alt = self.rules[symbol][k]
            if len(alt.tokens) != len(tokens):
                continue
            if all(
                (isinstance(v, (list, tuple)) and v and v[0] == t) if s else v == t
                for v, t, s in zip(tokens, alt.tokens, alt.is_symbol, strict=True)
            ):
                children = tuple(
                    self.from_json(v, t, budget - 1)
                    for v, t, s in zip(tokens, alt.tokens, alt.is_symbol, strict=True)
                    if s
                )
                return (symbol, k, children)
        raise ValueError(
            f"grammar: {value!r:.120} matches no alternative of {symbol!r} within depth {budget}; "
            "alternatives: " + " | ".join(a.text() for a in self.rules[symbol]) + "."
        )


_GRAMMARS: dict[tuple[str, str, int], Grammar] = {}


def compiled_grammar(rules: str, start: str, max_depth: int) -> Grammar:
    """The (cached) :class:`Grammar` of canonical grammar text."""
    key = (rules, start, max_depth)
    if key not in _GRAMMARS:
        _GRAMMARS[key] = Grammar(rules, start, max_depth)
    return _GRAMMARS[key]


@pg.members(
    [
        ("rules", pg.typing.Str(), "Grammar text in canonical notation."),
        ("start", pg.typing.Str(), "Start symbol."),
        ("max_depth", pg.typing.Int(min_value=1), "Depth bound of every derivation."),
        ("constraint", pg.typing.Str().noneable(), "Name of a registered constraint."),
    ]
)
class GrammarHyper(pg.hyper.CustomHyper):
    """A derivation of a context-free grammar as one PyGlove custom decision point.

    Besides PyGlove's hooks (``custom_decode``, ``custom_encode``, ``random_dna``,
    ``next_dna``) it offers the value hooks ``spaces.compile`` uses for its custom slots.
    """

    def _on_bound(self) -> None:
        super()._on_bound()
        self._grammar = compiled_grammar(self.rules, self.start, self.max_depth)
        self._predicate: Predicate | None = None
        self._argument: str | None = None
        if self.constraint is not None:
            name, sep, argument = self.constraint.partition(":")
            self._predicate = CONSTRAINTS.get(name).obj
            self._argument = argument if sep else None

    @property
    def grammar(self) -> Grammar:
        """The compiled grammar."""
        return self._grammar

    def _satisfied(self, tree: Tree) -> bool:
        if self._predicate is None:
            return True
        return bool(self._predicate(self._grammar.to_json(tree), self._argument))

    def _draw(self, make: Callable[[], Tree], fallback: Callable[[], Tree] | None = None) -> Tree:
        """The first of up to ``PATIENCE`` draws that satisfies the constraint, else the
        fallback's (random derivations: up to 20 times as many draws)."""
        tries = PATIENCE if fallback is not None else PATIENCE * 20
        for _ in range(tries):
            tree = make()
            if self._satisfied(tree):
                return tree
        if fallback is not None:
            return fallback()
        raise RuntimeError(
            f"grammar: no derivation satisfying constraint {self.constraint!r} after "
            f"{tries} random draws."
        )

    # ----------------------------------------------------------------- PyGlove hooks
    def custom_decode(self, dna: pg.DNA) -> list:
        """The nested-list derivation of a DNA."""
        return self._grammar.to_json(self._grammar.decode(dna.value))

    def custom_encode(self, value: Any) -> pg.DNA:
        """The DNA of a nested-list derivation."""
        return pg.DNA(self.check_value(self._grammar.encode(self._grammar.from_json(value))))

    def random_dna(
        self, random_generator: Any = None, previous_dna: pg.DNA | None = None
    ) -> pg.DNA:
        """A random derivation (``random_generator``: ``random`` module or ``random.Random``)."""
        del previous_dna
        import random as random_module

        return pg.DNA(self.random_value(random_generator or random_module))

    def next_dna(self, dna: pg.DNA | None = None) -> pg.DNA | None:
        """The next derivation in enumeration order (``pg.iter`` walks the whole language)."""
        g = self._grammar
        tree = g.first() if dna is None else g.successor(g.decode(dna.value))
        while tree is not None and not self._satisfied(tree):
            tree = g.successor(tree)
        return None if tree is None else pg.DNA(g.encode(tree))

    # ----------------------------------------------------------------- codec value hooks
    def random_value(self, rng: Any) -> str:
        """A random derivation string."""
        return self._grammar.encode(self._draw(lambda: self._grammar.random(rng)))

    def mutate_value(self, value: str, rng: Any) -> str:
        """A subtree-mutated derivation string (under a constraint: a random valid derivation
        when no valid mutation turns up)."""
        tree = self._grammar.decode(value)
        child = self._draw(
            lambda: self._grammar.mutate(tree, rng),
            lambda: self._grammar.decode(self.random_value(rng)),
        )
        return self._grammar.encode(child)

    def crossover_value(self, a: str, b: str, rng: Any) -> str:
        """A child of two derivation strings: ``a`` with a same-nonterminal subtree of ``b``
        (under a constraint: ``a`` when no valid graft turns up)."""
        ta, tb = self._grammar.decode(a), self._grammar.decode(b)
        tree = self._draw(lambda: self._grammar.crossover(ta, tb, rng), lambda: ta)
        return self._grammar.encode(tree)

    def check_value(self, value: str) -> str:
        """``value`` if it is a valid derivation string, else a ``ValueError``."""
        tree = self._grammar.decode(value)
        if not self._satisfied(tree):
            raise ValueError(f"grammar: derivation violates constraint {self.constraint!r}.")
        return value

    def decode_value(self, value: str) -> list:
        """The nested-list derivation of a derivation string."""
        return self._grammar.to_json(self._grammar.decode(value))

    def num_values(self) -> int:
        """Number of derivations within the depth bound (an upper bound under a constraint)."""
        return self._grammar.count()


def grammar(
    productions: str | Mapping[str, Sequence[str | Sequence[str]]],
    start: str | None = None,
    max_depth: int = 10,
    constraint: str | None = None,
) -> GrammarHyper:
    """A grammar space: one decision whose value is a derivation of ``start``.

    ``productions`` is grammar text or a dict (see the module docstring); ``start`` defaults to
    the first nonterminal. Unknown symbols, empty alternatives, a start symbol without a
    production and productions that cannot terminate within ``max_depth`` are refused here, with
    the symbol named. The space holds ``GrammarHyper.num_values()`` derivations.
    """
    if isinstance(productions, str):
        rules = _parse_text(productions)
    elif isinstance(productions, Mapping):
        rules = dict(productions)
    else:
        raise TypeError(
            "grammar: productions must be grammar text or a dict {nonterminal: [alternative, "
            f"...]}}; got {type(productions).__name__}."
        )
    if start is None:
        if not rules:
            raise ValueError("grammar: productions declare no nonterminal.")
        start = next(iter(rules))
    compiled = Grammar(productions, start, max_depth)
    _GRAMMARS[(compiled.text(), start, max_depth)] = compiled
    return GrammarHyper(
        rules=compiled.text(), start=start, max_depth=max_depth, constraint=constraint
    )
