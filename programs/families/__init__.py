"""Architecture families: one module per family (``nb201``, ``darts``, ``pooling``, ``tdnn``,
``vit``, ``vit_resnas``, ``hnb201``, ``einspace``), each calling ``programs.registry.register``
with its space class, standalone builder and supernet, and the layers they share (``cell_ops``,
``vit_layers``, ``grammar_network``; ``grammar_graph`` gives the op DAG of either grammar
family). ``programs.registry.FAMILIES`` imports every module here on its first lookup, so a new
family module registers with no list to edit.
"""
