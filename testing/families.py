"""Conformance checks of a program family's supernet, on the family's registered example space.

Each check takes a family name (``programs.registry.FAMILIES``) and raises ``AssertionError``
naming the family and what is wrong: ``extract`` equals the supernet, the declared capabilities
are those the registry reads, ``activate`` parses a spec once, a foreign spec is refused,
``sliced_state`` is keyed like the standalone module, and each declared capability works
(``sized``: the extremes are ordered; ``differentiable``: one-hot mixtures equal the discrete
forward, logits get gradients; ``quantized``: the elastic quantization supernet of its space
extracts what it computes). :func:`check_family` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from symnas import programs, spaces
from symnas.programs.registry import FAMILIES, capabilities, families_with
from symnas.programs.supernet_base import CAPABILITIES, capabilities_of, has_capability
from symnas.spaces.examples import examples
from symnas.spaces.relaxation import relax

Spec = dict[str, Any]


def families_with_supernet() -> list[str]:
    """The families with an example space and a supernet, by name."""
    return sorted(
        name
        for name in examples()
        if name in FAMILIES and FAMILIES.get(name).meta["supernet"] is not None
    )


def _setup(family: str, seed: int = 0) -> tuple[Any, Any, list[Spec], torch.Tensor]:
    """The family's example space, its supernet (eval mode), two distinct specs and an input."""
    entry = examples()[family]
    space = entry.obj()
    torch.manual_seed(seed)
    supernet = programs.supernet(space).eval()
    codec = spaces.compile(space)
    specs = [codec.decode(g) for g in codec.distinct(2, np.random.default_rng(seed))]
    x = torch.randn(3, *entry.meta["input_shape"])
    return space, supernet, specs, x


def check_extract_equals_supernet(family: str) -> None:
    """``extract(spec)`` computes what the supernet computes for ``spec`` (within 1e-5)."""
    _, supernet, specs, x = _setup(family)
    with torch.no_grad():
        for spec in specs:
            difference = (supernet.extract(spec).eval()(x) - supernet(x, spec)).abs().max()
            assert difference <= 1e-5, (
                f"{family}: extract(spec) differs from the supernet by {float(difference):.3g} "
                f"for {spec}"
            )


def check_declared_capabilities(family: str) -> None:
    """The supernet declares known capabilities, ``parsed`` and ``sliced`` among them, and the
    registry reports the same ones."""
    _, supernet, _, _ = _setup(family)
    declared = capabilities_of(supernet)
    assert declared and set(declared) <= set(CAPABILITIES), (
        f"{family}: declares {declared}; capabilities are {list(CAPABILITIES)}"
    )
    missing = {"parsed", "sliced"} - set(declared)
    assert not missing, f"{family}: every supernet parses and slices; it lacks {sorted(missing)}"
    assert declared == capabilities(family), (
        f"{family}: the supernet declares {declared}, the registry reads {capabilities(family)}"
    )
    for capability in CAPABILITIES:
        listed = family in families_with(capability)
        assert listed == has_capability(supernet, capability), (
            f"{family}: families_with({capability!r}) and has_capability disagree"
        )


def check_activate_parses_once(family: str) -> None:
    """Activating the active spec again (an equal copy) does not parse it; another spec is
    parsed."""
    _, supernet, specs, _ = _setup(family)
    supernet.activate(specs[0])
    arch = supernet.active_arch
    parsed = []

    def recording_parse(spec: Spec) -> Any:
        parsed.append(spec)
        return type(supernet).arch_of(supernet, spec)

    supernet.arch_of = recording_parse
    try:
        supernet.activate(dict(specs[0]))
        assert not parsed and supernet.active_arch is arch, (
            f"{family}: activate parsed the active spec again"
        )
        supernet.activate(specs[1])
        assert parsed, f"{family}: activate of another spec did not parse it"
    finally:
        del supernet.arch_of


def check_foreign_spec_refused(family: str) -> None:
    """Activating a spec of another family raises ``ValueError``, ``TypeError`` or
    ``KeyError``."""
    _, supernet, _, _ = _setup(family)
    other = next(name for name in ("pooling", "nb201") if name != family)
    codec = spaces.compile(examples()[other].obj())
    foreign = codec.decode(codec.random(1, np.random.default_rng(0))[0])
    try:
        supernet.activate(foreign)
    except (ValueError, TypeError, KeyError):
        return
    raise AssertionError(f"{family}: activate took a spec of the {other} family")


def check_sliced_state_keys(family: str) -> None:
    """``sliced_state(spec)`` has the keys and shapes of ``standalone(arch).state_dict()``."""
    _, supernet, specs, _ = _setup(family)
    for spec in specs:
        state = supernet.sliced_state(spec)
        reference = supernet.standalone(supernet.arch_of(spec)).state_dict()
        assert set(state) == set(reference), (
            f"{family}: sliced_state keys differ from the standalone module's: "
            f"{sorted(set(state) ^ set(reference))[:5]}"
        )
        for key, tensor in reference.items():
            assert tuple(state[key].shape) == tuple(tensor.shape), (
                f"{family}: sliced_state[{key!r}] has shape {tuple(state[key].shape)}, the "
                f"standalone module {tuple(tensor.shape)}"
            )


