"""fit / evaluate / predict: the training loop every recipe and user model shares.

The natural path: tune on validation data (`validation_data` or `validation_split`) and
touch the test set once, with `evaluate`, when every choice is made.
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend, io
from ..autograd import no_grad
from ..data import DataLoader, Dataset, TensorDataset, train_val_split
from ..tensor import Tensor
from . import metrics as metric_functions
from .callbacks import Callback, LRSchedulerStep
from .history import History
from .progress import Progress


def as_loader(data, batch_size: int, shuffle: bool) -> DataLoader:
    """A DataLoader from a DataLoader, a Dataset, or a tuple of arrays (x, y, ...)."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle)
    raise TypeError(
        "data must be a DataLoader, a Dataset or a tuple (inputs, targets), got "
        f"{type(data).__name__}"
    )


class Trainer:
    """What callbacks see: the objects being trained and the run's progress."""

    def __init__(self, model, loss, optimizer, scheduler, history: History):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.scheduler, self.history = scheduler, history
        self.epoch = 0  # epochs completed
        self.stop_training = False
        self.abort_epoch = False
        self.stop_reason = None

    def stop(self, reason: str, abort_epoch: bool = False) -> None:
        """End training after this epoch (or at once, dropping the epoch, if abort_epoch)."""
        self.stop_training = True
        self.abort_epoch = self.abort_epoch or abort_epoch
        self.stop_reason = self.stop_reason or reason

    def checkpoint(self) -> dict:
        """Everything needed to resume bit-identically, as plain data for ns.save."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "rng": backend.get_rng_state(),
            "history": self.history.to_dict(),
        }

    def restore(self, checkpoint: dict) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        backend.set_rng_state(checkpoint["rng"])
        self.history = History.from_dict(checkpoint["history"])
        self.epoch = int(checkpoint["epoch"])

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


def resolve_metrics(metrics) -> list:
    """(name, function) pairs for `metrics`: a list of names / functions / (name, function)
    pairs, or one name or function alone (so metrics="accuracy" is not read letter by
    letter), or None for no metrics."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    return [metric_functions.resolve(m) for m in metrics]


def _inputs_of(batch):
    """The model inputs of a batch: the first field of a tuple batch (x, y, ...), or the
    batch itself when the dataset's items are single arrays (indexing that Tensor would
    pick its first sample instead)."""
    return batch if isinstance(batch, Tensor) else batch[0]


def _compute_metrics(resolved, outputs, targets, prefix: str = "") -> dict:
    if not resolved or not outputs:
        return {}
    out = np.concatenate(outputs)
    target = np.concatenate(targets)
    return {prefix + name: fn(out, target) for name, fn in resolved}


def _call_all(callbacks, hook: str, *args) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)


