"""Callbacks: code that fit() runs at fixed points of training.

Each hook receives the `Trainer` (models, optimizers, schedulers, history, and
`stop(reason)` to end training after the current epoch or batch).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from .. import io
from ..functional._geometry import is_int
from ..nn.utils import clip_grad_norm_
from ..optim.lr_scheduler import ReduceLROnPlateau


class Callback:
    """Base class: override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer, optimizer) -> None:
        """Between `loss.backward()` and `optimizer.step()`: the gradients `optimizer` is
        about to apply are in the parameters' `.grad` (fit's step calls it for every batch;
        a step of your own calls `trainer.after_backward(optimizer)`)."""

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
        self.best = self.worst

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

    @property
    def worst(self) -> float:
        return -math.inf if self.maximize else math.inf

    def state(self) -> dict:
        return {"best": self.best}

    def restart(self, history, key: str | None = None) -> int | None:
        """Start a training run: forget earlier runs, then take the best value of `key`
        (default: the monitored one) in `history`, the History a resumed run restored, as
        the value to beat. Returns that epoch, or None (a fresh run)."""
        self.best, best_epoch = self.worst, None
        values = history.history.get(key or self.monitor)
        if values is None:  # not logged before the resume: nothing to beat yet (a key
            return None     # missing from the new epochs' logs is reported then)
        for epoch, value in zip(history.epochs, values, strict=True):
            if self.improved(value):
                self.best, best_epoch = value, epoch
        return best_epoch


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs (by more than min_delta);
    optionally put back the weights of the best epoch (of every model) when training ends.
    A resumed run counts on from the restored History; the weights of a best epoch from
    before the resume are not restored (ModelCheckpoint's best.npz holds them)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False):
        if not is_int(patience) or patience < 0:
            raise ValueError(f"EarlyStopping: expected patience to be an int >= 0, got "
                             f"{patience!r}")
        self.tracker = Monitor(monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def on_train_begin(self, trainer):
        if self.restore_best_weights:
            trainer.require_state("EarlyStopping(restore_best_weights=True)", optimizers=False)
        # Nothing carries over from an earlier fit with this callback. A resumed run counts
        # on from the History it restored, so it stops where the uninterrupted run would;
        # only the weights of a best epoch before the resume are not at hand (best.npz of
        # ModelCheckpoint has them).
        self.best_epoch = self.tracker.restart(trainer.history)
        self.wait = 0 if self.best_epoch is None else trainer.epoch - self.best_epoch
        self.best_weights = self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.tracker.value(logs)
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:  # every model: a GAN's G and D belong together
                self.best_weights = {name: model.state_dict()
                                     for name, model in trainer.models.items()}
            return
        self.wait += 1
        # patience=2 stops after the 2nd epoch without improvement (as Keras; 0 acts as 1)
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            trainer.stop(
                f"early stopping: {self.tracker.monitor} has not improved for "
                f"{self.wait} epochs (best {self.tracker.best:.4f} at epoch {self.best_epoch})"
            )

    def on_train_end(self, trainer):
        # Always, even when the best epoch is the last completed one: an epoch aborted by
        # TerminateOnNaN may have written nan into the weights since.
        if self.best_weights is not None:
            for name, model in trainer.models.items():
                model.load_state_dict(self.best_weights[name])


class ModelCheckpoint(Callback):
    """Save full checkpoints (every model, optimizer and scheduler of the run, epoch,
    generator, history) into
    `directory`: last.npz after every epoch, best.npz whenever `monitor` improves (the
    default, val_loss, falls back to loss when there is no validation data; another monitor
    missing from the logs is an error, as in EarlyStopping).
    Writes are atomic, so an interrupted run keeps its last good checkpoint. metadata:
    plain data stored in every checkpoint too (e.g. the recipe's name and config)."""

    main_process_only = True  # data parallel: rank 0 writes, the others train

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

    def on_train_begin(self, trainer):
        trainer.require_state("ModelCheckpoint")  # now, not after a whole epoch
        # A resumed run must beat the best epoch before the interruption, or its first epoch
        # would overwrite best.npz however bad it is; a new run starts from scratch.
        self.best_epoch = (self.tracker.restart(trainer.history, self._key(trainer.history))
                           if self.save_best else None)

    def _key(self, logs) -> str:
        # Falling back from any other name to loss would also flip the direction for
        # accuracy-like names (best = highest loss), so only val_loss falls back.
        if self.tracker.monitor == "val_loss" and "val_loss" not in logs:
            return "loss"
        return self.tracker.monitor

    def on_epoch_end(self, trainer, epoch, logs):
        state = {**self.metadata, **trainer.checkpoint()}
        # best.npz before last.npz: a kill between the two writes then leaves a last.npz
        # of the epoch before, whose resume redoes this epoch and writes best.npz again;
        # the other order could leave a last.npz whose history counts an epoch as best
        # that best.npz never received.
        if self.save_best:
            key = self._key(logs)
            # tracker.value raises a KeyError that names what the logs have
            value = float(logs[key]) if key in logs else self.tracker.value(logs)
            if self.tracker.improved(value):
                self.tracker.best, self.best_epoch = value, epoch
                io.save(state, self.best_path)
        if self.save_last:
            io.save(state, self.last_path)


class LRSchedulerStep(Callback):
    """Step a learning-rate scheduler after every epoch (or batch, for OneCycleLR-style
    schedules); ReduceLROnPlateau is given the monitored value."""

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def _plateau(self) -> bool:
        # isinstance, not the class name, so subclasses of ReduceLROnPlateau get the metric
        return isinstance(self.scheduler, ReduceLROnPlateau)

    def on_batch_end(self, trainer, batch, logs):
        if self.interval == "batch" and not self._plateau():
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self._plateau():
            monitor = self.monitor if self.monitor in logs else "loss"
            if monitor not in logs:  # a custom step's logs may have neither
                raise KeyError(f"ReduceLROnPlateau steps on {self.monitor!r} (or 'loss'), but the "
                               f"epoch logs have {sorted(logs)}: give it LRSchedulerStep("
                               "scheduler, monitor=...) as a callback instead of scheduler=")
            self.scheduler.step(logs[monitor])
        elif self.interval == "epoch":
            self.scheduler.step()


class TerminateOnNaN(Callback):
    """Stop at once when a logged value of a batch (the loss; each of a custom step's
    values) is nan or infinite; the epoch is not completed, so no checkpoint of the broken
    weights is written and the last good one stays. fit adds one unless told not to
    (terminate_on_nan=False). The run's history is marked `diverged`."""

    def on_batch_end(self, trainer, batch, logs):
        for key, value in logs.items():
            if not math.isfinite(value):
                if trainer.epoch == 0:
                    kept = "no epoch was completed, so no checkpoint holds good weights"
                else:
                    kept = ("the last checkpoint written (if any) holds the last good weights, "
                            f"those of epoch {trainer.epoch}")
                trainer.diverged = True
                trainer.stop(f"{key} became {value} at epoch {trainer.epoch + 1}, batch "
                             f"{batch + 1}: training stopped; {kept}", abort_epoch=True)
                return


class GradientClipping(Callback):
    """Scale the gradients an optimizer is about to apply so that their joint norm is at
    most max_norm (`nn.utils.clip_grad_norm_`), between backward() and step()."""

    def __init__(self, max_norm: float, norm_type: float = 2.0):
        if not max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        self.max_norm, self.norm_type = max_norm, norm_type

    def on_after_backward(self, trainer, optimizer):
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        clip_grad_norm_(parameters, self.max_norm, self.norm_type)


class CSVLogger(Callback):
    """Append one row per epoch (epoch and every logged value) to a CSV file."""

    main_process_only = True  # data parallel: rank 0 writes, the others train

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

    main_process_only = True  # data parallel: rank 0 writes, the others train

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
