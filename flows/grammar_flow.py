"""Grammar search on digits: regularized evolution over the einspace-style grammar.

Every derivation is built (patch embedding, the derived token network, mean over tokens and a
linear classifier), trained from scratch for a few epochs on 8x8 digits and scored by test
accuracy. On this task derivations differ widely after 5 epochs (0.19 to 0.72 for eight random
ones), so digits tell them apart. ``surrogate=True`` wraps the algorithm in a
``SurrogateFilter`` with a GRAF + zero-cost random forest (Qin et al. 2025).
"""

from __future__ import annotations

import functools
from typing import Any

from symnas.algorithms.base import SearchAlgorithm
from symnas.algorithms.regularized_evolution import RegularizedEvolution
from symnas.flows.family_flows import _algorithm, _dataset, _run, check_epochs, train_objective
from symnas.flows.registry import register_flow
from symnas.flows.result import SearchResult
from symnas.flows.validate import int_option

#: Zero-cost proxies of the flow's surrogate (the cheap ones of the paper's seven).
FLOW_ZC_PROXIES = ("grad_norm", "snip", "synflow", "jacov")


def grammar_digits_space(max_depth: int = 6) -> Any:
    """The einspace-style grammar on 8x8 digits: 2x2 patches, 16 tokens of width 16."""
    from symnas import spaces

    return spaces.einspace(
        max_depth=max_depth, embed_dim=16, patch_size=2, image_size=8, in_chans=1, num_classes=10
    )


def surrogate_filter(
    algorithm: SearchAlgorithm, seed: int = 0, candidates: int = 4, warmup: int = 10
) -> SearchAlgorithm:
    """``algorithm`` wrapped in a SurrogateFilter (GRAF + zero-cost features on one digits
    batch of 32, random forest, refitted every 5 trials)."""
    from symnas.algorithms.surrogate import Surrogate, SurrogateFilter

    data = _dataset("digits", None)
    batch = (data.x_train[:32], data.y_train[:32])
    surrogate = Surrogate(
        ("graf", "zc"), "random_forest", zc_batch=batch, zc_proxies=FLOW_ZC_PROXIES, seed=seed
    )
    return SurrogateFilter(
        base=algorithm, surrogate=surrogate, candidates=candidates, warmup=warmup, refit_every=5
    )


@register_flow(
    "grammar-digits", "regularized evolution on the einspace-style grammar, 5 epochs on digits"
)
def grammar_digits(
    budget: int | None = None,
    epochs: int = 5,
    max_depth: int = 6,
    surrogate: bool = False,
    **options: Any,
) -> SearchResult:
    """Searches einspace-style derivations on digits, each trained briefly from scratch.

    Args:
      epochs: training epochs of each derived network.
      max_depth: depth bound of the derivations.
      surrogate: filter the candidates with a GRAF + zero-cost random forest.
    """
    check_epochs("grammar-digits", epochs)
    int_option("grammar-digits", "max_depth", max_depth)
    space = grammar_digits_space(max_depth)
    objective = functools.partial(train_objective, data_name="digits", epochs=epochs, lr=5e-3)
    algorithm = options.pop("algorithm", None)
    if algorithm is None:
        algorithm = RegularizedEvolution(population_size=10, tournament_size=3, metric="accuracy")
    algorithm = _algorithm(algorithm)
    if surrogate:
        algorithm = surrogate_filter(algorithm, seed=options.get("seed", 0))
    return _run(space, objective, 20, algorithm=algorithm, budget=budget, **options)
