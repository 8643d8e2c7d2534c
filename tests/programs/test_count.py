"""Tests of the parameter and MAC counter in symnas.programs.cost.count, checked against fvcore."""

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

from symnas import programs


def _fvcore_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    module.eval()
    analysis = FlopCountAnalysis(module, torch.randn(1, *input_shape))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.heads, self.fused = heads, fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            weights = (q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5).softmax(dim=-1)
            out = torch.matmul(weights, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, fused)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _TinyViT(nn.Module):
    def __init__(self, fused: bool = False) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, 16, kernel_size=2, stride=2)
        self.blocks = nn.Sequential(_Block(16, 2, fused), _Block(16, 4, fused))
        self.norm, self.head = nn.LayerNorm(16), nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.patch(x).flatten(2).transpose(1, 2))
        return self.head(self.norm(x).mean(dim=1))


def _conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4, bias=False),
        nn.GroupNorm(4, 16),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def _tdnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(30, 32, 5, padding=2),
        nn.ReLU(),
        nn.BatchNorm1d(32),
        nn.Conv1d(32, 32, 3, dilation=2),
        nn.BatchNorm1d(32, affine=False),
        nn.Conv1d(32, 32, 1, stride=2),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(32, 6),
    )


def _resampling_net() -> nn.Module:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.InstanceNorm2d(3, affine=True),
        nn.Upsample(scale_factor=2),
        nn.AdaptiveAvgPool2d(3),
        nn.InstanceNorm2d(3),
        nn.LayerNorm(3, elementwise_affine=False),
        nn.BatchNorm2d(3, track_running_stats=False),
        nn.ConvTranspose2d(3, 4, 3, stride=2),
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    "make, input_shape",
    [
        (_conv_net, (3, 16, 16)),
        (
            lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
            (1, 8, 8),
        ),
        (_tdnn, (30, 50)),
        (_TinyViT, (1, 8, 8)),
        (_resampling_net, (3, 4, 4)),
    ],
    ids=["conv", "mlp", "tdnn", "transformer", "resampling"],
)
def test_macs_agree_with_fvcore(make, input_shape):
    torch.manual_seed(0)
    module = make()
    result = programs.count(module, input_shape)
    assert result["macs"] == _fvcore_macs(module, input_shape) > 0
    assert result["params"] == sum(p.numel() for p in module.parameters())


def test_fused_attention_counts_like_explicit_matmuls():
    explicit = programs.count(_TinyViT(fused=False), (1, 8, 8))
    fused = programs.count(_TinyViT(fused=True), (1, 8, 8))
    assert fused == explicit
    # q k^T and attn v of one block: 16 tokens, width 16, counted once each
    attention = programs.count(_Attention(16, 2, fused=True), (16, 16))["macs"]
    assert attention == 16 * 16 * 48 + 2 * (16 * 16 * 16) + 16 * 16 * 16


def test_hand_counted_layers():
    conv = nn.Conv2d(4, 6, kernel_size=3, stride=2, groups=2)
    assert programs.count(conv, (4, 9, 9))["macs"] == 4 * 4 * 6 * (4 // 2) * 9
    linear = nn.Linear(16, 32)
    assert programs.count(linear, (5, 16)) == {"params": 16 * 32 + 32, "macs": 5 * 16 * 32}
    assert programs.count(linear, (5, 16), batch_size=3)["macs"] == 3 * 5 * 16 * 32
    dilated = nn.Conv1d(8, 8, kernel_size=3, dilation=4)
    assert programs.count(dilated, (8, 20))["macs"] == (20 - 8) * 8 * 8 * 3


def test_shared_parameters_count_once_and_modes_are_restored():
    shared = nn.Linear(8, 8)
    module = nn.Sequential(shared, nn.BatchNorm1d(8), shared)
    module.train()
    stats = module[1].running_mean.clone()
    result = programs.count(module, (8,))
    assert result["params"] == 8 * 8 + 8 + 16
    assert result["macs"] == 2 * 64 + 2 * 8
    assert module.training and module[1].training
    assert torch.equal(module[1].running_mean, stats)


def test_forward_hook_counts_the_selected_path():
    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.small, self.big = nn.Linear(4, 2), nn.Linear(4, 64)

        def forward(self, x: torch.Tensor, big: bool = False) -> torch.Tensor:
            return self.big(x) if big else self.small(x)

    assert programs.count(Gate(), (4,))["macs"] == 8
    assert programs.count(Gate(), (4,), forward=lambda m, x: m(x, big=True))["macs"] == 256


@pytest.mark.parametrize(
    "args, error, field",
    [
        ((nn.Linear(2, 2), (0, 2)), ValueError, "input_shape"),
        ((nn.Linear(2, 2), ()), ValueError, "input_shape"),
        ((nn.Linear(2, 2), (2,), 0), ValueError, "batch_size"),
        ((lambda x: x, (2,)), TypeError, "nn.Module"),
    ],
)
def test_count_rejects_bad_arguments(args, error, field):
    with pytest.raises(error, match=field):
        programs.count(*args)
