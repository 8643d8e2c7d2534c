"""symnas.core: the ground floor every other part of symnas may import.

It holds the mechanisms shared by all floors: the :class:`~symnas.core.registry.Registry` of
extension kinds, atomic file writes (``files``), the first difference of two JSON values that a
resume check names (``compare``) and redrawing until an unseen candidate (``redraw``). It imports
neither torch nor any other part of symnas.
"""
