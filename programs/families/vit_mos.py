"""Mixture-of-Supernets for the AutoFormer ViT (Jawahar, Mukherjee, Liu, Gonen, Lakshmanan,
Awadallah, "Mixture-of-Supernets: Improving Weight-Sharing Supernet Training with
Architecture-Routed Mixture-of-Experts", ACL Findings 2024; reference ``UBC-NLP/MoS``,
``mos-mt/fairseq/models/transformer_super.py``, routing type ``archrouting_jack_2L``).

Layer-wise MoS: every encoder layer keeps ``experts`` weight sets of its MLP (``fc1`` and
``fc2``; the first is the plain supernet's, the others new tensors of the same largest shape,
initialised like it), and a router of its own maps the architecture encoding ``e(a)`` to mixing
weights ``alpha(a) = softmax(W2 relu(W1 e(a) + b1) + b2)`` (one hidden layer of
``router_hidden`` units, 128 in the paper; ``nn.Linear`` layers with PyTorch's default
initialisation, as the reference's). The sub-network ``a`` then uses the dense weights
``W(a) = sum_i alpha_i(a) E_i[:d_out(a), :d_in(a)]`` and ``b(a) = sum_i alpha_i(a) b_i[:d_out(a)]``
for ``fc1`` and for ``fc2`` (the same ``alpha`` for both, as the reference's ``arch_expert``).
Attention, norms, embeddings and the head stay the plain entangled weights.

``e(a)`` is the reference's aggregate encoding transposed to the ViT: ``[embed_dim, depth,
mean MLP width, mean heads]`` (means over the active layers), each divided by its largest value
in the space (the reference divides by the largest value of its space too). In the TangleNAS
relaxation (``forward_weighted``) the router reads the expected encoding under the mixing
weights, which is ``e(a)`` for one-hot weights.

With ``experts=1`` the router's softmax is exactly 1 and the supernet computes exactly what
``ViTSupernet`` computes (the extra parameters are drawn after the plain ones, so a seed gives
both the same weights). ``extract`` materialises ``W(a)``: the found sub-network costs what a
plain one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from symnas.programs import registry
from symnas.programs.families.vit import FFNWeights, ViTArch, ViTSupernet, build
from symnas.programs.families.vit_layers import trunc_normal_
from symnas.spaces.vit import ViTMoSSpace


class LayerExperts(nn.Module):
    """The extra MLP experts of one layer and its router."""

    def __init__(self, experts: int, max_dim: int, max_hidden: int, router_hidden: int) -> None:
        super().__init__()
        extra = experts - 1
        self.fc1_weight = nn.Parameter(trunc_normal_(torch.empty(extra, max_hidden, max_dim)))
        self.fc1_bias = nn.Parameter(torch.zeros(extra, max_hidden))
        self.fc2_weight = nn.Parameter(trunc_normal_(torch.empty(extra, max_dim, max_hidden)))
        self.fc2_bias = nn.Parameter(torch.zeros(extra, max_dim))
        self.router = nn.Sequential(
            nn.Linear(ENCODING_SIZE, router_hidden), nn.ReLU(), nn.Linear(router_hidden, experts)
        )

    def mixing(self, encoding: torch.Tensor) -> torch.Tensor:
        """The experts' mixing weights ``alpha(a)`` for an architecture encoding."""
        return torch.softmax(self.router(encoding), dim=-1)


ENCODING_SIZE = 4


