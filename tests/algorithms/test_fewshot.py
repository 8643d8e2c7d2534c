"""Few-shot supernets: gradient-matching scores, min-cut splits, routing, resume, refusals."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from symnas import algorithms, flows, programs, spaces
from symnas.algorithms.oneshot.base import encode_spec
from symnas.algorithms.oneshot.fewshot import FewShotSearcher, FewShotTrainer
from symnas.algorithms.oneshot.fewshot_split import (
    exhaustive_split,
    gm_split,
    gradient_similarity,
    mincut_bisection,
    op_choices,
    with_choice,
)
from symnas.programs.data import synthetic
from symnas.programs.training import supernet_train
from symnas.programs.training.fewshot import (
    FewShotEstimator,
    FewShotSupernet,
    contains,
    restrict_space,
    spec_value,
)
from symnas.programs.training.supernet_train import TrainConfig
from symnas.spaces.cells import NB201_OPS
from symnas.spaces.vit import vit_space


@pytest.fixture(scope="module")
def data():
    return synthetic(48, (3, 4, 4), 3, seed=0)


@pytest.fixture(scope="module")
def space():
    return spaces.nb201_cell(C=2, N=1, num_classes=3)


def small_config(epochs: int = 3, seed: int = 0) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=16, lr=0.05, seed=seed)


def test_gradient_similarity_is_the_mean_cosine_of_shared_weight_gradients(space, data):
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    matrix = gradient_similarity(supernet, space, "edges[2]", data, batches=2, batch_size=16)
    # Nothing of the supernet changed (BatchNorm statistics restored, no step taken).
    for key, value in supernet.state_dict().items():
        assert torch.equal(value, before[key]), key

    codec = spaces.compile(space)
    rng = np.random.default_rng(0)
    batches = list(data.loader("train", 16, shuffle=True, seed=0))[:2]
    expected = np.zeros((5, 5))
    supernet.train()
    for x, y in batches:
        rest = codec.decode(codec.random(1, rng)[0])
        grads = []
        for op in NB201_OPS:
            supernet.zero_grad(set_to_none=True)
            F.cross_entropy(supernet(x, with_choice(rest, "edges[2]", op)), y).backward()
            grads.append(
                {
                    n: p.grad.flatten().clone()
                    for n, p in supernet.named_parameters()
                    if n.startswith("cells.") and p.grad is not None
                }
            )
        shared = sorted(set.intersection(*(set(g) for g in grads)))
        assert shared and not any(".edges.2." in n for n in shared)  # the split edge's ops
        vectors = [torch.cat([g[n] for n in shared]) for g in grads]
        for i, j in itertools.product(range(5), repeat=2):
            expected[i, j] += float(F.cosine_similarity(vectors[i], vectors[j], dim=0))
    np.testing.assert_allclose(matrix, expected / 2, atol=1e-4)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-5)
    assert np.abs(matrix - np.eye(5)).max() > 1e-3  # real, distinct gradients


def test_gradient_similarity_follows_the_weights(space, data):
    torch.manual_seed(0)
    a = programs.supernet(space)
    torch.manual_seed(1)
    b = programs.supernet(space)
    sim_a = gradient_similarity(a, space, "edges[0]", data, batches=1, batch_size=16)
    sim_b = gradient_similarity(b, space, "edges[0]", data, batches=1, batch_size=16)
    assert not np.allclose(sim_a, sim_b, atol=1e-3)


@pytest.mark.parametrize("n", [5, 6, 8])
def test_mincut_bisection_is_the_balanced_minimum_cut(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        m = rng.uniform(-1, 1, size=(n, n))
        m = (m + m.T) / 2
        groups, cut = mincut_bisection(m)
        assert sorted(groups[0] + groups[1]) == list(range(n))  # every choice exactly once
        assert abs(len(groups[0]) - len(groups[1])) <= 1
        brute = min(
            sum(m[i, j] for i in part for j in set(range(n)) - set(part))
            for part in itertools.combinations(range(n), n // 2)
        )
        assert cut == pytest.approx(brute, abs=1e-9)


def test_mincut_bisection_separates_similar_blocks():
    m = np.full((5, 5), -0.2)
    for block in ([0, 3], [1, 2, 4]):
        for i, j in itertools.product(block, repeat=2):
            m[i, j] = 0.9
    groups, cut = mincut_bisection(m)
    assert groups == [[0, 3], [1, 2, 4]]
    assert cut == pytest.approx(6 * -0.2)


def test_restricted_spaces_partition_and_decode_parent_specs(space):
    restricted = restrict_space(space, {"edges[1]": ["none"], "edges[4]": ["skip_connect", "none"]})
    codec = spaces.compile(restricted)
    assert len(codec.slots) == 5  # the single choice became a fixed value
    specs = [codec.decode(g) for g in codec.random(50, np.random.default_rng(0))]
    assert all(spec_value(s, "edges[1]") == "none" for s in specs)
    assert {spec_value(s, "edges[4]") for s in specs} == {"skip_connect", "none"}
    parent = spaces.compile(space)
    for spec in specs[:5]:  # specs of the sub-space are specs of the space
        assert parent.decode(encode_spec(parent, spec)) == spec
    with pytest.raises(ValueError, match="edges\\[4\\].*non-empty subset"):
        restrict_space(space, {"edges[4]": ["conv_7x7"]})
    with pytest.raises(ValueError, match="'C' is not a pg.oneof"):
        restrict_space(space, {"C": ["none"]})


@pytest.mark.parametrize("method", ["exhaustive", "gm"])
def test_split_training_partitions_every_choice_and_routes_specs(space, data, method):
    trainer = FewShotTrainer(
        space,
        data,
        small_config(epochs=4),
        method=method,
        gradient_batches=1,
        device="cpu",
        progress=False,
    )
    supernet = trainer.fit()
    expected = 5 if method == "exhaustive" else 4
    assert len(supernet.parts) == expected == len(trainer.leaves)
    for name, split in trainer.plan["splits"].items():
        if not split:
            continue
        groups = [op for group in split["groups"] for op in group]
        assert sorted(groups) == sorted(NB201_OPS), name  # every choice exactly once
        if method == "gm":
            assert (
                len(split["groups"]) == 2
                and set(split["cuts"])
                and split["cut"] == min(split["cuts"].values())
            )
    # Every architecture of the space belongs to exactly one sub-supernet.
    for edges in itertools.islice(itertools.product(NB201_OPS, repeat=6), 0, None, 37):
        spec = spaces.nb201_arch(_arch(edges), C=2, N=1, num_classes=3)
        owners = [i for i, r in enumerate(supernet.restrictions) if contains(r, spec)]
        assert len(owners) == 1
    # Routing: the few-shot supernet runs the owner's weights, and the owners differ.
    x = data.x_test[:8]
    supernet.eval()
    outputs = []
    for i, leaf in enumerate(trainer.leaves):
        spec = spaces.compile(leaf.space).decode(
            spaces.compile(leaf.space).random(1, np.random.default_rng(i))[0]
        )
        assert supernet.route(spec) == i
        leaf.supernet.eval()
        torch.testing.assert_close(supernet(x, spec), leaf.supernet(x, spec))
        outputs.append(leaf.supernet(x, spec))
    spec = spaces.nb201_arch(_arch(["nor_conv_3x3"] * 6), C=2, N=1, num_classes=3)
    owner = supernet.route(spec)
    other = (owner + 1) % len(supernet.parts)
    assert not torch.allclose(supernet.parts[owner](x, spec), supernet.parts[other](x, spec))
    model = supernet.extract(spec).eval()
    torch.testing.assert_close(model(x), supernet(x, spec), atol=1e-5, rtol=1e-5)


def _arch(edges) -> str:
    e = list(edges)
    return f"|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"


def test_route_refuses_a_spec_outside_every_part(space):
    supernet = programs.supernet(space)
    few = FewShotSupernet([({"edges[0]": ("none",)}, supernet)])
    spec = spaces.nb201_arch(_arch(["skip_connect"] * 6), C=2, N=1, num_classes=3)
    with pytest.raises(ValueError, match="fits 0 sub-supernets"):
        few.route(spec)


def test_resumed_split_training_equals_an_uninterrupted_one(space, data, tmp_path, monkeypatch):
    # Three open edges keep the gradient-matching scans short.
    fixed = {"edges[0]": ["nor_conv_1x1"], "edges[1]": ["skip_connect"], "edges[2]": ["none"]}
    part = restrict_space(space, fixed)

    def run(out, resume=False):
        trainer = FewShotTrainer(
            part,
            data,
            small_config(epochs=4),
            method="gm",
            gradient_batches=1,
            out=out,
            resume=resume,
            device="cpu",
            progress=False,
        )
        return trainer, trainer.fit()

    _, whole = run(tmp_path / "whole")
    calls = {"n": 0}
    original = supernet_train.SupernetTrainer._run_epoch

    def crash_after_five(self, epoch, bar):
        calls["n"] += 1
        if calls["n"] == 6:  # in the middle of the children's training
            raise KeyboardInterrupt
        return original(self, epoch, bar)

    monkeypatch.setattr(supernet_train.SupernetTrainer, "_run_epoch", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    monkeypatch.setattr(supernet_train.SupernetTrainer, "_run_epoch", original)
    trainer, resumed = run(tmp_path / "cut", resume=True)
    assert resumed.restrictions == whole.restrictions
    for a, b in zip(whole.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert a[0] == b[0]
        torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="resume=True"):
        run(tmp_path / "whole")


def test_a_plan_of_other_settings_is_refused_naming_the_field(space, data, tmp_path):
    def trainer(epochs):
        return FewShotTrainer(
            space, data, small_config(epochs), out=tmp_path, resume=True, progress=False
        )

    (tmp_path / "plan.json").write_text(json.dumps({"config": trainer(3).config(), "splits": {}}))
    with pytest.raises(ValueError, match=r"its 'train.epochs' was 3, this training has 4"):
        trainer(4).fit()


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: spaces.resnet20_pooling(image_size=8), TypeError, "'differentiable' capability"),
        # The entangled ViT is differentiable (size decisions) but has no op decision to split.
        (
            lambda: vit_space([16], [1, 2], [1.0], [1], head_dim=8, image_size=8, patch_size=4),
            ValueError,
            "no op decision",
        ),
    ],
    ids=["pooling", "vit"],
)
def test_supernets_without_op_decisions_are_refused(make, error, message, data):
    with pytest.raises(error, match=message):
        FewShotTrainer(make(), data, small_config(), device="cpu")


def test_bad_settings_name_the_field(space, data):
    with pytest.raises(ValueError, match="method must be one of"):
        FewShotTrainer(space, data, small_config(), method="random", device="cpu")
    with pytest.raises(ValueError, match="split_epochs must be increasing"):
        FewShotTrainer(space, data, small_config(), split_epochs=(2, 1), device="cpu")
    with pytest.raises(ValueError, match="decision must be one of"):
        FewShotTrainer(space, data, small_config(), method="exhaustive", decision="x", device="cpu")
    with pytest.raises(ValueError, match="open op decisions"):
        exhaustive_split(op_choices(space), "edges[9]")


def test_estimator_composes_with_a_search_algorithm(space, data):
    trainer = FewShotTrainer(
        space, data, small_config(epochs=2), method="exhaustive", device="cpu", progress=False
    )
    estimator = FewShotEstimator(trainer.fit(), data, device="cpu")
    result = flows.search(
        space,
        estimator,
        algorithm=algorithms.RegularizedEvolution(
            population_size=4, tournament_size=2, metric="accuracy"
        ),
        budget=8,
        verbose=False,
    )
    assert len(result.trials) == 8 and all(t.ok for t in result.trials)
    for trial in result.trials:
        owner = estimator.supernet.route(trial.spec)
        assert trial.metrics["sub_supernet"] == owner
        assert NB201_OPS[owner] == trial.spec["edges"][0]


def test_fewshot_searcher_proposes_one_finalist_per_sub_supernet(space, data):
    assert algorithms.resolve("fewshot").__class__ is FewShotSearcher
    searcher = FewShotSearcher(
        data=data, method="gm", epochs=2, gradient_batches=1, samples=4, batch_size=16, device="cpu"
    )
    seen = []

    def objective(spec):
        seen.append(spec)
        return {"accuracy": 0.5}

    result = flows.search(space, objective, searcher, budget=10, verbose=False)
    # One split (at epoch 1 of 2): two sub-supernets, one finalist each, then exhausted.
    assert len(result.trials) == 2 == len(seen)
    assert seen[0] != seen[1]


def test_gm_split_on_darts_cells(data):
    darts = spaces.darts_cell(
        C=4, layers=3, num_classes=3, ops=["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"]
    )
    assert len(op_choices(darts)) == 16  # two op slots per node, four nodes, two cells
    torch.manual_seed(0)
    supernet = programs.supernet(darts)
    candidates = ["normal[2].ops[0]", "reduce[1].ops[1]"]
    split = gm_split(supernet, darts, candidates, data, batches=1, batch_size=16)
    assert split.decision in candidates and split.cut == min(split.cuts.values())
    assert sorted(op for g in split.groups for op in g) == sorted(op_choices(darts)[split.decision])
    assert [len(g) for g in split.groups] == [2, 2]
    restricted = restrict_space(darts, {split.decision: split.groups[0]})
    spec = spaces.compile(restricted).decode(
        spaces.compile(restricted).random(1, np.random.default_rng(0))[0]
    )
    assert spec_value(spec, split.decision) in split.groups[0]
