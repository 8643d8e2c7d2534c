"""symnas.flows."""