def _mix(alpha: torch.Tensor, first: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """``alpha[0] * first + sum_i alpha[i + 1] * others[i]``."""
    mixed = alpha[0] * first
    for i in range(others.shape[0]):
        mixed = mixed + alpha[i + 1] * others[i]
    return mixed


class MoSViTSupernet(ViTSupernet):
    """Layer-wise Mixture-of-Supernets over the AutoFormer ViT supernet (see the module doc)."""

    def __init__(self, space: ViTMoSSpace, drop_path_rate: float = 0.0, **task: Any) -> None:
        if not isinstance(space, ViTMoSSpace):
            raise TypeError(
                f"MoSViTSupernet expects a ViTMoSSpace (spaces.mixture_of_supernets); got "
                f"{type(space).__name__}."
            )
        super().__init__(space, drop_path_rate=drop_path_rate, **task)
        self.experts = int(space.experts)
        self.router_hidden = int(space.router_hidden)
        arch = self.max_arch
        self.scale = {
            "embed_dim": float(max(self.choices["embed_dim"])),
            "depth": float(max(self.choices["depth"])),
            "hidden": float(max(arch.hidden(layer) for layer in range(arch.depth))),
            "heads": float(max(max(h) for h in self.choices["num_heads"])),
        }
        self.mixtures = nn.ModuleList(
            LayerExperts(self.experts, arch.embed_dim, arch.hidden(layer), self.router_hidden)
            for layer in range(arch.depth)
        )

    # ------------------------------------------------------------------ routing
    def encoding(self, arch: ViTArch) -> torch.Tensor:
        """``e(a)``: embedding width, depth, mean MLP width and mean heads, each divided by its
        largest value in the space."""
        depth = arch.depth
        values = [
            arch.embed_dim / self.scale["embed_dim"],
            depth / self.scale["depth"],
            sum(arch.hidden(layer) for layer in range(depth)) / depth / self.scale["hidden"],
            sum(arch.num_heads) / depth / self.scale["heads"],
        ]
        return torch.tensor(values, device=self.device)

    def expected_encoding(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The expectation of ``e(a)`` under independent mixing weights (``e(a)`` when they are
        one-hot)."""
        arch = self.max_arch
        dims, w_e = self.choice(weights, "embed_dim", arch.embed_dim)
        depths, w_d = self.choice(weights, "depth", arch.depth)
        hidden, heads = [], []
        for layer in range(arch.depth):
            ratios, w_r = self.choice(weights, f"mlp_ratio[{layer}]", arch.mlp_ratio[layer])
            counts, w_h = self.choice(weights, f"num_heads[{layer}]", arch.num_heads[layer])
            widths = torch.tensor(
                [[float(int(e * r)) for r in ratios] for e in dims], device=self.device
            )
            hidden.append((w_e[:, None] * w_r[None, :] * widths).sum())
            heads.append((w_h * torch.tensor(counts, dtype=w_h.dtype, device=self.device)).sum())
        mean_hidden = sum(w * sum(hidden[:d]) / d for w, d in zip(w_d, depths, strict=True))
        mean_heads = sum(w * sum(heads[:d]) / d for w, d in zip(w_d, depths, strict=True))
        embed = (w_e * torch.tensor(dims, dtype=w_e.dtype, device=self.device)).sum()
        depth = (w_d * torch.tensor(depths, dtype=w_d.dtype, device=self.device)).sum()
        return torch.stack(
            [
                embed / self.scale["embed_dim"],
                depth / self.scale["depth"],
                mean_hidden / self.scale["hidden"],
                mean_heads / self.scale["heads"],
            ]
        )

    def route(
        self, arch: ViTArch | None = None, weights: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The architecture encoding every layer's router reads."""
        return self.encoding(arch) if weights is None else self.expected_encoding(weights)

    def mixing(self, spec: Any) -> list[torch.Tensor]:
        """Every layer's mixing weights ``alpha(a)`` for ``spec``."""
        encoding = self.encoding(self.arch_of(spec))
        return [mixture.mixing(encoding) for mixture in self.mixtures]

    def ffn_weights(self, layer: int, route: torch.Tensor) -> FFNWeights:
        """Full-size ``sum_i alpha_i E_i`` of ``fc1`` and ``fc2`` of ``layer``."""
        mixture, block = self.mixtures[layer], self.blocks[layer]
        alpha = mixture.mixing(route)
        return (
            _mix(alpha, block.fc1.weight, mixture.fc1_weight),
            _mix(alpha, block.fc1.bias, mixture.fc1_bias),
            _mix(alpha, block.fc2.weight, mixture.fc2_weight),
            _mix(alpha, block.fc2.bias, mixture.fc2_bias),
        )

    # ------------------------------------------------------------------ specs
    def arch_of(self, spec: Any) -> ViTArch:
        """Validates ``spec`` (its ``experts`` and ``router_hidden``, when given, must be this
        supernet's)."""
        if isinstance(spec, dict):
            for name in ("experts", "router_hidden"):
                if name in spec and spec[name] != getattr(self, name):
                    raise ValueError(
                        f"spec field {name!r} is {spec[name]!r}; this supernet has "
                        f"{getattr(self, name)!r}."
                    )
        return super().arch_of(spec)

    def sliced_state(self, spec: Any) -> dict[str, torch.Tensor]:
        """The weights of ``spec``'s standalone ViT, with every MLP weight materialised as its
        expert mixture ``W(a)``."""
        state = super().sliced_state(spec)
        arch = self.arch_of(spec)
        encoding = self.encoding(arch)
        for layer in range(arch.depth):
            w1, b1, w2, b2 = self.ffn_weights(layer, encoding)
            dim, hidden = arch.embed_dim, arch.hidden(layer)
            prefix = f"blocks.{layer}."
            state[prefix + "fc1.weight"] = w1[:hidden, :dim]
            state[prefix + "fc1.bias"] = b1[:hidden]
            state[prefix + "fc2.weight"] = w2[:dim, :hidden]
            state[prefix + "fc2.bias"] = b2[:dim]
        return state

    def max_spec(self) -> dict[str, Any]:
        """The spec of the largest sub-network, of this mixture's space type."""
        return {
            **super().max_spec(),
            "_type": ViTMoSSpace.__type_name__,
            "experts": self.experts,
            "router_hidden": self.router_hidden,
        }


def supernet(space: ViTMoSSpace, drop_path_rate: float = 0.0, **task: Any) -> MoSViTSupernet:
    """Builds the Mixture-of-Supernets ViT supernet of a ``ViTMoSSpace``."""
    return MoSViTSupernet(space, drop_path_rate=drop_path_rate, **task)


registry.register(
    ViTMoSSpace,
    build=build,
    supernet=supernet,
    name="vit_mos",
    description="Mixture-of-Supernets AutoFormer ViT: per-layer MLP experts mixed by an "
    "architecture-routed router (Jawahar et al., 2024)",
)

__all__ = ["LayerExperts", "MoSViTSupernet", "supernet"]
