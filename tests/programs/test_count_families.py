"""programs.count agrees with fvcore on a random spec of every family."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis

from symnas import programs, spaces


def _explicit_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """Scaled dot-product attention written with matmuls, which fvcore can see."""
    weights = (q @ k.transpose(-2, -1)) * (scale or q.shape[-1] ** -0.5)
    return weights.softmax(dim=-1) @ v


def _fvcore_macs(model, input_shape, monkeypatch) -> int:
    model.eval()
    with monkeypatch.context() as m:
        m.setattr(F, "scaled_dot_product_attention", _explicit_attention)
        analysis = FlopCountAnalysis(model, torch.randn(1, *input_shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def test_count_matches_fvcore(tiny_family, monkeypatch):
    family, make_space, input_shape = tiny_family
    codec = spaces.compile(make_space())
    for genome in codec.random(2, np.random.default_rng(7)):
        torch.manual_seed(0)
        model = programs.build(codec.decode(genome))
        ours = programs.count(model, input_shape)
        assert ours["params"] == sum(p.numel() for p in model.parameters())
        reference = _fvcore_macs(model, input_shape, monkeypatch)
        assert ours["macs"] == reference, family
