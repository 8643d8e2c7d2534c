"""The supernet contract: one base class and the capabilities a family's supernet may declare.

Every family's supernet subclasses :class:`Supernet` (``activate``, ``forward_active``,
``extract``). Capabilities are mixins that consumers test with :func:`has_capability` or
:func:`require`, never by concrete class:

- ``parsed`` (:class:`ParsedSupernet`): ``arch_of(spec)`` checks and parses a spec once;
  re-activating the same spec costs nothing.
- ``sliced`` (:class:`SlicedSupernet`): ``sliced_state(spec)`` gives the sub-network's weights
  keyed like its standalone module's ``state_dict`` and ``standalone(arch)`` builds that module,
  so ``extract`` is written once, here.
- ``sized`` (:class:`SizedSupernet`): ``max_spec()`` and ``min_spec()``, the largest and smallest
  sub-networks (what sandwich sampling needs).
- ``differentiable`` (:class:`DifferentiableSupernet`): ``arch_decisions()`` maps each decision,
  derived from the space's decision points, to its candidates (op names of an op-choice space,
  sizes of a weight-entangled one); ``forward_weighted(x, weights)`` mixes every decision's
  candidates with ``weights[decision]`` (op outputs, DARTS; superimposed weight slices,
  TangleNAS); and ``discretize(weights)`` returns the spec the weights select.
- ``quantized`` (:class:`QuantizableSupernet`): a sliced supernet whose sub-networks run its own
  Conv2d/Linear modules whole and whose ``sliced_state`` returns those modules' own tensors, so
  ``programs.supernet(spaces.quantized(space))`` turns each layer into an elastic fake-quantized
  one in place (EQ-Net's quantization supernet, ``programs.families.quantized``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

CAPABILITIES = ("parsed", "sliced", "sized", "differentiable", "quantized")


class Supernet(nn.Module):
    """A module holding shared weights for every spec of one space.

    Subclasses implement ``activate`` (select the sub-network of a decoded spec),
    ``forward_active`` (run the active sub-network) and ``extract`` (copy the active weights into
    a standalone module whose outputs equal the supernet's for that spec).
    """

    def __init__(self) -> None:
        super().__init__()
        self.active_spec: dict[str, Any] | None = None

    def activate(self, spec: dict[str, Any]) -> None:
        """Selects the sub-network that ``forward`` runs."""
        raise NotImplementedError

    def forward_active(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the active sub-network."""
        raise NotImplementedError

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        """A standalone module with the inherited weights of ``spec``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, spec: dict[str, Any] | None = None) -> torch.Tensor:
        """``supernet(x, spec)`` activates ``spec`` and runs it; ``supernet(x)`` runs the active one."""
        if spec is not None:
            self.activate(spec)
        if self.active_spec is None:
            raise RuntimeError("Supernet: call activate(spec) or pass a spec before forward.")
        return self.forward_active(x)

    @property
    def device(self) -> torch.device:
        """The device of the supernet's parameters (CPU if it has none)."""
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")


class ParsedSupernet(Supernet):
    """A supernet that parses a spec once (``arch_of``) and re-activates the same spec for free.

    ``activate`` keeps a copy of the spec, so a spec dict changed in place and passed again is
    parsed again. The parsed architecture of the active spec is ``active_arch``.
    """

    def arch_of(self, spec: dict[str, Any]) -> Any:
        """The checked, parsed architecture of ``spec`` (raises ``ValueError`` if it does not fit)."""
        raise NotImplementedError

    def activate(self, spec: dict[str, Any]) -> None:
        """Selects the sub-network of ``spec``."""
        if spec == self.active_spec:
            return
        self.active_arch = self.arch_of(spec)
        self.active_spec = copy.deepcopy(spec)


class SlicedSupernet(ParsedSupernet):
    """A supernet whose sub-networks are slices (or derivations) of shared tensors.

    ``extract`` builds ``standalone(arch_of(spec))`` and loads copies of ``sliced_state(spec)``,
    so its outputs equal the supernet's for that spec by construction.
    """

    def sliced_state(self, spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The weights and buffers of ``spec``'s sub-network, keyed like its standalone module."""
        raise NotImplementedError

    def standalone(self, arch: Any) -> nn.Module:
        """A freshly initialised standalone module of a parsed architecture."""
        raise NotImplementedError

    def extract(self, spec: dict[str, Any]) -> nn.Module:
        """A standalone module holding copies of ``spec``'s inherited weights."""
        model = self.standalone(self.arch_of(spec))
        with torch.no_grad():
            state = {k: v.detach().clone() for k, v in self.sliced_state(spec).items()}
            model.load_state_dict(state)
        return model.to(self.device).train(self.training)


class SizedSupernet(Supernet):
    """A supernet whose sub-networks are ordered by size (elastic widths, depths, kernels)."""

    def max_spec(self) -> dict[str, Any]:
        """The spec of the largest sub-network (the largest choice everywhere)."""
        raise NotImplementedError

    def min_spec(self) -> dict[str, Any]:
        """The spec of the smallest sub-network (the smallest choice everywhere)."""
        raise NotImplementedError


class DifferentiableSupernet(Supernet):
    """A supernet whose choices relax to a softmax-weighted mixture (DARTS's op mixture, or
    TangleNAS's weight superposition: ``programs.families.entangle``).

    Subclasses set ``decisions`` (``{decision name: candidates}``, built with
    ``spaces.relaxation.op_decisions(space)`` or ``size_decisions(space)``) and implement
    ``_forward_mixed`` and ``discretize``.
    """

    decisions: dict[str, tuple[Any, ...]]

    def arch_decisions(self) -> dict[str, tuple[Any, ...]]:
        """Every decision and its candidates (the weights' layout)."""
        return dict(self.decisions)

    def check_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Raises ``ValueError`` unless ``weights`` has one vector per decision of the right size."""
        if not isinstance(weights, Mapping):
            raise TypeError(
                f"{type(self).__name__}: weights must map each decision of arch_decisions() to a "
                f"vector; got {type(weights).__name__}."
            )
        missing = sorted(set(self.decisions) - set(weights))
        extra = sorted(set(weights) - set(self.decisions))
        if missing or extra:
            raise ValueError(
                f"{type(self).__name__}: weights must have exactly the decisions "
                f"{list(self.decisions)}; missing {missing}, unknown {extra}."
            )
        for name, ops in self.decisions.items():
            if tuple(weights[name].shape) != (len(ops),):
                raise ValueError(
                    f"{type(self).__name__}: weights[{name!r}] must have shape ({len(ops)},) "
                    f"for candidates {list(ops)}; got {tuple(weights[name].shape)}."
                )

    def forward_weighted(
        self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits with every decision's ops mixed by ``weights[decision]`` (one weight per op)."""
        self.check_weights(weights)
        return self._forward_mixed(x, weights)

    def _forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def discretize(self, weights: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """The spec that ``weights`` select (the strongest op of every decision)."""
        raise NotImplementedError


class QuantizableSupernet(SlicedSupernet):
    """A sliced supernet that an elastic quantization supernet can wrap: every sub-network runs
    the supernet's own ``nn.Conv2d`` / ``nn.Linear`` modules (no weight slices), and
    ``sliced_state(spec)`` holds those modules' own parameters (``state_dict(keep_vars=True)``),
    keyed by the standalone module's names."""


_CAPABILITY_CLASSES: dict[str, type] = {
    "parsed": ParsedSupernet,
    "sliced": SlicedSupernet,
    "sized": SizedSupernet,
    "differentiable": DifferentiableSupernet,
    "quantized": QuantizableSupernet,
}


def capabilities_of(supernet: Supernet | type) -> list[str]:
    """The capabilities a supernet (instance or class) declares, in ``CAPABILITIES`` order."""
    cls = supernet if isinstance(supernet, type) else type(supernet)
    return [name for name in CAPABILITIES if issubclass(cls, _CAPABILITY_CLASSES[name])]


def has_capability(supernet: Any, capability: str) -> bool:
    """Whether ``supernet`` (instance or class) declares ``capability`` (one of
    ``CAPABILITIES``)."""
    if capability not in _CAPABILITY_CLASSES:
        raise ValueError(f"capability must be one of {list(CAPABILITIES)}; got {capability!r}.")
    cls = supernet if isinstance(supernet, type) else type(supernet)
    return issubclass(cls, _CAPABILITY_CLASSES[capability])


def require(supernet: Any, capability: str, consumer: str) -> None:
    """Raises ``TypeError`` naming ``capability`` and the families that have it unless
    ``supernet`` (instance or class) declares it; ``consumer`` names what needs it."""
    if has_capability(supernet, capability):
        return
    from symnas.programs.registry import families_with

    cls = supernet if isinstance(supernet, type) else type(supernet)
    raise TypeError(
        f"{consumer} needs a supernet with the {capability!r} capability; "
        f"{cls.__name__} has {capabilities_of(supernet) or 'none'}. Families with "
        f"{capability!r}: {families_with(capability)}."
    )
