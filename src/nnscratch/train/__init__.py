"""Training: fit / evaluate / predict, the Trainer and its train steps, callbacks, metrics,
history, progress."""

from . import callbacks, metrics
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClipping,
    JSONLinesLogger,
    LRSchedulerStep,
    ModelCheckpoint,
    TerminateOnNaN,
)
from .diagnostics import Diagnostics
from .history import History
from .loop import evaluate, fit, predict
from .step import SupervisedEvalStep, SupervisedStep
from .trainer import Trainer

__all__ = [
    "CSVLogger", "Callback", "Diagnostics", "EarlyStopping", "GradientClipping", "History",
    "JSONLinesLogger",
    "LRSchedulerStep", "ModelCheckpoint", "SupervisedEvalStep", "SupervisedStep",
    "TerminateOnNaN", "Trainer", "callbacks", "evaluate", "fit", "metrics", "predict",
]