def fit(
    model,
    loss,
    optimizer,
    train_data,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data=None,
    validation_split: float | None = None,
    metrics=("accuracy",),
    callbacks=(),
    scheduler=None,
    progress=True,
    resume_from=None,
    shuffle: bool = True,
    scheduler_interval: str = "epoch",
) -> History:
    """Train `model` to minimise `loss(model(x), y)` with `optimizer` for `epochs` epochs.

    train_data / validation_data: (inputs, targets) arrays or tensors, a Dataset or a
    DataLoader. validation_split: hold out this fraction of (inputs, targets) arrays,
    drawn with the seeded generator. metrics: names ('accuracy', 'top5_accuracy', 'mae',
    'r2', 'binary_accuracy'), functions f(outputs, targets) or (name, function) pairs, in a
    list, or one of them alone. scheduler: stepped after each epoch (or batch:
    scheduler_interval='batch'); ReduceLROnPlateau gets val_loss (or loss).
    resume_from: a checkpoint written by ModelCheckpoint; training continues after its
    epoch up to `epochs` in total, bit-identically to a run that never stopped.
    progress: True (bar and lines on a terminal), "lines", or False.
    Returns the History (per-epoch loss, metrics, val_* and lr).
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"epochs must be >= 0 and batch_size > 0, got {epochs}, {batch_size}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(
            f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}"
        )
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if not isinstance(train_data, (tuple, list)):
            raise TypeError("validation_split needs train_data as a tuple of arrays")
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
        arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in train_data]
        train_data, validation_data = train_val_split(*arrays, val_fraction=validation_split)

    loader = as_loader(train_data, batch_size, shuffle)
    # Checked now, not after the first epoch's training: a wrong type fails at once.
    val_loader = None if validation_data is None else as_loader(validation_data, batch_size,
                                                                shuffle=False)
    # An epoch without batches would log a loss of 0, which every monitor takes as perfect.
    for name, checked in (("train_data", loader), ("validation_data", val_loader)):
        if checked is not None and len(checked) == 0:
            raise ValueError(f"{name} gives no batches: {checked!r}")
    resolved = resolve_metrics(metrics)
    callbacks = list(callbacks)
    if scheduler is not None:  # first, so checkpoints hold the stepped scheduler
        callbacks.insert(0, LRSchedulerStep(scheduler, scheduler_interval))
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be Callback objects, got {type(callback).__name__}")
    trainer = Trainer(model, loss, optimizer, scheduler, History())
    if resume_from is not None:
        trainer.restore(io.load(resume_from))
    bar = Progress(progress, epochs)

    _call_all(callbacks, "on_train_begin", trainer)
    try:
        while trainer.epoch < epochs and not trainer.stop_training:
            epoch = trainer.epoch + 1
            started = time.perf_counter()
            _call_all(callbacks, "on_epoch_begin", trainer, epoch)
            bar.epoch_begin(epoch, len(loader))
            lr = trainer.current_lr()
            model.train()
            total, count, outputs, targets = 0.0, 0, [], []
            for batch_index, (inputs, target, *_) in enumerate(loader):
                output = model(inputs)
                batch_loss = loss(output, target)
                optimizer.zero_grad()
                batch_loss.backward()
                optimizer.step()
                value = batch_loss.item()
                total += value * len(target)
                count += len(target)
                if resolved:
                    outputs.append(output.data)
                    targets.append(target.data)
                if bar.show_bar:  # the bar shows the running loss and first metric
                    shown = {"loss": total / count}
                    if resolved:
                        name, function = resolved[0]
                        shown[name] = function(output.data, target.data)
                    bar.batch_end(shown, trainer.current_lr())
                _call_all(callbacks, "on_batch_end", trainer, batch_index, {"loss": value})
                if trainer.abort_epoch:
                    break
            if trainer.abort_epoch:
                bar.message(trainer.stop_reason)
                break
            logs = {"loss": total / max(count, 1)}
            logs.update(_compute_metrics(resolved, outputs, targets))
            if val_loader is not None:
                scores = evaluate(model, loss, val_loader, metrics, batch_size)
                logs.update({"val_" + k: v for k, v in scores.items()})
            logs["lr"] = lr
            trainer.epoch = epoch
            trainer.history.append(epoch, logs)
            _call_all(callbacks, "on_epoch_end", trainer, epoch, logs)
            bar.epoch_end(epoch, logs, time.perf_counter() - started)
        if trainer.stop_reason and not trainer.abort_epoch:
            bar.message(trainer.stop_reason)
    finally:
        bar.close()
    _call_all(callbacks, "on_train_end", trainer)
    history = trainer.history
    history.stop_reason = trainer.stop_reason
    return history


def evaluate(model, loss, data, metrics=("accuracy",), batch_size: int = 256) -> dict:
    """Mean loss and metrics of `model` on `data`, in eval mode without recording a graph."""
    loader = as_loader(data, batch_size, shuffle=False)
    resolved = resolve_metrics(metrics)
    was_training = model.training
    model.eval()
    total, count, outputs, targets = 0.0, 0, [], []
    try:
        with no_grad():
            for inputs, target, *_ in loader:
                output = model(inputs)
                total += loss(output, target).item() * len(target)
                count += len(target)
                outputs.append(output.data)
                targets.append(target.data)
    finally:
        model.train(was_training)
    if count == 0:  # a mean over nothing: not a loss of 0
        raise ValueError(f"evaluate: data gives no samples: {loader!r}")
    scores = {"loss": total / count}
    scores.update(_compute_metrics(resolved, outputs, targets))
    return scores


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for inputs x (array, tensor, Dataset or DataLoader), in eval
    mode without recording a graph, concatenated over batches."""
    if isinstance(x, (DataLoader, Dataset)):
        loader = as_loader(x, batch_size, shuffle=False)
    else:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        loader = DataLoader(TensorDataset(data), batch_size=batch_size)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [model(_inputs_of(batch)).data for batch in loader]
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.empty((0,))
