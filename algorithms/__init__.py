"""symnas.algorithms."""
