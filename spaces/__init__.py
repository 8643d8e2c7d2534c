"""symnas.spaces."""
