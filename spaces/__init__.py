"""symnas.spaces: search spaces as PyGlove hyper-values, and their compiled codecs."""

from symnas.spaces.codec import Codec, compile  # noqa: A004 - spaces.compile is the public API

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
from symnas.spaces.pooling import (
    PoolingSpace,
    pool_positions,
    resnet20_pooling,
    resnet_pooling,
    stage_depths,
)
from symnas.spaces.tdnn import TDNNLayer, TDNNSpace, tdnn, tdnn_space
