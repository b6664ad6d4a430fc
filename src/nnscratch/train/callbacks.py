"""Callbacks: code that fit() runs at fixed points of training.

Each hook receives the `Trainer` (model, optimizer, scheduler, history, and
`stop(reason)` to end training after the current epoch or batch).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from .. import io


class Callback:
    """Base class: override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer, epoch: int) -> None: ...

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None: ...

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, trainer) -> None: ...


def _higher_is_better(monitor: str) -> bool:
    return any(word in monitor for word in ("acc", "r2", "f1", "precision", "recall"))


class Monitor:
    """Tracks the best value of one logged quantity (mode 'min', 'max' or 'auto', which
    picks 'max' for accuracy-like names); an improvement must beat the best by min_delta."""

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.maximize = mode == "max" or (mode == "auto" and _higher_is_better(monitor))
        self.min_delta = abs(min_delta)
        self.best = -math.inf if self.maximize else math.inf

    def value(self, logs: dict) -> float:
        if self.monitor not in logs:
            raise KeyError(
                f"cannot monitor {self.monitor!r}: the epoch logs have {sorted(logs)} "
                "(val_* needs validation data)"
            )
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def state(self) -> dict:
        return {"best": self.best}


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs; optionally put back the
    weights of the best epoch when training ends."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False):
        self.tracker = Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.tracker.value(logs)
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop(
                f"early stopping: {self.tracker.monitor} has not improved for "
                f"{self.wait} epochs (best {self.tracker.best:.4f} at epoch {self.best_epoch})"
            )

    def on_train_end(self, trainer):
        if self.best_weights is not None and self.best_epoch != trainer.epoch:
            trainer.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save full checkpoints (model, optimizer, scheduler, epoch, generator, history) into
    `directory`: last.npz after every epoch, best.npz whenever `monitor` improves.
    Writes are atomic, so an interrupted run keeps its last good checkpoint. metadata:
    plain data stored in every checkpoint too (e.g. the recipe's name and config)."""

    def __init__(self, directory, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, metadata: dict | None = None):
        self.directory = Path(directory)
        self.metadata = dict(metadata or {})
        self.tracker = Monitor(monitor, mode)
        self.save_best, self.save_last = save_best, save_last
        self.best_epoch = None

    @property
    def last_path(self) -> Path:
        return self.directory / "last.npz"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.npz"

    def on_epoch_end(self, trainer, epoch, logs):
        state = {**self.metadata, **trainer.checkpoint()}
        if self.save_last:
            io.save(state, self.last_path)
        if self.save_best:
            value = logs.get(self.tracker.monitor, logs.get("loss"))
            if value is not None and self.tracker.improved(float(value)):
                self.tracker.best, self.best_epoch = float(value), epoch
                io.save(state, self.best_path)


class LRSchedulerStep(Callback):
    """Step a learning-rate scheduler after every epoch (or batch, for OneCycleLR-style
    schedules); ReduceLROnPlateau is given the monitored value."""

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def _plateau(self) -> bool:
        return type(self.scheduler).__name__ == "ReduceLROnPlateau"

    def on_batch_end(self, trainer, batch, logs):
        if self.interval == "batch" and not self._plateau():
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self._plateau():
            monitor = self.monitor if self.monitor in logs else "loss"
            self.scheduler.step(logs[monitor])
        elif self.interval == "epoch":
            self.scheduler.step()


class TerminateOnNaN(Callback):
    """Stop at once when the loss is nan or infinite; the epoch is not completed, so no
    checkpoint of the broken weights is written and the last good one stays."""

    def on_batch_end(self, trainer, batch, logs):
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            trainer.stop(
                f"loss became {loss} at epoch {trainer.epoch + 1}, batch {batch + 1}: training "
                "stopped; the last checkpoint written holds the last good weights",
                abort_epoch=True,
            )


class CSVLogger(Callback):
    """Append one row per epoch (epoch and every logged value) to a CSV file."""

    def __init__(self, path, append: bool = False):
        self.path, self.append = Path(path), append
        self.keys = None

    def on_train_begin(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.append and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, trainer, epoch, logs):
        new_file = not self.path.exists()
        if self.keys is None:
            self.keys = ["epoch", *logs]
        with self.path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.keys, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({"epoch": epoch, **logs})


class JSONLinesLogger(Callback):
    """Append one JSON object per epoch ({"epoch": ..., "loss": ..., ...}) to a file."""

    def __init__(self, path, append: bool = False):
        self.path, self.append = Path(path), append

    def on_train_begin(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.append and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, trainer, epoch, logs):
        with self.path.open("a") as file:
            file.write(json.dumps({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
                       + "\n")
