"""A network described by its parts, so that its layer rows can be assembled from cached pieces.

A ``Part`` is a module (``make()`` builds it) whose layer rows (``programs.cost.trace``) follow from
its ``key`` and from the parts in its ``slots``: the rows it runs outside its slots, and the
arguments it passes to each slot, depend only on ``key`` and on its own arguments; the rows of
the submodule at a slot path are those of the slot's part (as are its parameters: none is shared
between a slot and the rest of the module). A part without slots is priced as a
whole. ``spec_cost.SpecCoster`` traces each (part key, argument shapes) once and assembles a
candidate's rows from them without building its network.

Families register a hook that turns a decoded spec into its part tree (``register_parts``) in a
module named ``*_parts``; the cell families do so in ``cell_parts``. A family without a hook is
one part: the whole network.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from torch import nn

from symnas.core.registry import Registry

PartsHook = Callable[..., "Part"]

# Parts hooks by the ``_type`` of the specs they describe (a space class's ``__type_name__``),
# registered by the modules named ``*_parts`` of this package, imported on a lookup miss.
PARTS = Registry("parts hook", loaders=["symnas.programs.cost.*_parts"])


class Part:
    """A module by its structural ``key``, a builder, and the ``(path, Part)`` of its slots.

    ``full_key`` fixes every row of the part: its key and, recursively, its slots' keys.
    """

    __slots__ = ("full_key", "key", "make", "slots")

    def __init__(
        self,
        key: Hashable,
        make: Callable[[], nn.Module],
        slots: tuple[tuple[str, Part], ...] = (),
    ) -> None:
        self.key = key
        self.make = make
        self.slots = tuple(slots)
        self.full_key: Hashable = (
            (key, tuple((path, part.full_key) for path, part in self.slots)) if self.slots else key
        )

    def __repr__(self) -> str:
        return f"Part({self.key!r}, slots={[path for path, _ in self.slots]})"


def register_parts(space_cls: type, hook: PartsHook) -> None:
    """Registers ``hook(spec, **task) -> Part`` for specs of the space class ``space_cls``."""
    type_name = getattr(space_cls, "__type_name__", None)
    if type_name is None:
        raise TypeError(
            f"register_parts: space_cls must be a pg.Object subclass (a family's space root); "
            f"got {space_cls!r}."
        )
    description = (hook.__doc__ or "").strip().split("\n")[0]
    PARTS.register(type_name, description, hook)


def hook_for(type_name: str) -> PartsHook | None:
    """The registered hook for specs whose ``_type`` is ``type_name`` (None when there is none)."""
    return PARTS.get(type_name).obj if type_name in PARTS else None
