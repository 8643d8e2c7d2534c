"""PA&DA, its control and multi-architecture sampling: the sampler side (frequencies, schedule,
gradient norms, data importance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from symnas import programs, spaces
from symnas.algorithms.samplers import (
    ControlSampler,
    MultiPathSampler,
    PADADataSampler,
    PADAPathSampler,
    PADASampler,
    create_sampler,
)
from symnas.algorithms.samplers.pada import DataImportance
from symnas.spaces.cells import NB201_OPS, nb201_connected
from symnas.spaces.examples import examples

SPACE_ARGS = {"C": 2, "N": 1, "num_classes": 3, "in_chans": 1}


def tiny():
    space = spaces.nb201_cell(**SPACE_ARGS)
    torch.manual_seed(0)
    return space, programs.supernet(space, affine=False, track_running_stats=False)


def test_edge_ops_follow_the_stated_probabilities():
    space, supernet = tiny()
    sampler = ControlSampler().bind(space, supernet)
    p = [0.05, 0.1, 0.4, 0.3, 0.15]
    sampler.load_state_dict({"probabilities": p})
    rng = np.random.default_rng(0)
    ops = [op for _ in range(2000) for op in sampler.sample(rng)[0]["edges"]]
    counts = [ops.count(name) for name in NB201_OPS]
    assert chisquare(counts, np.array(p) * len(ops)).pvalue > 0.01
    assert chisquare(counts).pvalue < 1e-6  # and not uniform


def test_per_cell_paths_draw_every_cell_and_redraw_rejected_cells():
    space, supernet = tiny()
    sampler = PADAPathSampler(per_cell=True, accept=nb201_connected).bind(space, supernet)
    sampler.load_state_dict({"probabilities": [0.6, 0.1, 0.1, 0.1, 0.1], "grad_norms": [0] * 5})
    rng = np.random.default_rng(0)
    paths = [sampler.sample(rng)[0] for _ in range(50)]
    assert all(len(path) == supernet.search_cells for path in paths)
    assert all(nb201_connected(cell) for path in paths for cell in path)


def test_the_control_anneals_toward_the_convolution_ops():
    space, supernet = tiny()
    sampler = ControlSampler().bind(space, supernet)
    assert sampler.probabilities.tolist() == [0.2] * 5
    sampler.end_epoch(0, 4)
    assert sampler.probabilities.tolist() == [0.2] * 5  # tau_0 = 0
    sampler.end_epoch(3, 4)
    np.testing.assert_allclose(sampler.probabilities, [0.05, 0.05, 0.425, 0.425, 0.05])
    custom = ControlSampler(target=[0, 1, 1, 2, 0]).bind(space, supernet)
    custom.end_epoch(1, 2)
    np.testing.assert_allclose(custom.probabilities, [0.1, 0.225, 0.225, 0.35, 0.1])
    with pytest.raises(ValueError, match="target"):
        ControlSampler(target=[1, 2])


def _step(sampler, supernet, spec, x, y):
    """One forward/backward of ``spec`` with fresh gradients, then ``update``."""
    supernet.zero_grad(set_to_none=True)
    F.cross_entropy(supernet(x, spec), y).backward()
    sampler.update([spec], [0.0])


def test_path_importance_folds_conv_gradient_norms_as_the_reference():
    space, supernet = tiny()
    sampler = PADAPathSampler().bind(space, supernet)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    spec = spaces.nb201_arch(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
        **SPACE_ARGS,
    )
    _step(sampler, supernet, spec, x, y)
    cells = [m for m in supernet.cells if hasattr(m, "edges")]

    def norm(edge: int, op: str) -> float:
        return sum(
            float(p.grad.norm())
            for cell in cells
            for p in cell.edges[edge].ops[op].parameters()
            if p.grad is not None
        )

    # summed over the edges (and cells) using the op, divided by how many edge instances do
    conv3 = (norm(0, "nor_conv_3x3") + norm(2, "nor_conv_3x3")) / (2 * len(cells))
    conv1 = norm(1, "nor_conv_1x1") / len(cells)
    expected = np.array([0, 0, conv1 / 2, conv3 / 2, 0])  # running mean from 0
    np.testing.assert_allclose(sampler.grad_norms, expected, rtol=1e-6)
    _step(sampler, supernet, spec, x, y)
    assert sampler.grad_norms[3] != pytest.approx(expected[3])  # folded again
    target = sampler.grad_norms / sampler.grad_norms.sum()
    sampler.end_epoch(2, 4)
    np.testing.assert_allclose(sampler.probabilities, 0.5 * target + 0.5 * 0.2)
    assert sampler.probabilities[[0, 1, 4]].tolist() == [0.1] * 3
    assert sampler.grad_norms.tolist() == [0.0] * 5  # restarted every epoch


def test_data_importance_is_the_logit_gradient_norm_with_the_reference_mean():
    data = DataImportance()
    assert data.weights(4) is None  # the first epoch is a plain shuffle
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 1.0, 1.0]])
    targets = torch.tensor([0, 0, 2])
    data.observe(np.array([0, 1, 1]), logits, targets)
    grad = F.softmax(logits, 1) - F.one_hot(targets, 3)
    s = grad.norm(dim=1).tolist()
    assert data.current[0] == pytest.approx(s[0])
    assert data.current[1] == pytest.approx((s[1] + s[2]) / 2)  # seen twice: mean of the two
    data.end_epoch(1, 4)
    q = data.weights(4)
    scores = np.array([s[0], (s[1] + s[2]) / 2, 0, 0])
    np.testing.assert_allclose(q, 0.25 * scores / scores.sum() + 0.75 / 4)
    assert q.sum() == pytest.approx(1.0)
    assert data.current == {}
    restored = DataImportance()
    restored.load_state_dict(data.state_dict())
    np.testing.assert_array_equal(restored.weights(4), q)
    with pytest.raises(ValueError, match="training split has 1"):
        data.weights(1)


def test_pada_samplers_say_what_the_trainer_must_do():
    space, supernet = tiny()
    assert not PADAPathSampler.observes_data
    assert PADADataSampler.observes_data and PADASampler.observes_data
    both = create_sampler("pada", per_cell=True).bind(space, supernet)
    assert set(both.state_dict()) == {"probabilities", "grad_norms", "data"}
    multi = create_sampler("multi_path", num_paths=3).bind(space, supernet)
    assert multi.split_batch and len(multi.sample(np.random.default_rng(0))) == 3
    with pytest.raises(ValueError, match="num_paths"):
        MultiPathSampler(num_paths=1)


def test_op_type_samplers_refuse_other_spaces():
    space = examples()["vit"].obj()
    with pytest.raises(ValueError, match="nb201_cell"):
        PADAPathSampler().bind(space, programs.supernet(space))
