"""symnas.spaces: search spaces as PyGlove hyper-values, and their compiled codecs.

Every registered space factory is an attribute under the name ``symnas list`` shows for it
(``spaces.vit_digits()``, ``spaces.nb201_digits()``), also one registered by a module added later.
"""

from typing import Any

from symnas.core import moved
from symnas.spaces import examples, hardware
from symnas.spaces.cells import (
    DARTS_OPS,
    NB201_OPS,
    DARTSGenotype,
    DARTSNode,
    NB201Cell,
    darts_cell,
    darts_cell_size,
    darts_genotype,
    darts_nodes,
    nb201_arch,
    nb201_arch_str,
    nb201_cell,
    nb201_edges,
)
from symnas.spaces.codec import Codec, compile  # noqa: A004 - spaces.compile is the public API
from symnas.spaces.context_free import GrammarHyper, grammar
from symnas.spaces.grammars import (
    EinspaceNetwork,
    HierarchicalNB201,
    einspace,
    hnb201,
    nb201_derivation,
)
from symnas.spaces.hardware import SystolicAccelerator, systolic_accelerator
from symnas.spaces.pooling import (
    PoolingSpace,
    pool_positions,
    resnet20_pooling,
    resnet_pooling,
    stage_depths,
)
from symnas.spaces.quantization import (
    QuantizedSpace,
    quant_spec,
    quant_units,
    quantized,
    unit_bits,
)
from symnas.spaces.registry import SPACES, register_space
from symnas.spaces.tdnn import TDNNLayer, TDNNSpace, tdnn, tdnn_space
from symnas.spaces.vit import ViTSpace, vit_base, vit_small, vit_space, vit_tiny
from symnas.spaces.vit_resnas import (
    ViTResNASSpace,
    ViTResNASStage,
    vit_resnas,
    vit_resnas_small,
    vit_resnas_space,
    vit_resnas_tiny,
)

#: Modules renamed in this package: {old name: new name}. The old names work until the next
#: release (``core.moved``); ``grammar`` named the module of context-free grammar spaces, which
#: sat beside ``grammars`` (the built-in grammar spaces) and shared its name with the function
#: ``spaces.grammar``.
MOVED_MODULES = {f"{__name__}.grammar": f"{__name__}.context_free"}
moved.keep_old_paths(__name__, MOVED_MODULES)

__all__ = [
    "examples",
    "DARTS_OPS",
    "NB201_OPS",
    "Codec",
    "DARTSGenotype",
    "DARTSNode",
    "EinspaceNetwork",
    "GrammarHyper",
    "HierarchicalNB201",
    "NB201Cell",
    "PoolingSpace",
    "QuantizedSpace",
    "SPACES",
    "SystolicAccelerator",
    "TDNNLayer",
    "TDNNSpace",
    "ViTResNASSpace",
    "ViTResNASStage",
    "ViTSpace",
    "compile",
    "darts_cell",
    "darts_cell_size",
    "darts_genotype",
    "darts_nodes",
    "einspace",
    "grammar",
    "hardware",
    "hnb201",
    "nb201_arch",
    "nb201_arch_str",
    "nb201_cell",
    "nb201_derivation",
    "nb201_edges",
    "pool_positions",
    "quant_spec",
    "quant_units",
    "quantized",
    "register_space",
    "resnet20_pooling",
    "resnet_pooling",
    "stage_depths",
    "systolic_accelerator",
    "tdnn",
    "tdnn_space",
    "unit_bits",
    "vit_base",
    "vit_resnas",
    "vit_resnas_small",
    "vit_resnas_space",
    "vit_resnas_tiny",
    "vit_small",
    "vit_space",
    "vit_tiny",
]


def __getattr__(name: str) -> Any:
    """The registered space factory ``name`` (the names ``symnas list`` prints)."""
    if not name.startswith("_") and name in SPACES:
        return SPACES.get(name).obj
    raise AttributeError(f"module 'symnas.spaces' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SPACES.names()))
