"""Layer table and hardware cost of a decoded spec, assembled from cached parts.

``SpecCoster(input_shape)`` prices candidates of any family from their specs. A spec becomes a
part tree (``programs.cost.parts``; the cell families' hooks are in ``cell_parts``, any other family
is one part, its whole network). Each part is traced (``programs.cost.trace.trace_call``) once per
argument shape:

- a part without slots is built and traced as a whole (its layers replayed from the trace's
  layer cache when seen before);
- a part with slots is built and traced once per (key, arguments) as a reference, logging where
  each slot's rows begin and end and what it was called with; the rows of another part with the
  same key are the reference's own rows with each slot's rows replaced by those of the new
  part's slot (checked to return the same output shapes).

One reference trace also fills the entries of every part below it, and every assembled part is
kept, so a NAS-Bench-201 candidate whose edge ops were seen in any earlier candidate costs a few
dictionary look-ups and array concatenations, without building a network. The rows, and so
``layers(spec)`` and ``cost(spec, hw)``, are identical to ``hardware.layers(programs.build(spec))``
and ``hardware.cost(programs.build(spec), ...)``. The cost model prices each layer on its own, so
the totals (``cost(..., per_layer=False)``, ``costs``) sum per-layer costs kept per traced part
and configuration; they equal ``hardware.cost``'s totals exactly.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyglove as pg
from torch import nn

from symnas.programs import registry
from symnas.programs.cost import hardware
from symnas.programs.cost.hardware_layers import LayerTable, numbered_names
from symnas.programs.cost.parts import Part, hook_for
from symnas.programs.cost.trace import Row, Span, TensorSpec, check_input, trace_call

CACHE_SIZE = 100_000  # assembled parts kept (least recently used dropped first)

_NUMBERS = Row._fields[2:]  # the integer fields of a row, in order
_TABLE_FIELDS = ("m", "k", "n", "count", "in_words", "w_words", "out_words", "kh", "kw", "oh")
_COLUMNS = {f: _NUMBERS.index(f) for f in _TABLE_FIELDS}
_METRICS = ("macs", "cycles", "compute_cycles", "mem_cycles", "latency_ms", "energy")
_METRICS += ("dram_bytes", "sram_bytes")  # priced per layer; utilization follows from them


class _Block:
    """The rows of one part: names relative to it (its own operators: ""), kinds, numbers.

    An assembled block keeps its ``layout``, the pieces it was made of (``(block, start, end,
    path)``: rows of another block, renamed under ``path`` when it is a slot), so that its names
    and per-layer costs are put together from its pieces' only when they are asked for.
    """

    __slots__ = ("_names", "cls", "key", "kinds", "layout", "numbers", "output", "params")

    def __init__(
        self,
        kinds: tuple[str, ...],
        numbers: np.ndarray,
        output: Any,
        cls: str,
        params: int,
        names: tuple[str, ...] | None = None,
        layout: tuple[tuple[_Block, int, int, str | None], ...] | None = None,
    ) -> None:
        self.kinds = kinds
        self.numbers = numbers  # (rows, len(_NUMBERS)) int64
        self.output = output
        self.cls = cls  # class name of the part's module
        self.params = params  # parameters of the part's module
        self.layout = layout
        self.key: Hashable = None  # its cache key, set when it is kept
        self._names = names

    @property
    def names(self) -> tuple[str, ...]:
        """Row names relative to the part."""
        if self._names is None:
            names: list[str] = []
            for block, start, end, path in self.layout:
                if path is None:
                    names.extend(block.names[start:end])
                else:
                    names.extend([f"{path}.{name}" if name else path for name in block.names])
            self._names = tuple(names)
        return self._names


class _Frame(NamedTuple):
    block: _Block  # the reference's rows, its slots' rows included
    own_params: int  # parameters of the reference outside its slots
    spans: tuple[tuple[str, Span, Hashable], ...]  # direct slots: path, call, argument key


def _block(rows: Sequence[Row], output: Any, module: nn.Module) -> _Block:
    numbers = np.array([row[2:] for row in rows], dtype=np.int64)
    return _Block(
        tuple(row.kind for row in rows),
        numbers.reshape(len(rows), len(_NUMBERS)),
        output,
        type(module).__name__,
        _param_count(module),
        names=tuple(row.name for row in rows),
    )


def _param_count(module: nn.Module) -> int:
    """Parameters of a module, each counted once (as ``programs.count``)."""
    return sum(p.numel() for p in module.parameters())


def _hashable(value: Any) -> Hashable:
    if type(value) is tuple and all(type(v) is TensorSpec for v in value):
        return value
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, tuple) and not isinstance(value, TensorSpec):
        return tuple(_hashable(v) for v in value)
    return value


def _configuration(hw: Any) -> tuple[dict[str, np.ndarray], Hashable]:
    """The checked columns of one hardware configuration and a key for them."""
    arrays = hardware.hardware_arrays([hw])
    return arrays, tuple((name, float(value[0])) for name, value in sorted(arrays.items()))


def _table(block: _Block, named: bool = True) -> LayerTable:
    """The layer table of a top-level block (``named=False``: blank names, which pricing skips)."""
    if named:
        names = numbered_names([name or block.cls for name in block.names])
    else:
        names = ("",) * len(block.kinds)
    columns = {f: block.numbers[:, i] for f, i in _COLUMNS.items()}
    return LayerTable(names=names, kinds=block.kinds, **columns)


class SpecCoster:
    """Layer tables and costs of specs on inputs of ``input_shape`` (one sample's shape).

    ``rows``, ``layers``, ``count`` and ``cost`` equal those of ``programs.build(spec, **task)``
    (``task`` overrides a spec's fields as in ``programs.build``). The caches are per object:
    keep one per search (one per input shape).
    """

    def __init__(self, input_shape: Sequence[int], batch_size: int = 1) -> None:
        shape = check_input(input_shape, batch_size, "SpecCoster")
        self.input_shape = tuple(input_shape)
        self.batch_size = batch_size
        self._args = (TensorSpec(shape),)
        self._blocks: OrderedDict[Hashable, _Block] = OrderedDict()
        self._frames: dict[Hashable, _Frame] = {}
        self._costs: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        """Number of (part, arguments) entries cached."""
        return len(self._blocks)

    def clear(self) -> None:
        """Forgets every cached part (the trace's layer cache is separate: ``trace.clear_cache``)."""
        self._blocks.clear()
        self._frames.clear()
        self._costs.clear()

    def rows(self, spec: Any, **task: Any) -> list[Row]:
        """The rows of ``programs.cost.trace.trace(programs.build(spec, **task), input_shape)``."""
        block = self._top(spec, task)
        return [
            Row(name or block.cls, kind, *numbers)
            for name, kind, numbers in zip(
                block.names, block.kinds, block.numbers.tolist(), strict=True
            )
        ]

    def layers(self, spec: Any, **task: Any) -> LayerTable:
        """The layer table of ``hardware.layers(programs.build(spec, **task), input_shape)``."""
        return _table(self._top(spec, task))

    def count(self, spec: Any, **task: Any) -> dict[str, int]:
        """``programs.count(programs.build(spec, **task), input_shape)``: parameters and MACs."""
        block = self._top(spec, task)
        macs = int(block.numbers[:, _NUMBERS.index("macs")].sum())
        return {"params": block.params, "macs": macs}

    def cost(
        self,
        spec: Any,
        hw: Any,
        per_layer: bool = True,
        precision: Mapping[str, tuple[int, int]] | None = None,
        **task: Any,
    ) -> dict[str, Any]:
        """``hardware.cost(programs.build(spec, **task), input_shape, hw)``, without the build.

        ``per_layer=False`` leaves out the per-layer breakdown (``layers``); the totals are the
        same. ``precision`` (``{unit: (weight_bits, act_bits)}``) prices the layers at those
        operand widths (``hardware.cost_table``), from the spec's cached layer table.
        """
        if precision is not None:
            table = self.layers(spec, **task)
            return hardware.table_cost(table, hw, per_layer, precision=precision)
        return self._cost(self._top(spec, task), hw, per_layer, _configuration(hw))

    def costs(self, specs: Sequence[Any], hw: Any, **task: Any) -> list[dict[str, float]]:
        """``cost(spec, hw, per_layer=False)`` of every spec, in order."""
        config = _configuration(hw)
        return [self._cost(self._top(spec, task), hw, False, config) for spec in specs]

    # -----------------------------------------------------------------------------------------

    def _top(self, spec: Any, task: dict[str, Any]) -> _Block:
        return self._block_of(_part_of(spec, task), self._args, ())

    def _cost(
        self, block: _Block, hw: Any, per_layer: bool, config: tuple[dict, Hashable]
    ) -> dict[str, Any]:
        """``hardware.table_cost`` of a block, its per-layer costs put together from its parts'
        (the cost model prices every layer on its own), summed as ``cost_table`` sums them."""
        arrays, hw_key = config
        layer_costs = self._layer_costs(block, hw_key, arrays, {})
        res = {metric: layer_costs[i][None, :] for i, metric in enumerate(_METRICS)}
        pes = arrays["rows"] * arrays["cols"]
        res["utilization"] = hardware._safe_div(res["macs"], pes[:, None] * res["cycles"])
        res.update({f"total_{key}": value.sum(axis=1) for key, value in list(res.items())})
        res["total_utilization"] = hardware._safe_div(res["total_macs"], pes * res["total_cycles"])
        return hardware.table_cost(_table(block, named=per_layer), hw, per_layer, costs=res)

    def _block_of(
        self, part: Part, args: tuple, kwargs: tuple, arg_key: Hashable | None = None
    ) -> _Block:
        arg_key = (_hashable(args), _hashable(kwargs)) if arg_key is None else arg_key
        key = (part.full_key, *arg_key)
        block = self._blocks.get(key)
        if block is not None:
            self._blocks.move_to_end(key)
            return block
        if not part.slots:
            module = part.make()
            call = trace_call(module, args, dict(kwargs))
            block = _block(call.rows, call.output, module)
        else:
            frame = self._frames.get((part.key, key[1:]))
            if frame is None:  # the reference is this very part: its trace is the block
                return self._reference(part, args, kwargs)
            block = self._assemble(part, frame)
        self._keep(key, block)
        return block

    def _assemble(self, part: Part, frame: _Frame) -> _Block:
        """The reference's rows with each slot's rows replaced by those of ``part``'s slot."""
        children = dict(part.slots)
        ref = frame.block
        kinds: list[str] = []
        pieces: list[np.ndarray] = []
        layout: list[tuple[_Block, int, int, str | None]] = []
        position = 0
        for path, span, key in frame.spans:
            child = self._block_of(children[path], span.args, span.kwargs, key)
            if child.output != span.output:
                raise ValueError(
                    f"SpecCoster: part {children[path].key!r} at {path!r} returns {child.output}, "
                    f"but the reference of {part.key!r} got {span.output}; a part's key must fix "
                    "the output shapes of its slots."
                )
            kinds += ref.kinds[position : span.start]
            kinds += child.kinds
            pieces += (ref.numbers[position : span.start], child.numbers)
            layout += ((ref, position, span.start, None), (child, 0, len(child.kinds), path))
            position = span.end
        kinds += ref.kinds[position:]
        pieces.append(ref.numbers[position:])
        layout.append((ref, position, len(ref.kinds), None))
        numbers = np.concatenate(pieces)
        params = frame.own_params + sum(block.params for block, _, _, path in layout if path)
        return _Block(tuple(kinds), numbers, ref.output, ref.cls, params, layout=tuple(layout))

    def _reference(self, part: Part, args: tuple, kwargs: tuple) -> _Block:
        """Builds and traces ``part``, keeping the frames and blocks of it and its descendants;
        returns its block."""
        module = part.make()
        nested = list(_descendants(part, ""))
        call = trace_call(module, args, dict(kwargs), watch=[path for path, _ in nested])
        spans = {"": Span(0, len(call.rows), args, kwargs, call.output), **call.spans}
        made: dict[str, _Block] = {}
        for path, node in [("", part), *nested]:
            span = spans[path]
            rows = call.rows[span.start : span.end]
            if path:
                cut = len(path) + 1
                rows = [
                    row._replace(name=row.name[cut:] if row.name != path else "") for row in rows
                ]
            sub = module.get_submodule(path)
            block = made[path] = _block(rows, span.output, sub)
            key = (_hashable(span.args), _hashable(span.kwargs))
            self._keep((node.full_key, *key), block)
            if node.slots:
                inner = [
                    (slot, spans[f"{path}.{slot}" if path else slot]) for slot, _ in node.slots
                ]
                inner.sort(key=lambda item: item[1].start)
                shifted = tuple(
                    (
                        slot,
                        s._replace(start=s.start - span.start, end=s.end - span.start),
                        (_hashable(s.args), _hashable(s.kwargs)),
                    )
                    for slot, s in inner
                )
                slots = sum(_param_count(sub.get_submodule(slot)) for slot, _ in node.slots)
                self._frames.setdefault(
                    (node.key, key), _Frame(block, block.params - slots, shifted)
                )
        return made[""]

    def _layer_costs(
        self, block: _Block, hw_key: Hashable, arrays: dict, done: dict[int, np.ndarray]
    ) -> np.ndarray:
        """``(metrics, rows)`` costs of a block's layers: a traced block's are kept per
        configuration, an assembled block's are put together from its pieces' (``done`` holds
        the blocks already seen for this spec)."""
        costs = done.get(id(block))
        if costs is not None:
            return costs
        if block.layout is not None:
            costs = np.concatenate(
                [
                    self._layer_costs(piece, hw_key, arrays, done)[:, start:end]
                    for piece, start, end, _ in block.layout
                ],
                axis=1,
            )
        elif not block.kinds:
            costs = np.zeros((len(_METRICS), 0))
        else:
            key = (block.key, hw_key)
            costs = self._costs.get(key)
            if costs is None:
                res = hardware.cost_table(_table(block, named=False), arrays)
                costs = np.concatenate([res[metric] for metric in _METRICS])
                self._costs[key] = costs
                if len(self._costs) > CACHE_SIZE:
                    self._costs.popitem(last=False)
            else:
                self._costs.move_to_end(key)
        done[id(block)] = costs
        return costs

    def _keep(self, key: Hashable, block: _Block) -> None:
        block.key = key
        self._blocks[key] = block
        if len(self._blocks) > CACHE_SIZE:
            self._blocks.popitem(last=False)


def _descendants(part: Part, prefix: str):
    """``(path, part)`` of every part below ``part``, paths relative to its module."""
    for path, child in part.slots:
        full = f"{prefix}.{path}" if prefix else path
        yield full, child
        yield from _descendants(child, full)


def _part_of(spec: Any, task: dict[str, Any]) -> Part:
    """The part tree of a decoded spec: the family's hook, or the whole network as one part."""
    if isinstance(spec, pg.Object):
        spec = pg.to_json(spec)
    type_name = spec.get("_type") if isinstance(spec, dict) else None
    if type_name is None:
        raise TypeError(
            "SpecCoster expects a decoded spec: a dict with a '_type' field naming its family "
            f"(one of {registry.known_types()}) or a symbolic pg.Object; got {type(spec).__name__}."
        )
    hook = hook_for(type_name)
    if hook is not None:
        return hook(spec, **task)
    key = ("spec", json.dumps(spec, sort_keys=True), tuple(sorted(task.items())))
    return Part(key, lambda: registry.build(spec, **task))
