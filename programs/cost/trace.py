"""One shape-level pass over a module: its MACs, GEMM shapes and memory-bound work, cached.

``trace(module, input_shape)`` runs the forward pass once under a ``TorchFunctionMode`` that
records every operator a cost model prices, and returns one row per operator:

- matrix products and convolutions (``conv*d``, ``conv_transpose*d``, ``linear``, ``matmul``
  and ``@``, ``mm``/``bmm``/``addmm``/``baddbmm``, ``scaled_dot_product_attention``) are not
  computed at all: their output shape follows from the operand shapes and the pass goes on with
  zeros, so the arithmetic that dominates a forward pass is skipped;
- everything else runs as usual (it is cheap at batch 1); element-wise operators, activations,
  pooling, concatenation, reductions, norms and resampling are recorded as memory-bound rows;
- the few functions that hide matrix products inside one call (``einsum``, ``tensordot``,
  ``bilinear``, ``F.multi_head_attention_forward``, recurrent layers) run under an ATen-level
  recorder, which sees the products they lower to.

Each row carries the MACs by fvcore's conventions (``programs.count``), a GEMM shape for the
systolic-array model (``programs.cost.hardware_layers``) and its operand sizes in words.

Layer cache: every submodule whose behaviour is fixed by its type, its plain attributes, the
shapes of its parameters and buffers, and its children (recursively) gets a structural key; a
call of such a module with the same argument shapes replays the rows recorded the first time and
returns zeros of the recorded output shapes instead of running it. Candidates that share layers
(NB201 cells with the same operation on an edge, ViTs with the same widths) are traced once per
layer shape. The trace assumes, as every static cost model does, that no shape depends on the
values of a tensor. ``clear_cache()`` empties the cache; ``cache=False`` bypasses it.

``trace_call(module, args, watch=paths)`` traces one call with given argument shapes and logs
where the rows of each watched submodule begin and end, and its argument and output shapes
(``Span``); ``programs.cost.spec_cost`` assembles candidates' rows from such traces of their parts.
"""

from __future__ import annotations

import enum
import math
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

GEMM_KINDS = ("conv", "linear", "matmul", "attention")
CACHE_SIZE = 100_000
KEY_LIMIT = 1_000_000  # interned structural keys kept before both caches are emptied


class Row(NamedTuple):
    """One priced operator: GEMM ``m x k`` times ``k x n`` (``count`` times) or a vector op.

    For memory-bound kinds (``eltwise``, ``pool``, ``norm``, ``resample``, ``concat``,
    ``reduce``) ``m`` is the number of output elements, ``k`` the input elements read per
    output element, ``n = count = 1``. ``macs`` follows fvcore's conventions.
    """

    name: str
    kind: str
    m: int
    k: int
    n: int
    count: int
    in_words: int
    w_words: int
    out_words: int
    macs: int
    kh: int = 1
    kw: int = 1
    oh: int = 1


