"""One-shot searchers: algorithms that train a supernet, then propose derived architectures."""
