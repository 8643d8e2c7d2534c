"""The NB201 weight-sharing recipe: cell BN options, per-cell paths, connected-only draws,
crop-and-flip augmentation, batch-statistics scoring with a shared stem, GM-NAS's final restart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symnas import programs, spaces
from symnas.algorithms.oneshot.fewshot import FewShotTrainer
from symnas.algorithms.samplers import uniform
from symnas.algorithms.samplers.uniform import UniformSampler
from symnas.programs.data import resized, synthetic
from symnas.programs.data.augment import augment, crop_flip
from symnas.programs.training.estimator import SupernetEstimator
from symnas.programs.training.supernet_train import SupernetTrainer, TrainConfig
from symnas.spaces.cells import NB201Cell, nb201_connected

MACRO = {"C": 4, "N": 2, "num_classes": 3, "in_chans": 3}
CONV = ["nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "none"]
POOL = ["avg_pool_3x3", "skip_connect", "nor_conv_1x1", "none", "nor_conv_3x3", "skip_connect"]


def spec(edges: list[str]) -> dict:
    return {"_type": NB201Cell.__type_name__, "edges": list(edges), **MACRO}


@pytest.fixture(scope="module")
def data():
    return synthetic(40, (3, 8, 8), 3, seed=0)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_cell_norm_options_reach_only_the_cell_ops_and_extract_stays_exact(affine, track):
    torch.manual_seed(0)
    space = spaces.nb201_cell(**MACRO)
    supernet = programs.supernet(space, affine=affine, track_running_stats=track)
    cell_bn = supernet.cells[0].edges[0].ops["nor_conv_3x3"][2]
    assert (cell_bn.affine, cell_bn.track_running_stats) == (affine, track)
    # The stem and the reduction blocks keep the benchmark's affine BN with running statistics.
    assert supernet.stem[1].affine and supernet.stem[1].track_running_stats
    assert supernet.cells[MACRO["N"]].conv_a[2].affine
    # The standalone network of a spec is unchanged.
    built = programs.build(spec(CONV))
    assert all(m.affine for m in built.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = torch.randn(5, 3, 8, 8)
    for mode in ("train", "eval"):
        getattr(supernet, mode)()
        model = supernet.extract(spec(CONV))
        getattr(model, mode)()
        assert torch.allclose(model(x), supernet(x, spec(CONV)), atol=1e-6)


def test_a_per_cell_path_runs_each_cell_with_its_own_ops():
    torch.manual_seed(0)
    supernet = programs.supernet(spaces.nb201_cell(**MACRO)).eval()
    assert supernet.search_cells == 6
    x = torch.randn(4, 3, 8, 8)
    same = supernet(x, [spec(CONV)] * 6)
    assert torch.equal(same, supernet(x, spec(CONV)))
    mixed = supernet(x, [spec(CONV)] * 5 + [spec(POOL)])
    assert not torch.allclose(mixed, same)
    # The last searched cell is the only one that differs: its input equals the uniform path's.
    with pytest.raises(ValueError, match="one spec per searched cell \\(6\\); got 2"):
        supernet(x, [spec(CONV)] * 2)
    with pytest.raises(ValueError, match="not a per-cell path"):
        supernet.extract([spec(CONV)] * 6)


def test_per_cell_sampler_draws_one_cell_per_searched_cell():
    space = spaces.nb201_cell(**MACRO)
    supernet = programs.supernet(space)
    sampler = UniformSampler(num_paths=2, per_cell=True).bind(space, supernet)
    paths = sampler.sample(np.random.default_rng(0))
    assert len(paths) == 2 and all(len(path) == 6 for path in paths)
    assert len({spaces.nb201_arch_str(s) for s in paths[0]}) > 1
    assert sampler.config()["per_cell"] is True
    with pytest.raises(ValueError, match="search_cells"):
        UniformSampler(per_cell=True).bind(space, None)


def test_accept_redraws_until_the_predicate_holds(monkeypatch):
    space = spaces.nb201_cell(**MACRO)
    sampler = UniformSampler(accept=nb201_connected).bind(space)
    rng = np.random.default_rng(0)
    draws = [sampler.sample(rng)[0] for _ in range(400)]
    assert all(nb201_connected(s) for s in draws)
    assert sampler.config()["accept"] == "symnas.spaces.cells.nb201_connected"
    # About 2% of the space is disconnected: the plain sampler draws some in 400 tries.
    plain = UniformSampler().bind(space)
    assert not all(nb201_connected(plain.sample(rng)[0]) for _ in range(400))
    monkeypatch.setattr(uniform, "MAX_REDRAWS", 5)
    never = UniformSampler(accept=lambda s: False).bind(space)
    with pytest.raises(RuntimeError, match="5 draws in a row were rejected"):
        never.sample(rng)
    with pytest.raises(TypeError, match="accept must be a callable"):
        UniformSampler(accept=3)


def test_nb201_connected_on_hand_worked_cells():
    assert not nb201_connected(spec(["none"] * 6))
    # Input -> node 1 by a conv, but node 1 feeds the output only through `none`.
    assert not nb201_connected(spec(["nor_conv_3x3", "none", "none", "none", "none", "none"]))
    assert nb201_connected(spec(["none", "none", "none", "skip_connect", "none", "none"]))
    # 0 -> 1 -> 2 -> 3 through edges 0, 2 and 5; cut at edge 5 it is disconnected.
    path = ["avg_pool_3x3", "none", "skip_connect", "none", "none", "nor_conv_1x1"]
    assert nb201_connected(spec(path))
    assert not nb201_connected(spec([*path[:5], "none"]))


def test_crop_flip_shifts_and_mirrors_each_image():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    rng = np.random.default_rng(0)
    offsets = np.random.default_rng(0).integers(0, 3, size=(2, 2))
    flips = np.random.default_rng(0)
    flips.integers(0, 3, size=(2, 2))
    flips = flips.random(2) < 0.5
    out = crop_flip(x, rng, padding=1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        r, c = offsets[i]
        expected = padded[i, :, r : r + 4, c : c + 4]
        if flips[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected)
    # No padding and the same draws again: only flips remain, so the pixel multiset is kept.
    same = crop_flip(x, np.random.default_rng(1), padding=0)
    assert torch.equal(same.sort(dim=-1).values, x.sort(dim=-1).values)
    assert augment(None, x, rng) is x
    with pytest.raises(ValueError, match="unknown augmentation 'cutout'"):
        augment("cutout", x, rng)
    with pytest.raises(ValueError, match="NCHW"):
        crop_flip(x[0], rng)


def test_augmented_training_is_deterministic_and_checked(data):
    space = spaces.nb201_cell(**MACRO)

    def weights(augment_name: str | None) -> torch.Tensor:
        torch.manual_seed(0)
        supernet = programs.supernet(space)
        config = TrainConfig(epochs=1, batch_size=16, lr=0.05, augment=augment_name)
        SupernetTrainer(
            supernet, data, config, sampler=UniformSampler(), space=space, device="cpu",
            progress=False,
        ).fit()  # fmt: skip
        return supernet.classifier.weight.detach().clone()

    assert torch.equal(weights("crop_flip"), weights("crop_flip"))
    assert not torch.equal(weights("crop_flip"), weights(None))
    with pytest.raises(ValueError, match="augment must be None or one of \\['crop_flip'\\]"):
        TrainConfig(epochs=1, augment="mixup").check()


def test_batch_statistics_scoring_with_a_shared_stem(data):
    torch.manual_seed(0)
    space = spaces.nb201_cell(**MACRO)
    supernet = programs.supernet(space, affine=False)
    SupernetTrainer(
        supernet, data, TrainConfig(epochs=1, batch_size=16), sampler=UniformSampler(),
        space=space, device="cpu", progress=False,
    ).fit()  # fmt: skip
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    specs = [spec(CONV), spec(POOL)]
    scores = SupernetEstimator(
        supernet, data, batch_size=20, batch_statistics=True, device="cpu"
    ).evaluate_batch(specs)
    for key, value in supernet.state_dict().items():  # running averages untouched
        assert torch.equal(value, before[key]), key
    # By hand: every BN in training mode (batch statistics), the whole network per batch.
    for s, score in zip(specs, scores, strict=True):
        model = supernet.extract(s).train()
        correct = sum(
            int((model(x).argmax(-1) == y).sum()) for x, y in data.loader("test", batch_size=20)
        )
        assert score["accuracy"] == pytest.approx(correct / len(data.y_test))
    plain = SupernetEstimator(supernet, data, batch_size=20, device="cpu").evaluate_batch(specs)
    for s, score in zip(specs, plain, strict=True):
        model = supernet.extract(s).eval()
        correct = sum(
            int((model(x).argmax(-1) == y).sum()) for x, y in data.loader("test", batch_size=20)
        )
        assert score["accuracy"] == pytest.approx(correct / len(data.y_test))


def test_gm_restart_final_gives_the_last_children_fresh_weights(data):
    space = spaces.nb201_cell(**MACRO)
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05)

    def children(restart: bool) -> list:
        trainer = FewShotTrainer(
            space, data, config, method="exhaustive", split_epochs=(1,), restart_final=restart,
            device="cpu", progress=False,
        )  # fmt: skip
        trainer._train(trainer.root, 0, 1)
        parent = {k: v.clone() for k, v in trainer.root.supernet.state_dict().items()}
        leaves = trainer._split_leaves([trainer.root], 1)
        return parent, leaves, trainer

    parent, inherited, _ = children(False)
    for leaf in inherited:
        assert torch.equal(leaf.supernet.stem[0].weight, parent["stem.0.weight"])
    parent, fresh, trainer = children(True)
    assert len(fresh) == 5
    for leaf in fresh:
        assert not torch.equal(leaf.supernet.stem[0].weight, parent["stem.0.weight"])
    assert not torch.equal(fresh[0].supernet.stem[0].weight, fresh[1].supernet.stem[0].weight)
    again = trainer._fresh(fresh[0].name)
    assert torch.equal(again.stem[0].weight, fresh[0].supernet.stem[0].weight)
    assert trainer.config()["restart_final"] is True
    # The reference rules by default: GM-NAS restarts its final sub-supernets, Few-Shot NAS not.
    for method, restarts in (("gm", True), ("exhaustive", False)):
        default = FewShotTrainer(space, data, config, method=method, device="cpu", progress=False)
        assert default.restart_final is restarts


def test_resized_pools_the_images(data):
    small = resized(data, 4)
    assert small.input_shape == (3, 4, 4) and small.name.endswith("-4px")
    expected = torch.nn.functional.avg_pool2d(data.x_train[:1], 2)
    assert torch.allclose(small.x_train[:1], expected)
    assert resized(data, 8) is data
    with pytest.raises(ValueError, match="size must be an int in \\[1, 8\\]"):
        resized(data, 9)


def test_darts_supernet_cell_norm_reaches_every_cell_bn_and_extract_stays_exact():
    torch.manual_seed(0)
    space = spaces.darts_cell(C=4, layers=3, num_classes=3, in_chans=3)
    supernet = programs.supernet(space, affine=False)
    cell_norms = [
        m for cell in supernet.cells for m in cell.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ]
    assert cell_norms and not any(m.affine for m in cell_norms)
    assert supernet.stem[1].affine
    genotype = spaces.compile(space).decode(
        spaces.compile(space).random(1, np.random.default_rng(3))[0]
    )
    assert all(
        m.affine for m in programs.build(genotype).modules() if isinstance(m, torch.nn.BatchNorm2d)
    )
    x = torch.randn(2, 3, 8, 8)
    supernet.eval()
    assert torch.allclose(supernet.extract(genotype).eval()(x), supernet(x, genotype), atol=1e-5)