class TensorSpec(NamedTuple):
    """A tensor argument by its shape and dtype (``trace_call`` passes zeros of this shape)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32


class Span(NamedTuple):
    """One call of a watched submodule: its rows ``rows[start:end]``, arguments and output."""

    start: int
    end: int
    args: tuple  # tensors as TensorSpec
    kwargs: tuple  # sorted (name, value) pairs, tensors as TensorSpec
    output: Any  # nested structure of ("T", shape, dtype)


class Call(NamedTuple):
    """The trace of one call: rows named relative to the module (its own operators: ``""``)."""

    rows: tuple[Row, ...]
    output: Any
    spans: dict[str, Span]


class _Entry(NamedTuple):
    rows: tuple[Row, ...]  # names relative to the module
    output: Any  # nested structure of (shape, dtype) pairs


_CACHE: OrderedDict[tuple, _Entry] = OrderedDict()


def clear_cache() -> None:
    """Empties the layer cache shared by ``trace``, ``programs.count`` and ``hardware.layers``."""
    _CACHE.clear()
    _KEY_IDS.clear()


def cache_size() -> int:
    """Number of (layer, input shape) entries in the layer cache."""
    return len(_CACHE)


# ---------------------------------------------------------------------------------------------
# The recorder


class _Tracer(TorchFunctionMode):
    """Records priced operators; ``scope`` is the stack of running module names.

    Calls of the submodules named in ``watch`` are logged in ``spans`` (one list per name).
    """

    def __init__(self, watch: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.scope: list[str] = []
        self.rows: list[Row] = []
        self.watch = watch
        self.spans: dict[str, list[Span]] = {}

    def add(
        self,
        kind: str,
        m: int,
        k: int,
        n: int,
        count: int,
        words: Sequence[int],
        macs: int,
        geometry: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        """Appends one row named after the innermost running module."""
        name = self.scope[-1] if self.scope else ""
        self.rows.append(Row(name, kind, m, k, n, count, *words, macs, *geometry))

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = _BY_FUNCTION.get(func) or _BY_NAME.get(getattr(func, "__name__", None))
        if handler is None:
            return func(*args, **kwargs)
        return handler(self, func, args, kwargs)


def _zeros(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """The stand-in output of an operator that is priced but not computed."""
    return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)


def _expand(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(value)
    return value * dims if len(value) == 1 else value


def _conv_shape(x, w, stride, padding, dilation, transposed, output_padding, groups) -> tuple:
    """Output shape of a (transposed) convolution, batched or not."""
    dims = w.dim() - 2
    spatial, kernel = x.shape[-dims:], w.shape[2:]
    stride, dilation = _expand(stride, dims), _expand(dilation, dims)
    if transposed:
        pad, extra = _expand(padding, dims), _expand(output_padding, dims)
        out = tuple(
            (size - 1) * s - 2 * p + d * (k - 1) + e + 1
            for size, s, p, d, k, e in zip(
                spatial, stride, pad, dilation, kernel, extra, strict=True
            )
        )
        channels = w.shape[1] * groups
    else:
        if padding == "same":
            out = tuple(spatial)
        else:
            pad = _expand(0 if padding == "valid" else padding, dims)
            out = tuple(
                (size + 2 * p - d * (k - 1) - 1) // s + 1
                for size, s, p, d, k in zip(spatial, stride, pad, dilation, kernel, strict=True)
            )
        channels = w.shape[0]
    return (*x.shape[: x.dim() - dims - 1], channels, *out)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _conv(tracer: _Tracer, func, args, kwargs, transposed: bool | None = None):
    x, w = args[0], _arg(args, kwargs, 1, "weight")
    stride, padding = _arg(args, kwargs, 3, "stride", 1), _arg(args, kwargs, 4, "padding", 0)
    if transposed is None:  # convolution(x, w, b, stride, padding, dilation, transposed, ...)
        transposed = bool(_arg(args, kwargs, 6, "transposed", False))
        dilation = _arg(args, kwargs, 5, "dilation", 1)
        output_padding = _arg(args, kwargs, 7, "output_padding", 0)
        groups = int(_arg(args, kwargs, 8, "groups", 1))
    elif transposed:  # conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation)
        output_padding = _arg(args, kwargs, 5, "output_padding", 0)
        groups = int(_arg(args, kwargs, 6, "groups", 1))
        dilation = _arg(args, kwargs, 7, "dilation", 1)
    else:  # conv(x, w, b, stride, padding, dilation, groups)
        dilation, output_padding = _arg(args, kwargs, 5, "dilation", 1), 0
        groups = int(_arg(args, kwargs, 6, "groups", 1))
    shape = _conv_shape(x, w, stride, padding, dilation, transposed, output_padding, groups)
    out = _zeros(shape, x)
    unbatched = x.dim() == w.dim() - 1
    batch = 1 if unbatched else x.shape[0]
    in_spatial = x.shape[1 + (not unbatched) :]
    out_spatial = out.shape[1 + (not unbatched) :]
    kernel = math.prod(w.shape[2:])
    geometry = (1, 1, 1)
    if transposed:
        m, k, n = batch * math.prod(in_spatial), w.shape[0] // groups, w.shape[1] * kernel
        macs = batch * math.prod(in_spatial) * w.numel()
    else:
        m, k, n = batch * math.prod(out_spatial), w.shape[1] * kernel, w.shape[0] // groups
        macs = batch * math.prod(out_spatial) * w.numel()
        geometry = _conv_geometry(w, out_spatial)
    tracer.add("conv", m, k, n, groups, (x.numel(), w.numel(), out.numel()), macs, geometry)
    return out


def _conv_geometry(w: torch.Tensor, out_spatial: Sequence[int]) -> tuple[int, int, int]:
    """Kernel rows, the rest of the kernel, output rows (a 1-D convolution has one row)."""
    if len(out_spatial) < 2:
        return 1, math.prod(w.shape[2:]), 1
    return w.shape[-2], w.shape[-1], out_spatial[-2]


def _linear(tracer: _Tracer, func, args, kwargs):
    x, w = args[0], _arg(args, kwargs, 1, "weight")
    out = _zeros(x.shape[:-1] + w.shape[:-1], x)
    m = math.prod(x.shape[:-1])
    n = w.shape[0] if w.dim() == 2 else 1
    tracer.add("linear", m, x.shape[-1], n, 1, (x.numel(), w.numel(), m * n), m * x.shape[-1] * n)
    return out


def _matmul(tracer: _Tracer, func, args, kwargs):
    a, b = args[0], args[1]
    if func.__name__ == "__rmatmul__":
        a, b = b, a
    if (
        not isinstance(a, torch.Tensor)
        or not isinstance(b, torch.Tensor)
        or min(a.dim(), b.dim()) < 2
    ):
        return _aten(tracer, func, args, kwargs)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    out = _zeros((*torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]), m, n), a)
    if b.dim() == 2:  # folded into one matrix product
        m = math.prod(a.shape[:-1])
        tracer.add("linear", m, k, n, 1, (a.numel(), b.numel(), m * n), m * k * n)
    else:
        batch = math.prod(out.shape[:-2])
        kind = "matmul"
        tracer.add(kind, m, k, n, batch, (a.numel(), b.numel(), out.numel()), batch * m * k * n)
    return out


def _addmm(tracer: _Tracer, func, args, kwargs):
    """``addmm``/``baddbmm``/``mm``/``bmm``: the two matrix operands are the last two tensors."""
    a, b = [v for v in args if isinstance(v, torch.Tensor)][-2:]
    if a.dim() == 3:
        count, m, k, n = a.shape[0], a.shape[1], a.shape[2], b.shape[2]
        out_words, kind = count * m * n, "matmul"
    else:
        count, m, k = 1, a.shape[0], a.shape[1]
        n = b.shape[1] if b.dim() == 2 else 1
        out_words, kind = m * n, "linear"
    shape = (count, m, n) if a.dim() == 3 else (m, n) if b.dim() == 2 else (m,)
    out = _zeros(shape, a)
    tracer.add(kind, m, k, n, count, (a.numel(), b.numel(), out_words), count * m * k * n)
    return out


def _attention(tracer: _Tracer, func, args, kwargs):
    q, k, v = args[0], _arg(args, kwargs, 1, "key"), _arg(args, kwargs, 2, "value")
    out = _zeros((*q.shape[:-1], v.shape[-1]), q)
    heads = math.prod(q.shape[:-2])
    length, dim, keys, dim_v = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
    scores = heads * length * keys
    words_qk = (q.numel(), k.numel(), scores)
    words_av = (scores, v.numel(), heads * length * dim_v)
    tracer.add("attention", length, dim, keys, heads, words_qk, scores * dim)
    tracer.add("attention", length, keys, dim_v, heads, words_av, scores * dim_v)
    return out


# ---------------------------------------------------------------------------------------------
# Memory-bound operators


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _vector(kind: str, macs: Callable[[tuple, dict, Any], int] | None = None):
    """A handler that runs the operator and records a memory-bound row."""

    def handler(tracer: _Tracer, func, args, kwargs):
        out = func(*args, **kwargs)
        inputs = _tensors(args) + _tensors(list(kwargs.values()))
        outputs = _tensors(out)
        if not outputs:
            return out
        in_words = sum(t.numel() for t in inputs)
        out_words = sum(t.numel() for t in outputs)
        w_words = 0
        if kind == "norm":  # affine parameters and running statistics
            w_words = sum(t.numel() for t in inputs[1:])
            in_words -= w_words
        reads = max(1, round(in_words / max(out_words, 1)))
        count = macs(args, kwargs, out) if macs else 0
        tracer.add(kind, out_words, reads, 1, 1, (in_words, w_words, out_words), count)
        return out

    return handler


def _norm_macs(x: torch.Tensor, affine: bool, training: bool = True) -> int:
    """fvcore: normalising costs 4 per element (5 with affine); inference batch norm 1 (2)."""
    if training:
        return x.numel() * (5 if affine else 4)
    return x.numel() * (2 if affine else 1)


def _batch_norm_macs(args: tuple, kwargs: dict, out: Any) -> int:
    weight = _arg(args, kwargs, 3, "weight")
    return _norm_macs(args[0], weight is not None, bool(_arg(args, kwargs, 5, "training", False)))


def _norm_macs_at(weight_index: int) -> Callable[[tuple, dict, Any], int]:
    def macs(args: tuple, kwargs: dict, out: Any) -> int:
        return _norm_macs(args[0], _arg(args, kwargs, weight_index, "weight") is not None)

    return macs


def _interpolate_macs(args: tuple, kwargs: dict, out: Any) -> int:
    """fvcore prices 2-D upsampling only: nearest 1 and bilinear 4 per output element."""
    mode = _arg(args, kwargs, 3, "mode", "nearest")
    per_output = {"nearest": 1, "bilinear": 4}.get(mode, 0)
    return per_output * out.numel() if out.ndim == 4 else 0


class _AtenRecorder(TorchDispatchMode):
    """The matrix products that a composite function lowers to, seen at the ATen level."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        op = func.overloadpacket.__name__
        if op == "convolution":
            transposed = bool(args[6])
            _conv_row(self.tracer, args[0], args[1], out, transposed, int(args[8]))
        elif op in ("mm", "addmm", "mv", "addmv", "bmm", "baddbmm"):
            _addmm_row(self.tracer, args[-2], args[-1], out)
        elif op.startswith("_scaled_dot_product"):
            _attention_row(self.tracer, *args[:3])
        return out


