"""seqlab: train, tune, track and serve the sequence models of "Deep learning for text and sequences"."""

__version__ = "0.1.0"
