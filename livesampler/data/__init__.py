"""Note sets and what is computed from them for training."""
