"""Tests of scoring many specs of one supernet (algorithms/zero_cost/batched.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symnas import programs, spaces
from symnas.algorithms import zero_cost
from symnas.spaces.examples import examples

ALL_SUPERNET_PROXIES = ["epsinas", "synflow", "snip", "grasp", "jacov", "nwot", "params", "fisher"]


def _batch(shape: tuple[int, ...], classes: int = 10, n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.randint(0, classes, (n,), generator=g)


def _specs(space: Any, count: int, seed: int) -> list[dict[str, Any]]:
    codec = spaces.compile(space)
    return [codec.decode(g) for g in codec.random(count, np.random.default_rng(seed))]


def _close(a: float, b: float, rel: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rel, abs=1e-12)


def _assert_rows_match(rows, references, rel: float) -> None:
    for row, reference in zip(rows, references, strict=True):
        assert list(row) == list(reference)
        for name in row:
            assert _close(row[name], reference[name], rel), (name, row[name], reference[name])


def test_vit_supernet_scores_equal_the_extracted_and_the_built_networks():
    space = examples()["vit"].obj()
    specs = _specs(space, 3, seed=1)
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = _batch((1, 8, 8))
    names = ["synflow", "epsinas", "snip", "params"]
    rows = zero_cost.score_specs(specs, data, names, supernet=supernet, progress=False)
    extracted = [zero_cost.score(supernet.extract(s), data, names) for s in specs]
    built = []
    for spec in specs:
        model = programs.build(spec)
        model.load_state_dict(supernet.sliced_state(spec))
        built.append(zero_cost.score(model, data, names))
    _assert_rows_match(rows, extracted, rel=1e-6)
    _assert_rows_match(rows, built, rel=1e-6)
    assert len({row["synflow"] for row in rows}) == 3  # the specs really differ


def test_nb201_supernet_scores_equal_the_extracted_networks_for_every_proxy():
    space = spaces.nb201_cell(C=4, N=1, num_classes=3)
    specs = _specs(space, 2, seed=2) + [
        spaces.nb201_arch(
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=4, N=1, num_classes=3
        )
    ]
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = _batch((3, 8, 8), classes=3)
    rows = zero_cost.score_specs(
        specs, data, ALL_SUPERNET_PROXIES, supernet=supernet, progress=False
    )
    extracted = [zero_cost.score(supernet.extract(s), data, ALL_SUPERNET_PROXIES) for s in specs]
    _assert_rows_match(rows, extracted, rel=1e-5)
    assert math.isnan(rows[-1]["epsinas"])  # the all-"none" cell has a constant output


def test_scoring_leaves_the_supernet_exactly_as_it_was_even_after_an_error():
    space = examples()["vit"].obj()
    torch.manual_seed(0)
    supernet = programs.supernet(space).eval()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    specs = _specs(space, 2, seed=3)
    zero_cost.score_specs(specs, _batch((1, 8, 8)), ["epsinas", "synflow"], supernet=supernet)
    wrong = (torch.zeros(2, 3, 8, 8), None)  # three channels: the patch embedding rejects it
    with pytest.raises(RuntimeError):
        zero_cost.score_specs(specs, wrong, ["synflow"], supernet=supernet, progress=False)
    with pytest.raises(RuntimeError):
        zero_cost.score_specs(specs, wrong, ["epsinas"], supernet=supernet, progress=False)
    for key, value in supernet.state_dict().items():
        assert value.dtype == before[key].dtype and torch.equal(value, before[key]), key
    assert all(p.requires_grad for p in supernet.parameters())
    assert not any(m.training for m in supernet.modules())


class _OverlappingSupernet(programs.Supernet):
    """A toy supernet whose sub-networks read one weight through two overlapping slices and
    once directly; the spec picks the hidden width."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(6, 6)
        self.second = nn.Linear(6, 3)
        self.extra = nn.Parameter(torch.randn(3, 6))

    def activate(self, spec: dict[str, Any]) -> None:
        self.active_spec = dict(spec)

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        width = self.active_spec["width"]
        h = F.gelu(F.linear(x, self.first.weight[:width], self.first.bias[:width]))
        h = F.linear(h, self.first.weight[:, :width][:width]) + self.first(x)[:, :width]
        return self.second(F.pad(h, (0, 6 - width))) + x @ self.extra.T

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        raise NotImplementedError("not needed by the supernet-safe proxies")


@pytest.mark.parametrize("width", [2, 4, 6])
def test_synflow_sums_gradients_of_overlapping_slices_and_direct_uses(width):
    torch.manual_seed(0)
    supernet = _OverlappingSupernet()
    x = torch.randn(5, 6)
    spec = {"width": width}
    (row,) = zero_cost.score_specs([spec], (x, None), ["synflow", "epsinas"], supernet=supernet)
    supernet.activate(spec)
    reference = zero_cost.score(supernet, (x, None), ["synflow", "epsinas"])
    assert row["synflow"] == pytest.approx(reference["synflow"], rel=1e-12)
    assert _close(row["epsinas"], reference["epsinas"], rel=1e-6)


def test_random_layers_draw_the_same_numbers_as_scoring_the_activated_supernet():
    space = examples()["vit"].obj()
    torch.manual_seed(0)
    supernet = programs.supernet(space, drop_path_rate=0.5)
    specs = _specs(space, 2, seed=4)
    data = _batch((1, 8, 8))
    names = ["epsinas", "synflow"]
    rows = zero_cost.score_specs(specs, data, names, supernet=supernet, seed=7, progress=False)
    for spec, row in zip(specs, rows, strict=True):
        supernet.activate(spec)
        _assert_rows_match([row], [zero_cost.score(supernet, data, names, seed=7)], rel=1e-9)
    other = zero_cost.score_specs(specs, data, names, supernet=supernet, seed=8, progress=False)
    assert other != rows  # drop-path masks depend on the seed


def test_every_family_supernet_scores_equal_its_extracted_networks(tiny_family):
    family, make_space, input_shape = tiny_family
    space = make_space()
    specs = _specs(space, 2, seed=5)
    torch.manual_seed(0)
    supernet = programs.supernet(space)
    data = _batch(input_shape)
    names = ["synflow", "epsinas"]
    rows = zero_cost.score_specs(specs, data, names, supernet=supernet, progress=False)
    extracted = [zero_cost.score(supernet.extract(s), data, names) for s in specs]
    _assert_rows_match(rows, extracted, rel=1e-5)
    assert all(row["synflow"] > 0 for row in rows), family