def _conv_row(tracer: _Tracer, x, w, out, transposed: bool, groups: int) -> None:
    batch, kernel = x.shape[0], math.prod(w.shape[2:])
    geometry = (1, 1, 1)
    if transposed:
        m, k, n = batch * math.prod(x.shape[2:]), w.shape[0] // groups, w.shape[1] * kernel
    else:
        m, k, n = batch * math.prod(out.shape[2:]), w.shape[1] * kernel, w.shape[0] // groups
        geometry = _conv_geometry(w, out.shape[2:])
    words = (x.numel(), w.numel(), out.numel())
    tracer.add("conv", m, k, n, groups, words, m * k * n * groups, geometry)


def _addmm_row(tracer: _Tracer, a, b, out) -> None:
    if a.dim() == 3:
        count, m, k, n, kind = a.shape[0], a.shape[1], a.shape[2], b.shape[2], "matmul"
    else:
        count, m, k, kind = 1, a.shape[0], a.shape[1], "linear"
        n = b.shape[1] if b.dim() == 2 else 1
    tracer.add(kind, m, k, n, count, (a.numel(), b.numel(), out.numel()), count * m * k * n)


def _attention_row(tracer: _Tracer, q, k, v) -> None:
    heads = math.prod(q.shape[:-2])
    length, dim, keys, dim_v = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
    scores = heads * length * keys
    tracer.add("attention", length, dim, keys, heads, (q.numel(), k.numel(), scores), scores * dim)
    words = (scores, v.numel(), heads * length * dim_v)
    tracer.add("attention", length, keys, dim_v, heads, words, scores * dim_v)


