"""Optimizers (PyTorch's names and semantics) and learning-rate schedules."""

from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "lr_scheduler"]
