"""Every zero-cost proxy scores a built model of every family finitely and repeatably
(``symnas.testing.check_proxy``), and the counting proxies count."""

from __future__ import annotations

import pytest

from symnas.algorithms import zero_cost
from symnas.algorithms.zero_cost.registry import PROXY_REGISTRY
from symnas.testing import check_proxy
from symnas.testing.proxies import example_network


@pytest.mark.parametrize("name", PROXY_REGISTRY.names())
def test_registered_proxy_conforms(name):
    check_proxy(name)


def test_params_counts_and_synflow_is_positive(tiny_family):
    model, x, y = example_network(tiny_family[0])
    scores = zero_cost.score(model, (x, y), proxies=["params", "synflow"])
    assert scores["params"] * 1e6 == pytest.approx(sum(p.numel() for p in model.parameters()))
    assert scores["synflow"] > 0
