"""Data: synthetic sets of the nnfs book (more to come: datasets, loaders, transforms)."""

from . import synthetic

__all__ = ["synthetic"]