def _aten(tracer: _Tracer, func, args, kwargs):
    with _AtenRecorder(tracer):
        return func(*args, **kwargs)


_ELTWISE = (
    "add", "sub", "mul", "div", "true_divide", "rsub", "neg", "abs", "exp", "log", "sqrt",
    "rsqrt", "pow", "relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish",
    "hardsigmoid", "leaky_relu", "elu", "mish", "softplus", "softmax", "log_softmax", "where",
    "clamp", "maximum", "minimum", "masked_fill", "erf",
)  # fmt: skip
_INPLACE = tuple(f"{n}_" for n in _ELTWISE) + tuple(
    f"__{op}__" for p in ("", "r", "i") for op in (f"{p}add", f"{p}sub", f"{p}mul", f"{p}truediv")
)
_POOL = (
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices",
)  # fmt: skip

_BY_NAME: dict[str, Callable] = {
    **{name: _vector("eltwise") for name in _ELTWISE + _INPLACE},
    **{name: _vector("pool") for name in _POOL},
    **{name: _vector("concat") for name in ("cat", "concat", "concatenate", "stack")},
    **{name: _vector("reduce") for name in ("mean", "sum", "amax", "amin", "var", "std")},
    **{f"conv{d}d": partial(_conv, transposed=False) for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": partial(_conv, transposed=True) for d in (1, 2, 3)},
    "convolution": _conv,
    "linear": _linear,
    **{name: _matmul for name in ("matmul", "__matmul__", "__rmatmul__")},
    **{name: _addmm for name in ("mm", "bmm", "addmm", "baddbmm", "mv", "addmv")},
    "scaled_dot_product_attention": _attention,
    **{
        name: _aten
        for name in (
            "einsum", "tensordot", "bilinear", "chain_matmul", "multi_dot",
            "multi_head_attention_forward", "lstm", "gru", "rnn_tanh", "rnn_relu",
        )
    },
}  # fmt: skip

# fvcore prices these at their torch.nn.functional call (ATen lowers them into other operators).
_BY_FUNCTION: dict[Callable, Callable] = {
    F.batch_norm: _vector("norm", _batch_norm_macs),
    F.instance_norm: _vector("norm", _norm_macs_at(3)),
    F.layer_norm: _vector("norm", _norm_macs_at(2)),
    F.group_norm: _vector("norm", _norm_macs_at(2)),
    F.adaptive_avg_pool2d: _vector("pool", lambda a, kw, out: a[0].numel()),
    F.interpolate: _vector("resample", _interpolate_macs),
}


# ---------------------------------------------------------------------------------------------
# Structural keys and the module wrappers


class _Uncacheable(Exception):
    pass


_ATOMIC = frozenset({bool, int, float, str, bytes, type(None)})


def _plain(value: Any) -> Any:
    """A hashable stand-in for an attribute value, or ``_Uncacheable``."""
    if type(value) in _ATOMIC or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (list, tuple)):
        if all(type(v) in _ATOMIC for v in value):
            return tuple(value)
        return tuple(_plain(v) for v in value)
    if isinstance(value, (torch.dtype, torch.device, enum.Enum)):
        return repr(value)
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _plain(v)) for k, v in value.items())))
    if isinstance(value, type):
        return (value.__module__, value.__qualname__)
    if isinstance(value, types.BuiltinFunctionType) or (
        isinstance(value, types.FunctionType) and value.__closure__ is None
    ):
        return (getattr(value, "__module__", None), value.__qualname__)
    raise _Uncacheable


