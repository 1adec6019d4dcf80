"""Training-data utilities: synthetic equations sampled on the fly."""
