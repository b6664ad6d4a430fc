"""Train steps: what one batch of training does, and the logs it returns.

A step is any callable `step(batch)` or `step(batch, trainer)` that runs the forward pass,
the backward pass and the optimizer steps of one batch and returns a dict of floats to log,
e.g. `{"loss": 0.31}` or `{"d_loss": 0.7, "g_loss": 1.2}`. The trainer averages each key
over the epoch, weighted by the batch size. A step that takes the trainer calls
`trainer.after_backward(optimizer)` between `backward()` and `optimizer.step()`, so that the
callbacks' `on_after_backward` (gradient clipping, an all-reduce) runs there.

A step may also have a method `epoch_logs() -> dict`: values computed over the whole epoch
(accuracy over all its outputs, R^2), called once after the epoch's last batch; they join
the averaged ones. fit's own step for (model, loss, optimizer) computes its metrics so.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor


def takes_trainer(step) -> bool:
    """Whether `step` accepts a second positional argument (the trainer)."""
    try:
        parameters = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: call with the batch
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def _as_float(value, key, who: str) -> float:
    """A logged value as a float: Python and NumPy numbers, one-element arrays and tensors.
    nan and inf pass (TerminateOnNaN is there to act on them)."""
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, "dtype") and not isinstance(value, (np.ndarray, np.generic)):
        value = backend.to_host(value)  # a device's array
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(()))
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    shown = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) \
        else f"a {type(value).__name__}"
    raise TypeError(f"{who} logged {key!r} as {shown}; each value must be one real number "
                    "(a float, or a one-element tensor)")


def check_logs(logs, who: str) -> dict:
    """The logs a step returned as {str: float}, or a TypeError that names what came."""
    if not isinstance(logs, dict):
        raise TypeError(f"{who} must return a dict of floats to log, e.g. {{'loss': 0.5}}, "
                        f"got {type(logs).__name__}")
    for key in logs:
        if not isinstance(key, str):
            raise TypeError(f"{who} logged a key {key!r} of type {type(key).__name__}; "
                            "keys must be strings")
    return {key: _as_float(value, key, who) for key, value in logs.items()}


def batch_size_of(batch) -> int:
    """The number of samples in a batch: the first dimension of its first field (a batch
    the trainer cannot measure counts as one sample)."""
    while isinstance(batch, (tuple, list, dict)) and batch:
        batch = next(iter(batch.values())) if isinstance(batch, dict) else batch[0]
    shape = getattr(batch, "shape", ())
    return int(shape[0]) if len(shape) else 1


class WeightedMeans:
    """Running means of logged values, each sample of a batch weighing as much as any
    other; a key logged by only some batches is averaged over those."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.samples = 0

    def add(self, logs: dict, samples: int) -> None:
        for key, value in logs.items():
            self.totals[key] = self.totals.get(key, 0.0) + value * samples
            self.counts[key] = self.counts.get(key, 0) + samples
        self.samples += samples

    def result(self) -> dict:
        return {key: total / max(self.counts[key], 1) for key, total in self.totals.items()}


class _EpochOutputs:
    """Keeps a model's outputs and targets over an epoch for metrics of the whole epoch."""

    def __init__(self, metrics):
        self.metrics = list(metrics)  # (name, function) pairs
        self.outputs, self.targets = [], []

    def keep(self, output, target) -> None:
        if self.metrics:
            # on the host: the metrics are NumPy code (one copy a batch from a device)
            self.outputs.append(backend.to_host(output.data))
            self.targets.append(backend.to_host(target.data))

    def epoch_logs(self) -> dict:
        """Each metric over everything kept since the last call; then forgets it."""
        outputs, targets = self.outputs, self.targets
        self.outputs, self.targets = [], []
        if not self.metrics or not outputs:
            return {}
        output, target = np.concatenate(outputs), np.concatenate(targets)
        return {name: function(output, target) for name, function in self.metrics}


class SupervisedStep(_EpochOutputs):
    """The step fit builds from (model, loss, optimizer): `loss(model(x), y)`, backward,
    the after-backward hook, optimizer step. Batches are (x, y, ...). Logs {"loss": ...};
    its metrics (name, function) pairs come from `epoch_logs()` over the epoch's outputs."""

    def __init__(self, model, loss, optimizer, metrics=()):
        super().__init__(metrics)
        self.model, self.loss, self.optimizer = model, loss, optimizer

    def __call__(self, batch, trainer) -> dict:
        inputs, target, *_ = batch
        output = self.model(inputs)
        loss = self.loss(output, target)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        self.keep(output, target)
        return {"loss": loss.item()}


class SupervisedEvalStep(_EpochOutputs):
    """The eval_step of fit's (model, loss) path and of `evaluate`: {"loss": ...} of a
    batch (x, y, ...), metrics over all batches from `epoch_logs()`."""

    def __init__(self, model, loss, metrics=()):
        super().__init__(metrics)
        self.model, self.loss = model, loss

    def __call__(self, batch) -> dict:
        inputs, target, *_ = batch
        output = self.model(inputs)
        self.keep(output, target)
        return {"loss": self.loss(output, target).item()}