def _tensor_key(t: torch.Tensor | None) -> Any:
    return None if t is None else (t.shape, t.dtype)


# What every nn.Module keeps in its __dict__ (parameters, children and hooks are keyed apart;
# the train/eval flag is always eval here); any other attribute, private ones included, is keyed.
_MODULE_INTERNALS = frozenset(nn.Module().__dict__)

# Structural keys are interned as small ints, so that a parent's key holds its children's ids
# and hashing it does not walk the whole subtree again.
_KEY_IDS: dict[tuple, int] = {}


def _structure(module: nn.Module) -> int | None:
    """The interned structural key of a module (None when something cannot be keyed)."""
    try:
        if module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__:
            raise _Uncacheable
        attrs = tuple(
            (name, value if type(value) in _ATOMIC else _plain(value))
            for name, value in module.__dict__.items()
            if name not in _MODULE_INTERNALS
        )
        params = tuple((n, _tensor_key(p)) for n, p in module._parameters.items())
        buffers = tuple((n, _tensor_key(b)) for n, b in module._buffers.items())
    except (_Uncacheable, RuntimeError, ValueError, TypeError):
        return None
    key = (type(module), attrs, params, buffers)
    return _KEY_IDS.setdefault(key, len(_KEY_IDS))


def _index(
    module: nn.Module, name: str, seen: set[int], out: list[tuple[str, nn.Module, int | None]]
) -> int | None:
    """Lists ``(name, module, key)`` in pre-order (each module once, as ``named_modules``)."""
    position = len(out)
    out.append((name, module, None))
    own = _structure(module)
    children = []
    for child_name, child in module._modules.items():
        if child is None:
            continue
        if id(child) in seen:  # shared: keyed where it first appeared, not listed again
            children.append((child_name, None))
            continue
        seen.add(id(child))
        full = f"{name}.{child_name}" if name else child_name
        children.append((child_name, _index(child, full, seen, out)))
    if own is None or any(key is None for _, key in children):
        return None
    key = _KEY_IDS.setdefault((own, tuple(children)), len(_KEY_IDS))
    out[position] = (name, module, key)
    return key


