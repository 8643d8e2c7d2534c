"""Training and estimation: ``train`` (a standalone network, and the shared cosine schedule and
optimiser), ``supernet_train`` (one trainer for sampled paths and architecture mixtures, with
checkpoints), ``estimator`` (inherited-weight scores of specs) and ``fewshot`` (sub-supernets
routed by spec)."""
