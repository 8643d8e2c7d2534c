"""Path samplers: which sub-networks of a supernet a training step runs."""