def _arg_key(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("T", tuple(value.shape), value.dtype)
    return _plain(value)


def _output_spec(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("T", tuple(value.shape), value.dtype)
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return (type(value), tuple(_output_spec(v) for v in value))
    if value is None:
        return None
    raise _Uncacheable


def _make_output(spec: Any, device: torch.device) -> Any:
    if spec is None:
        return None
    if spec[0] == "T":
        return torch.zeros(spec[1], dtype=spec[2], device=device)
    return spec[0](_make_output(s, device) for s in spec[1])


def _freeze(value: Any) -> Any:
    """An argument with its tensors replaced by ``TensorSpec`` (other values must be plain)."""
    if isinstance(value, torch.Tensor):
        return TensorSpec(tuple(value.shape), value.dtype)
    if type(value) in (list, tuple):
        return type(value)(_freeze(v) for v in value)
    _plain(value)
    return value


def _thaw(value: Any, device: torch.device) -> Any:
    """Inverse of ``_freeze``: zeros for every ``TensorSpec``."""
    if isinstance(value, TensorSpec):
        return torch.zeros(value.shape, dtype=value.dtype, device=device)
    if type(value) in (list, tuple):
        return type(value)(_thaw(v, device) for v in value)
    return value


def _relative(name: str, prefix: str) -> str:
    if name == prefix:
        return ""
    return name[len(prefix) + 1 :] if prefix else name


def _absolute(rel: str, prefix: str) -> str:
    if not rel:
        return prefix
    return f"{prefix}.{rel}" if prefix else rel


def _wrapped_forward(
    tracer: _Tracer,
    forward: Callable,
    name: str,
    structure: Any,
    device: torch.device,
    *args: Any,
    **kwargs: Any,
) -> Any:
    if name not in tracer.watch:
        return _cached_forward(tracer, forward, name, structure, device, args, kwargs)
    start = len(tracer.rows)
    out = _cached_forward(tracer, forward, name, structure, device, args, kwargs)
    try:
        spec = _output_spec(out)
        frozen = _freeze(args), tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))
    except _Uncacheable:
        spec = frozen = None
    span = None if frozen is None else Span(start, len(tracer.rows), *frozen, spec)
    tracer.spans.setdefault(name, []).append(span)
    return out


