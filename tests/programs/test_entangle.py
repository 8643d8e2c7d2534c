"""TangleNAS weight superposition (``programs.families.entangle``) and the ``differentiable`` capability of
the weight-entangled families."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from symnas import programs, spaces
from symnas.programs.families.entangle import joint, kernel_mixture, mix_outputs, ones, size
from symnas.programs.registry import families_with
from symnas.spaces.examples import examples
from symnas.spaces.relaxation import size_decisions
from symnas.spaces.vit import vit_space

SIZED = ("vit", "vit_resnas", "tdnn")


def _padded(tensor: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The literal zero-padded slice ``pad(W[:rows, :cols])``."""
    out = torch.zeros_like(tensor)
    out[:rows, :cols] = tensor[:rows, :cols]
    return out


def test_superposition_is_the_weighted_sum_of_zero_padded_slices():
    torch.manual_seed(0)
    weight = torch.randn(6, 5)
    w_rows, w_cols = torch.rand(3).softmax(0), torch.rand(2).softmax(0)
    rows, cols = [2, 4, 6], [3, 5]
    mixed = weight * size(6, rows, w_rows).outer(size(5, cols, w_cols)).mask()
    literal = sum(
        w_rows[i] * w_cols[j] * _padded(weight, r, c)
        for i, r in enumerate(rows)
        for j, c in enumerate(cols)
    )
    assert torch.allclose(mixed, literal, atol=1e-6)
    pairs = [(2, 3), (6, 5)]
    shared = torch.rand(2).softmax(0)
    literal = sum(w * _padded(weight, r, c) for w, (r, c) in zip(shared, pairs, strict=True))
    assert torch.allclose(weight * joint((6, 5), pairs, shared).mask(), literal, atol=1e-6)


def test_grouped_and_padded_dimensions():
    mask = size(8, [1, 3], torch.tensor([0.25, 0.75]), period=4).mask()
    assert mask.tolist() == [1.0, 0.75, 0.75, 0.0, 1.0, 0.75, 0.75, 0.0]
    kernels = [torch.tensor([[[2.0]]]), torch.tensor([[[1.0, 1.0, 1.0]]])]
    mixed = kernel_mixture(lambda k: k, kernels, torch.tensor([0.5, 0.5]))
    assert mixed.flatten().tolist() == [0.5, 1.5, 0.5]
    assert ones(3, size(2, [1], torch.ones(1))).mask().tolist() == [1.0, 1.0, 1.0]


def test_every_sized_family_is_differentiable():
    assert set(SIZED) <= set(families_with("sized"))
    assert set(families_with("sized")) <= set(families_with("differentiable"))


def _one_hot_cases(family: str, count: int = 4):
    entry = examples()[family]
    space = entry.obj()
    torch.manual_seed(0)
    net = programs.supernet(space)
    relaxation = size_decisions(space)
    codec = spaces.compile(space)
    x = torch.randn(3, *entry.meta["input_shape"])
    for genome in codec.random(count, np.random.default_rng(4)):
        spec = codec.decode(genome)
        weights = {
            k: torch.tensor(v, dtype=torch.float32) for k, v in relaxation.one_hot(spec).items()
        }
        yield net, x, spec, weights


@pytest.mark.parametrize("family", SIZED)
def test_one_hot_weights_run_the_single_path_in_training_mode(family):
    for net, x, spec, weights in _one_hot_cases(family, count=2):
        net.train()
        torch.manual_seed(1)
        mixed = net.forward_weighted(x, weights)
        torch.manual_seed(1)
        assert (mixed - net(x, spec)).abs().max() < 1e-5


def test_one_hot_equals_the_single_path_with_relative_positions():
    space = vit_space(
        [8, 16],
        [1, 2],
        [1.0, 2.0],
        [1, 2],
        head_dim=4,
        image_size=8,
        patch_size=4,
        in_chans=1,
        num_classes=3,
        max_relative_position=2,
    )
    torch.manual_seed(0)
    net = programs.supernet(space).eval()
    relaxation, codec = size_decisions(space), spaces.compile(space)
    x = torch.randn(2, 1, 8, 8)
    for genome in codec.random(4, np.random.default_rng(0)):
        spec = codec.decode(genome)
        weights = {
            k: torch.tensor(v, dtype=torch.float32) for k, v in relaxation.one_hot(spec).items()
        }
        with torch.no_grad():
            assert (net.forward_weighted(x, weights) - net(x, spec)).abs().max() < 1e-5


@pytest.mark.parametrize("family", SIZED)
def test_output_mixing_computes_the_same_function_with_more_saved_activations(family):
    entry = examples()[family]
    torch.manual_seed(0)
    net = programs.supernet(entry.obj()).train()
    x = torch.randn(4, *entry.meta["input_shape"])
    weights = {k: torch.rand(len(v)).softmax(0) for k, v in net.arch_decisions().items()}
    saved = {}
    outputs = {}
    for mode in ("superposition", "outputs"):
        count = [0]

        def pack(tensor, count=count):
            count[0] += tensor.numel()
            return tensor

        torch.manual_seed(2)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            if mode == "outputs":
                with mix_outputs():
                    outputs[mode] = net.forward_weighted(x, weights)
            else:
                outputs[mode] = net.forward_weighted(x, weights)
        saved[mode] = count[0]
    assert torch.allclose(outputs["superposition"], outputs["outputs"], atol=1e-5)
    assert saved["outputs"] > saved["superposition"]


def test_bad_weights_are_named():
    net = programs.supernet(examples()["vit"].obj())
    weights = {k: torch.ones(len(v)) / len(v) for k, v in net.arch_decisions().items()}
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"weights\['embed_dim'\] must have shape \(3,\)"):
        net.forward_weighted(x, {**weights, "embed_dim": torch.ones(2)})
    with pytest.raises(ValueError, match=r"unknown \['width'\]"):
        net.forward_weighted(x, {**weights, "width": torch.ones(2)})
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        net.forward_weighted(x, {k: v for k, v in weights.items() if k != "depth"})


def test_discretize_takes_the_argmax_of_every_decision():
    net = programs.supernet(examples()["tdnn"].obj())
    weights = {
        k: F.one_hot(torch.tensor(0), len(v)).float() for k, v in net.arch_decisions().items()
    }
    weights["blocks"] = torch.tensor([0.2, 0.8])
    weights["blocks[1].kernel"] = torch.tensor([0.1, 0.2, 0.7])
    spec = net.discretize(weights)
    assert [(b["width"], b["kernel"]) for b in spec["blocks"]] == [(32, 1), (32, 5)]
    assert (spec["stem"]["width"], spec["stem"]["kernel"], spec["cat_channels"]) == (32, 1, 64)
