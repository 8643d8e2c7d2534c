"""Grammar programs: derivation -> shape-checked DAG -> torch module."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.programs.families import grammar_graph

CELLS = [
    ["nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "none"],
    ["none"] * 6,
    ["skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none", "nor_conv_3x3"],
    ["avg_pool_3x3"] * 6,
]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: "-".join(op[:4] for op in c))
def test_an_nb201_cell_derivation_builds_the_nb201_network(cell, hnb201_spec):
    torch.manual_seed(0)
    nb201 = programs.build(
        {"_type": spaces.NB201Cell.__type_name__, "edges": cell},
        C=4,
        N=5,
        num_classes=10,
        in_chans=1,
    )
    hierarchical = programs.build(hnb201_spec(cell), image_size=8)
    theirs, ours = nb201.state_dict(), hierarchical.state_dict()
    assert [v.shape for v in theirs.values()] == [v.shape for v in ours.values()]
    assert sum(p.numel() for p in nb201.parameters()) == sum(
        p.numel() for p in hierarchical.parameters()
    )
    hierarchical.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    x = torch.randn(3, 1, 8, 8)
    for training in (True, False):
        nb201.train(training)
        hierarchical.train(training)
        torch.testing.assert_close(hierarchical(x), nb201(x), rtol=0, atol=1e-6)


def test_random_hierarchical_derivations_build_run_and_form_a_dag():
    codec = spaces.compile(spaces.hnb201(C=4, num_classes=10, in_chans=1))
    for genome in codec.random(3, np.random.default_rng(0)):
        spec = codec.decode(genome)
        graph = grammar_graph.graph(spec, image_size=8)
        assert nx.is_directed_acyclic_graph(graph)
        assert nx.has_path(graph, graph.graph["input"], graph.graph["output"])
        assert graph.nodes["output"]["shape"] == (16, 2)
        model = programs.build(spec, image_size=8)
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_shapes_are_checked_before_torch_runs(hnb201_spec):
    with pytest.raises(ValueError, match=r"resBlock halves the resolution; 3x3"):
        programs.build(hnb201_spec(CELLS[0]), image_size=6)
    bad = {
        "_type": spaces.EinspaceNetwork.__type_name__,
        "derivation": [
            "NET",
            "branching",
            ["BRANCH", "clone"],
            ["M", "computation", ["COMP", "linear16"]],
            ["M", "computation", ["COMP", "linear32"]],
            ["AGG", "add"],
        ],
        "embed_dim": 16,
        "patch_size": 2,
        "image_size": 8,
        "in_chans": 1,
        "num_classes": 10,
    }
    with pytest.raises(ValueError, match=r"at root: 'add' needs equal shapes; got \(16, 16\)"):
        programs.build(bad)
    with pytest.raises(TypeError, match="unknown task argument"):
        programs.build(hnb201_spec(CELLS[0]), depth=3)


def test_einspace_derivations_build_and_classify_digits_sized_inputs():
    codec = spaces.compile(spaces.einspace(max_depth=6))
    genomes = codec.random(25, np.random.default_rng(1))
    ops = set()
    for genome in genomes:
        spec = codec.decode(genome)
        graph = grammar_graph.graph(spec)
        ops |= {graph.nodes[n]["op"] for n in graph}
        model = programs.build(spec)
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    # The sample exercises branching, routing and computation modules.
    assert {"clone", "permute", "add"} & ops and len(ops) >= 8