def check_sized(family: str) -> None:
    """A ``sized`` supernet's ``max_spec`` has more parameters than its ``min_spec`` (a family
    without the capability passes)."""
    _, supernet, _, _ = _setup(family)
    if not has_capability(supernet, "sized"):
        return
    size = {
        name: sum(p.numel() for p in supernet.extract(spec).parameters())
        for name, spec in (("max", supernet.max_spec()), ("min", supernet.min_spec()))
    }
    assert size["max"] > size["min"], (
        f"{family}: max_spec has {size['max']} parameters, min_spec {size['min']}"
    )


def check_differentiable(family: str) -> None:
    """A ``differentiable`` supernet's decisions are the space's relaxation (op decisions, or
    the size decisions of a weight-entangled space), a one-hot mixture computes the discrete
    forward and discretizes back to the spec, and every logit gets a gradient (a family without
    the capability passes)."""
    space, supernet, specs, x = _setup(family)
    if not has_capability(supernet, "differentiable"):
        return
    relaxation = relax(space)
    assert supernet.arch_decisions() == relaxation.decisions, (
        f"{family}: arch_decisions() is not the relaxation relax(space) derives"
    )
    for spec in specs:
        one_hot = relaxation.one_hot(spec)
        weights = {k: torch.tensor(v, dtype=torch.float32) for k, v in one_hot.items()}
        with torch.no_grad():
            difference = (supernet.forward_weighted(x, weights) - supernet(x, spec)).abs().max()
        assert difference <= 1e-5, (
            f"{family}: forward_weighted with one-hot weights differs from the forward of the "
            f"spec by {float(difference):.3g}"
        )
        assert supernet.discretize(weights) == relaxation.discretize(one_hot), (
            f"{family}: discretize of one-hot weights is not the relaxation's"
        )
    logits = {
        k: torch.zeros(len(v), requires_grad=True) for k, v in supernet.arch_decisions().items()
    }
    mixture = {k: torch.softmax(v, dim=0) for k, v in logits.items()}
    supernet.forward_weighted(x, mixture).square().mean().backward()
    without = [k for k, v in logits.items() if v.grad is None or v.grad.abs().sum() == 0]
    assert not without, f"{family}: no gradient reaches the logits of {without[:5]}"


def check_quantized(family: str) -> None:
    """A ``quantized`` family's space composed with ``spaces.quantized`` gives a supernet whose
    ``extract`` equals it (within 1e-5) for mixed bit-widths, whose ``sliced_state`` is keyed like
    the quantized standalone module, and that refuses a spec with foreign units (a family
    without the capability passes)."""
    space, supernet, _, x = _setup(family)
    if not has_capability(supernet, "quantized"):
        return
    torch.manual_seed(0)
    quantized = spaces.quantized(space, bits=(2, 4, 32))
    qnet = programs.supernet(quantized).eval()
    codec = spaces.compile(quantized)
    specs = [codec.decode(g) for g in codec.distinct(2, np.random.default_rng(0))]
    with torch.no_grad():
        for spec in specs:
            difference = (qnet.extract(spec).eval()(x) - qnet(x, spec)).abs().max()
            assert difference <= 1e-5, (
                f"{family}: the quantized supernet's extract(spec) differs from it by "
                f"{float(difference):.3g} for {spec}"
            )
            state = qnet.sliced_state(spec)
            reference = qnet.standalone(qnet.arch_of(spec)).state_dict()
            assert set(state) == set(reference), (
                f"{family}: the quantized sliced_state keys differ from the standalone module's: "
                f"{sorted(set(state) ^ set(reference))[:5]}"
            )
    foreign = {**specs[0], "quant": {**specs[0]["quant"], "units": {"no.such.unit": {
        "weight_bits": 4, "act_bits": 4}}}}
    try:
        qnet.activate(foreign)
    except ValueError as e:
        assert "no.such.unit" in str(e), f"{family}: the refusal does not name the unit: {e}"
        return
    raise AssertionError(f"{family}: the quantized supernet took a spec with foreign units")


FAMILY_CHECKS: tuple[Callable[[str], None], ...] = (
    check_extract_equals_supernet,
    check_declared_capabilities,
    check_activate_parses_once,
    check_foreign_spec_refused,
    check_sliced_state_keys,
    check_sized,
    check_differentiable,
    check_quantized,
)


def check_family(family: str) -> None:
    """Every supernet check on ``family``'s example space."""
    for check in FAMILY_CHECKS:
        check(family)
