"""What F does to a model: the split, features, fits, metrics, bootstrap and recommendation."""
