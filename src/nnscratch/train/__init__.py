"""Training: fit / evaluate / predict, callbacks, metrics, history, progress."""

from . import callbacks, metrics
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLinesLogger,
    LRSchedulerStep,
    ModelCheckpoint,
    TerminateOnNaN,
)
from .history import History
from .loop import Trainer, evaluate, fit, predict

__all__ = [
    "CSVLogger", "Callback", "EarlyStopping", "History", "JSONLinesLogger", "LRSchedulerStep",
    "ModelCheckpoint", "TerminateOnNaN", "Trainer", "callbacks", "evaluate", "fit", "metrics",
    "predict",
]