def _cached_forward(
    tracer: _Tracer,
    forward: Callable,
    name: str,
    structure: Any,
    device: torch.device,
    args: tuple,
    kwargs: dict,
) -> Any:
    key = None
    if structure is not None:
        try:
            key = (structure, tuple(_arg_key(a) for a in args))
            key += (tuple(sorted((k, _arg_key(v)) for k, v in kwargs.items())),)
        except _Uncacheable:
            key = None
    if key is not None and key in _CACHE:
        entry = _CACHE[key]
        _CACHE.move_to_end(key)
        tracer.rows.extend(Row(_absolute(r[0], name), *r[1:]) for r in entry.rows)
        return _make_output(entry.output, device)
    start = len(tracer.rows)
    tracer.scope.append(name)
    try:
        out = forward(*args, **kwargs)
    finally:
        tracer.scope.pop()
    if key is not None:
        try:
            spec = _output_spec(out)
        except _Uncacheable:
            return out
        rows = tuple(Row(_relative(r[0], name), *r[1:]) for r in tracer.rows[start:])
        _CACHE[key] = _Entry(rows, spec)
        if len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def check_input(input_shape: Sequence[int], batch_size: int, caller: str) -> tuple[int, ...]:
    """The batched input shape; a clear error naming ``input_shape`` or ``batch_size``."""
    shape = tuple(input_shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(
            f"{caller}: input_shape must be a non-empty tuple of positive ints; "
            f"got {input_shape!r}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be a positive int; got {batch_size!r}.")
    return (batch_size, *shape)


def _call_module(module: nn.Module, x: torch.Tensor) -> Any:
    return module(x)


def _run(
    module: nn.Module,
    run: Callable[[torch.device], Any],
    cache: bool,
    watch: frozenset[str] = frozenset(),
) -> tuple[_Tracer, Any]:
    """Runs ``run(device)`` with every submodule of ``module`` wrapped for the trace.

    Modules above a watched one are never replayed from the layer cache, so that the watched
    call is seen.
    """
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    tracer = _Tracer(watch)
    if len(_KEY_IDS) > KEY_LIMIT:
        clear_cache()
    subs: list[tuple[str, nn.Module, int | None]] = []
    _index(module, "", {id(module)}, subs)
    above = {name for path in watch for name in _ancestors(path)}
    wrapped: list[nn.Module] = []
    modes = [(sub, sub.training) for _, sub, _ in subs]
    try:
        for _, sub, _ in subs:  # eval mode, set directly: Module.eval() recurses through setattr
            sub.__dict__["training"] = False
        for name, sub, structure in subs:
            if "forward" in sub.__dict__:
                continue
            keyed = structure if cache and name not in above else None
            sub.__dict__["forward"] = partial(
                _wrapped_forward, tracer, sub.forward, name, keyed, device
            )
            wrapped.append(sub)
        with torch.no_grad(), tracer:
            out = run(device)
    finally:
        for sub in wrapped:
            del sub.__dict__["forward"]
        for sub, mode in modes:
            sub.__dict__["training"] = mode
    return tracer, out


def _ancestors(path: str) -> list[str]:
    """The module paths above ``path`` (the root is ``""``)."""
    if not path:
        return []
    parts = path.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts))]


def trace(
    module: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
    forward: Callable[[nn.Module, torch.Tensor], Any] | None = None,
    cache: bool = True,
) -> list[Row]:
    """The priced operators of one forward pass of ``module`` on a zero batch, in order.

    ``input_shape`` is one sample's shape; ``forward(module, x)`` replaces ``module(x)``. The
    pass runs in eval mode without gradients (every submodule's mode is restored). Row names
    are the innermost module running the operator (the root is named after its class).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"trace: module must be a torch.nn.Module; got {type(module).__name__}.")
    shape = check_input(input_shape, batch_size, "trace")
    forward = forward or _call_module
    tracer, _ = _run(
        module, lambda device: forward(module, torch.zeros(shape, device=device)), cache
    )
    root = type(module).__name__
    return [row if row.name else Row(root, *row[1:]) for row in tracer.rows]


def trace_call(
    module: nn.Module,
    args: Sequence[Any],
    kwargs: dict[str, Any] | None = None,
    watch: Sequence[str] = (),
    cache: bool = True,
) -> Call:
    """The trace of ``module(*args, **kwargs)``, logging the one call of each ``watch`` path.

    Tensor arguments are given as ``TensorSpec`` (zeros of that shape are passed). Rows are
    named relative to ``module`` (its own operators: ``""``); ``spans[path]`` holds the rows,
    arguments and output of the submodule ``path`` (a clear error when it is not called exactly
    once, or its arguments or output are not tensors and plain values).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"trace_call: module must be a torch.nn.Module; got {type(module).__name__}."
        )
    names = dict(module.named_modules())
    missing = [path for path in watch if path not in names]
    if missing:
        raise ValueError(
            f"trace_call: watch names no submodule of {type(module).__name__}: {missing}."
        )
    tracer, out = _run(
        module,
        lambda device: module(
            *_thaw(tuple(args), device),
            **{k: _thaw(v, device) for k, v in (kwargs or {}).items()},
        ),
        cache,
        frozenset(watch),
    )
    spans = {}
    for path in watch:
        seen = tracer.spans.get(path, [])
        if len(seen) != 1 or seen[0] is None:
            raise ValueError(
                f"trace_call: submodule {path!r} must be called exactly once with tensor and "
                f"plain arguments, returning tensors; it was called {len(seen)} time(s)."
            )
        spans[path] = seen[0]
    try:
        output = _output_spec(out)
    except _Uncacheable as error:
        raise ValueError(
            f"trace_call: {type(module).__name__} must return tensors (or lists/tuples of them)."
        ) from error
    return Call(tuple(tracer.rows), output, spans)
